"""The storm's fabric: many switches, each with a desired state worth sending, and a revision that changes
every one of them (committed while the controller was away, so every agent must fetch its state again)."""

from __future__ import annotations

from dataclasses import dataclass

from podswitch.controller import Controller
from podswitch.model import (
    SYSTEM,
    Attachment,
    Edit,
    Endpoint,
    Intent,
    InterfaceGroup,
    Key,
    Kind,
    Link,
    LogicalRouter,
    Member,
    Model,
    NextHop,
    Port,
    Role,
    Route,
    Segment,
    SegmentInterface,
    Switch,
    Tenant,
    build,
)
from podswitch.store import Store

UPLINK = 49  # leaf ports from swp49 face the spines; servers use swp1..48
EXTERNAL_PORT = "swp47"  # a leaf's port on the external VLAN the new revision adds
EXTERNAL_VLAN = 4000
DEFAULT_ROUTE = Route(prefix="0.0.0.0/0", next_hop=NextHop(tenant=SYSTEM))


@dataclass(frozen=True)
class Shape:
    leaves: int
    spines: int
    tenants: int
    segments: int  # per tenant
    endpoints: int  # per segment
    linked: bool = False  # tenants route to the outside through tenant system (each leaf gets every route)

    @property
    def switches(self) -> int:
        return self.leaves + self.spines


@dataclass(frozen=True)
class Revisions:
    """The ETag each switch's agent holds (the revision before the outage) and the one it must end with."""

    held: dict[str, str]
    latest: dict[str, str]
    revision: int


def _leaf(i: int) -> str:
    return f"leaf{i:04d}"


def _spine(i: int) -> str:
    return f"spine{i}"


def intent(shape: Shape) -> Intent:
    """Tenants with routed segments spread over every leaf pair (a server group is a port on two leaves),
    each with a few endpoints; spines joined to every leaf."""
    if shape.leaves < 2 or shape.leaves % 2:
        raise ValueError("leaves come in pairs")
    objects: list[tuple[Key, Model]] = []
    for i in range(shape.leaves):
        objects.append((Key(Kind.SWITCH, name=_leaf(i)), Switch(name=_leaf(i), role=Role.LEAF)))
        for s in range(shape.spines):
            link = Link(
                a=Port(switch=_leaf(i), interface=f"swp{UPLINK + s}"), b=Port(switch=_spine(s), interface=f"swp{i + 1}")
            )
            objects.append((Key(Kind.LINK, name=link.key), link))
    for s in range(shape.spines):
        objects.append((Key(Kind.SWITCH, name=_spine(s)), Switch(name=_spine(s), role=Role.SPINE)))
    pairs = shape.leaves // 2
    groups: dict[str, InterfaceGroup] = {}
    net = 0
    for t in range(shape.tenants):
        tenant = f"tenant{t:04d}"
        objects.append((Key(Kind.TENANT, tenant), Tenant(name=tenant)))
        interfaces = []
        for s in range(shape.segments):
            segment = f"net{s}"
            # Consecutive segments land on consecutive leaf pairs: every leaf gets its share.
            pair, port = net % pairs, f"swp{(net // pairs) % 46 + 1}"
            group = f"srv{pair:04d}-{port}"
            groups.setdefault(
                group,
                InterfaceGroup(
                    name=group,
                    members=(
                        Port(switch=_leaf(2 * pair), interface=port),
                        Port(switch=_leaf(2 * pair + 1), interface=port),
                    ),
                ),
            )
            vlan = 100 + net // (pairs * 46)
            prefix = f"10.{net // 256 % 256}.{net % 256}"
            interfaces.append(SegmentInterface(segment=segment, ip_addresses=(f"{prefix}.1/24",)))
            objects.append((Key(Kind.SEGMENT, tenant, segment), Segment(name=segment)))
            member = Member(interface_group=group, vlan=vlan)
            objects.append((Key(Kind.MEMBER, tenant, segment, member.key), member))
            for e in range(shape.endpoints):
                eid = f"{net:08x}-{e:04x}"
                endpoint = Endpoint(
                    id=eid,
                    attachment_point=Attachment(interface_group=group, vlan=vlan),
                    ips=(f"{prefix}.{e + 2}",),
                    mac=f"fa:16:3e:{net >> 8 & 255:02x}:{net & 255:02x}:{e:02x}",
                )
                objects.append((Key(Kind.ENDPOINT, tenant, segment, eid), endpoint))
            net += 1
        outside = {"tenant_interfaces": (SYSTEM,), "routes": (DEFAULT_ROUTE,)} if shape.linked else {}
        router = LogicalRouter(interfaces=tuple(interfaces), **outside)
        objects.append((Key(Kind.LOGICAL_ROUTER, tenant), router))
    objects += [(Key(Kind.INTERFACE_GROUP, name=g.name), g) for g in groups.values()]
    return build(objects)


def outage_change(shape: Shape, base: Intent) -> Intent:
    """What was committed while the controller was away: an external VLAN on every leaf (a new bridge on
    each) and a second cable from the first leaf to every spine (a new port on each spine)."""
    edit = Edit(base)
    edit.put(Key(Kind.SEGMENT, SYSTEM, "external"), Segment(name="external"))
    for i in range(shape.leaves):
        group = f"ext{i:04d}"
        edit.put(
            Key(Kind.INTERFACE_GROUP, name=group),
            InterfaceGroup(name=group, members=(Port(switch=_leaf(i), interface=EXTERNAL_PORT),)),
        )
        member = Member(interface_group=group, vlan=EXTERNAL_VLAN)
        edit.put(Key(Kind.MEMBER, SYSTEM, "external", member.key), member)
    for s in range(shape.spines):
        link = Link(
            a=Port(switch=_leaf(0), interface=f"swp{UPLINK + shape.spines + s}"),
            b=Port(switch=_spine(s), interface=f"swp{shape.leaves + 1}"),
        )
        edit.put(Key(Kind.LINK, name=link.key), link)
    return edit.finish()


def prepare(url: str, shape: Shape) -> Revisions:
    """Store the fabric (the state every agent holds), then the outage's revision; the ETags of both."""
    store = Store.open(url)
    try:
        ctl = Controller(store)
        built = intent(shape)
        ctl.commit(lambda _: built, actor="storm", operation="replace", full_validation=True)
        held = _etags(ctl)
        outcome = ctl.commit(lambda snap: outage_change(shape, snap.intent), actor="storm", operation="transaction")
        latest = _etags(ctl)
    finally:
        store.close()
    unchanged = sorted(name for name in held if held[name] == latest[name])
    if unchanged or len(latest) != shape.switches:  # then not every agent would have to fetch
        raise AssertionError(f"the outage's revision leaves {unchanged[:5]} unchanged")
    return Revisions(held, latest, outcome.revision)


def _etags(ctl: Controller) -> dict[str, str]:
    # The ETag an agent of this release is served (from format 2 on, more than the state's hash).
    served = {name: ctl.desired_state(name) for name in ctl.compiled().switches}
    return {name: f'"{doc.validator()}"' for name, doc in served.items() if doc is not None}
