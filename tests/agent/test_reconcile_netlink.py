"""The fast rtnetlink layer under reconcile: encoding (checked against pyroute2's), batched writes with
per-request errors, and parsed dumps that stay valid after later reads."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from podswitch.agent import netlink
from podswitch.agent.netlink import (
    AF_BRIDGE,
    AF_INET,
    AF_INET6,
    NTF_MASTER,
    NTF_SELF,
    NUD_NOARP,
    NUD_PERMANENT,
    RtSocket,
    neigh_op,
)


def _pyroute2_body(kw: dict[str, Any]) -> bytes:
    from pyroute2.netlink.rtnl.ndmsg import ndmsg

    m = ndmsg()
    m["family"], m["ifindex"], m["state"], m["flags"] = kw["family"], kw["ifindex"], kw["state"], kw.get("flags", 0)
    names = {"lladdr": "NDA_LLADDR", "dst": "NDA_DST", "master": "NDA_MASTER", "protocol": "NDA_PROTOCOL"}
    m["attrs"] = [[names[k], kw[k]] for k in ("lladdr", "dst", "master", "protocol") if k in kw]
    m.encode()
    return bytes(m.data[16 : m["header"]["length"]])


@pytest.mark.parametrize(
    "kw",
    [
        {"family": AF_BRIDGE, "ifindex": 7, "state": NUD_PERMANENT, "flags": NTF_SELF,
         "lladdr": "02:10:00:00:00:01", "dst": "10.255.0.2"},
        {"family": AF_BRIDGE, "ifindex": 7, "state": NUD_NOARP, "flags": NTF_MASTER, "lladdr": "02:10:00:00:00:01"},
        {"family": AF_INET6, "ifindex": 3, "state": NUD_PERMANENT, "lladdr": "02:aa:bb:cc:dd:ee", "dst": "fd00::1",
         "protocol": 112},
        {"family": AF_INET, "ifindex": 3, "state": NUD_PERMANENT, "lladdr": "02:10:00:00:00:01", "dst": "10.0.0.1",
         "master": 4, "protocol": 112},
    ],
)  # fmt: skip
def test_neighbour_encoding_matches_pyroute2(kw: dict[str, Any]) -> None:
    assert neigh_op("replace", what="x", **kw).body == _pyroute2_body(kw)


def test_neigh_op_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        neigh_op("replace", family=AF_BRIDGE, ifindex=1, what="x", lladdr="02:00:00")
    with pytest.raises(ValueError):
        neigh_op("frobnicate", family=AF_BRIDGE, ifindex=1, what="x")


# ---- against a kernel ------------------------------------------------------------------------------


@pytest.fixture
def ns(netns_prefix: str) -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root: builds a network namespace with a bridge and a VXLAN device")
    from pyroute2 import netns

    name = f"{netns_prefix}nl"
    netns.create(name)
    try:
        for cmd in (
            "ip link add br1 type bridge",
            "ip link add vx1 type vxlan id 100 local 10.255.0.1 dstport 4789 nolearning",
            "ip link set vx1 master br1 up",
            "ip link set br1 up",
            "ip link add g1 type veth peer name g1p",
            "ip link set g1 up",
            "ip link set g1p up",
            "ip addr add 10.66.0.1/16 dev g1",
            "ip route add 10.70.0.0/16 nexthop via 10.66.0.2 dev g1 nexthop via 10.66.0.3 dev g1",
        ):
            subprocess.run(["ip", "netns", "exec", name, *cmd.split()], check=True, capture_output=True)
        yield name
    finally:
        with contextlib.suppress(OSError):
            netns.remove(name)


def _index(rt: RtSocket, name: str) -> int:
    link = rt.get_link(name)
    assert link is not None
    return link.index


@pytest.mark.netns
def test_batch_reports_errors_per_request_across_chunks(ns: str) -> None:
    with RtSocket(ns) as rt:
        vx = _index(rt, "vx1")
        ops = [
            neigh_op("replace", family=AF_BRIDGE, ifindex=vx, state=NUD_PERMANENT, flags=NTF_SELF,
                     lladdr=f"02:10:00:00:{i >> 8:02x}:{i & 255:02x}", dst="10.255.0.2", what=f"mac {i}")
            for i in range(2500)
        ]  # fmt: skip
        bad = {700, 1500, 2499}  # in the first, second and third chunk; 2499 is the chunk's acked last one
        for i in bad:
            ops[i] = neigh_op("replace", family=AF_BRIDGE, ifindex=999_999, state=NUD_PERMANENT, flags=NTF_SELF,
                              lladdr="02:99:00:00:00:01", dst="10.255.0.2", what=f"bad {i}")  # fmt: skip
        failures = rt.execute(ops)
        assert sorted(f.op.what for f in failures) == sorted(f"bad {i}" for i in bad)
        assert all(f.errno == errno.ENODEV for f in failures)
        assert rt.writes == 2500
        entries = [e for e in rt.neighbours(AF_BRIDGE) if e.ifindex == vx and e.flags & NTF_SELF]
        assert len(entries) == 2500 - len(bad)
        # Idempotent: the same batch again changes nothing and fails the same way.
        assert len(rt.execute(ops)) == len(bad)


@pytest.mark.netns
def test_lost_answers_are_resent_with_an_ack_each(ns: str) -> None:
    class Lossy(RtSocket):
        lost = 0

        def _send_chunk(self, chunk: Any, *, ack_all: bool) -> list[netlink.Failure]:
            if not ack_all and not self.lost:
                self.lost += 1
                super()._send_chunk(chunk, ack_all=ack_all)
                raise netlink.NetlinkError(errno.ENOBUFS, "simulated overflow")
            return super()._send_chunk(chunk, ack_all=ack_all)

    with Lossy(ns) as rt:
        vx = _index(rt, "vx1")
        ops = [
            neigh_op(
                "append",
                family=AF_BRIDGE,
                ifindex=vx,
                state=NUD_PERMANENT,
                flags=NTF_SELF,
                lladdr="00:00:00:00:00:00",
                dst=f"10.255.0.{i}",
                what=f"flood {i}",
            )
            for i in range(2, 200)
        ]
        ops.append(neigh_op("replace", family=AF_BRIDGE, ifindex=999_999, state=NUD_PERMANENT, flags=NTF_SELF,
                            lladdr="02:99:00:00:00:01", dst="10.255.0.2", what="bad"))  # fmt: skip
        failures = rt.execute(ops)
        # The re-sent appends hit EEXIST, which an append treats as done; the bad one is still reported.
        assert [f.op.what for f in failures] == ["bad"]
        flood = [e for e in rt.neighbours(AF_BRIDGE) if e.ifindex == vx and e.lladdr == "00:00:00:00:00:00"]
        assert len(flood) == 198


@pytest.mark.netns
def test_dumps_parse_and_stay_valid_after_later_reads(ns: str) -> None:
    with RtSocket(ns) as rt:
        links = {link.name: link for link in rt.links()}
        for _ in range(3):  # more reads through the same receive buffer
            rt.links()
            rt.neighbours(AF_BRIDGE)
        vx = links["vx1"]
        assert vx.kind == "vxlan" and vx.slave_kind == "bridge" and vx.master == links["br1"].index
        assert vx.info_u32(netlink.IFLA_VXLAN_ID) == 100
        assert vx.info_be16(netlink.IFLA_VXLAN_PORT) == 4789
        assert vx.info_ip(netlink.IFLA_VXLAN_LOCAL) == "10.255.0.1"
        assert vx.info_u8(netlink.IFLA_VXLAN_LEARNING) == 0
        assert vx.slave_u8(netlink.IFLA_BRPORT_LEARNING) == 1
        g1, g1p = links["g1"], links["g1p"]
        assert g1.link == g1p.index and g1p.link == g1.index and g1.link_netnsid is None
        assert rt.get_link("nonexistent") is None
        addrs = [a for a in rt.addrs() if a.index == g1.index and a.family == AF_INET]
        assert [(a.address, a.prefixlen) for a in addrs] == [("10.66.0.1", 16)]
        routes = [r for r in rt.routes(AF_INET) if r.dst == "10.70.0.0/16"]
        assert len(routes) == 1
        assert routes[0].nexthops() == {("10.66.0.2", g1.index), ("10.66.0.3", g1.index)}
