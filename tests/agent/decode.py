"""Decode the agent's netlink requests with pyroute2's own message classes, and say which pyroute2 call they
stand for: (method, command, args, kwargs), the shape `ipr.<method>(command, *args, **kwargs)` had when the
agent still made every write twice (a raw request and a pyroute2 call). Only what the message carries is in
kwargs, so an expected call is written with every field it sets."""

from __future__ import annotations

import socket
from typing import Any

from podswitch.agent import netlink
from podswitch.agent.netlink import Op

Call = tuple[str, str, tuple[Any, ...], dict[str, Any]]


def message(op: Op) -> Any:
    """`op` as pyroute2 decodes it (raises if pyroute2 cannot make sense of it)."""
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
    from pyroute2.netlink.rtnl.ndmsg import ndmsg
    from pyroute2.netlink.rtnl.rtmsg import rtmsg
    from pyroute2.netlink.rtnl.tcmsg import tcmsg

    cls = {
        netlink.RTM_NEWLINK: ifinfmsg,
        netlink.RTM_DELLINK: ifinfmsg,
        netlink.RTM_NEWADDR: ifaddrmsg,
        netlink.RTM_DELADDR: ifaddrmsg,
        netlink.RTM_NEWROUTE: rtmsg,
        netlink.RTM_DELROUTE: rtmsg,
        netlink.RTM_NEWNEIGH: ndmsg,
        netlink.RTM_DELNEIGH: ndmsg,
        netlink.RTM_NEWQDISC: tcmsg,
        netlink.RTM_DELQDISC: tcmsg,
        netlink.RTM_NEWTFILTER: tcmsg,
        netlink.RTM_DELTFILTER: tcmsg,
    }[op.type]
    msg = cls(op.message())
    msg.decode()
    assert msg["header"]["length"] == 16 + len(op.body), "pyroute2 read a message of another length"
    return msg


def _present(msg: Any, names: dict[str, str]) -> dict[str, Any]:
    out = {}
    for attr, key in names.items():
        value = msg.get_attr(attr)
        if value is not None:
            out[key] = value
    return out


def as_call(op: Op) -> Call:
    """The pyroute2 call that sends what `op` sends."""
    msg = message(op)
    t, f = op.type, op.flags
    if t in (netlink.RTM_NEWLINK, netlink.RTM_DELLINK):
        return _link(msg, t, f)
    if t in (netlink.RTM_NEWADDR, netlink.RTM_DELADDR):
        kw = {"index": msg["index"], "address": msg.get_attr("IFA_ADDRESS"), "prefixlen": msg["prefixlen"]}
        if msg["family"] == socket.AF_INET:
            assert msg.get_attr("IFA_LOCAL") == kw["address"], "IPv4: IFA_LOCAL is the address too"
        kw.update(_present(msg, {"IFA_PROTO": "proto"}))
        return "addr", "replace" if t == netlink.RTM_NEWADDR else "del", (), kw
    if t in (netlink.RTM_NEWROUTE, netlink.RTM_DELROUTE):
        kw = {
            "dst": f"{msg.get_attr('RTA_DST')}/{msg['dst_len']}",
            "family": msg["family"],
            "table": msg.get_attr("RTA_TABLE"),
            "proto": msg["proto"],
            "type": msg["type"],
            "scope": msg["scope"],
        }
        kw.update(_present(msg, {"RTA_PRIORITY": "priority", "RTA_GATEWAY": "gateway", "RTA_OIF": "oif"}))
        hops = msg.get_attr("RTA_MULTIPATH")
        if hops:
            kw["multipath"] = [{"gateway": h.get_attr("RTA_GATEWAY"), "oif": h["oif"]} for h in hops]
        return "route", "replace" if t == netlink.RTM_NEWROUTE else "del", (), kw
    if t in (netlink.RTM_NEWNEIGH, netlink.RTM_DELNEIGH):
        kw = {"family": msg["family"], "ifindex": msg["ifindex"], "state": msg["state"], "flags": msg["flags"]}
        kw.update(
            _present(
                msg, {"NDA_LLADDR": "lladdr", "NDA_DST": "dst", "NDA_MASTER": "master", "NDA_PROTOCOL": "protocol"}
            )
        )
        command = "del"
        if t == netlink.RTM_NEWNEIGH:
            command = "append" if f & netlink.NLM_F_APPEND else "replace"
            assert f & netlink.NLM_F_CREATE
        return "fdb" if msg["family"] == netlink.AF_BRIDGE else "neigh", command, (), kw
    if t in (netlink.RTM_NEWQDISC, netlink.RTM_DELQDISC):
        command = "add" if t == netlink.RTM_NEWQDISC else "del"
        return (
            "tc",
            command,
            (msg.get_attr("TCA_KIND"), msg["index"]),
            {"handle": msg["handle"], "parent": msg["parent"]},
        )
    if t == netlink.RTM_NEWTFILTER:
        assert f == netlink.NLM_F_CREATE | netlink.NLM_F_REPLACE
        opts = msg.get_attr("TCA_OPTIONS")
        kw = {
            "handle": msg["handle"],
            "parent": msg["parent"],
            "prio": msg["info"] >> 16,
            "protocol": socket.ntohs(msg["info"] & 0xFFFF),
            "fd": opts.get_attr("TCA_BPF_FD"),
            "name": opts.get_attr("TCA_BPF_NAME"),
            "direct_action": bool(opts.get_attr("TCA_BPF_FLAGS") & 1),
        }
        return "tc", "replace-filter", (msg.get_attr("TCA_KIND"), msg["index"]), kw
    assert t == netlink.RTM_DELTFILTER
    return "tc", "del-filter", (None, msg["index"]), {"parent": msg["parent"], "info": msg["info"]}


def _link(msg: Any, t: int, f: int) -> Call:
    kw: dict[str, Any] = {}
    if msg["index"]:
        kw["index"] = msg["index"]
    kw.update(
        _present(
            msg,
            {
                "IFLA_IFNAME": "ifname",
                "IFLA_IFALIAS": "ifalias",
                "IFLA_MTU": "mtu",
                "IFLA_MASTER": "master",
                "IFLA_ADDRESS": "address",
            },
        )
    )
    if msg["flags"] & 1:
        assert msg["change"] & 1, "IFF_UP set must be in the change mask"
        kw["state"] = "up"
    if t == netlink.RTM_DELLINK:
        return "link", "del", (), kw
    command = "add" if f == netlink.NLM_F_CREATE | netlink.NLM_F_EXCL else "set"
    info = msg.get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
    if kind == "bridge_slave":  # ipr.brport("set", ...) is a link set of this kind
        kw.update(_present(info.get_attr("IFLA_INFO_SLAVE_DATA"), {"IFLA_BRPORT_LEARNING": "learning"}))
        return "brport", command, (), kw
    if kind is not None:
        kw["kind"] = kind
        data = info.get_attr("IFLA_INFO_DATA")
        if kind == "vxlan":
            kw.update(
                _present(
                    data,
                    {
                        "IFLA_VXLAN_ID": "vxlan_id",
                        "IFLA_VXLAN_LOCAL": "vxlan_local",
                        "IFLA_VXLAN_PORT": "vxlan_port",
                        "IFLA_VXLAN_LEARNING": "vxlan_learning",
                    },
                )
            )
        elif kind == "veth":
            peer = data.get_attr("VETH_INFO_PEER")
            assert peer["flags"] == 0, "a veth peer cannot be created up (ENOTCONN)"
            kw["peer"] = _present(
                peer, {"IFLA_IFNAME": "ifname", "IFLA_ADDRESS": "address", "IFLA_NET_NS_FD": "net_ns_fd"}
            )
    return "link", command, (), kw
