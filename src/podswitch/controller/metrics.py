"""Prometheus metrics, named after the domain (as faucet does)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..model import Intent
from ..store import StoreUnavailable

REGISTRY = CollectorRegistry(auto_describe=True)

REVISION = Gauge("podswitch_intent_revision", "Current intent revision", registry=REGISTRY)
OBJECTS = Gauge("podswitch_intent_objects", "Objects in the intent", ["kind"], registry=REGISTRY)
REQUESTS = Counter("podswitch_api_requests_total", "API requests", ["method", "route", "status"], registry=REGISTRY)
COMMIT_SECONDS = Histogram(
    "podswitch_commit_seconds",
    "Time to store one revision",
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
COMPILE_SECONDS = Histogram(
    "podswitch_compile_seconds",
    "Time to compile desired state",
    registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10),
)
DESIRED_STATE = Counter(
    "podswitch_desired_state_requests_total", "Desired-state requests by answer", ["answer"], registry=REGISTRY
)
DESIRED_STATE_FORMATS = Counter(
    "podswitch_desired_state_formats_total",
    "Desired-state documents sent, by format (an older one is served to agents not upgraded yet)",
    ["format"],
    registry=REGISTRY,
)
STATUS_REPORTS = Counter(
    "podswitch_status_reports_total",
    "Agents' status reports by how they came (put: a request of their own; poll: on a desired-state request) "
    "and whether they were stored",
    ["via", "result"],
    registry=REGISTRY,
)
SWITCH_IN_SYNC = Gauge(
    "podswitch_switch_in_sync", "1 when the switch reports the current desired state", ["switch"], registry=REGISTRY
)
UNRESOLVED = Gauge(
    "podswitch_unresolved_references", "References to interface-groups not in the topology", registry=REGISTRY
)


def set_intent(revision: int, intent: Intent) -> None:
    REVISION.set(revision)
    for kind, n in intent.count().items():
        OBJECTS.labels(kind=kind).set(n)


CONFLICTS = Counter(
    "podswitch_commit_conflicts_total",
    "Writes that found another controller had committed first and were recomputed under the store's lock",
    registry=REGISTRY,
)
CATCH_UP_SECONDS = Histogram(
    "podswitch_catch_up_seconds",
    "Time to replay revisions another controller committed",
    registry=REGISTRY,
    buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30),
)
COMPILES = Counter(
    "podswitch_compile_cache_total",
    "Desired-state compilations asked for: hit (cached), shared (another request compiled it), miss",
    ["result"],
    registry=REGISTRY,
)
LONG_POLLS = Gauge("podswitch_long_polls_open", "Agents waiting for their desired state to change", registry=REGISTRY)
FULL_STATES_SENDING = Gauge(
    "podswitch_full_states_in_flight", "Desired-state documents being sent right now", registry=REGISTRY
)
REFUSED_BUSY = Counter(
    "podswitch_admission_refused_total", "Requests answered 429 by admission control", ["what"], registry=REGISTRY
)
LEADER = Gauge("podswitch_leader", "1 while this controller holds the background duties lease", registry=REGISTRY)
LEADER_CHANGES = Counter(
    "podswitch_leader_changes_total", "Times this controller took or lost the duties lease", registry=REGISTRY
)
DUTY_FAILURES = Counter(
    "podswitch_duty_failures_total", "Background duties that failed (retried next round)", ["duty"], registry=REGISTRY
)
AGENT_LAG = Gauge(
    "podswitch_agent_lag_revisions",
    "Revisions between the head and what the switch's agent applied (0 when its state is current); leader only",
    ["switch"],
    registry=REGISTRY,
)
AGENTS_SILENT = Gauge(
    "podswitch_agents_silent", "Switches whose agent has not reported recently; leader only", registry=REGISTRY
)
PRUNED = Counter("podswitch_history_pruned_revisions_total", "Revisions of history pruned", registry=REGISTRY)
STORE_UP = Gauge(
    "podswitch_store_up",
    "1 while the database does what it is asked; 0 from a fault (down, full, read-only) until an operation like "
    "the one that failed succeeds",
    registry=REGISTRY,
)
STORE_ERRORS = Counter(
    "podswitch_store_errors_total",
    "Database operations that failed for a reason of the database's own, by kind "
    "(unreachable, full, read-only, failing, busy)",
    ["kind"],
    registry=REGISTRY,
)


def store_fault(fault: StoreUnavailable) -> None:
    STORE_ERRORS.labels(kind=fault.kind.value).inc()
