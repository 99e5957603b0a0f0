"""The one write path, without a kernel: every request builder decoded by pyroute2 and compared with the
pyroute2 call the agent used to make instead (the old second write path lives on here, as the expected
values), and the transaction's order, batching, dependencies and typed outcomes against a fake socket."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from podswitch.agent import netlink, vlan_shim, writes
from podswitch.agent.kernel import OWNER_ALIAS, PROTO
from podswitch.agent.netlink import (
    AF_BRIDGE,
    AF_INET,
    AF_INET6,
    NTF_MASTER,
    NTF_SELF,
    NUD_NOARP,
    NUD_PERMANENT,
    RT_SCOPE_LINK,
    RT_SCOPE_NOWHERE,
    RTN_UNICAST,
    RTN_UNREACHABLE,
)
from podswitch.agent.writes import (
    NetlinkWrite,
    NetnsWrite,
    SysctlWrite,
    Transaction,
    WriteStatus,
)

from .decode import as_call, message

LO = "10.255.0.1"
INGRESS = vlan_shim.INGRESS_PARENT
CLSACT = vlan_shim.CLSACT_PARENT

# (the write, the pyroute2 call it stands for): the calls are those `kernel.Write.call` carried.
CASES: list[tuple[NetlinkWrite, tuple[str, str, tuple[Any, ...], dict[str, Any]]]] = [
    (writes.link_set(None, 5, what="x", alias=OWNER_ALIAS, mtu=1500, master=7, address="02:00:00:00:00:01", up=True),
     ("link", "set", (), {"index": 5, "ifalias": OWNER_ALIAS, "mtu": 1500, "master": 7,
                          "address": "02:00:00:00:00:01", "state": "up"})),
    (writes.link_set(None, 5, what="x", up=True), ("link", "set", (), {"index": 5, "state": "up"})),
    (writes.link_set(None, 5, what="x", mtu=9000), ("link", "set", (), {"index": 5, "mtu": 9000})),
    (writes.link_del(None, 9, what="x"), ("link", "del", (), {"index": 9})),
    (writes.veth_add(None, "swp1.300", "swp1~300", what="x", master=7, up=True),
     ("link", "add", (), {"ifname": "swp1.300", "kind": "veth", "peer": {"ifname": "swp1~300"}, "master": 7,
                          "state": "up"})),
    (writes.veth_add(None, "r10300", "g10300", what="x", peer_ns_fd=9, peer_address="02:70:73:00:00:01"),
     ("link", "add", (), {"ifname": "r10300", "kind": "veth",
                          "peer": {"ifname": "g10300", "address": "02:70:73:00:00:01", "net_ns_fd": 9}})),
    (writes.bridge_add(None, "br10300", what="x", up=True),
     ("link", "add", (), {"ifname": "br10300", "kind": "bridge", "state": "up"})),
    (writes.vxlan_add(None, "vx10300", what="x", vni=10300, local=LO, port=4789, learning=0, mtu=1500, master=7,
                      up=True),
     ("link", "add", (), {"ifname": "vx10300", "kind": "vxlan", "vxlan_id": 10300, "vxlan_local": LO,
                          "vxlan_port": 4789, "vxlan_learning": 0, "mtu": 1500, "master": 7, "state": "up"})),
    (writes.vxlan_learning(None, 8, 0, what="x"),
     ("link", "set", (), {"index": 8, "kind": "vxlan", "vxlan_learning": 0})),
    (writes.brport_learning(None, 8, 0, what="x"), ("brport", "set", (), {"index": 8, "learning": 0})),
    (writes.addr_write("replace", None, what="x", index=3, address="10.66.16.1", prefixlen=24, proto=PROTO),
     ("addr", "replace", (), {"index": 3, "address": "10.66.16.1", "prefixlen": 24, "proto": PROTO})),
    (writes.addr_write("replace", None, what="x", index=3, address="fd00::1", prefixlen=64),
     ("addr", "replace", (), {"index": 3, "address": "fd00::1", "prefixlen": 64})),
    (writes.addr_write("del", None, what="x", index=3, address="10.66.16.1", prefixlen=24),
     ("addr", "del", (), {"index": 3, "address": "10.66.16.1", "prefixlen": 24})),
    (writes.route_write("replace", None, what="x", dst="10.255.0.0/24", proto=PROTO,
                        multipath=[("10.254.0.0", 4), ("10.254.0.2", 5)]),
     ("route", "replace", (), {"dst": "10.255.0.0/24", "family": AF_INET, "table": 254, "proto": PROTO,
                               "type": RTN_UNICAST, "scope": 0, "multipath": [{"gateway": "10.254.0.0", "oif": 4},
                                                                              {"gateway": "10.254.0.2", "oif": 5}]})),
    (writes.route_write("replace", None, what="x", dst="0.0.0.0/0", proto=PROTO, gateway="169.254.0.0", oif=6),
     ("route", "replace", (), {"dst": "0.0.0.0/0", "family": AF_INET, "table": 254, "proto": PROTO,
                               "type": RTN_UNICAST, "scope": 0, "gateway": "169.254.0.0", "oif": 6})),
    (writes.route_write("replace", None, what="x", dst="10.98.0.0/16", proto=PROTO, scope=RT_SCOPE_LINK, oif=6),
     ("route", "replace", (), {"dst": "10.98.0.0/16", "family": AF_INET, "table": 254, "proto": PROTO,
                               "type": RTN_UNICAST, "scope": RT_SCOPE_LINK, "oif": 6})),
    (writes.route_write("replace", None, what="x", dst="fd00:99::/64", proto=PROTO, rtype=RTN_UNREACHABLE),
     ("route", "replace", (), {"dst": "fd00:99::/64", "family": AF_INET6, "table": 254, "proto": PROTO,
                               "type": RTN_UNREACHABLE, "scope": 0})),
    (writes.route_write("del", None, what="x", dst="10.99.0.0/16", family=AF_INET, proto=PROTO,
                        rtype=RTN_UNREACHABLE, priority=0, scope=RT_SCOPE_NOWHERE),
     ("route", "del", (), {"dst": "10.99.0.0/16", "family": AF_INET, "table": 254, "proto": PROTO,
                           "type": RTN_UNREACHABLE, "scope": RT_SCOPE_NOWHERE, "priority": 0})),
    (writes.neigh_write("replace", None, what="x", family=AF_BRIDGE, ifindex=7, state=NUD_PERMANENT, flags=NTF_SELF,
                        lladdr="02:10:00:00:00:01", dst="10.255.0.2"),
     ("fdb", "replace", (), {"family": AF_BRIDGE, "ifindex": 7, "state": NUD_PERMANENT, "flags": NTF_SELF,
                             "lladdr": "02:10:00:00:00:01", "dst": "10.255.0.2"})),
    (writes.neigh_write("append", None, what="x", family=AF_BRIDGE, ifindex=7, state=NUD_PERMANENT, flags=NTF_SELF,
                        lladdr="00:00:00:00:00:00", dst="10.255.0.3"),
     ("fdb", "append", (), {"family": AF_BRIDGE, "ifindex": 7, "state": NUD_PERMANENT, "flags": NTF_SELF,
                            "lladdr": "00:00:00:00:00:00", "dst": "10.255.0.3"})),
    (writes.neigh_write("del", None, what="x", family=AF_BRIDGE, ifindex=8, flags=NTF_MASTER,
                        lladdr="02:10:00:00:00:01"),
     ("fdb", "del", (), {"family": AF_BRIDGE, "ifindex": 8, "state": 0, "flags": NTF_MASTER,
                         "lladdr": "02:10:00:00:00:01"})),
    (writes.neigh_write("replace", None, what="x", family=AF_BRIDGE, ifindex=8, state=NUD_NOARP, flags=NTF_MASTER,
                        lladdr="02:10:00:00:00:01"),
     ("fdb", "replace", (), {"family": AF_BRIDGE, "ifindex": 8, "state": NUD_NOARP, "flags": NTF_MASTER,
                             "lladdr": "02:10:00:00:00:01"})),
    (writes.neigh_write("replace", None, what="x", family=AF_INET6, ifindex=3, state=NUD_PERMANENT,
                        lladdr="02:aa:bb:cc:dd:ee", dst="fd00::1", protocol=PROTO),
     ("neigh", "replace", (), {"family": AF_INET6, "ifindex": 3, "state": NUD_PERMANENT, "flags": 0,
                               "lladdr": "02:aa:bb:cc:dd:ee", "dst": "fd00::1", "protocol": PROTO})),
    (writes.neigh_write("del", None, what="x", family=AF_INET, ifindex=3, dst="10.0.0.1"),
     ("neigh", "del", (), {"family": AF_INET, "ifindex": 3, "state": 0, "flags": 0, "dst": "10.0.0.1"})),
    (writes.qdisc_write("add", None, 9, "clsact", what="x", handle=vlan_shim.CLSACT_HANDLE, parent=CLSACT),
     ("tc", "add", ("clsact", 9), {"handle": 0xFFFF0000, "parent": 0xFFFFFFF1})),
    (writes.qdisc_write("del", None, 9, "ingress", what="x", handle=vlan_shim.CLSACT_HANDLE, parent=CLSACT),
     ("tc", "del", ("ingress", 9), {"handle": 0xFFFF0000, "parent": 0xFFFFFFF1})),
    (writes.bpf_filter_replace(None, 9, what="x", parent=INGRESS, prio=1, protocol=3, handle=1, fd=42,
                               name="psw1:push:300>7", direct_action=True),
     ("tc", "replace-filter", ("bpf", 9), {"handle": 1, "parent": INGRESS, "prio": 1, "protocol": 3, "fd": 42,
                                           "name": "psw1:push:300>7", "direct_action": True})),
    (writes.filter_del(None, 9, what="x", parent=INGRESS, prio=7, protocol=3),
     ("tc", "del-filter", (None, 9), {"parent": INGRESS, "info": (7 << 16) | 0x0300})),
]  # fmt: skip


@pytest.mark.parametrize(("write", "call"), CASES, ids=[f"{c[0]}-{c[1]}-{i}" for i, (_, c) in enumerate(CASES)])
def test_each_request_says_what_the_pyroute2_call_said(write: NetlinkWrite, call: Any) -> None:
    assert as_call(write.op) == call


def test_neighbour_encoding_is_byte_for_byte_pyroute2s() -> None:
    """Neighbours and FDB entries (tens of thousands per switch) are encoded by hand: the very bytes
    pyroute2's encoder makes."""
    from pyroute2.netlink.rtnl.ndmsg import ndmsg

    kw: dict[str, Any] = {"family": AF_INET, "ifindex": 3, "state": NUD_PERMANENT, "flags": 0,
                          "lladdr": "02:10:00:00:00:01", "dst": "10.0.0.1", "master": 4, "protocol": PROTO}  # fmt: skip
    m = ndmsg()
    m["family"], m["ifindex"], m["state"], m["flags"] = kw["family"], kw["ifindex"], kw["state"], kw["flags"]
    m["attrs"] = [["NDA_LLADDR", kw["lladdr"]], ["NDA_DST", kw["dst"]], ["NDA_MASTER", 4], ["NDA_PROTOCOL", PROTO]]
    m.encode()
    assert writes.neigh_write("replace", None, what="x", **kw).op.body == bytes(m.data[16 : m["header"]["length"]])


def test_requests_and_their_errnos_that_mean_done() -> None:
    """Flags the pyroute2 calls set, and the errnos that count as done: an exclusive create (a veth's or a
    bridge's), replace-style writes, idempotent deletes."""
    assert writes.veth_add(None, "a", "b", what="x").op.flags == netlink.NLM_F_CREATE | netlink.NLM_F_EXCL
    assert writes.link_set(None, 1, what="x", up=True).op.flags == 0
    assert writes.link_del(None, 1, what="x").op.ok == {errno.ENODEV}  # a veth's peer went with its other end
    assert writes.addr_write("del", None, what="x", index=1, address="10.0.0.1", prefixlen=8).op.ok == {
        errno.EADDRNOTAVAIL}  # fmt: skip
    assert writes.route_write("del", None, what="x", dst="10.0.0.0/8").op.ok == {errno.ESRCH}
    fdb = writes.neigh_write("append", None, what="x", family=AF_BRIDGE, ifindex=1, lladdr="00:00:00:00:00:00")
    assert fdb.op.flags == netlink.NLM_F_CREATE | netlink.NLM_F_APPEND and fdb.op.ok == {errno.EEXIST}
    assert writes.filter_del(None, 1, what="x", parent=INGRESS, prio=1, protocol=3).op.ok == {errno.ENOENT}
    with pytest.raises(ValueError):
        netlink.link_op("set", what="x", index=1, info_data=b"x")  # data without a kind
    with pytest.raises(ValueError):
        netlink.link_op("frobnicate", what="x")
    with pytest.raises(ValueError):
        writes.route_write("replace", None, what="x", dst="10.0.0.0/8", family=AF_INET6)
    with pytest.raises(ValueError):
        writes.neigh_write("replace", None, what="x", family=AF_BRIDGE, ifindex=1, lladdr="02:00:00")


def test_every_kind_of_message_decodes_to_its_own_length() -> None:
    for write, _ in CASES:
        message(write.op)


# ---- the transaction, against a fake socket ------------------------------------------------------------


class FakeRt:
    """Answers `execute` like RtSocket: the failures of the requests whose `what` is in `fail`."""

    def __init__(self, fail: dict[str, int] | None = None, broken: bool = False) -> None:
        self.fail = fail or {}
        self.broken = broken
        self.batches: list[list[str]] = []

    def execute(self, ops: Any) -> list[netlink.Failure]:
        if self.broken:
            raise netlink.NetlinkError(errno.ENOBUFS, "netlink answers lost")
        self.batches.append([op.what for op in ops])
        return [netlink.Failure(op, self.fail[op.what], "ext ack") for op in ops if op.what in self.fail]


def _w(netns: str | None, what: str, key: Any = None) -> NetlinkWrite:
    return writes.link_set(netns, 1, what=what, up=True, key=key, record=("changed", what))


def test_a_commit_batches_per_namespace_in_order_and_types_each_outcome() -> None:
    socks = {None: FakeRt({"b2": errno.EEXIST}), "s1": FakeRt()}
    txn = Transaction(lambda name: socks[name])  # type: ignore[arg-type,return-value]
    for w in (_w(None, "a1"), _w("s1", "s1"), _w(None, "b2"), _w("s1", "s2")):
        txn.add(w)
    outcomes = txn.commit()
    assert [o.write.what for o in outcomes] == ["a1", "s1", "b2", "s2"]  # the order added
    assert socks[None].batches == [["a1", "b2"]] and socks["s1"].batches == [["s1", "s2"]]  # one batch each
    assert [o.status for o in outcomes] == [WriteStatus.APPLIED, WriteStatus.APPLIED, WriteStatus.FAILED,
                                            WriteStatus.APPLIED]  # fmt: skip
    failed = outcomes[2]
    assert (failed.errno, failed.message) == (errno.EEXIST, "ext ack")
    assert failed.describe() == "File exists (errno 17): ext ack"
    assert txn.writes == 4
    assert list(txn.commit()) == [] and txn.writes == 4  # nothing added, nothing sent


def test_a_write_after_one_that_failed_is_skipped_and_not_sent() -> None:
    rt = FakeRt({"remove old": errno.EBUSY})
    txn = Transaction(lambda name: rt)  # type: ignore[arg-type,return-value]
    remove, other = _w(None, "remove old"), _w(None, "unrelated")
    create = _w(None, "create new")
    txn.add(remove)
    txn.add(create, after=[remove])
    txn.add(other)
    outcomes = txn.commit()
    assert rt.batches == [["remove old", "unrelated"]]  # the create waited, then was not sent
    assert [o.status for o in outcomes] == [WriteStatus.FAILED, WriteStatus.SKIPPED, WriteStatus.APPLIED]
    assert outcomes[1].message == "after remove old: failed"
    assert txn.writes == 2
    # after a write of an earlier commit that applied: sent
    later = _w(None, "later")
    txn.add(later, after=[other])
    assert [o.status for o in txn.commit()] == [WriteStatus.APPLIED] and rt.batches[-1] == ["later"]
    with pytest.raises(ValueError):
        txn.add(_w(None, "orphan"), after=[_w(None, "never added")])
        txn.commit()


def test_waves_keep_dependent_writes_in_order() -> None:
    rt = FakeRt()
    txn = Transaction(lambda name: rt)  # type: ignore[arg-type,return-value]
    first = txn.add(_w(None, "remove x"))
    txn.add(_w(None, "create x"), after=[first])
    txn.add(_w(None, "remove y"))
    assert [o.status for o in txn.commit()] == [WriteStatus.APPLIED] * 3
    assert rt.batches == [["remove x", "remove y"], ["create x"]]


def test_a_broken_socket_fails_its_batch_and_nothing_else() -> None:
    socks = {None: FakeRt(broken=True), "s1": FakeRt()}
    txn = Transaction(lambda name: socks[name])  # type: ignore[arg-type,return-value]
    txn.extend([_w(None, "a"), _w("s1", "b")])
    a, b = txn.commit()
    assert a.status is WriteStatus.FAILED and a.errno == errno.ENOBUFS and a.message == "netlink answers lost"
    assert b.applied


def test_other_kinds_of_write(monkeypatch: pytest.MonkeyPatch) -> None:
    from podswitch.agent import netns, nft

    calls: list[tuple[str, Any]] = []

    def set_many(name: str | None, values: dict[str, str]) -> dict[str, OSError]:
        calls.append(("sysctl", (name, dict(values))))
        return {"net/nope": FileNotFoundError(errno.ENOENT, "No such file or directory")}

    def add(name: str) -> None:
        calls.append(("netns add", name))
        raise FileExistsError(errno.EEXIST, "netns exists", name)

    monkeypatch.setattr(netns, "sysctl_set_many", set_many)
    monkeypatch.setattr(netns, "add", add)
    monkeypatch.setattr(netns, "remove", lambda name: calls.append(("netns remove", name)))

    def write_table(name: str | None, ruleset: str | None) -> None:
        raise nft.NftError("<ruleset>:3:5-9: Error: syntax error", ruleset or "")

    monkeypatch.setattr(nft, "write_table", write_table)
    txn = Transaction(lambda name: FakeRt())  # type: ignore[arg-type,return-value]
    txn.extend([
        SysctlWrite(netns="s1", sysctl="net/ipv4/ip_forward", value="1", what="fwd"),
        SysctlWrite(netns="s1", sysctl="net/nope", value="1", what="nope"),
        NetnsWrite(name="s2", create=True, what="make s2"),
        NetnsWrite(name="s3", create=False, what="remove s3"),
        writes.NftWrite(netns="s1", ruleset="table inet podswitch {}", what="nft"),
    ])  # fmt: skip
    fwd, nope, make, remove, table = txn.commit()
    assert calls[0] == ("sysctl", ("s1", {"net/ipv4/ip_forward": "1", "net/nope": "1"}))  # one pass per namespace
    assert fwd.applied and nope.errno == errno.ENOENT and nope.describe() == "No such file or directory (errno 2)"
    assert make.status is WriteStatus.FAILED and make.describe() == "File exists (errno 17): netns exists (s2)"
    assert remove.applied and ("netns remove", "s3") in calls
    assert table.errno == 0 and table.describe() == "<ruleset>:3:5-9: Error: syntax error"
    assert txn.writes == 5


def test_only_the_transaction_writes() -> None:
    """A guard on the layout: in the agent, only `writes.Transaction` hands requests to a netlink socket,
    writes sysctls, makes or removes namespaces and replaces nftables tables; pyroute2 is imported only for
    hosts without an agent (`vlan_shim.ensure_*`) and the lab's handles (`netns.Space`)."""
    import pathlib
    import re

    import podswitch.agent

    root = pathlib.Path(podswitch.agent.__file__).parent
    writers = {
        r"\.execute\(": {"writes.py"},
        r"sysctl_set_many\(": {"writes.py"},
        r"\bwrite_table\(": {"writes.py", "nft.py"},
        r"\bnetns\.(add|remove|create)\(": {"writes.py"},
        r"^\s*(from|import) pyroute2": {"vlan_shim.py", "netns.py"},
    }
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        for pattern, allowed in writers.items():
            for line in text.splitlines():
                if re.search(pattern, line) and not line.lstrip().startswith(("def ", "#", '"""')):
                    assert path.name in allowed, f"{path.relative_to(root)}: {line.strip()}"
