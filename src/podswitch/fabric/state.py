"""Desired state of one switch: what the agent must make its kernel look like.

This is the contract between the compiler (pure, in the controller) and the agent (on the switch). It is
served as JSON by `GET /v1/switches/{name}/desired-state`. Every device name is given here explicitly so
the agent never invents names, and every list is sorted so equal states serialize to equal bytes.

Namespaces: the switch's own namespace holds the underlay, the segment bridges, VXLAN devices and the
VLAN attachments. Each router slice lives in a namespace of its own named `<switch-ns>-<slice.name>`
(`podswitch-<slice.name>` on a real switch); slices are linked to segment bridges and to each other by
veth pairs whose ends are named here."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# One MAC for every router slice interface on every leaf: the anycast gateway. Locally administered.
GATEWAY_MAC = "02:70:73:00:00:01"
# The desired-state document's format. Any change to the document's fields bumps it: an agent that gets a
# format it was not built for refuses it (reporting why) and keeps forwarding as last programmed, rather
# than half-understanding it. Agents send theirs in FORMAT_HEADER so a controller can serve older agents
# during a rolling upgrade.
FORMAT = 1
FORMAT_HEADER = "X-Podswitch-State-Format"
VXLAN_PORT = 4789
UNDERLAY_MTU = 9000
OVERLAY_MTU = 1500


class State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FabricPort(State):
    """A routed point-to-point underlay link (leaf-spine), /31 on each end."""

    ifname: str
    address: str = Field(description="our end, with prefix: 10.254.0.1/31")
    peer: str = Field(description="the other end's address: 10.254.0.0")
    mtu: int = UNDERLAY_MTU


class UnderlayNextHop(State):
    via: str
    dev: str


class UnderlayRoute(State):
    prefix: str
    nexthops: tuple[UnderlayNextHop, ...] = Field(description="several = ECMP")


class VlanAttachment(State):
    """(leaf port, VLAN) in a segment's bridge. The kernel has no 802.1Q devices, so a veth pair stands
    in for the sub-interface: `subif` is the bridge member; `shim` is its peer, where a tc BPF program
    pushes the tag and sends the frame out of `port`; on `port`'s ingress a BPF program pops tag `vlan`
    and sends the frame into `shim`."""

    port: str
    vlan: int
    vni: int
    subif: str
    shim: str


class RemoteMac(State):
    mac: str
    vtep: str = Field(description="loopback of the leaf behind which the MAC lives")


class SegmentBridge(State):
    """A segment (or the system transit network) instantiated on this leaf: bridge + VXLAN device.

    `flood` lists every VTEP that has the segment and `remote_macs` every known MAC with its VTEP. The
    same object is shared by all leaves (one copy, serialized once), so the agent skips the entries that
    name its own loopback: those MACs are local and pinned by `LocalMac`. A MAC that is in this switch's
    `local_macs` for the same bridge is local too, whatever VTEP `remote_macs` names (an interface-group on
    two leaves is reached through the first leaf's VTEP, but each of the two leaves delivers it locally)."""

    vni: int
    tenant: str
    segment: str
    bridge: str
    vxlan: str
    flood: tuple[str, ...] = Field(default=(), description="VTEPs that get broadcast/unknown/multicast")
    remote_macs: tuple[RemoteMac, ...] = ()


class LocalMac(State):
    """An endpoint behind one of our ports, pinned so the bridge never learns it elsewhere."""

    mac: str
    bridge: str
    dev: str


class Neighbour(State):
    ip: str
    mac: str
    dev: str


class SliceRoute(State):
    prefix: str
    via: tuple[str, ...] = Field(default=(), description="gateways (several = ECMP); empty with `kind`")
    dev: str | None = None
    kind: Literal["unicast", "unreachable"] = Field(default="unicast", description="unreachable: a hard stop")


class SliceInterface(State):
    """A router slice's leg into a segment bridge: `ifname` in the slice (anycast gateway), `peer` in
    the switch namespace as a member of `bridge`."""

    ifname: str
    peer: str
    bridge: str
    mac: str
    addresses: tuple[str, ...] = ()


class SliceLink(State):
    """A veth between two slices on this switch (tenant <-> system)."""

    ifname: str
    address: str
    peer_slice: str
    peer_ifname: str
    peer_address: str


class Slice(State):
    """One tenant's share of its logical router on this leaf (or the system tenant's)."""

    name: str = Field(description="suffix of the slice namespace, e.g. t3 or sys")
    tenant: str
    interfaces: tuple[SliceInterface, ...] = ()
    links: tuple[SliceLink, ...] = Field(default=(), description="links this slice creates (system side)")
    neighbours: tuple[Neighbour, ...] = ()
    routes: tuple[SliceRoute, ...] = ()
    nftables: str | None = Field(default=None, description="ruleset of table inet podswitch, or none")


class SwitchState(State):
    switch: str
    role: str
    loopback: str | None = Field(default=None, description="VTEP address (/32 on lo)")
    fabric_ports: tuple[FabricPort, ...] = ()
    underlay_routes: tuple[UnderlayRoute, ...] = ()
    bridges: tuple[SegmentBridge, ...] = ()
    attachments: tuple[VlanAttachment, ...] = ()
    local_macs: tuple[LocalMac, ...] = ()
    slices: tuple[Slice, ...] = ()


class DesiredState(State):
    """What `GET /v1/switches/{name}/desired-state` returns."""

    format: int = Field(default=FORMAT, ge=1, description="the document's format (see FORMAT)")
    revision: int = Field(description="intent revision this state was compiled from")
    etag: str = Field(description="hash of `state`; changes only when this switch's state changes")
    state: SwitchState
