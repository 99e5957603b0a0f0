"""`[podswitch]` in Neutron's configuration, read by the ML2 driver, the L3 plugin and the journal."""

from __future__ import annotations

from typing import Any

from oslo_config import cfg

from .mapping import L3_MODES, Settings

GROUP = "podswitch"

OPTS = [
    cfg.ListOpt(
        "url",
        default=["http://127.0.0.1:8650"],
        help="The podswitch controller(s) of this fabric, tried in order (they share one store).",
    ),
    cfg.StrOpt("token", secret=True, help="The controller's admin token (sent as a bearer token)."),
    cfg.StrOpt(
        "origination",
        default="openstack",
        help="Stamped on every object this Neutron writes; a project becomes tenant <name>.<origination>. The "
        "consistency check repairs objects of this origination only.",
    ),
    cfg.StrOpt(
        "l3_mode",
        default="router",
        choices=list(L3_MODES),
        help="router: Neutron routers drive each tenant's logical-router. subnet: every subnet with a gateway "
        "is routed by the fabric (interface segment + the way out through tenant system), no router needed.",
    ),
    cfg.ListOpt(
        "exclude_physical_networks",
        default=[],
        help="subnet mode: networks on these physical networks are not routed by the fabric.",
    ),
    cfg.FloatOpt("timeout", default=10.0, min=0.1, help="Seconds one request to the controller may take."),
    cfg.BoolOpt(
        "journal_thread",
        default=True,
        help="Send the journal from a thread of every process that records it (woken after each commit). "
        "A lease in the database lets one process send at a time.",
    ),
    cfg.IntOpt("batch_size", default=200, min=1, help="Journal rows sent in one transaction at most."),
    cfg.IntOpt("max_attempts", default=5, min=1, help="A row the controller refuses this often is marked failed."),
    cfg.FloatOpt("retry_min", default=0.5, min=0.01, help="First backoff (s) while the controller is unreachable."),
    cfg.FloatOpt("retry_max", default=30.0, min=0.01, help="Longest backoff (s) between attempts."),
    cfg.FloatOpt(
        "sync_interval",
        default=1.0,
        min=0.05,
        help="Seconds between journal passes without a wake-up: how soon the sender sees rows that other "
        "neutron-server processes recorded (a wake-up reaches only its own process's sender).",
    ),
    cfg.FloatOpt("lease", default=30.0, min=1.0, help="Seconds the journal lease is held without renewal."),
    cfg.FloatOpt(
        "consistency_interval",
        default=600.0,
        min=0.0,
        help="Seconds between consistency checks (0: never, only `podswitch-neutron journal check`).",
    ),
    cfg.IntOpt("repair_batch", default=500, min=1, help="Objects one consistency pass repairs at most."),
    cfg.IntOpt(
        "completed_retention",
        default=3600,
        min=0,
        help="Seconds completed rows are kept (for `journal status`) before they are deleted.",
    ),
    cfg.BoolOpt(
        "port_status",
        default=True,
        help="Hold a bound port DOWN (a provisioning block) until its leaf reports the revision carrying its "
        "endpoint as applied.",
    ),
]


def register(conf: cfg.ConfigOpts = cfg.CONF) -> None:
    conf.register_opts(OPTS, GROUP)  # registering the same options again is a no-op


def opts(conf: cfg.ConfigOpts = cfg.CONF) -> Any:
    register(conf)
    return conf[GROUP]


def settings(conf: cfg.ConfigOpts = cfg.CONF) -> Settings:
    """The mapping's settings from `[podswitch]`."""
    register(conf)
    group = conf[GROUP]
    return Settings(
        origination=group.origination,
        l3_mode=group.l3_mode,
        exclude_physical_networks=frozenset(group.exclude_physical_networks),
    )


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """For oslo-config-generator."""
    return [(GROUP, OPTS)]
