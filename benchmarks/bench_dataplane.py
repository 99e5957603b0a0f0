"""The data plane: how fast the lab comes up, how fast a new endpoint reaches its gateway, and how fast an
agent programs a big FDB. Needs root (network namespaces); every namespace is named `psb<pid>-...` and
removed at the end, also on failure.

1. `podswitch lab up` of 2 spines / 8 leaves and 32 servers (+ `external`, which every lab has): the servers
   come from a generated running-config (4 tenants x 4 segments, one endpoint on each of the 32
   interface-groups), PUT into a controller on SQLite in a temp dir before the clock starts. Figure: wall
   time of the `podswitch lab up` command (process start to "every agent in sync"). Baseline: the same
   kernel objects the lab ended up with (every namespace, veth pair with its ends in the same namespaces,
   bridge, vxlan, bridge port and admin-up device, read back with `ip -j`) made again with iproute2: one
   `ip -batch` of `netns add`, then one `ip -n NS -batch` per namespace. Addresses, routes, tc programs,
   FDB, neighbours, nftables and sysctls are not in the baseline, so it is a floor.
2. On that running lab, 100 endpoints created one at a time through the API (PUT, 201); for each, the time
   from the PUT until an ICMP echo from the endpoint's namespace to its segment's gateway is first
   answered (30 s at most each, 150 s for all: on a starved machine fewer, and the row says how many).
   Even-numbered endpoints go on a server that already has the segment (the gateway is on the
   same leaf already: the lab builds the endpoint's namespace, the agents add a MAC and a neighbour);
   odd-numbered ones go on a server whose leaf has no attachment of the segment yet (its gateway is only on
   other leaves: the leaf's agent must make bridge, VXLAN, attachment and the gateway leg). The probe is a
   raw socket inside the endpoint's namespace sending every 20 ms; it sets the endpoint's ARP retransmit
   time to 20 ms so that it notices a path at most ~20 ms after it works (a VM with default ARP timers can
   see up to 1 s more). Baseline: the API PUT alone (same requests), so the ratio says how many times the
   synchronous write the asynchronous realisation takes. The echo round trip to an existing endpoint (the
   data-plane floor) is printed on stderr.
3. The real `agent.reconcile` on a hand-built SwitchState — a leaf namespace with 10 segment bridges and
   VXLAN devices and one router slice with 10 gateway legs — from no entries to 5,000 remote MACs
   (= 10,000 FDB entries: a bridge entry and a VXLAN destination each) and 1,000 static neighbours.
   Baseline: the same entries with `bridge -batch` and `ip -batch` files into an equivalent fresh namespace
   (made by the same reconcile of the entry-less state); the agent then finds it right (zero writes). Also:
   the zero-write re-reconcile of the full state, against reading the same entries with `bridge fdb show`
   and `ip neigh show`. Median of 5 rounds, alternating which side goes first.

PODSWITCH_BENCH_TRACE=<dir> keeps, for the pushed run, each endpoint's PUT time, latency, kind, leaf and
revision (`endpoints.tsv`) and the lab's supervisor and agent logs (each revision's realise time, each
reconcile's scope and duration): enough to tell which of controller, agent or lab made a slow endpoint."""

from __future__ import annotations

import contextlib
import datetime
import gc
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import Result, emit
from benchmarks.dataplane_support import (
    Segment,
    endpoint_id,
    endpoint_ip,
    endpoint_mac,
    inventory,
    loadavg,
    log,
    percentile,
    ping_until,
    remove_namespaces,
    replica_seconds,
    running_config,
    segments,
    server_name,
    start_controller,
)
from podswitch.lab.process import PODSWITCH, ControllerProcess, tail

PREFIX = f"psb{os.getpid()}-"
LAB_PREFIX = PREFIX + "l-"
COPY_PREFIX = PREFIX + "c-"
AGENT_PREFIX = PREFIX + "a-"

SPINES, LEAVES, SERVERS = 2, 8, 32
TENANTS, SEGMENTS_PER_TENANT = 4, 4
LAB_TIMEOUT = 120.0
NEW_ENDPOINTS = 100
PING_TIMEOUT = 30.0
ENDPOINTS_BUDGET = 150.0  # seconds for all the creations: on a starved machine, fewer endpoints (named in the row)
PROBE_INTERVAL = 0.02
# A directory: the push run's per-endpoint timings and the lab's logs are kept there (to read a tail).
TRACE = Path(os.environ["PODSWITCH_BENCH_TRACE"]) if os.environ.get("PODSWITCH_BENCH_TRACE") else None
ARP_RETRANS_MS = 20

FDB_SEGMENTS, MACS_PER_SEGMENT, REMOTE_VTEPS = 10, 500, 7
NEIGHBOURS_PER_LEG = 100
ROUNDS = 5


# ---- 1 and 2: the lab ------------------------------------------------------------------------------


@dataclass
class Placed:
    n: int
    server: str
    seg: Segment
    host: int
    kind: str = "config"  # "same leaf" | "new on leaf"


@dataclass
class Latency:
    """Endpoint PUT -> first ping, of one lab run."""

    every: list[float]
    by_kind: dict[str, list[float]]
    api: list[float]
    failed: list[str]


def lab_figures(ctl: ControllerProcess, poll: bool = False) -> Latency:
    """Lab up and endpoint creations; `poll`: the agents and the supervisor poll (`lab up --push 0`) as
    before push, the baseline for the push figures, and the lab-up figures are not emitted again."""
    from podswitch.lab import statefile as lab_state

    segs = segments(TENANTS, SEGMENTS_PER_TENANT)
    config = [Placed(k, server_name(k), segs[(k - 1) % len(segs)], 10 + k) for k in range(1, SERVERS + 1)]
    api = ctl.client()
    try:
        text = running_config(segs, [(p.n, p.server, p.seg, p.host) for p in config])
        r = api.put("/v1/running-config", content=text.encode(), headers={"Content-Type": "text/plain"})
        if r.status_code != 200:
            raise RuntimeError(f"PUT running-config: {r.status_code} {r.text[:500]}")

        # -- 1. lab up
        log(f"lab up: {SPINES} spines, {LEAVES} leaves, {SERVERS} servers (load {loadavg()})")
        argv = [
            *PODSWITCH,
            "lab",
            "up",
            "--prefix",
            LAB_PREFIX,
            "--spines",
            str(SPINES),
            "--leaves",
            str(LEAVES),
            "--timeout",
            str(LAB_TIMEOUT),
            *(["--push", "0"] if poll else []),
        ]
        wall0 = time.time()
        started = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=ctl.env, timeout=LAB_TIMEOUT + 60, check=False)
        up_seconds = time.perf_counter() - started
        lab = lab_state.lab_dir(ctl.data_dir)
        if proc.returncode != 0:
            raise RuntimeError(
                f"podswitch lab up failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n"
                f"{proc.stderr[-2000:]}\nsupervisor log:\n{tail(lab / lab_state.SUPERVISOR_LOG)}"
            )
        inner = re.search(r"lab up in ([0-9.]+)s \(topology ([0-9.]+)s, build ([0-9.]+)s", proc.stdout)
        state = lab_state.load(lab)
        assert state is not None, "no lab state after lab up"
        log(
            f"lab up: {up_seconds:.2f}s wall for the command"
            + (f"; the command's own clock: {inner[1]}s (topology {inner[2]}s, build {inner[3]}s)" if inner else "")
            + f"; {len(state.switches)} switches, {len(state.servers)} servers, {len(state.endpoints)} endpoints"
        )
        if len(state.servers) != SERVERS + 1 or len(state.endpoints) != SERVERS:
            raise RuntimeError(f"unexpected lab: servers {sorted(state.servers)}, {len(state.endpoints)} endpoints")
        log("lab up timeline: " + timeline(lab, wall0, state.timings))
        if poll:
            return endpoint_figures(api, state, config, lab)

        inv = inventory(LAB_PREFIX)  # what `lab up` made, before the endpoints below add to it
        counts = inv.counts()
        log("lab kernel objects: " + ", ".join(f"{v} {k}" for k, v in counts.items()))

        # -- 2. endpoint -> first ping; before the baseline copy of 1.: the kernel frees a copy's ~100
        # namespaces in the background, holding the RTNL lock that every agent and the lab need, for seconds.
        latency = endpoint_figures(api, state, config, lab)

        log("baseline: the same objects with ip -batch")
        copy_seconds = replica_seconds(inv, LAB_PREFIX, COPY_PREFIX)
        log(f"ip -batch copy: {copy_seconds:.2f}s")
        emit(
            Result(
                f"lab up: {SPINES} spines / {LEAVES} leaves / {SERVERS} servers (+external), "
                f"{SERVERS} endpoints, until all agents in sync",
                up_seconds,
                "s",
                "<= 10 s",
                f"ip -batch: same {counts['namespaces']} netns, {counts['veth pairs']} veths, "
                f"{counts['bridges']} bridges, {counts['vxlans']} vxlans",
                copy_seconds,
                up_seconds <= 10,
            )
        )
        if inner:
            emit(Result("  of which `lab up`'s own clock (supervisor start -> all in sync)", float(inner[1]), "s"))
        return latency
    finally:
        api.close()


_STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def timeline(lab: Path, wall0: float, timings: dict[str, float]) -> str:
    """When each agent started and finished its first reconcile, in seconds after `lab up` was started
    (from the agents' logs), next to the supervisor's own phase timings."""
    starts, firsts, writes = [], [], []
    for path in sorted(lab.glob("agent-*.log")):
        start = first = None
        for line in path.read_text(errors="replace").splitlines():
            m = _STAMP.match(line)
            if m is None:
                continue
            t = datetime.datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f").timestamp() - wall0
            if start is None and "agent starting" in line:
                start = t
            elif first is None and "reconcile new state" in line:
                first = t
                w = re.search(r"writes=(\d+)", line)
                writes.append(int(w[1]) if w else 0)
        if start is not None and first is not None:
            starts.append(start)
            firsts.append(first)
    if not firsts:
        return f"supervisor {timings} (no agent log lines)"
    took = [f - s for s, f in zip(starts, firsts, strict=True)]
    return (
        f"supervisor phases {timings}; agents started +{min(starts):.2f}..+{max(starts):.2f}s, first reconcile "
        f"done +{min(firsts):.2f}..+{max(firsts):.2f}s (start -> done median {statistics.median(took):.2f}s, "
        f"max {max(took):.2f}s; writes median {statistics.median(writes):.0f}, max {max(writes)})"
    )


def diagnose(api, lab: Path, eid: str, ns: str, leaf: str) -> str:  # type: ignore[no-untyped-def]
    """Where an endpoint that never answered got stuck: the lab's supervisor, or the leaf's agent."""
    from podswitch.agent import netns as agent_netns
    from podswitch.lab import statefile as lab_state

    out = [f"  namespace {ns} exists: {agent_netns.exists(ns)}"]
    try:
        revision = api.get("/healthz").json()["revision"]
        state = lab_state.load(lab)
        if state is not None:
            out.append(
                f"  controller revision {revision}; lab state: revision {state.revision}, phase {state.phase}, "
                f"updated {state.updated_at}, endpoint entry {state.endpoints.get(eid)}"
            )
            pid = state.supervisor_pid
            if pid:
                with contextlib.suppress(OSError):
                    status = Path(f"/proc/{pid}/status").read_text()
                    wchan = Path(f"/proc/{pid}/wchan").read_text()
                    out.append(f"  supervisor {pid}: {status.splitlines()[2]}, wchan {wchan}")
        for sw in api.get("/v1/switches", params={"limit": 1000}).json()["items"]:
            if sw["name"] == leaf:
                st = sw.get("status") or {}
                out.append(
                    f"  {leaf}: in_sync {sw.get('in_sync')}, applied {st.get('applied_revision')}, "
                    f"reconciled_at {st.get('reconciled_at')}, errors {st.get('errors', [])[:3]}"
                )
    except Exception as e:
        out.append(f"  (diagnostics failed: {type(e).__name__}: {e})")
    out.append(f"  supervisor log:\n{tail(lab / 'supervisor.log', 5)}")
    out.append(f"  {leaf} agent log:\n{tail(lab / f'agent-{leaf}.log', 5)}")
    return "\n".join(out)


def plan_new_endpoints(config: list[Placed], leaf_of: dict[str, str], segs: list[Segment]) -> list[Placed]:
    present = {(leaf_of[p.server], p.seg.index) for p in config}
    servers = sorted({p.server for p in config})
    out = []
    for i in range(NEW_ENDPOINTS):
        n = 1000 + i
        if i % 2 == 0:
            base = config[(i // 2) % len(config)]
            out.append(Placed(n, base.server, base.seg, 100 + i, "same leaf"))
            continue
        for k in range(len(servers) * len(segs)):
            server = servers[(i // 2 + k // len(segs)) % len(servers)]
            seg = segs[(i * 5 + k) % len(segs)]
            if (leaf_of[server], seg.index) not in present:
                break
        else:
            raise RuntimeError("no (server, segment) left whose leaf lacks the segment")
        present.add((leaf_of[server], seg.index))
        out.append(Placed(n, server, seg, 100 + i, "new on leaf"))
    return out


def endpoint_figures(api, state, config: list[Placed], lab: Path) -> Latency:  # type: ignore[no-untyped-def]
    segs = segments(TENANTS, SEGMENTS_PER_TENANT)
    leaf_of = {group: s["leaf"] for group, s in state.servers.items()}

    # The data-plane floor: the same probe against gateways of endpoints that exist.
    floor = []
    for p in config[:16]:
        ns = state.endpoints[endpoint_id(p.n)]["netns"]
        t0 = time.monotonic()
        got = ping_until(ns, p.seg.gateway, t0 + 5.0, PROBE_INTERVAL)
        if got is None:
            raise RuntimeError(f"config endpoint {endpoint_id(p.n)} cannot ping its gateway {p.seg.gateway}")
        floor.append(got - t0)
    log(
        f"probe floor (echo to the gateway of an existing endpoint): p50 {statistics.median(floor) * 1000:.2f} ms, "
        f"max {max(floor) * 1000:.2f} ms"
    )

    todo = plan_new_endpoints(config, leaf_of, segs)
    log(f"creating {len(todo)} endpoints one at a time (load {loadavg()})")
    latency: dict[str, list[float]] = {"same leaf": [], "new on leaf": []}
    api_times: list[float] = []
    failed: list[str] = []
    trace: list[str] = []
    budget_end = time.monotonic() + ENDPOINTS_BUDGET
    for i, p in enumerate(todo):
        if time.monotonic() >= budget_end:
            log(f"time budget of {ENDPOINTS_BUDGET:.0f}s spent after {i} endpoints: stopping there")
            break
        eid = endpoint_id(p.n)
        body = {
            "attachment_point": {"interface_group": p.server, "vlan": p.seg.vlan},
            "ips": [endpoint_ip(p.seg, p.host)],
            "mac": endpoint_mac(p.n),
            "origination": "bench",
        }
        ns = f"{LAB_PREFIX}ep-{eid[:8]}"
        wall = time.time()
        t0 = time.monotonic()
        r = api.put(f"/v1/tenants/{p.seg.tenant}/segments/{p.seg.name}/endpoints/{eid}", json=body)
        api_times.append(time.monotonic() - t0)
        if r.status_code != 201:
            raise RuntimeError(f"PUT endpoint {eid}: {r.status_code} {r.text[:300]}")
        got = ping_until(ns, p.seg.gateway, t0 + PING_TIMEOUT, PROBE_INTERVAL, arp_retrans_ms=ARP_RETRANS_MS)
        if got is None:
            failed.append(f"{eid} ({p.kind}, {p.server} on {leaf_of[p.server]}, {p.seg.tenant}/{p.seg.name})")
            log(
                f"endpoint {eid}: no echo reply from {p.seg.gateway} within {PING_TIMEOUT:.0f}s\n"
                + diagnose(api, lab, eid, ns, leaf_of[p.server])
            )
            latency[p.kind].append(PING_TIMEOUT)
            if len(failed) >= 3:
                raise RuntimeError(
                    "3 endpoints never reached their gateway: "
                    + "; ".join(failed)
                    + f"\nsupervisor log:\n{tail(lab / 'supervisor.log')}"
                )
        else:
            latency[p.kind].append(got - t0)
        revision = r.headers.get("X-Podswitch-Revision", "?")
        trace.append(f"{wall:.3f}\t{latency[p.kind][-1]:.3f}\t{p.kind}\t{leaf_of[p.server]}\t{eid}\t{revision}")
        if (i + 1) % 20 == 0:
            done = [x for v in latency.values() for x in v]
            log(f"  {i + 1}/{len(todo)} endpoints: p50 so far {statistics.median(done):.2f}s (load {loadavg()})")

    if TRACE:  # per endpoint: wall clock of the PUT, seconds to the first echo, kind, leaf, id
        TRACE.mkdir(parents=True, exist_ok=True)
        (TRACE / "endpoints.tsv").write_text("\n".join(trace) + "\n")
    every = latency["same leaf"] + latency["new on leaf"]
    log(
        f"endpoint -> first ping: p50 {percentile(every, 50):.3f}s p99 {percentile(every, 99):.3f}s; API PUT "
        f"p50 {percentile(api_times, 50) * 1000:.1f} ms p99 {percentile(api_times, 99) * 1000:.1f} ms"
    )
    return Latency(every, latency, api_times, failed)


def emit_latency(push: Latency, poll: Latency) -> None:
    """The push figures, each beside the same figure of the polling lab measured in this run."""
    for q in (50, 99):
        emit(
            Result(
                f"endpoint PUT -> first ping to its gateway, p{q} of {len(push.every)}, agents pushed",
                percentile(push.every, q),
                "s",
                "<= 0.15 s" if q == 99 else "",
                f"the same with agents polling (lab up --push 0), p{q} of {len(poll.every)}",
                percentile(poll.every, q),
                q != 99 or percentile(push.every, q) <= 0.15,
            )
        )
    emit(Result("  the API PUT alone, p50", percentile(push.api, 50), "s"))
    for kind, label in (
        ("same leaf", "gateway already on the endpoint's leaf"),
        ("new on leaf", "segment new on the leaf (gateway on other leaves)"),
    ):
        if push.by_kind[kind]:
            emit(Result(f"  p50, {label}", percentile(push.by_kind[kind], 50), "s"))
    lost = len(push.failed)
    emit(Result(f"  endpoints without a reply within {PING_TIMEOUT:.0f}s", lost, "", "0", ok=not lost))


# ---- 3: the agent against bridge -batch / ip -batch -------------------------------------------------


def _mac(seg: int, j: int) -> str:
    return f"02:10:00:{seg:02x}:{j >> 8 & 0xFF:02x}:{j & 0xFF:02x}"


def _vtep(j: int) -> str:
    return f"10.255.0.{2 + j % REMOTE_VTEPS}"


def _neigh(seg: int, j: int) -> tuple[str, str]:
    return f"10.77.{seg}.{10 + j}", f"02:20:00:00:{seg:02x}:{j:02x}"


def fdb_states():  # type: ignore[no-untyped-def]
    """(without entries, with entries) of one leaf."""
    from podswitch.fabric.state import (
        GATEWAY_MAC,
        Neighbour,
        RemoteMac,
        SegmentBridge,
        Slice,
        SliceInterface,
        SwitchState,
    )

    def build(full: bool) -> SwitchState:
        bridges, legs, neighbours = [], [], []
        for s in range(FDB_SEGMENTS):
            vni = 10001 + s
            macs = tuple(RemoteMac(mac=_mac(s, j), vtep=_vtep(j)) for j in range(MACS_PER_SEGMENT)) if full else ()
            bridges.append(
                SegmentBridge(
                    vni=vni,
                    tenant="bench",
                    segment=f"net{s}",
                    bridge=f"br{vni}",
                    vxlan=f"vx{vni}",
                    flood=tuple(_vtep(j) for j in range(REMOTE_VTEPS)),
                    remote_macs=macs,
                )
            )
            legs.append(
                SliceInterface(
                    ifname=f"g{vni}", peer=f"r{vni}", bridge=f"br{vni}", mac=GATEWAY_MAC, addresses=(f"10.77.{s}.1/24",)
                )
            )
            if full:
                neighbours += [
                    Neighbour(ip=ip, mac=mac, dev=f"g{vni}")
                    for ip, mac in map(lambda j, s=s: _neigh(s, j), range(NEIGHBOURS_PER_LEG))
                ]
        sl = Slice(name="t1", tenant="bench", interfaces=tuple(legs), neighbours=tuple(neighbours))
        return SwitchState(
            switch="leaf-bench", role="leaf", loopback="10.255.0.1", bridges=tuple(bridges), slices=(sl,)
        )

    return build(False), build(True)


def _fresh(name: str, empty) -> None:  # type: ignore[no-untyped-def]
    from podswitch.agent import netns as agent_netns
    from podswitch.agent.reconcile import Reconciler

    agent_netns.create(name).close()
    with Reconciler(name) as rec:
        res = rec.reconcile(empty)
    if res.errors:
        raise RuntimeError(f"setting up {name}: {res.errors[:3]}")


def _tool_files(workdir: Path) -> tuple[Path, Path]:
    fdb = workdir / "fdb.batch"
    neigh = workdir / "neigh.batch"
    with open(fdb, "w") as f:
        for s in range(FDB_SEGMENTS):
            for j in range(MACS_PER_SEGMENT):
                mac, vx = _mac(s, j), f"vx{10001 + s}"
                f.write(f"fdb replace {mac} dev {vx} dst {_vtep(j)} self permanent\n")
                f.write(f"fdb replace {mac} dev {vx} master static\n")
    with open(neigh, "w") as f:
        for s in range(FDB_SEGMENTS):
            for j in range(NEIGHBOURS_PER_LEG):
                ip, mac = _neigh(s, j)
                f.write(f"neigh replace {ip} lladdr {mac} dev g{10001 + s} nud permanent protocol 112\n")
    return fdb, neigh


def _timed_cmds(*argvs: list[str]) -> float:
    gc.collect()
    started = time.perf_counter()
    for argv in argvs:
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    return time.perf_counter() - started


def agent_figures() -> None:
    from podswitch.agent.reconcile import Reconciler

    empty, full = fdb_states()
    entries = 2 * FDB_SEGMENTS * MACS_PER_SEGMENT
    neighbours = FDB_SEGMENTS * NEIGHBOURS_PER_LEG
    log(f"agent: {entries} FDB entries + {neighbours} neighbours, {ROUNDS} rounds (load {loadavg()})")
    agent, tools, noop, dump = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="psb-fdb-") as tmp:
        fdb_file, neigh_file = _tool_files(Path(tmp))
        for r in range(ROUNDS):
            ns_tools, ns_agent = f"{AGENT_PREFIX}{r}t", f"{AGENT_PREFIX}{r}a"
            try:
                _fresh(ns_tools, empty)
                _fresh(ns_agent, empty)

                def run_tools(ns: str = ns_tools) -> None:
                    tools.append(
                        _timed_cmds(
                            ["bridge", "-n", ns, "-batch", str(fdb_file)],
                            ["ip", "-n", f"{ns}-t1", "-batch", str(neigh_file)],
                        )
                    )

                if r % 2:
                    run_tools()
                with Reconciler(ns_agent) as rec:
                    gc.collect()
                    t = time.perf_counter()
                    res = rec.reconcile(full)
                    agent.append(time.perf_counter() - t)
                    if res.errors or res.writes != entries + neighbours:
                        other = [c for c in res.created + res.changed if not c.startswith(("fdb", "neigh"))]
                        raise RuntimeError(
                            f"agent reconcile: writes {res.writes}, errors {res.errors[:3]}, not entries: {other[:5]}"
                        )
                    gc.collect()
                    t = time.perf_counter()
                    res = rec.reconcile(full)
                    noop.append(time.perf_counter() - t)
                    if res.errors or res.writes:
                        raise RuntimeError(
                            f"re-reconcile: writes {res.writes}, changed {res.changed[:5]}, errors {res.errors[:3]}"
                        )
                if not r % 2:
                    run_tools()
                # What the tools made is exactly what the agent wants: it finds nothing to do there.
                with Reconciler(ns_tools) as rec:
                    res = rec.reconcile(full)
                if res.errors or res.writes:
                    raise RuntimeError(
                        f"the tools' namespace is not the desired state: writes {res.writes}, "
                        f"{(res.created + res.changed + res.removed)[:5]}, errors {res.errors[:3]}"
                    )
                dump.append(
                    _timed_cmds(
                        ["bridge", "-n", ns_tools, "fdb", "show"], ["ip", "-n", f"{ns_tools}-t1", "neigh", "show"]
                    )
                )
            finally:
                remove_namespaces(AGENT_PREFIX)
            log(
                f"  round {r + 1}: agent {agent[-1] * 1000:.0f} ms, tools {tools[-1] * 1000:.0f} ms, "
                f"re-reconcile {noop[-1] * 1000:.0f} ms, dump {dump[-1] * 1000:.0f} ms"
            )
    a, b = statistics.median(agent) * 1000, statistics.median(tools) * 1000
    emit(
        Result(
            f"agent programs {entries:,} FDB entries + {neighbours:,} neighbours (reconcile, median of {ROUNDS})",
            a,
            "ms",
            "<= 1.5x baseline",
            "bridge -batch + ip -batch",
            b,
            a <= 1.5 * b,
        )
    )
    n, d = statistics.median(noop) * 1000, statistics.median(dump) * 1000
    emit(Result("  zero-write re-reconcile of that state", n, "ms", "", "bridge fdb show + ip neigh show", d))


# ---- main ------------------------------------------------------------------------------------------


def main() -> int:
    if os.geteuid() != 0:
        print("bench_dataplane needs root (network namespaces)", file=sys.stderr)
        return 1

    def on_term(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    started = time.perf_counter()
    log(f"{os.cpu_count()} CPUs, load {loadavg()}, namespaces {PREFIX}*")
    try:
        runs: dict[bool, Latency] = {}
        for poll in (True, False):  # the baseline first: the push run then ends the section with its lab figures
            with tempfile.TemporaryDirectory(prefix="podswitch-bench-dp-") as tmp:
                log(f"--- the lab with agents {'polling' if poll else 'pushed'}")
                ctl = start_controller(Path(tmp) / "data")
                try:
                    runs[poll] = lab_figures(ctl, poll=poll)
                finally:
                    from podswitch.lab import control
                    from podswitch.lab import statefile as lab_state

                    if TRACE and not poll:
                        TRACE.mkdir(parents=True, exist_ok=True)
                        for f in lab_state.lab_dir(ctl.data_dir).glob("*.log"):
                            shutil.copy(f, TRACE / f.name)
                    log("lab down")
                    try:
                        control.down(ctl.data_dir, LAB_PREFIX)
                    finally:
                        ctl.stop()
        emit_latency(runs[False], runs[True])
        agent_figures()
    finally:
        left = remove_namespaces(PREFIX)
        if left:
            log(f"removed {len(left)} namespaces left behind")
        log(f"done in {time.perf_counter() - started:.0f}s, load {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
