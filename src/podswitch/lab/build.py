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
import ipaddress
import logging
from collections.abc import Iterable
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.ndmsg import NTF_MASTER, NUD_NOARP

from ..agent import netns, vlan_shim
from ..agent.netlink import KernelLink
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
        space = self.handle(server_ns(self.prefix, group), NO_IPV6)
        srv = space.ipr
        wanted = sorted(set(vlans))
        have = links(space)
        trunk = have[TRUNK]
        shims: dict[int, int] = {}
        for vlan in wanted:
            br_name, subif, shim = vlan_bridge(vlan), fabric_names.subif(TRUNK, vlan), fabric_names.shim(TRUNK, vlan)
            br = have.get(br_name)
            if br is None or br.kind != "bridge":
                if br is not None:
                    srv.link("del", index=br.index)
                srv.link("add", ifname=br_name, kind="bridge", br_stp_state=0, br_forward_delay=0)
                self.writes += 1
            if not _cabled(have.get(subif), have.get(shim)):
                for name in (subif, shim):
                    if name in have:
                        with contextlib.suppress(NetlinkError):
                            srv.link("del", index=have[name].index)
                srv.link("add", ifname=subif, kind="veth", peer={"ifname": shim})
                self.writes += 1
            have = links(space)
            br, sub, sh = have[br_name], have[subif], have[shim]
            if not br.up:
                srv.link("set", index=br.index, state="up")
            if sub.master != br.index or not sub.up:
                srv.link("set", index=sub.index, master=br.index, state="up")
            if not sh.up:
                srv.link("set", index=sh.index, state="up")
            if vlan_shim.ensure_push(srv, sh.index, vlan, trunk.index):
                self.writes += 1
            shims[vlan] = sh.index
        if vlan_shim.ensure_trunk(srv, trunk.index, shims):
            self.writes += 1
        for vlan in self._vlans_present(have):
            if vlan not in shims:
                for name in (fabric_names.subif(TRUNK, vlan), vlan_bridge(vlan)):
                    if name in have:
                        with contextlib.suppress(NetlinkError):
                            srv.link("del", index=have[name].index)
                            self.writes += 1

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
                    with contextlib.suppress(NetlinkError):
                        srv.ipr.link("del", index=idx)
                        self.writes += 1
        ns = endpoint_ns(self.prefix, short)
        if netns.exists(ns):
            netns.remove(ns)
            self.writes += 1

    def build_endpoint(self, spec: EndpointSpec, short: str) -> None:
        """(Re)create the endpoint from scratch: a changed endpoint is rebuilt, never patched."""
        self.remove_endpoint(short, spec.server)
        srv = self.handle(server_ns(self.prefix, spec.server), NO_IPV6)
        br = srv.index(vlan_bridge(spec.vlan))
        if br is None:
            raise LookupError(f"server {spec.server} has no bridge for VLAN {spec.vlan}")
        v6 = any(ip_version(a) == 6 for a in spec.addresses)
        ns = endpoint_ns(self.prefix, short)
        ep = netns.create(ns, IPV6_NO_DAD if v6 else NO_IPV6)
        self.writes += 1
        try:
            peer: dict[str, Any] = {"ifname": TRUNK, "net_ns_fd": ns}
            if spec.mac:
                peer["address"] = spec.mac
            port = endpoint_port(short)
            srv.ipr.link("add", ifname=port, kind="veth", peer=peer)
            port_index = srv.index(port)
            srv.ipr.link("set", index=port_index, master=br, state="up")
            eth = ep.index(TRUNK)
            # Like a hypervisor plugging a VM in: the server's bridge must send the endpoint's frames to its
            # port at once, not to where it last learned the MAC (the trunk, when the endpoint was elsewhere).
            mac = spec.mac or ep.ipr.get_links(eth)[0].get_attr("IFLA_ADDRESS")
            srv.ipr.fdb("replace", ifindex=port_index, lladdr=mac, master=br, state=NUD_NOARP, flags=NTF_MASTER)
            for cidr in spec.addresses:
                iface = ipaddress.ip_interface(cidr)
                ep.ipr.addr("add", index=eth, address=str(iface.ip), prefixlen=iface.network.prefixlen)
            ep.ipr.link("set", index=eth, state="up")
            for gw in spec.gateways:
                try:
                    family = ipaddress.ip_address(gw).version
                    ep.ipr.route("add", dst="0.0.0.0/0" if family == 4 else "::/0", gateway=gw, oif=eth)
                except NetlinkError as e:
                    if e.code != errno.EEXIST:
                        raise
            self.writes += 5 + len(spec.addresses) + len(spec.gateways)
        finally:
            ep.close()

    # ---- everything -----------------------------------------------------------------------------

    def destroy(self) -> list[str]:
        """Remove every namespace with the prefix (switches, their slices, servers, endpoints)."""
        self.close()
        return netns.remove_all(self.prefix)
