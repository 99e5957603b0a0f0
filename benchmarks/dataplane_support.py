"""Helpers of bench_dataplane: namespaces that are ours, a controller process, the lab's running-config,
a copy of a lab's kernel objects made with `ip -batch`, and an in-process ICMP echo probe.

Everything created here has a name starting with the caller's prefix (`psb<pid>-...`) and lives in network
namespaces made for the benchmark; nothing touches the root namespace's links, addresses or routes."""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from podswitch.agent import netns as agent_netns
from podswitch.lab.process import ControllerProcess
from podswitch.lab.process import start_controller as start_controller_process

TOKEN = "bench-dataplane-admin-token"


def log(msg: str) -> None:
    print(f"[bench_dataplane {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def remove_namespaces(prefix: str) -> list[str]:
    """Every namespace whose name starts with `prefix` (processes inside are killed first)."""
    if not prefix.startswith("psb") or not prefix.endswith("-"):
        raise ValueError(f"refusing to remove namespaces by the prefix {prefix!r}")
    return agent_netns.remove_all(prefix)


def run(argv: list[str], *, timeout: float = 60.0, input: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:6])}... failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
    return proc


# ---- the controller ------------------------------------------------------------------------------


def start_controller(data_dir: Path, timeout: float = 60.0) -> ControllerProcess:
    return start_controller_process(data_dir, TOKEN, timeout)


# ---- the lab's intent ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    tenant: str
    name: str
    index: int  # 0.. over the whole intent
    vlan: int
    subnet: str  # "10.11.1" (a /24)

    @property
    def gateway(self) -> str:
        return f"{self.subnet}.1"


def segments(tenants: int, per_tenant: int) -> list[Segment]:
    out = []
    for t in range(1, tenants + 1):
        for s in range(1, per_tenant + 1):
            i = len(out)
            out.append(Segment(f"bench-t{t}", f"net{s}", i, 100 + i, f"10.{10 + t}.{s}"))
    return out


def endpoint_id(n: int) -> str:
    """Unique in its first eight characters, so the lab names its namespace `<prefix>ep-<first 8>`."""
    return f"{0xBE000000 + n:08x}-0000-4000-8000-{n:012x}"


def endpoint_mac(n: int) -> str:
    return f"fa:16:3e:be:{n >> 8 & 0xFF:02x}:{n & 0xFF:02x}"


def endpoint_ip(seg: Segment, host: int) -> str:
    return f"{seg.subnet}.{host}"


def server_name(k: int) -> str:
    return f"bench-srv{k:02d}"


def running_config(segs: list[Segment], placed: Iterable[tuple[int, str, Segment, int]]) -> str:
    """Tenants with a logical router (a gateway per segment) and the endpoints `placed`:
    (endpoint number, server, segment, host part of its IP)."""
    by_segment: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for n, server, seg, host in placed:
        by_segment[seg.index].append((n, server, host))
    lines: list[str] = []
    for tenant in sorted({s.tenant for s in segs}):
        mine = [s for s in segs if s.tenant == tenant]
        lines += [f"tenant {tenant}", "  origination bench", "  !", "  logical-router"]
        for s in mine:
            lines += [f"    interface segment {s.name}", f"      ip address {s.gateway}/24"]
        lines.append("  !")
        for s in mine:
            lines += [f"  segment {s.name}", "    origination bench", "    !"]
            for n, server, host in by_segment[s.index]:
                lines += [
                    f"    endpoint {endpoint_id(n)}",
                    f"      attachment-point interface-group {server} vlan {s.vlan}",
                    f"      ip {endpoint_ip(s, host)}",
                    f"      mac {endpoint_mac(n)}",
                    "      origination bench",
                    "    !",
                ]
        lines.append("!")
    return "\n".join(lines) + "\n"


# ---- a lab's kernel objects, and the same objects made with ip -batch --------------------------


@dataclass
class Inventory:
    """Devices of a set of namespaces: what `ip -batch` must make to have the same objects."""

    namespaces: list[str] = field(default_factory=list)
    bridges: dict[str, list[str]] = field(default_factory=dict)  # ns -> bridge names
    vxlans: dict[str, list[tuple[str, int, str | None]]] = field(default_factory=dict)  # ns -> (name, vni, local)
    # ((ns, ifname), (peer ns, peer ifname)); same-namespace pairs have ns == peer ns
    veths: list[tuple[tuple[str, str], tuple[str, str]]] = field(default_factory=list)
    masters: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # ns -> (port, bridge)
    up: dict[str, list[str]] = field(default_factory=dict)  # ns -> devices that are admin-up (lo included)

    def counts(self) -> dict[str, int]:
        return {
            "namespaces": len(self.namespaces),
            "veth pairs": len(self.veths),
            "cross-namespace veth pairs": sum(1 for a, b in self.veths if a[0] != b[0]),
            "bridges": sum(map(len, self.bridges.values())),
            "vxlans": sum(map(len, self.vxlans.values())),
            "bridge ports": sum(map(len, self.masters.values())),
            "devices up": sum(map(len, self.up.values())),
        }


def _ip_json(ns: str, *args: str) -> list[dict]:
    out = run(["ip", "-n", ns, "-j", *args]).stdout.strip()
    return json.loads(out) if out else []


def inventory(prefix: str) -> Inventory:
    inv = Inventory(namespaces=agent_netns.names(prefix))
    links: dict[str, dict[int, dict]] = {}
    ids: dict[str, dict[int, str]] = {}
    for ns in inv.namespaces:
        links[ns] = {link["ifindex"]: link for link in _ip_json(ns, "-d", "link", "show")}
        ids[ns] = {e["nsid"]: e.get("name", "") for e in _ip_json(ns, "netns", "list-id")}
    seen: set[tuple[tuple[str, str], tuple[str, str]]] = set()
    for ns, by_index in links.items():
        for link in by_index.values():
            name = link["ifname"]
            kind = (link.get("linkinfo") or {}).get("info_kind")
            data = (link.get("linkinfo") or {}).get("info_data") or {}
            if kind == "bridge":
                inv.bridges.setdefault(ns, []).append(name)
            elif kind == "vxlan":
                inv.vxlans.setdefault(ns, []).append((name, int(data["id"]), data.get("local")))
            elif kind == "veth":
                if "link_netnsid" in link:
                    peer_ns = ids[ns].get(link["link_netnsid"], "")
                    if peer_ns not in links:
                        raise RuntimeError(f"veth {name}@{ns}: peer in a namespace that is not ours ({peer_ns})")
                    peer = links[peer_ns].get(link.get("link_index", -1), {}).get("ifname")
                else:  # both ends here: `ip -j` names the peer
                    peer_ns, peer = ns, link.get("link")
                if peer is None:
                    raise RuntimeError(f"veth {name}@{ns}: peer not found in {peer_ns}")
                pair = tuple(sorted(((ns, name), (peer_ns, peer))))
                if pair not in seen:
                    seen.add(pair)  # type: ignore[arg-type]
                    inv.veths.append(pair)  # type: ignore[arg-type]
            if "master" in link:
                inv.masters.setdefault(ns, []).append((name, link["master"]))
            if "UP" in link.get("flags", ()):
                inv.up.setdefault(ns, []).append(name)
    inv.veths.sort()
    return inv


def replica_batches(
    inv: Inventory, src_prefix: str, dst_prefix: str, workdir: Path
) -> tuple[Path, list[tuple[str, Path]]]:
    """Batch files that make `inv`'s objects under `dst_prefix`: one `ip -batch` with every `netns add`,
    then one `ip -n NS -batch` per namespace, in namespace order. A veth pair is made by the batch of the
    earlier of its two namespaces (so the later one finds its end there and can enslave it / set it up)."""

    def rename(ns: str) -> str:
        assert ns.startswith(src_prefix)
        return dst_prefix + ns[len(src_prefix) :]

    order = {ns: i for i, ns in enumerate(inv.namespaces)}
    creates: dict[str, list[str]] = defaultdict(list)
    for (ns_a, if_a), (ns_b, if_b) in inv.veths:
        if order[ns_b] < order[ns_a]:
            (ns_a, if_a), (ns_b, if_b) = (ns_b, if_b), (ns_a, if_a)
        where = "" if ns_a == ns_b else f" netns {rename(ns_b)}"
        creates[ns_a].append(f"link add {if_a} type veth peer name {if_b}{where}")
    add = workdir / "netns-add.batch"
    add.write_text("".join(f"netns add {rename(ns)}\n" for ns in inv.namespaces))
    batches = []
    for ns in inv.namespaces:
        lines = [f"link add {br} type bridge" for br in inv.bridges.get(ns, ())]
        for name, vni, local in inv.vxlans.get(ns, ()):
            lines.append(
                f"link add {name} type vxlan id {vni}"
                + (f" local {local}" if local else "")
                + " dstport 4789 nolearning"
            )
        lines += creates.get(ns, [])
        lines += [f"link set {port} master {br}" for port, br in inv.masters.get(ns, ())]
        lines += [f"link set {dev} up" for dev in inv.up.get(ns, ())]
        path = workdir / f"{rename(ns)}.batch"
        path.write_text("\n".join(lines) + "\n")
        batches.append((rename(ns), path))
    return add, batches


def run_replica(add: Path, batches: list[tuple[str, Path]]) -> float:
    started = time.perf_counter()
    run(["ip", "-batch", str(add)])
    for ns, path in batches:
        run(["ip", "-n", ns, "-batch", str(path)])
    return time.perf_counter() - started


def replica_seconds(inv: Inventory, src_prefix: str, dst_prefix: str) -> float:
    """Time to make `inv`'s objects again with ip -batch under `dst_prefix`; checks the copy and removes it."""
    with tempfile.TemporaryDirectory(prefix="psb-batch-") as tmp:
        add, batches = replica_batches(inv, src_prefix, dst_prefix, Path(tmp))
        try:
            seconds = run_replica(add, batches)
            copy = inventory(dst_prefix)
            want, have = inv.counts(), copy.counts()
            if want != have:
                raise RuntimeError(f"the ip -batch copy differs from the lab: {have} != {want}")
            return seconds
        finally:
            remove_namespaces(dst_prefix)


# ---- ICMP echo from inside a namespace -----------------------------------------------------------


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _echo(ident: int, seq: int) -> bytes:
    payload = b"podswitch-bench!" * 2
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    return struct.pack("!BBHHH", 8, 0, _checksum(header + payload), ident, seq) + payload


def _set_arp_retrans(ns: str, ms: int) -> bool:
    """Fast ARP retries on the endpoint's eth0, so the probe sees a path within `ms` of it being ready
    (default 1 s between tries). False while eth0 is not there yet."""
    errors = agent_netns.sysctl_set_many(ns, {"net/ipv4/neigh/eth0/retrans_time_ms": str(ms)})
    return not errors


def ping_until(
    ns: str, dst: str, deadline: float, interval: float = 0.02, arp_retrans_ms: int | None = None
) -> float | None:
    """Send ICMP echo requests from namespace `ns` to `dst` every `interval` seconds until the first reply
    (returns time.monotonic() of its arrival) or `deadline` (None). Waits for the namespace to appear.
    A raw socket opened inside the namespace: no process per try."""
    sock: socket.socket | None = None
    ident = os.getpid() & 0xFFFF
    seq = 0
    arp_done = arp_retrans_ms is None
    try:
        while time.monotonic() < deadline:
            if sock is None:
                if not agent_netns.exists(ns):
                    time.sleep(0.005)
                    continue
                try:
                    sock = agent_netns.run_in(
                        ns, lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
                    )
                except OSError:
                    time.sleep(0.005)
                    continue
                sock.setblocking(False)
            if not arp_done:
                with contextlib.suppress(OSError):
                    arp_done = _set_arp_retrans(ns, arp_retrans_ms)  # type: ignore[arg-type]
            seq = (seq + 1) & 0xFFFF
            with contextlib.suppress(OSError):  # no address/route yet: ENETUNREACH; ARP failed: EHOSTUNREACH
                sock.sendto(_echo(ident, seq), (dst, 0))
            until = min(deadline, time.monotonic() + interval)
            while True:
                left = until - time.monotonic()
                if left <= 0:
                    break
                ready, _, _ = select.select([sock], [], [], left)
                if not ready:
                    break
                try:
                    packet, (src, _) = sock.recvfrom(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:  # an ICMP error queued on the socket
                    continue
                ihl = (packet[0] & 0x0F) * 4
                if len(packet) >= ihl + 8 and src == dst:
                    icmp_type, _, _, rid, _ = struct.unpack_from("!BBHHH", packet, ihl)
                    if icmp_type == 0 and rid == ident:
                        return time.monotonic()
        return None
    finally:
        if sock is not None:
            sock.close()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]
