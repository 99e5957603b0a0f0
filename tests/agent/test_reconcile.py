"""Reconcile against real kernels: a POD of 1 spine and 2 leaves in network namespaces.

    h1 (vlan 300: 10.66.16.11)                         h2 (vlan 300: 10.66.16.12, vlan 301: 10.66.17.12)
      eth0 ==802.1Q== swp1 [l1] up1,up2 ==== dn1a,dn1b [s1] dn2a,dn2b ==== up1,up2 [l2] swp1 ==802.1Q== eth0

Two cables per leaf to the spine give the underlay ECMP routes. Segments 10300 and 10301 (tenant t1) are on
both leaves; each leaf has a router slice `t1` with the anycast gateways 10.66.16.1 / 10.66.17.1 and the
hosts as static neighbours, and a system slice `sys` linked to it. Hosts tag their frames with the same tc
BPF shim the agent uses on the leaf ports, so every ping crosses a real 802.1Q trunk. The test harness
cables and configures the hosts with `ip`; everything on the switches is made by the agent."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from podswitch.agent import netlink, vlan_shim
from podswitch.agent.kernel import OWNER_ALIAS, PROTO
from podswitch.agent.reconcile import Reconciler, Result, reconcile
from podswitch.fabric.state import (
    GATEWAY_MAC,
    FabricPort,
    LocalMac,
    Neighbour,
    RemoteMac,
    SegmentBridge,
    Slice,
    SliceInterface,
    SliceLink,
    SliceRoute,
    SwitchState,
    UnderlayNextHop,
    UnderlayRoute,
    VlanAttachment,
)
from tests.agent.conftest import PREFIX, delete_namespaces, require_root, sh

pytestmark = pytest.mark.netns

CountingOpener = Any  # conftest.CountingOpener, handed out by the `counting_opener` fixture


NS = {name: f"{PREFIX}{name}" for name in ("s1", "l1", "l2", "h1", "h2")}
LO = {"l1": "10.255.0.1", "l2": "10.255.0.2", "s1": "10.255.0.100"}
H1_MAC, H2_MAC300, H2_MAC301 = "02:00:00:00:01:01", "02:00:00:00:02:01", "02:00:00:00:02:02"
H1_IP, H2_IP300, H2_IP301 = "10.66.16.11", "10.66.16.12", "10.66.17.12"
FOREIGN_BR = "opbr0"  # an operator's device in a leaf namespace: podswitch must leave it alone
NFT = """table inet podswitch {
  chain forward {
    type filter hook forward priority 0; policy accept;
  }
}
"""

# (leaf port, spine port, p2p index); leaf end = .2i+1, spine end = .2i
CABLES = {"l1": [("up1", "dn1a", 0), ("up2", "dn1b", 1)], "l2": [("up1", "dn2a", 2), ("up2", "dn2b", 3)]}


def p2p(i: int) -> tuple[str, str]:
    return f"10.254.0.{2 * i}", f"10.254.0.{2 * i + 1}"


# ---- desired states --------------------------------------------------------------------------------


def bridges() -> tuple[SegmentBridge, ...]:
    both = (LO["l1"], LO["l2"])
    return (
        SegmentBridge(vni=10300, tenant="t1", segment="web", bridge="br10300", vxlan="vx10300", flood=both,
                      remote_macs=(RemoteMac(mac=H1_MAC, vtep=LO["l1"]), RemoteMac(mac=H2_MAC300, vtep=LO["l2"]))),
        SegmentBridge(vni=10301, tenant="t1", segment="db", bridge="br10301", vxlan="vx10301", flood=both,
                      remote_macs=(RemoteMac(mac=H2_MAC301, vtep=LO["l2"]),)),
    )  # fmt: skip


def slices() -> tuple[Slice, ...]:
    t1 = Slice(
        name="t1",
        tenant="t1",
        interfaces=(
            SliceInterface(
                ifname="g10300", peer="r10300", bridge="br10300", mac=GATEWAY_MAC, addresses=("10.66.16.1/24",)
            ),
            SliceInterface(
                ifname="g10301", peer="r10301", bridge="br10301", mac=GATEWAY_MAC, addresses=("10.66.17.1/24",)
            ),
        ),
        neighbours=(
            Neighbour(ip=H1_IP, mac=H1_MAC, dev="g10300"),
            Neighbour(ip=H2_IP300, mac=H2_MAC300, dev="g10300"),
            Neighbour(ip=H2_IP301, mac=H2_MAC301, dev="g10301"),
        ),
        routes=(SliceRoute(prefix="0.0.0.0/0", via=("169.254.0.0",), dev="sys"),),
        nftables=NFT,
    )
    sys_ = Slice(
        name="sys", tenant="system",
        links=(SliceLink(ifname="t1", address="169.254.0.0/31", peer_slice="t1", peer_ifname="sys",
                         peer_address="169.254.0.1/31"),),
        routes=(
            SliceRoute(prefix="10.66.16.0/24", via=("169.254.0.1",), dev="t1"),
            SliceRoute(prefix="10.66.17.0/24", via=("169.254.0.1",), dev="t1"),
            SliceRoute(prefix="10.99.0.0/16", kind="unreachable"),
        ),
    )  # fmt: skip
    return (sys_, t1)


def leaf_state(leaf: str) -> SwitchState:
    ports = tuple(FabricPort(ifname=lp, address=f"{p2p(i)[1]}/31", peer=p2p(i)[0]) for lp, _, i in CABLES[leaf])
    hops = tuple(UnderlayNextHop(via=p2p(i)[0], dev=lp) for lp, _, i in CABLES[leaf])
    if leaf == "l1":
        attachments = (VlanAttachment(port="swp1", vlan=300, vni=10300, subif="swp1.300", shim="swp1~300"),)
        local = (LocalMac(mac=H1_MAC, bridge="br10300", dev="swp1.300"),)
    else:
        attachments = (
            VlanAttachment(port="swp1", vlan=300, vni=10300, subif="swp1.300", shim="swp1~300"),
            VlanAttachment(port="swp1", vlan=301, vni=10301, subif="swp1.301", shim="swp1~301"),
        )
        local = (
            LocalMac(mac=H2_MAC300, bridge="br10300", dev="swp1.300"),
            LocalMac(mac=H2_MAC301, bridge="br10301", dev="swp1.301"),
        )
    pins = (
        LocalMac(mac=GATEWAY_MAC, bridge="br10300", dev="r10300"),
        LocalMac(mac=GATEWAY_MAC, bridge="br10301", dev="r10301"),
    )
    return SwitchState(
        switch=leaf, role="leaf", loopback=LO[leaf], fabric_ports=ports,
        underlay_routes=(UnderlayRoute(prefix="10.255.0.0/24", nexthops=hops),),
        bridges=bridges(), attachments=attachments, local_macs=tuple(sorted(local + pins, key=lambda m: m.mac)),
        slices=slices(),
    )  # fmt: skip


def spine_state() -> SwitchState:
    ports, routes = [], []
    for leaf, cables in CABLES.items():
        for _, sp, i in cables:
            ports.append(FabricPort(ifname=sp, address=f"{p2p(i)[0]}/31", peer=p2p(i)[1]))
        hops = tuple(UnderlayNextHop(via=p2p(i)[1], dev=sp) for _, sp, i in cables)
        routes.append(UnderlayRoute(prefix=f"{LO[leaf]}/32", nexthops=hops))
    return SwitchState(switch="s1", role="spine", loopback=LO["s1"], fabric_ports=tuple(ports),
                       underlay_routes=tuple(routes))  # fmt: skip


def states() -> dict[str, SwitchState]:
    return {"s1": spine_state(), "l1": leaf_state("l1"), "l2": leaf_state("l2")}


# ---- the lab ------------------------------------------------------------------------------------------


def _host(host: str, vlans: dict[int, tuple[str, str]]) -> None:
    """A server: trunk eth0, one BPF "eth0.<vlan>" (veth e<vlan> <-> shim e<vlan>p) per VLAN."""
    from pyroute2 import IPRoute

    ns = NS[host]
    with IPRoute(netns=ns, flags=0) as ipr:
        eth0 = ipr.link_lookup(ifname="eth0")[0]
        ipr.link("set", index=eth0, state="up")
        shims = {}
        for vlan, (mac, _) in vlans.items():
            ipr.link("add", ifname=f"e{vlan}", kind="veth", peer=f"e{vlan}p")
            sub, shim = ipr.link_lookup(ifname=f"e{vlan}")[0], ipr.link_lookup(ifname=f"e{vlan}p")[0]
            ipr.link("set", index=sub, address=mac, state="up")
            ipr.link("set", index=shim, state="up")
            vlan_shim.ensure_push(ipr, shim, vlan, eth0)
            shims[vlan] = shim
        vlan_shim.ensure_trunk(ipr, eth0, shims)
    sh(ns, "ip", "link", "set", "lo", "up")
    for vlan, (_, cidr) in vlans.items():
        sh(ns, "ip", "addr", "add", cidr, "dev", f"e{vlan}")


def build_lab() -> None:
    from pyroute2 import IPRoute, netns

    delete_namespaces(PREFIX)
    for ns in NS.values():
        netns.create(ns)
        # Quiet: no IPv6 chatter (router solicitations, MLD) flooding the segments.
        sh(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
    with IPRoute(netns=NS["s1"], flags=0) as spine:
        for leaf, cables in CABLES.items():
            for lp, sp, _ in cables:
                spine.link("add", ifname=sp, kind="veth", peer={"ifname": lp, "net_ns_fd": NS[leaf]})
    for leaf, host in (("l1", "h1"), ("l2", "h2")):
        with IPRoute(netns=NS[leaf], flags=0) as ipr:
            ipr.link("add", ifname="swp1", kind="veth", peer={"ifname": "eth0", "net_ns_fd": NS[host]})
    _host("h1", {300: (H1_MAC, f"{H1_IP}/24")})
    sh(NS["h1"], "ip", "route", "add", "default", "via", "10.66.16.1")
    _host("h2", {300: (H2_MAC300, f"{H2_IP300}/24"), 301: (H2_MAC301, f"{H2_IP301}/24")})
    # h2 is in two subnets: answers from its 301 address must leave through 301 (source-based table).
    sh(NS["h2"], "ip", "route", "add", "10.66.17.0/24", "dev", "e301", "table", "301")
    sh(NS["h2"], "ip", "route", "add", "default", "via", "10.66.17.1", "dev", "e301", "table", "301")
    sh(NS["h2"], "ip", "rule", "add", "from", H2_IP301, "table", "301", "pref", "100")
    sh(NS["h2"], "ip", "route", "add", "default", "via", "10.66.16.1")
    # An operator's own bridge with a static entry, in a leaf namespace.
    sh(NS["l1"], "ip", "link", "add", FOREIGN_BR, "type", "bridge")
    sh(NS["l1"], "ip", "link", "add", "opv0", "type", "veth", "peer", "name", "opv1")
    sh(NS["l1"], "ip", "link", "set", "opv0", "master", FOREIGN_BR)
    sh(NS["l1"], "bridge", "fdb", "add", "02:99:00:00:00:01", "dev", "opv0", "master", "static")
    sh(NS["l1"], "ip", "addr", "add", "192.0.2.1/24", "dev", FOREIGN_BR)
    for dev in (FOREIGN_BR, "opv0", "opv1"):
        sh(NS["l1"], "ip", "link", "set", dev, "up")
    sh(NS["l1"], "ip", "route", "add", "198.51.100.0/24", "via", "192.0.2.254", "proto", "static")


def apply_all(opener: Any = None, only: tuple[str, ...] = ("s1", "l1", "l2")) -> dict[str, Result]:
    st = states()
    return {sw: reconcile(st[sw], NS[sw], opener=opener) for sw in only}


def ping(ns: str, dst: str, count: int = 2) -> subprocess.CompletedProcess[str]:
    return sh(ns, "ping", "-c", str(count), "-W", "1", dst, check=False)


@pytest.fixture(scope="module")
def lab() -> Iterator[dict[str, Result]]:
    require_root()
    build_lab()
    try:
        results = apply_all()
        yield results
    finally:
        delete_namespaces(PREFIX)


def _wait_ping(ns: str, dst: str, tries: int = 20) -> None:
    # The first packets resolve ARP through the fabric; allow a few attempts, not a time budget.
    for _ in range(tries):
        if ping(ns, dst, count=1).returncode == 0:
            return
    raise AssertionError(f"{ns} cannot reach {dst}:\n{ping(ns, dst, count=1).stdout}")


# ---- tests --------------------------------------------------------------------------------------------


def test_first_reconcile_builds_without_errors(lab: dict[str, Result]) -> None:
    for sw, res in lab.items():
        assert res.errors == [], (sw, res.errors)
        assert res.writes > 0
    assert lab["l1"].links == {"up1": "up", "up2": "up", "swp1": "up"}
    assert set(lab["s1"].links) == {"dn1a", "dn1b", "dn2a", "dn2b"}


def test_l2_ping_across_leaves_through_vxlan(lab: dict[str, Result]) -> None:
    _wait_ping(NS["h1"], H2_IP300)
    out = ping(NS["h1"], H2_IP300, count=3)
    assert " 0% packet loss" in out.stdout, out.stdout


def test_underlay_is_ecmp(lab: dict[str, Result]) -> None:
    out = sh(NS["l1"], "ip", "route", "show", "10.255.0.0/24").stdout
    assert "nexthop via 10.254.0.0 dev up1" in out and "nexthop via 10.254.0.2 dev up2" in out, out
    assert f"proto {PROTO}" in out


def test_routed_ping_through_slice_with_anycast_gateway(lab: dict[str, Result]) -> None:
    _wait_ping(NS["h1"], "10.66.16.1")
    _wait_ping(NS["h1"], H2_IP301)
    out = ping(NS["h1"], H2_IP301, count=3)
    assert " 0% packet loss" in out.stdout, out.stdout
    # The gateway answered with the anycast MAC; the endpoints are static neighbours in the slices.
    assert GATEWAY_MAC in sh(NS["h1"], "ip", "neigh", "show", "10.66.16.1").stdout
    for leaf in ("l1", "l2"):
        neigh = sh(f"{NS[leaf]}-t1", "ip", "neigh", "show", H2_IP301).stdout
        assert H2_MAC301 in neigh and "PERMANENT" in neigh, neigh


def test_routed_ping_to_system_slice(lab: dict[str, Result]) -> None:
    _wait_ping(NS["h1"], "169.254.0.0")
    unreachable = sh(f"{NS['l1']}-sys", "ip", "route", "show", "10.99.0.0/16").stdout
    assert unreachable.startswith("unreachable 10.99.0.0/16"), unreachable


def test_second_reconcile_writes_nothing(lab: dict[str, Result], counting_opener: CountingOpener) -> None:
    results = apply_all(counting_opener)
    for sw, res in results.items():
        assert res.errors == [], (sw, res.errors)
        assert res.writes == 0, (sw, res.changed, res.created, res.removed)
        assert (res.created, res.changed, res.removed) == ([], [], [])
    assert counting_opener.log.entries == []


def test_write_counter_matches_handle_wrapper(lab: dict[str, Result], counting_opener: CountingOpener) -> None:
    # Knock a few things out of place by hand, then check the agent's own count against the wrapper's.
    l1 = NS["l1"]
    sh(l1, "bridge", "fdb", "del", H2_MAC300, "dev", "vx10300", "self")
    sh(l1, "ip", "link", "set", "swp1.300", "down")
    sh(f"{l1}-t1", "ip", "neigh", "del", H1_IP, "dev", "g10300")
    sh(l1, "ip", "route", "del", "10.255.0.0/24")
    res = reconcile(states()["l1"], l1, opener=counting_opener)
    assert res.errors == []
    assert res.writes == len(counting_opener.log) == 4, counting_opener.log.entries
    counting_opener.log.clear()
    res = reconcile(states()["l1"], l1, opener=counting_opener)
    assert res.writes == 0 and len(counting_opener.log) == 0


def test_bad_objects_are_reported_and_do_not_stop_the_rest(
    lab: dict[str, Result], counting_opener: CountingOpener
) -> None:
    l1 = NS["l1"]
    st = states()["l1"]
    t1 = next(s for s in st.slices if s.name == "t1")
    bad_t1 = replace(t1,
        neighbours=(Neighbour(ip="10.66.16.99", mac="02:00:00:00:09:09", dev="nosuchdev"), *t1.neighbours),
        routes=(*t1.routes, SliceRoute(prefix="10.88.0.0/16", via=("10.66.16.254",), dev="nosuchdev")),
    )  # fmt: skip
    bad = replace(st,
        attachments=(VlanAttachment(port="swp9", vlan=302, vni=10300, subif="swp9.302", shim="swp9~302"),
                     *st.attachments),
        local_macs=(LocalMac(mac="02:00:00:00:09:0a", bridge="br10300", dev="nosuchport"), *st.local_macs),
        underlay_routes=(*st.underlay_routes, UnderlayRoute(
            prefix="10.255.1.0/24", nexthops=(UnderlayNextHop(via="10.254.0.0", dev="up9"),))),
        slices=tuple(bad_t1 if s.name == "t1" else s for s in st.slices),
    )  # fmt: skip
    res = reconcile(bad, l1, opener=counting_opener)
    text = "\n".join(res.errors)
    assert len(res.errors) == 5, text
    for needle in ("swp9", "nosuchport", "up9", "10.66.16.99", "10.88.0.0/16"):
        assert needle in text
    # Everything that was right stays right: not one write, and traffic still flows.
    assert res.writes == 0 and counting_opener.log.entries == []
    _wait_ping(NS["h1"], H2_IP301)


def test_foreign_objects_are_left_alone(lab: dict[str, Result], counting_opener: CountingOpener) -> None:
    l1 = NS["l1"]
    res = reconcile(states()["l1"], l1, opener=counting_opener)
    assert res.writes == 0 and res.removed == []
    links = sh(l1, "ip", "-o", "link", "show").stdout
    assert f"{FOREIGN_BR}:" in links and "opv0@opv1" in links
    assert "02:99:00:00:00:01 master opbr0 static" in sh(l1, "bridge", "fdb", "show", "dev", "opv0").stdout
    assert "192.0.2.1/24" in sh(l1, "ip", "addr", "show", "dev", FOREIGN_BR).stdout
    assert "198.51.100.0/24" in sh(l1, "ip", "route", "show").stdout
    # A namespace that looks like a slice of l1 by name but carries no podswitch mark is not ours either.
    from pyroute2 import netns

    netns.create(f"{l1}-t9")
    res = reconcile(states()["l1"], l1, opener=counting_opener)
    assert res.writes == 0 and f"{l1}-t9" in netns.listnetns()


def test_changed_remote_mac_is_replaced_in_place(lab: dict[str, Result], counting_opener: CountingOpener) -> None:
    l1 = NS["l1"]
    st = states()["l1"]
    moved = tuple(
        replace(b, remote_macs=tuple(
            replace(r, vtep="10.255.0.9") if r.mac == H2_MAC300 else r for r in b.remote_macs))
        for b in st.bridges
    )  # fmt: skip
    res = reconcile(replace(st, bridges=moved), l1, opener=counting_opener)
    assert res.errors == []
    # One request: NLM_F_REPLACE rewrites the destination of the existing entry; nothing deleted first.
    assert [e[1:] for e in counting_opener.log.entries] == [("batch", f"fdb {H2_MAC300} vx10300 dst 10.255.0.9")]
    fdb = sh(l1, "bridge", "fdb", "show", "dev", "vx10300").stdout
    assert f"{H2_MAC300} dst 10.255.0.9 self permanent" in fdb and f"{H2_MAC300} dst 10.255.0.2" not in fdb
    counting_opener.log.clear()
    res = reconcile(st, l1, opener=counting_opener)  # and back
    assert res.writes == 1 and res.errors == []
    _wait_ping(NS["h1"], H2_IP300)


def test_removing_a_segment_removes_only_its_objects(lab: dict[str, Result]) -> None:
    l2 = NS["l2"]
    st = states()["l2"]

    def ifindexes(ns: str) -> dict[str, int]:
        with netlink.RtSocket(ns) as rt:
            return {link.name: link.index for link in rt.links()}

    before, before_t1 = ifindexes(l2), ifindexes(f"{l2}-t1")
    t1 = next(s for s in st.slices if s.name == "t1")
    t1_less = replace(t1,
        interfaces=tuple(i for i in t1.interfaces if i.bridge != "br10301"),
        neighbours=tuple(n for n in t1.neighbours if n.dev != "g10301"),
    )  # fmt: skip
    smaller = replace(st,
        bridges=tuple(b for b in st.bridges if b.vni != 10301),
        attachments=tuple(a for a in st.attachments if a.vni != 10301),
        local_macs=tuple(m for m in st.local_macs if m.bridge != "br10301"),
        slices=tuple(t1_less if s.name == "t1" else s for s in st.slices),
    )  # fmt: skip
    res = reconcile(smaller, l2)
    assert res.errors == []
    after, after_t1 = ifindexes(l2), ifindexes(f"{l2}-t1")
    gone = {"br10301", "vx10301", "swp1.301", "swp1~301", "r10301"}
    assert gone.isdisjoint(after)
    assert "g10301" not in after_t1
    # Everything else is the very same device (same ifindex): nothing was recreated.
    assert {k: v for k, v in before.items() if k not in gone} == after
    assert {k: v for k, v in before_t1.items() if k != "g10301"} == after_t1
    assert H2_IP301 not in sh(f"{l2}-t1", "ip", "neigh", "show").stdout
    with _ipr(l2) as ipr:
        pop = vlan_shim.read(ipr, after["swp1"])
    assert pop is not None and pop.vlans == {300: after["swp1~300"]}
    _wait_ping(NS["h1"], H2_IP300)  # segment 10300 still works
    res = reconcile(st, l2)  # put it back
    assert res.errors == []
    _wait_ping(NS["h1"], H2_IP301)


def _ipr(ns: str) -> Any:
    from pyroute2 import IPRoute

    return IPRoute(netns=ns, flags=0)


def test_stale_slice_namespace_is_removed(lab: dict[str, Result]) -> None:
    l1 = NS["l1"]
    st = states()["l1"]
    from pyroute2 import netns

    without_sys = replace(
        st, slices=tuple(replace(s, routes=()) if s.name == "t1" else s for s in st.slices if s.name != "sys")
    )
    res = reconcile(without_sys, l1)
    assert res.errors == []
    assert f"{l1}-sys" not in netns.listnetns() and f"{l1}-t1" in netns.listnetns()
    assert f"netns {l1}-sys" in res.removed
    res = reconcile(st, l1)
    assert res.errors == [] and f"{l1}-sys" in netns.listnetns()
    _wait_ping(NS["h1"], "169.254.0.0")


def test_stale_routes_are_removed_and_foreign_ones_kept(
    lab: dict[str, Result], counting_opener: CountingOpener
) -> None:
    l1, sys_ns = NS["l1"], f"{NS['l1']}-sys"
    st = states()["l1"]
    sh(sys_ns, "ip", "route", "add", "203.0.113.0/24", "via", "169.254.0.1", "proto", "static")
    fewer = replace(st, slices=tuple(replace(s, routes=s.routes[:1]) if s.name == "sys" else s for s in st.slices))
    res = reconcile(fewer, l1, opener=counting_opener)
    assert res.errors == []
    assert sorted(res.removed) == [f"route 10.66.17.0/24@{sys_ns}", f"route 10.99.0.0/16@{sys_ns}"]
    assert res.writes == len(counting_opener.log) == 2
    routes = sh(sys_ns, "ip", "route", "show").stdout
    assert "10.66.17.0/24" not in routes and "10.99.0.0/16" not in routes
    assert "10.66.16.0/24" in routes and "203.0.113.0/24" in routes  # the operator's route stays
    assert reconcile(st, l1).errors == []
    assert "10.99.0.0/16" in sh(sys_ns, "ip", "route", "show").stdout
    sh(sys_ns, "ip", "route", "del", "203.0.113.0/24")


def test_hitless_reconcile_while_pinging(lab: dict[str, Result]) -> None:
    _wait_ping(NS["h1"], H2_IP301)
    done = threading.Event()
    rounds: list[int] = []

    def churn() -> None:
        with Reconciler(NS["l1"]) as r1, Reconciler(NS["l2"]) as r2, Reconciler(NS["s1"]) as rs:
            st = states()
            while not done.is_set():
                for rec, sw in ((r1, "l1"), (r2, "l2"), (rs, "s1")):
                    res = rec.reconcile(st[sw])
                    assert res.errors == [] and res.writes == 0
                rounds.append(1)

    t = threading.Thread(target=churn)
    t.start()
    try:
        out = sh(NS["h1"], "ping", "-q", "-i", "0.01", "-c", "300", H2_IP301, timeout=120)
    finally:
        done.set()
        t.join()
    assert rounds, "no reconcile ran during the ping"
    assert "300 received" in out.stdout and " 0% packet loss" in out.stdout, out.stdout


def _variant(st: SwitchState) -> SwitchState:
    """The same switch with unrelated additions: a remote MAC, a neighbour, a route, a stricter table."""
    bridges = tuple(
        replace(b, remote_macs=(*b.remote_macs, RemoteMac(mac="02:00:00:00:07:07", vtep=LO["l2"])))
        if b.vni == 10300 else b for b in st.bridges
    )  # fmt: skip
    slices_ = tuple(
        replace(s,
            neighbours=(*s.neighbours, Neighbour(ip="10.66.16.77", mac="02:00:00:00:07:07", dev="g10300")),
            routes=(*s.routes, SliceRoute(prefix="10.77.0.0/16", kind="unreachable")),
            nftables=NFT.replace("policy accept;", "policy accept;\n    ip daddr 10.77.0.1 drop"),
        ) if s.name == "t1" else s
        for s in st.slices
    )  # fmt: skip
    return replace(st, bridges=bridges, slices=slices_)


def test_hitless_while_changes_are_applied(lab: dict[str, Result]) -> None:
    """Changes next to a flow (FDB, neighbours, routes, the nftables table) never disturb it."""
    _wait_ping(NS["h1"], H2_IP301)
    done = threading.Event()
    writes: list[int] = []

    def churn() -> None:
        with Reconciler(NS["l1"]) as r1, Reconciler(NS["l2"]) as r2:
            base = states()
            flip = False
            while not done.is_set():
                flip = not flip
                for rec, sw in ((r1, "l1"), (r2, "l2")):
                    res = rec.reconcile(_variant(base[sw]) if flip else base[sw])
                    assert res.errors == []
                    writes.append(res.writes)
            for rec, sw in ((r1, "l1"), (r2, "l2")):
                rec.reconcile(base[sw])

    t = threading.Thread(target=churn)
    t.start()
    try:
        out = sh(NS["h1"], "ping", "-q", "-i", "0.01", "-c", "300", H2_IP301, timeout=120)
    finally:
        done.set()
        t.join()
    assert len(writes) >= 4 and all(w > 0 for w in writes), writes
    assert "300 received" in out.stdout and " 0% packet loss" in out.stdout, out.stdout


def test_ownership_marks(lab: dict[str, Result]) -> None:
    l1 = NS["l1"]
    with netlink.RtSocket(l1) as rt:
        links = {link.name: link for link in rt.links()}
        assert links["br10300"].alias == OWNER_ALIAS and links["swp1.300"].alias == OWNER_ALIAS
        assert links["up1"].alias is None and links[FOREIGN_BR].alias is None
        lo_addrs = [a for a in rt.addrs() if a.index == links["lo"].index and a.address == LO["l1"]]
        assert [a.proto for a in lo_addrs] == [PROTO]


def test_gateway_moving_within_its_subnet_keeps_a_gateway(lab: dict[str, Result]) -> None:
    """10.66.16.1/24 -> 10.66.16.254/24: the new address is added before the old one goes, and the kernel
    must keep it when the old primary is deleted (promote_secondaries in the slice)."""
    l1 = NS["l1"]
    st = states()["l1"]

    def with_gateway(address: str) -> SwitchState:
        moved = []
        for s in st.slices:
            ifaces = tuple(replace(i, addresses=(address,)) if i.ifname == "g10300" else i for i in s.interfaces)
            moved.append(replace(s, interfaces=ifaces))
        return replace(st, slices=tuple(moved))

    try:
        res = reconcile(with_gateway("10.66.16.254/24"), l1)
        assert res.errors == []
        have = sh(f"{l1}-t1", "ip", "-4", "-br", "addr", "show", "dev", "g10300").stdout
        assert "10.66.16.254/24" in have and "10.66.16.1/" not in have, have
        _wait_ping(NS["h1"], "10.66.16.254")
    finally:
        assert reconcile(st, l1).errors == []
    have = sh(f"{l1}-t1", "ip", "-4", "-br", "addr", "show", "dev", "g10300").stdout
    assert "10.66.16.1/24" in have and "10.66.16.254" not in have, have


# ---- scoped runs (what the agent does with a pushed change) ------------------------------------------


def _new_segment(st: SwitchState) -> SwitchState:
    """A segment new on the leaf: bridge, VXLAN, attachment, gateway leg, neighbour."""
    b = SegmentBridge(vni=10302, tenant="t1", segment="app", bridge="br10302", vxlan="vx10302",
                      flood=(LO["l1"], LO["l2"]))  # fmt: skip
    leg = SliceInterface(
        ifname="g10302", peer="r10302", bridge="br10302", mac=GATEWAY_MAC, addresses=("10.66.18.1/24",)
    )
    return replace(st,
        bridges=(*st.bridges, b),
        attachments=(*st.attachments, VlanAttachment(port="swp1", vlan=302, vni=10302, subif="swp1.302",
                                                     shim="swp1~302")),
        local_macs=(*st.local_macs, LocalMac(mac=GATEWAY_MAC, bridge="br10302", dev="r10302")),
        slices=tuple(replace(s, interfaces=(*s.interfaces, leg),
                             neighbours=(*s.neighbours, Neighbour(ip="10.66.18.5", mac="02:00:00:00:05:05",
                                                                  dev="g10302")))
                     if s.name == "t1" else s for s in st.slices),
    )  # fmt: skip


def _without_segment_10301(st: SwitchState) -> SwitchState:
    return replace(st,
        bridges=tuple(b for b in st.bridges if b.vni != 10301),
        attachments=tuple(a for a in st.attachments if a.vni != 10301),
        local_macs=tuple(m for m in st.local_macs if m.bridge != "br10301"),
        slices=tuple(replace(s, interfaces=tuple(i for i in s.interfaces if i.bridge != "br10301"),
                             neighbours=tuple(n for n in s.neighbours if n.dev != "g10301"))
                     for s in st.slices),
        )  # fmt: skip


def _moved_mac(st: SwitchState) -> SwitchState:
    return replace(
        st,
        bridges=tuple(
            replace(b, remote_macs=tuple(replace(r, vtep="10.255.0.9") for r in b.remote_macs)) for b in st.bridges
        ),
    )


def _new_slice(st: SwitchState) -> SwitchState:
    return replace(st, slices=(*st.slices, Slice(name="t9", tenant="t9", routes=(
        SliceRoute(prefix="10.9.0.0/16", kind="unreachable"),))))  # fmt: skip


def _unlinked(st: SwitchState) -> SwitchState:
    """No link between the system slice and t1 (nor the routes through it)."""
    return replace(
        st,
        slices=tuple(
            replace(s, links=(), routes=tuple(r for r in s.routes if r.dev not in ("t1", "sys"))) for s in st.slices
        ),
    )


CHANGES = (_variant, _new_segment, _without_segment_10301, _moved_mac, _new_slice, _unlinked)


def test_scoped_runs_leave_nothing_for_a_full_run(lab: dict[str, Result], counting_opener: CountingOpener) -> None:
    """After every scoped run, from any of these states to any other, a full run finds nothing to change:
    skipping the concerns a change does not touch loses nothing."""
    import random

    rng = random.Random(11)
    base = states()["l2"]
    # States that combine the changes (each applied or not), walked in a random order.
    walk = [base]
    for _ in range(14):
        st = base
        for change in CHANGES:
            if rng.random() < 0.4:
                st = change(st)
        walk.append(st)
    walk.append(base)
    scopes = []
    with Reconciler(NS["l2"]) as rec:
        assert rec.reconcile(base).errors == []  # the clean start a scoped run needs
        for st in walk[1:]:
            res = rec.reconcile(st, full=False)
            assert res.errors == [], (res.scope, res.errors)
            scopes.append(res.scope)
            counting_opener.log.clear()
            check = reconcile(st, NS["l2"], opener=counting_opener)
            assert check.errors == [] and check.writes == 0, (res.scope, check.summary(), check.created[:5],
                                                              check.changed[:5], check.removed[:5])  # fmt: skip
    # The walk did exercise scoping (a change that touches every concern is a full run, rightly).
    assert len(set(scopes) - {"full"}) >= 4, scopes
    _wait_ping(NS["h1"], H2_IP301)


def test_a_scoped_run_reads_only_what_it_changes(lab: dict[str, Result]) -> None:
    """A new remote MAC touches the FDB only: the scoped run says so and makes exactly the one write."""
    base = states()["l2"]
    added = replace(base, bridges=tuple(
        replace(b, remote_macs=(*b.remote_macs, RemoteMac(mac="02:00:00:00:07:08", vtep=LO["l1"])))
        if b.vni == 10300 else b for b in base.bridges))  # fmt: skip
    with Reconciler(NS["l2"]) as rec:
        assert rec.reconcile(base).errors == []
        res = rec.reconcile(added, full=False)
        assert (res.scope, res.errors, res.writes) == ("fdb", [], 2)  # the VXLAN destination and the bridge entry
        again = rec.reconcile(base, full=False)
        assert (again.scope, again.writes) == ("fdb", 2)
        broken = rec.reconcile(replace(added, attachments=(*added.attachments, VlanAttachment(
            port="nope0", vlan=9, vni=10300, subif="nope0.9", shim="nope0~9"))), full=False)  # fmt: skip
        assert broken.errors and broken.scope == "attachments+fdb"
        # After an error nothing is assumed: the next run is full, whatever it is asked.
        assert rec.reconcile(base, full=False).scope == "full"
