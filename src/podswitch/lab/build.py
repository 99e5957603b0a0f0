"""Build the emulated POD in network namespaces: switches, cables, servers and endpoints.

Names (`prefix` is the lab's, `psw-` by default, so everything can be found and removed by it):
- `<prefix><switch>`: a switch. The lab only creates the namespace and cables its ports; the switch's agent
  programs everything inside, and creates the router-slice namespaces `<prefix><switch>-<slice>` itself.
- cables are veth pairs created with one end in each namespace: leaf `swp{48+s}` <-> spine `swp{l}`
  (MTU 9000), server `eth0` <-> leaf `swpN`.
- `<prefix>srv-<group>`: the server (a compute node) of interface-group `group`. Its `eth0` is an 802.1Q
  trunk; per VLAN it has a bridge `br<vlan>` and the same tag push/pop a leaf uses (fabric.state
  VlanAttachment, agent.vlan_shim): bridge member `eth0.<vlan>`, its veth peer `eth0~<vlan>` pushes the
  tag, a pop program on `eth0` sends each tagged frame into its VLAN.
- `<prefix>ep-<short>`: an endpoint, with `eth0` carrying the endpoint's MAC and addresses and a default
  route via its gateway; the other end, `ep-<short>`, is a port of its server's VLAN bridge.

Everything is pyroute2 netlink on handles opened inside the namespaces; the root namespace is never
touched."""

from __future__ import annotations

import contextlib
import errno
import functools
import ipaddress
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from ..agent import netlink as nl
from ..agent import netns, vlan_shim
from ..agent.bpf import load_program
from ..agent.netlink import KernelLink, Op, RtSocket
from ..fabric import names as fabric_names
from ..fabric.state import UNDERLAY_MTU
from .layout import EndpointSpec, Layout, Place, ip_version

log = logging.getLogger(__name__)

TRUNK = "eth0"
# Servers and endpoints stay quiet unless asked: no IPv6 router solicitations, DAD or MLD reports flooding
# the fabric and showing up in every tcpdump of a trunk.
NO_IPV6 = {"net/ipv6/conf/all/disable_ipv6": "1", "net/ipv6/conf/default/disable_ipv6": "1"}
IPV6_NO_DAD = {
    "net/ipv6/conf/all/accept_dad": "0",
    "net/ipv6/conf/default/accept_dad": "0",
    "net/ipv6/conf/all/accept_ra": "0",
    "net/ipv6/conf/default/accept_ra": "0",
}


def switch_ns(prefix: str, switch: str) -> str:
    return f"{prefix}{switch}"


def server_ns(prefix: str, group: str) -> str:
    return f"{prefix}srv-{group}"


def endpoint_ns(prefix: str, short: str) -> str:
    return f"{prefix}ep-{short}"


def endpoint_port(short: str) -> str:
    """The endpoint's cable end in its server (a port of the VLAN bridge)."""
    return f"ep-{short}"


def vlan_bridge(vlan: int) -> str:
    return f"br{vlan}"


def links(space: netns.Space) -> dict[str, KernelLink]:
    return {link.name: link for link in space.rt.links()}


def _links(rt: RtSocket) -> dict[str, KernelLink]:
    return {link.name: link for link in rt.links()}


# A VLAN bridge forwards at once: no STP, no forward delay (IFLA_BR_FORWARD_DELAY, IFLA_BR_STP_STATE).
IFLA_BR_FORWARD_DELAY, IFLA_BR_STP_STATE = 1, 5
NO_STP = nl.nla_u32(IFLA_BR_FORWARD_DELAY, 0) + nl.nla_u32(IFLA_BR_STP_STATE, 0)


def _del(index: int, what: str) -> Op:
    """Delete a link; one already gone (a veth's peer went with it) is not a failure."""
    return nl.link_op("del", what=what, index=index, ok=frozenset({errno.ENODEV}))


def _execute(rt: RtSocket, ops: list[Op]) -> None:
    """Run `ops` in one batch; the first failure as an OSError (NetlinkError) with its errno."""
    failures = rt.execute(ops)
    if failures:
        raise nl.NetlinkError(failures[0].errno, str(failures[0]))


def _attach(rt: RtSocket, ifindex: int, name: str, program: Callable[[], bytes], prog_name: str) -> bool:
    """Make `ifindex`'s ingress run `program()` as the filter `name` (`vlan_shim`'s, as the agent attaches
    it) through the fast socket. True iff it wrote."""
    hook = vlan_shim.read_hook(rt, ifindex)
    if hook.right(name):
        return False
    slot = next((kind for i, _, kind in rt.qdiscs(vlan_shim.CLSACT_PARENT) if i == ifindex), None)
    fd = load_program(program(), prog_name)
    try:
        writes = vlan_shim.attach_writes(None, ifindex, fd, name, slot=slot, hook=hook, what=name)
        _execute(rt, [w.op for w in writes])
    finally:
        os.close(fd)  # the filter holds its own reference to the program
    return True


def _ensure_trunk(rt: RtSocket, port_ifindex: int, vlans: dict[int, int]) -> bool:
    """Pop VLAN v on the trunk's ingress and send it to shim `vlans[v]` (`vlan_shim.ensure_trunk`)."""
    name = vlan_shim.expected_trunk_name(vlans)
    return _attach(rt, port_ifindex, name, functools.partial(vlan_shim.pop_program, vlans), vlan_shim.POP_PROGRAM)


def _ensure_push(rt: RtSocket, shim_ifindex: int, vlan: int, port_ifindex: int) -> bool:
    """Push tag `vlan` on the shim's ingress and send the frame out of the trunk (`vlan_shim.ensure_push`)."""
    name = vlan_shim.expected_push_name(vlan, port_ifindex)
    program = functools.partial(vlan_shim.push_program, vlan, port_ifindex)
    return _attach(rt, shim_ifindex, name, program, vlan_shim.PUSH_PROGRAM)


def _cabled(a: KernelLink | None, b: KernelLink | None) -> bool:
    return (
        a is not None
        and b is not None
        and a.kind == "veth"
        and b.kind == "veth"
        and a.link == b.index
        and b.link == a.index
    )


class Builder:
    """Creates and removes the lab's namespaces and devices. Keeps a handle per switch and server
    namespace; endpoint handles are closed as soon as the endpoint is built."""

    def __init__(self, prefix: str) -> None:
        if not prefix:
            raise ValueError("the lab needs a non-empty namespace prefix")
        self.prefix = prefix
        self._handles: dict[str, netns.Space] = {}
        self.writes = 0

    def close(self) -> None:
        for h in self._handles.values():
            with contextlib.suppress(Exception):
                h.close()
        self._handles.clear()

    def __enter__(self) -> Builder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def handle(self, name: str, sysctls: dict[str, str] | None = None) -> netns.Space:
        h = self._handles.get(name)
        if h is not None and netns.exists(name):
            return h
        if h is not None:
            with contextlib.suppress(Exception):
                h.close()
        h, created = netns.ensure(name, sysctls)
        if created:
            self.writes += 1
        self._handles[name] = h
        return h

    def open_all(self, lab: Layout) -> None:
        """Handles on every switch and server of `lab`, opened ahead of the changes that will need them (after
        a fork dropped them all): opening one costs an RTNL round trip and a thread, not to be paid on the
        path of the next endpoint."""
        for name in lab.switches:
            self.handle(switch_ns(self.prefix, name))
        for group in lab.servers:
            if netns.exists(server_ns(self.prefix, group)):
                self.handle(server_ns(self.prefix, group), NO_IPV6)

    def forget(self, name: str) -> None:
        h = self._handles.pop(name, None)
        if h is not None:
            with contextlib.suppress(Exception):
                h.close()

    # ---- switches and fabric cables -------------------------------------------------------------

    def build_fabric(self, lab: Layout) -> None:
        for name in lab.switches:
            self.handle(switch_ns(self.prefix, name))
        for link in lab.links.values():
            self.cable(
                switch_ns(self.prefix, link.a.switch),
                link.a.interface,
                switch_ns(self.prefix, link.b.switch),
                link.b.interface,
                mtu=UNDERLAY_MTU,
            )

    def cable(self, ns_a: str, if_a: str, ns_b: str, if_b: str, *, mtu: int | None = None, up_a: bool = False) -> bool:
        """A veth `if_a` in `ns_a` <-> `if_b` in `ns_b`; recreated if either end is something else.
        Switch ends stay down: bringing a port up is its agent's job. Returns True iff it created."""
        a, b = self.handle(ns_a), self.handle(ns_b)
        la, lb = a.rt.get_link(if_a), b.rt.get_link(if_b)
        if _cabled(la, lb):
            if up_a and la is not None and not la.up:
                a.ipr.link("set", index=la.index, state="up")
            return False
        for h, link in ((a, la), (b, lb)):
            if link is not None:
                with contextlib.suppress(NetlinkError):  # its peer's deletion may have taken it already
                    h.ipr.link("del", index=link.index)
                    self.writes += 1
        peer: dict[str, Any] = {"ifname": if_b, "net_ns_fd": ns_b}
        extra: dict[str, Any] = {}
        if mtu is not None:
            peer["mtu"] = mtu
            extra["mtu"] = mtu
        a.ipr.link("add", ifname=if_a, kind="veth", peer=peer, **extra)
        self.writes += 1
        if up_a:
            a.ipr.link("set", index=a.index(if_a), state="up")
        return True

    # ---- servers --------------------------------------------------------------------------------

    def ensure_server(self, group: str, place: Place, vlans: Iterable[int]) -> None:
        """The server of `group`: its namespace, its trunk cabled to `place`, a bridge per VLAN."""
        ns = server_ns(self.prefix, group)
        self.handle(ns, NO_IPV6)
        self.cable(ns, TRUNK, switch_ns(self.prefix, place.leaf), place.port, up_a=True)
        self.ensure_vlans(group, vlans)

    def ensure_vlans(self, group: str, vlans: Iterable[int]) -> None:
        """Per VLAN a bridge, its member `eth0.<vlan>` and the tag push/pop on `eth0~<vlan>` / the trunk;
        bridges of VLANs no longer wanted go. Through the fast netlink socket: one batch of creations, one
        link dump, one batch of settings, then the tc programs that are not right yet."""
        rt = self.handle(server_ns(self.prefix, group), NO_IPV6).rt
        wanted = sorted(set(vlans))
        have = _links(rt)
        trunk = have[TRUNK]
        creates: list[Op] = []
        for vlan in wanted:
            br_name, subif, shim = vlan_bridge(vlan), fabric_names.subif(TRUNK, vlan), fabric_names.shim(TRUNK, vlan)
            br = have.get(br_name)
            if br is None or br.kind != "bridge":
                if br is not None:
                    creates.append(_del(br.index, f"remove {br_name}"))
                creates.append(
                    nl.link_op("add", what=f"bridge {br_name}", ifname=br_name, kind="bridge", info_data=NO_STP)
                )
            if not _cabled(have.get(subif), have.get(shim)):
                creates += [_del(have[name].index, f"remove {name}") for name in (subif, shim) if name in have]
                creates.append(
                    nl.link_op("add", what=f"veth {subif}", ifname=subif, kind="veth", info_data=nl.veth_peer(shim))
                )
        if creates:
            _execute(rt, creates)
            self.writes += len(creates)
            have = _links(rt)
        sets: list[Op] = []
        for vlan in wanted:
            br, sub, sh = (
                have[vlan_bridge(vlan)],
                have[fabric_names.subif(TRUNK, vlan)],
                have[fabric_names.shim(TRUNK, vlan)],
            )
            if not br.up:
                sets.append(nl.link_op("set", what=f"{br.name} up", index=br.index, up=True))
            if sub.master != br.index or not sub.up:
                sets.append(nl.link_op("set", what=f"{sub.name} master", index=sub.index, master=br.index, up=True))
            if not sh.up:
                sets.append(nl.link_op("set", what=f"{sh.name} up", index=sh.index, up=True))
        if sets:
            _execute(rt, sets)
            self.writes += len(sets)
        shims: dict[int, int] = {}
        for vlan in wanted:
            sh = have[fabric_names.shim(TRUNK, vlan)]
            if _ensure_push(rt, sh.index, vlan, trunk.index):
                self.writes += 1
            shims[vlan] = sh.index
        if _ensure_trunk(rt, trunk.index, shims):
            self.writes += 1
        gone = [
            _del(have[name].index, f"remove {name}")
            for vlan in self._vlans_present(have)
            if vlan not in shims
            for name in (fabric_names.subif(TRUNK, vlan), vlan_bridge(vlan))
            if name in have
        ]
        if gone:
            _execute(rt, gone)
            self.writes += len(gone)

    @staticmethod
    def _vlans_present(have: dict[str, KernelLink]) -> list[int]:
        out = []
        for name, link in have.items():
            if link.kind == "bridge" and name.startswith("br") and name[2:].isdigit():
                out.append(int(name[2:]))
        return out

    def remove_server(self, group: str) -> None:
        ns = server_ns(self.prefix, group)
        self.forget(ns)
        if netns.exists(ns):
            netns.remove(ns)
            self.writes += 1

    # ---- endpoints ------------------------------------------------------------------------------

    def remove_endpoint(self, short: str, server: str | None) -> None:
        """Unplug and delete an endpoint. The server end is deleted first, synchronously (it takes the
        endpoint's eth0 with it), so a new endpoint of the same name can be plugged in right away."""
        if server is not None:
            srv_ns = server_ns(self.prefix, server)
            if netns.exists(srv_ns):
                srv = self.handle(srv_ns, NO_IPV6)
                idx = srv.index(endpoint_port(short))
                if idx is not None:
                    _execute(srv.rt, [_del(idx, f"remove {endpoint_port(short)}")])
                    self.writes += 1
        ns = endpoint_ns(self.prefix, short)
        if netns.exists(ns):
            netns.remove(ns)
            self.writes += 1

    def build_endpoint(self, spec: EndpointSpec, short: str) -> None:
        """(Re)create the endpoint from scratch: a changed endpoint is rebuilt, never patched.

        Its namespace gets its name only once it is complete (`netns.create_built`): like a VM that boots
        with its network configured, nothing (a probe, `lab exec`) ever sees an endpoint without its
        address or route. Three batches through the fast netlink socket: the cable (made in the VLAN bridge,
        up), the MAC pinned on the server's bridge, the endpoint's side (lo and eth0 up, addresses, routes)."""
        if netns.exists(endpoint_ns(self.prefix, short)):
            self.remove_endpoint(short, spec.server)
        # Else nothing to unplug, and not asking saves an RTNL round on the path of every new endpoint; a port
        # left by one whose namespace the kernel is still tearing down is met below (EEXIST) and removed.
        srv = self.handle(server_ns(self.prefix, spec.server), NO_IPV6).rt
        br = srv.get_link(vlan_bridge(spec.vlan))
        if br is None:
            raise LookupError(f"server {spec.server} has no bridge for VLAN {spec.vlan}")
        v6 = any(ip_version(a) == 6 for a in spec.addresses)
        port = endpoint_port(short)

        def build() -> None:  # in the new namespace, before it has its name
            with RtSocket(None, sock=netns.netlink_socket()) as ep:
                fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    peer = nl.veth_peer(TRUNK, address=spec.mac, net_ns_fd=fd)
                    cable = nl.link_op(
                        "add", what=f"veth {port}", ifname=port, kind="veth", info_data=peer, master=br.index, up=True
                    )
                    try:
                        _execute(srv, [cable])
                    except nl.NetlinkError as e:
                        stale = srv.get_link(port) if e.errno == errno.EEXIST else None
                        if stale is None:
                            raise
                        _execute(srv, [_del(stale.index, f"remove stale {port}"), cable])
                        self.writes += 1
                finally:
                    os.close(fd)
                self._plug(srv, ep, br.index, port, spec)

        netns.create_built(endpoint_ns(self.prefix, short), IPV6_NO_DAD if v6 else NO_IPV6, build)
        self.writes += 6 + len(spec.addresses) + len(spec.gateways)

    @staticmethod
    def _plug(srv: RtSocket, ep: RtSocket, bridge: int, port: str, spec: EndpointSpec) -> None:
        port_link, lo, eth = srv.get_link(port), ep.get_link("lo"), ep.get_link(TRUNK)
        if port_link is None or lo is None or eth is None:
            raise LookupError(f"the cable {port} <-> {TRUNK} vanished")
        # Like a hypervisor plugging a VM in: the server's bridge must send the endpoint's frames to its port
        # at once, not to where it last learned the MAC (the trunk, when the endpoint was elsewhere).
        mac = spec.mac or eth.address
        pin = nl.neigh_op(
            "replace",
            what=f"fdb {mac} {port}",
            family=nl.AF_BRIDGE,
            ifindex=port_link.index,
            state=nl.NUD_NOARP,
            flags=nl.NTF_MASTER,
            lladdr=mac,
            master=bridge,
        )
        _execute(srv, [pin])
        inside = [nl.link_op("set", what="lo up", index=lo.index, up=True)]
        for cidr in spec.addresses:
            iface = ipaddress.ip_interface(cidr)
            inside.append(
                nl.addr_op(
                    "replace",
                    what=f"address {cidr}",
                    index=eth.index,
                    address=str(iface.ip),
                    prefixlen=iface.network.prefixlen,
                )
            )
        inside.append(nl.link_op("set", what=f"{TRUNK} up", index=eth.index, up=True))
        for gw in spec.gateways:
            v4 = ipaddress.ip_address(gw).version == 4
            inside.append(
                nl.route_op(
                    "replace",
                    what=f"default via {gw}",
                    family=nl.AF_INET if v4 else nl.AF_INET6,
                    dst="0.0.0.0/0" if v4 else "::/0",
                    gateway=gw,
                    oif=eth.index,
                )
            )
        _execute(ep, inside)

    # ---- everything -----------------------------------------------------------------------------

    def destroy(self) -> list[str]:
        """Remove every namespace with the prefix (switches, their slices, servers, endpoints)."""
        self.close()
        return netns.remove_all(self.prefix)
