"""802.1Q shim: real frames across a BPF-tagged trunk between two namespaces.

    host ns hs<v> (10.<v>.0.1) -- br<v> + subif v<v> | shim s<v> ... [server] trunk ===(802.1Q)=== trunk [leaf]
    ... shim s<v> | subif v<v> + br<v> -- host ns hl<v> (10.<v>.0.2)

VLANs 300 and 301 are on both trunk maps; 999 has push programs on both sides but only the server pops it,
so leaf-bound frames tagged 999 are an "unknown VLAN" there. Every namespace is named `psv<pid>-...` and
deleted by prefix when the module finishes, also after failures."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from podswitch.agent import bpf, vlan_shim

pytestmark = pytest.mark.netns

PREFIX = f"psv{os.getpid()}-"
VLANS = (300, 301, 999)
LEAF_POPS = (300, 301)  # 999 is unknown to the leaf
SUBNET = {300: "10.30.0", 301: "10.31.0", 999: "10.99.0"}


def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: builds network namespaces, veths and tc BPF filters")


def _ns_delete_prefix(prefix: str) -> None:
    from pyroute2 import netns

    for name in netns.listnetns():
        if name.startswith(prefix):
            netns.remove(name)


def _ns_create(name: str) -> None:
    from pyroute2 import netns

    netns.create(name)
    # No IPv6: router solicitations and MLD reports from every veth would add noise to drop counters.
    # /proc/sys/net is the reading task's namespace; plain sh, since a fresh CI machine may lack procps.
    subprocess.run(
        ["ip", "netns", "exec", name, "sh", "-c",
         "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"],
        check=True,
    )  # fmt: skip


def _run(ns: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout, check=False
    )


class Counting:
    """Forwards to a pyroute2 handle and counts netlink writes (every tc command that is not a dump)."""

    def __init__(self, ipr: Any) -> None:
        self._ipr = ipr
        self.writes: list[tuple[Any, ...]] = []

    def tc(self, command: str, *args: Any, **kwargs: Any) -> Any:
        if not command.startswith(("dump", "get")):
            self.writes.append((command, *args))
        return self._ipr.tc(command, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name in ("link", "addr", "route", "neigh", "fdb"):
            raise AssertionError(f"vlan_shim must not call {name}()")
        return getattr(self._ipr, name)


class Side:
    """One end of the trunk (the "server" or the "leaf") and its VLAN attachments."""

    def __init__(self, ns: str, ipr: Any) -> None:
        self.ns, self.ipr = ns, ipr
        self.trunk = self.idx("trunk")
        self.shims: dict[int, int] = {}

    def idx(self, ifname: str) -> int:
        return int(self.ipr.link_lookup(ifname=ifname)[0])

    def up(self, ifname: str, **kw: Any) -> None:
        self.ipr.link("set", index=self.idx(ifname), state="up", **kw)

    def add_vlan(self, vlan: int, host_ns: str | None, address: str | None) -> None:
        """subif/shim pair; with a host, the subif goes into a bridge together with a veth to the host."""
        from pyroute2 import IPRoute

        self.ipr.link("add", ifname=f"v{vlan}", kind="veth", peer=f"s{vlan}")
        self.shims[vlan] = self.idx(f"s{vlan}")
        self.up(f"s{vlan}")
        if host_ns is None:
            self.up(f"v{vlan}")
            return
        self.ipr.link("add", ifname=f"br{vlan}", kind="bridge")
        self.up(f"br{vlan}")
        self.up(f"v{vlan}", master=self.idx(f"br{vlan}"))
        _ns_create(host_ns)
        self.ipr.link("add", ifname=f"h{vlan}", kind="veth", peer={"ifname": "eth0", "net_ns_fd": host_ns})
        self.up(f"h{vlan}", master=self.idx(f"br{vlan}"))
        with IPRoute(netns=host_ns) as h:
            eth0 = h.link_lookup(ifname="eth0")[0]
            h.addr("add", index=eth0, address=address, prefixlen=24)
            h.link("set", index=eth0, state="up")

    def drops(self) -> int:
        """Frames our trunk program dropped (TC_ACT_SHOT is counted by the clsact qdisc)."""
        for q in self.ipr.get_qdiscs(index=self.trunk):
            if q["index"] == self.trunk and q.get_attr("TCA_KIND") == "clsact":
                return int(q.get_attr("TCA_STATS")["drop"])
        raise AssertionError("no clsact qdisc on the trunk")


@pytest.fixture(scope="module")
def lab() -> Iterator[dict[str, Side]]:
    _require_root()
    from pyroute2 import IPRoute, NetNS

    _ns_delete_prefix(PREFIX)
    handles: list[Any] = []
    try:
        for role in ("server", "leaf"):
            _ns_create(PREFIX + role)
        # NetNS(name) and IPRoute(netns=name) are the same kind of handle; the test process itself stays in
        # the root namespace, so every vlan_shim call here runs "from another namespace".
        handles = [IPRoute(netns=PREFIX + "server"), NetNS(PREFIX + "leaf")]
        # the trunk veth is created in the server with its peer straight in the leaf: never in the root ns
        handles[0].link("add", ifname="trunk", kind="veth",
                        peer={"ifname": "trunk", "net_ns_fd": PREFIX + "leaf"})  # fmt: skip
        server, leaf = Side(PREFIX + "server", handles[0]), Side(PREFIX + "leaf", handles[1])
        for side, tag in ((server, "s"), (leaf, "l")):
            side.up("trunk")
            for vlan in VLANS:
                side.add_vlan(vlan, f"{PREFIX}h{tag}{vlan}", f"{SUBNET[vlan]}.{1 if tag == 's' else 2}")
                vlan_shim.ensure_push(side.ipr, side.shims[vlan], vlan, side.trunk)
        vlan_shim.ensure_trunk(server.ipr, server.trunk, server.shims)
        vlan_shim.ensure_trunk(leaf.ipr, leaf.trunk, {v: leaf.shims[v] for v in LEAF_POPS})
        yield {"server": server, "leaf": leaf}
    finally:
        for h in handles:
            h.close()
        _ns_delete_prefix(PREFIX)


def ping(vlan: int, *extra: str, count: int = 3) -> subprocess.CompletedProcess[str]:
    return _run(f"{PREFIX}hs{vlan}", "ping", "-n", "-q", "-c", str(count), "-W", "1", *extra,
                f"{SUBNET[vlan]}.2")  # fmt: skip


def received(out: str) -> int:
    m = re.search(r"(\d+) received", out)
    assert m, out
    return int(m.group(1))


@pytest.mark.parametrize("vlan", [300, 301])
def test_ping_across_vlan(lab: dict[str, Side], vlan: int) -> None:
    r = ping(vlan)
    assert r.returncode == 0, r.stdout + r.stderr
    assert received(r.stdout) == 3


def test_frames_on_the_trunk_carry_the_tag(lab: dict[str, Side]) -> None:
    assert shutil.which("tcpdump"), "apt package tcpdump"
    dump = subprocess.Popen(
        ["ip", "netns", "exec", PREFIX + "leaf", "tcpdump", "-e", "-nn", "-l", "-i", "trunk", "-c", "4",
         "vlan 300"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert dump.stderr is not None
        # tcpdump says "listening on ..." once the capture is armed; only then send.
        for line in dump.stderr:
            if "listening on" in line:
                break
        assert ping(300, "-i", "0.2").returncode == 0
        out, _ = dump.communicate(timeout=30)
    finally:
        if dump.poll() is None:
            dump.kill()
            dump.wait()
    lines = out.strip().splitlines()
    assert len(lines) == 4, out
    for line in lines:
        assert "ethertype 802.1Q (0x8100)" in line and "vlan 300" in line, line
    # both directions: requests tagged by the server's push program, replies by the leaf's
    assert any("ICMP echo request" in x for x in lines) and any("ICMP echo reply" in x for x in lines), out


def test_unknown_vlan_is_dropped(lab: dict[str, Side]) -> None:
    leaf = lab["leaf"]
    before = leaf.drops()
    r = ping(999, count=2)
    assert received(r.stdout) == 0
    # The server pushed tag 999 (its ARP requests left through the trunk) and the leaf's program shot them.
    assert leaf.drops() > before


def test_untagged_is_dropped(lab: dict[str, Side]) -> None:
    server, leaf = lab["server"], lab["leaf"]
    server.ipr.addr("add", index=server.trunk, address="10.77.0.1", prefixlen=24)
    try:
        before = leaf.drops()
        r = _run(server.ns, "ping", "-n", "-q", "-c", "2", "-W", "1", "10.77.0.2")
        assert received(r.stdout) == 0
        assert leaf.drops() > before  # untagged ARP requests shot at the leaf's trunk ingress
    finally:
        server.ipr.addr("del", index=server.trunk, address="10.77.0.1", prefixlen=24)


def test_read_back(lab: dict[str, Side]) -> None:
    leaf = lab["leaf"]
    st = vlan_shim.read(leaf.ipr, leaf.trunk)
    assert st is not None and st.kind == "pop"
    assert st.vlans == {v: leaf.shims[v] for v in LEAF_POPS}
    st = vlan_shim.read(leaf.ipr, leaf.shims[300])
    assert st is not None and st.kind == "push" and st.vlans == {300: leaf.trunk}
    assert vlan_shim.read(leaf.ipr, leaf.idx("v300")) is None


def test_equal_ensure_makes_zero_writes(lab: dict[str, Side]) -> None:
    leaf = lab["leaf"]
    ipr = Counting(leaf.ipr)
    assert not vlan_shim.ensure_trunk(ipr, leaf.trunk, {v: leaf.shims[v] for v in reversed(LEAF_POPS)})
    for vlan in VLANS:
        assert not vlan_shim.ensure_push(ipr, leaf.shims[vlan], vlan, leaf.trunk)
    assert ipr.writes == []
    # and a change is exactly one write: the filter replace (the clsact qdisc is already there)
    assert vlan_shim.ensure_push(ipr, leaf.shims[999], 998, leaf.trunk)
    assert [w[0] for w in ipr.writes] == ["replace-filter"]
    assert vlan_shim.ensure_push(ipr, leaf.shims[999], 999, leaf.trunk)


def test_swap_vlan_map_is_hitless(lab: dict[str, Side]) -> None:
    leaf = lab["leaf"]
    if 302 not in leaf.shims:
        leaf.add_vlan(302, None, None)
        vlan_shim.ensure_push(leaf.ipr, leaf.shims[302], 302, leaf.trunk)
    small = {v: leaf.shims[v] for v in LEAF_POPS}
    big = {**small, 302: leaf.shims[302]}
    swaps = 0
    done = threading.Event()
    result: list[subprocess.CompletedProcess[str]] = []

    def pinger() -> None:
        try:
            result.append(ping(300, "-i", "0.01", count=300))
        finally:
            done.set()

    t = threading.Thread(target=pinger)
    t.start()
    try:
        # Swap the trunk program back and forth for as long as the ping runs: each swap is a filter replace.
        while not done.is_set():
            assert vlan_shim.ensure_trunk(leaf.ipr, leaf.trunk, big if swaps % 2 == 0 else small)
            swaps += 1
    finally:
        t.join()
        vlan_shim.ensure_trunk(leaf.ipr, leaf.trunk, small)
    print(f"{swaps} program swaps during the ping")
    assert swaps > 10
    out = result[0].stdout
    assert "300 packets transmitted, 300 received" in out, out
    assert vlan_shim.read(leaf.ipr, leaf.trunk) == vlan_shim.ShimState("pop", small, vlan_shim._pop_name(small))


def test_empty_map_drops_everything_and_remove(lab: dict[str, Side]) -> None:
    leaf = lab["leaf"]
    small = {v: leaf.shims[v] for v in LEAF_POPS}
    try:
        assert vlan_shim.ensure_trunk(leaf.ipr, leaf.trunk, {})
        assert received(ping(300, count=2).stdout) == 0
        ipr = Counting(leaf.ipr)
        assert vlan_shim.remove(ipr, leaf.trunk)
        assert [w[0] for w in ipr.writes] == ["del-filter", "del"]
        assert vlan_shim.read(leaf.ipr, leaf.trunk) is None
        assert not any(q.get_attr("TCA_KIND") == "clsact" for q in leaf.ipr.get_qdiscs(index=leaf.trunk))
        assert not vlan_shim.remove(ipr, leaf.trunk)
    finally:
        vlan_shim.ensure_trunk(leaf.ipr, leaf.trunk, small)
    assert received(ping(300).stdout) == 3


def test_foreign_filter_is_replaced(lab: dict[str, Side]) -> None:
    """A filter that is not ours (here an ingress-hook bpf at another pref) is removed by ensure."""
    leaf = lab["leaf"]
    fd = bpf.load_program(vlan_shim.pop_program({}))
    try:
        leaf.ipr.tc("add-filter", "bpf", leaf.shims[301], handle=1, parent=vlan_shim.INGRESS_PARENT,
                    prio=7, protocol=0x0003, fd=fd, name="someone-else", direct_action=True)  # fmt: skip
    finally:
        os.close(fd)
    assert vlan_shim.ensure_push(leaf.ipr, leaf.shims[301], 301, leaf.trunk)
    assert not vlan_shim.ensure_push(leaf.ipr, leaf.shims[301], 301, leaf.trunk)
    assert received(ping(301).stdout) == 3


def test_verifier_log_in_error() -> None:
    _require_root()
    bad = bpf.Asm()
    bad.mov_reg(bpf.R0, bpf.R5)  # r5 is uninitialised at entry
    bad.exit()
    with pytest.raises(bpf.BpfError) as e:
        bpf.load_program(bad.assemble())
    assert "R5 !read_ok" in e.value.log
    assert "R5 !read_ok" in str(e.value)


def test_large_trunk_map_loads() -> None:
    """4094 VLANs: the binary decision tree stays within verifier limits; the name falls back to a digest."""
    _require_root()
    vlans = {v: 1000 + v for v in range(1, 4095)}
    fd = bpf.load_program(vlan_shim.pop_program(vlans))
    os.close(fd)
    name = vlan_shim._pop_name(vlans)
    assert len(name) < 256 and vlan_shim._parse_name(name) == vlan_shim.ShimState("pop", None, name)


def test_names_round_trip() -> None:
    vlans = {301: 13, 300: 12}
    assert vlan_shim._pop_name(vlans) == "psw1:pop:300=12,301=13"
    assert vlan_shim._parse_name("psw1:pop:300=12,301=13") == vlan_shim.ShimState(
        "pop", {300: 12, 301: 13}, "psw1:pop:300=12,301=13"
    )
    assert vlan_shim._parse_name("psw1:pop:") == vlan_shim.ShimState("pop", {}, "psw1:pop:")
    assert vlan_shim._parse_name(vlan_shim._push_name(300, 7)) == vlan_shim.ShimState(
        "push", {300: 7}, "psw1:push:300>7"
    )
    assert vlan_shim._parse_name("psw0:push:300>7") is None
    assert vlan_shim._parse_name("psw1:pop:x") is None


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        vlan_shim.push_program(0, 3)
    with pytest.raises(ValueError):
        vlan_shim.pop_program({4095: 3})
    with pytest.raises(ValueError):
        vlan_shim.pop_program({300: 0})


def test_full_size_frames(lab: dict[str, Side]) -> None:
    """1500-byte IP packets with DF cross the trunk: the tag lives in skb metadata, veth accepts +4 bytes."""
    r = ping(300, "-s", "1472", "-M", "do")
    assert received(r.stdout) == 3, r.stdout + r.stderr


def test_ingress_qdisc_in_the_way(lab: dict[str, Side]) -> None:
    """An old-style `ingress` qdisc occupies clsact's slot: ensure replaces it."""
    leaf = lab["leaf"]
    if 303 not in leaf.shims:
        leaf.add_vlan(303, None, None)
    shim = leaf.shims[303]
    leaf.ipr.tc("add", "ingress", shim)
    assert vlan_shim.ensure_push(leaf.ipr, shim, 303, leaf.trunk)
    assert vlan_shim.read(leaf.ipr, shim) == vlan_shim.ShimState(
        "push", {303: leaf.trunk}, f"psw1:push:303>{leaf.trunk}"
    )
    assert vlan_shim.remove(leaf.ipr, shim)
