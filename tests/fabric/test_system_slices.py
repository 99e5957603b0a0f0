"""Tenant system's slices: where they are, what links and routes they hold, and that compiling incrementally
after any change that touches them gives exactly what a full compilation gives."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest

from podswitch.fabric import allocate, compile, merged, names
from podswitch.fabric.compile import Compiled
from podswitch.fabric.state import SwitchState
from podswitch.model import (
    SYSTEM,
    Intent,
    InterfaceGroup,
    Key,
    Kind,
    LogicalRouter,
    Match,
    Member,
    NextHop,
    PolicyList,
    PolicyRule,
    Port,
    Route,
    Segment,
    SegmentInterface,
    Switch,
    Tenant,
    delete,
    put,
    validate,
)
from tests.builders import DEMO, demo_tenant, endpoint, pod, slug

Alloc = dict[tuple[str, str], int]


def base() -> Intent:
    """The seed's demo tenant on leaf1 (linked to system), tenant other on leaf3 (not linked), and an uplink
    segment of tenant system on leaf4."""
    intent = pod(demo_tenant(), servers={"osvdev0013": "leaf1", "osvdev0014": "leaf2", "h3": "leaf3", "ext": "leaf4"})
    intent = put(intent, Key(Kind.TENANT, "other"), Tenant(name="other"))
    intent = put(intent, Key(Kind.SEGMENT, "other", "net_o"), Segment(name="net_o"))
    intent = put(
        intent,
        Key(Kind.ENDPOINT, "other", "net_o", "o1"),
        endpoint("o1", "h3", 500, "10.77.0.2", "fa:16:3e:00:07:01"),
    )
    intent = put(
        intent,
        Key(Kind.LOGICAL_ROUTER, "other"),
        LogicalRouter(interfaces=[SegmentInterface(segment="net_o", ip_addresses=["10.77.0.1/24"])]),
    )
    intent = put(intent, Key(Kind.SEGMENT, SYSTEM, "uplink"), Segment(name="uplink"))
    intent = put(intent, Key(Kind.MEMBER, SYSTEM, "uplink", "ext:100"), Member(interface_group="ext", vlan=100))
    intent = put(
        intent,
        Key(Kind.ENDPOINT, SYSTEM, "uplink", "world"),
        endpoint("world", "ext", 100, "192.0.2.2", "fa:16:3e:99:00:01"),
    )
    return put(
        intent,
        Key(Kind.LOGICAL_ROUTER, SYSTEM),
        LogicalRouter(interfaces=[SegmentInterface(segment="uplink", ip_addresses=["192.0.2.1/24"])]),
    )


def compiled(intent: Intent, alloc: Alloc | None = None, previous: Compiled | None = None) -> tuple[Compiled, Alloc]:
    validate(intent)
    alloc = merged(alloc or {}, allocate(intent, alloc or {}))
    return compile(intent, alloc, 1, previous), alloc


def system_slice(c: Compiled, leaf: str) -> object | None:
    state = c.state(leaf)
    assert isinstance(state, SwitchState)
    return next((s for s in state.slices if s.tenant == SYSTEM), None)


def routes_of(c: Compiled, leaf: str) -> dict[str, tuple[str, ...]]:
    found = system_slice(c, leaf)
    assert found is not None
    return {r.prefix: r.via for r in found.routes}  # type: ignore[attr-defined]


def test_system_slices_stand_where_system_or_a_linked_tenant_is() -> None:
    c, _ = compiled(base())
    assert [leaf for leaf in ("leaf1", "leaf2", "leaf3", "leaf4") if system_slice(c, leaf)] == ["leaf1", "leaf4"]
    # leaf1 reaches demo's subnet through its link; leaf4 (the border) through the transit network
    assert "10.66.16.0/24" in routes_of(c, "leaf1") and "10.66.16.0/24" in routes_of(c, "leaf4")
    assert "10.77.0.0/24" not in routes_of(c, "leaf4")  # other is not linked: system does not route to it


def test_a_link_declared_by_system_alone_links_the_tenant() -> None:
    intent = base()
    system_router = intent.tenants[SYSTEM].router
    assert system_router is not None
    linked = put(
        intent, Key(Kind.LOGICAL_ROUTER, SYSTEM), system_router.model_copy(update={"tenant_interfaces": ("other",)})
    )
    c, _ = compiled(linked)
    leaf3 = system_slice(c, "leaf3")
    assert leaf3 is not None
    other_slice = next(s for s in c.state("leaf3").slices if s.tenant == "other")  # type: ignore[union-attr]
    assert [link.peer_slice for link in leaf3.links] == [other_slice.name]  # type: ignore[attr-defined]
    assert "10.77.0.0/24" in routes_of(c, "leaf4")
    assert other_slice.routes == ()  # the tenant's own router has no route out


CHANGES: dict[str, Callable[[Intent], Intent]] = {
    "system gets a static route": lambda i: put(
        i,
        Key(Kind.LOGICAL_ROUTER, SYSTEM),
        LogicalRouter(
            interfaces=[SegmentInterface(segment="uplink", ip_addresses=["192.0.2.1/24"])],
            routes=[Route(prefix="198.51.100.0/24", next_hop=NextHop(ip="192.0.2.2"))],
        ),
    ),
    "system links to other": lambda i: put(
        i,
        Key(Kind.LOGICAL_ROUTER, SYSTEM),
        LogicalRouter(
            interfaces=[SegmentInterface(segment="uplink", ip_addresses=["192.0.2.1/24"])], tenant_interfaces=["other"]
        ),
    ),
    "other links to system": lambda i: put(
        i,
        Key(Kind.LOGICAL_ROUTER, "other"),
        LogicalRouter(
            interfaces=[SegmentInterface(segment="net_o", ip_addresses=["10.77.0.1/24"])], tenant_interfaces=["system"]
        ),
    ),
    "demo unlinks from system": lambda i: put(
        i,
        Key(Kind.LOGICAL_ROUTER, DEMO),
        LogicalRouter(interfaces=[SegmentInterface(segment="net_demo", ip_addresses=["10.66.16.1/24"])]),
    ),
    "demo reaches leaf2": lambda i: put(
        i,
        Key(Kind.ENDPOINT, DEMO, "net_demo", "e2"),
        endpoint("e2", "osvdev0014", 300, "10.66.16.3", "fa:16:3e:00:00:02"),
    ),
    "demo gets a second subnet": lambda i: put(
        put(i, Key(Kind.SEGMENT, DEMO, "net_b"), Segment(name="net_b")),
        Key(Kind.LOGICAL_ROUTER, DEMO),
        LogicalRouter(
            interfaces=[
                SegmentInterface(segment="net_b", ip_addresses=["10.66.17.1/24"]),
                SegmentInterface(segment="net_demo", ip_addresses=["10.66.16.1/24"]),
            ],
            tenant_interfaces=["system"],
            routes=[Route(prefix="0.0.0.0/0", next_hop=NextHop(tenant="system"))],
        ),
    ),
    "system's uplink endpoint leaves": lambda i: delete(i, Key(Kind.ENDPOINT, SYSTEM, "uplink", "world")),
    "system's uplink member moves to leaf3": lambda i: put(
        delete(delete(i, Key(Kind.ENDPOINT, SYSTEM, "uplink", "world")), Key(Kind.MEMBER, SYSTEM, "uplink", "ext:100")),
        Key(Kind.MEMBER, SYSTEM, "uplink", "h3:100"),
        Member(interface_group="h3", vlan=100),
    ),
    "demo is deleted": lambda i: delete(i, Key(Kind.TENANT, DEMO)),
    "other moves from leaf3 to leaf2": lambda i: put(
        i,
        Key(Kind.ENDPOINT, "other", "net_o", "o1"),
        endpoint("o1", "osvdev0014", 500, "10.77.0.2", "fa:16:3e:00:07:01"),
    ),
}


@pytest.mark.parametrize("change", list(CHANGES), ids=slug)
def test_incremental_compilation_of_system_slices_equals_a_full_one(change: str) -> None:
    intent = base()
    before, alloc = compiled(intent)
    changed = CHANGES[change](intent)  # shares every untouched subtree (the topology too) with `intent`
    assert changed.topology is intent.topology
    after, alloc2 = compiled(changed, alloc, before)
    full = compile(changed, alloc2, 1)
    assert {s: after.document(s) for s in after.switches} == {s: full.document(s) for s in full.switches}
    # the change is seen: some switch's document differs from before
    assert any(after.etag(s) != before.etag(s) for s in after.switches)


def test_a_change_elsewhere_keeps_every_system_slice_and_etag() -> None:
    intent = base()
    before, alloc = compiled(intent)
    changed = put(
        intent, Key(Kind.ENDPOINT, "other", "net_o", "o2"), endpoint("o2", "h3", 500, "10.77.0.3", "fa:16:3e:00:07:02")
    )
    after, _ = compiled(changed, alloc, before)
    assert {s for s in after.switches if after.etag(s) != before.etag(s)} == {"leaf3"}


# ---- what a system slice holds -------------------------------------------------------------------------------


def _slice(c: Compiled, leaf: str, tenant: str = SYSTEM):  # type: ignore[no-untyped-def]
    state = c.state(leaf)
    assert state is not None
    return next(s for s in state.slices if s.tenant == tenant)


def _with_system_router(intent: Intent, **fields: object) -> Intent:
    router = intent.tenants[SYSTEM].router
    assert router is not None
    return put(intent, Key(Kind.LOGICAL_ROUTER, SYSTEM), router.model_copy(update=fields))


def test_routes_to_a_tenant_leave_through_its_link_on_its_leaf_and_through_transit_elsewhere() -> None:
    c, alloc = compiled(base())
    link = _slice(c, "leaf1").links[0]
    tenant_end = link.peer_address.split("/")[0]
    route = next(r for r in _slice(c, "leaf1").routes if r.prefix == "10.66.16.0/24")
    assert (route.via, route.dev) == ((tenant_end,), link.ifname)
    assert link.peer_slice == _slice(c, "leaf1", DEMO).name and link.peer_ifname == names.SYSTEM_LINK
    leaf1_index = alloc[("switch", "leaf1")]
    border = next(r for r in _slice(c, "leaf4").routes if r.prefix == "10.66.16.0/24")
    assert (border.via, border.dev) == ((str(names.transit_ip(leaf1_index)),), names.gateway_if(names.TRANSIT_VNI))


def test_two_linked_tenants_on_a_leaf_each_have_their_own_link() -> None:
    intent = put(
        base(),
        Key(Kind.ENDPOINT, "other", "net_o", "o2"),
        endpoint("o2", "osvdev0013", 500, "10.77.0.3", "fa:16:3e:00:07:02"),
    )
    intent = _with_system_router(intent, tenant_interfaces=("other",))
    c, _ = compiled(intent)
    links = {link.peer_slice: link.ifname for link in _slice(c, "leaf1").links}
    assert len(links) == 2 and len(set(links.values())) == 2
    dev = {r.prefix: r.dev for r in _slice(c, "leaf1").routes}
    assert dev["10.66.16.0/24"] == links[_slice(c, "leaf1", DEMO).name]
    assert dev["10.77.0.0/24"] == links[_slice(c, "leaf1", "other").name]


def test_every_subnet_of_a_linked_tenant_is_routed() -> None:
    c, _ = compiled(CHANGES["demo gets a second subnet"](base()))
    prefixes = {r.prefix for r in _slice(c, "leaf4").routes}
    assert {"10.66.16.0/24", "10.66.17.0/24"} <= prefixes


def test_system_static_routes() -> None:
    routes = [
        Route(prefix="10.66.16.0/24", next_hop=NextHop(ip="192.0.2.2")),  # shadowed by demo's own subnet
        Route(prefix="10.99.0.0/16", next_hop=NextHop(tenant=DEMO)),
        Route(prefix="10.98.0.0/16", next_hop=NextHop(tenant="empty")),  # linked, but on no leaf
        Route(prefix="198.51.100.0/24", next_hop=NextHop(ip="192.0.2.2")),
    ]
    intent = put(base(), Key(Kind.TENANT, "empty"), Tenant(name="empty"))
    intent = _with_system_router(intent, tenant_interfaces=(DEMO, "empty"), routes=tuple(routes))
    c, _ = compiled(intent)
    for leaf in ("leaf1", "leaf4"):
        by_prefix = {r.prefix: r for r in _slice(c, leaf).routes}
        assert by_prefix["198.51.100.0/24"].via == ("192.0.2.2",), leaf
        assert "10.98.0.0/16" not in by_prefix, leaf
        # a route through a tenant goes where that tenant's own subnet goes
        assert (by_prefix["10.99.0.0/16"].via, by_prefix["10.99.0.0/16"].dev) == (
            by_prefix["10.66.16.0/24"].via,
            by_prefix["10.66.16.0/24"].dev,
        ), leaf
        assert by_prefix["10.66.16.0/24"].via != ("192.0.2.2",), leaf


def test_system_policy_list_filters_in_every_system_slice() -> None:
    rules = (
        PolicyRule(seq=10, action="deny", src=Match(segment="uplink"), dst=Match(cidr="10.66.16.0/24")),
        PolicyRule(seq=20, action="permit", src=Match(segment="dmz")),  # dmz has no gateway: it never matches
    )
    intent = put(base(), Key(Kind.SEGMENT, SYSTEM, "dmz"), Segment(name="dmz"))
    intent = _with_system_router(
        intent, policy_lists=(PolicyList(name="edge", rules=rules),), applied_policy_list="edge"
    )
    c, alloc = compiled(intent)
    uplink = names.gateway_if(alloc[("segment", "system/uplink")])
    for leaf in ("leaf1", "leaf4"):
        nft = _slice(c, leaf).nftables
        assert nft is not None and f'iifname "{uplink}"' in nft and 'drop comment "edge 10"' in nft, nft
        assert "edge 20" not in nft, nft


def test_the_transit_network_joins_the_system_slices_in_vtep_order() -> None:
    # leaf0 joins after the others: its index (and VTEP address) is the highest although its name sorts first
    _, alloc = compiled(base())
    intent = put(base(), Key(Kind.SWITCH, name="leaf0"), Switch(name="leaf0", role="leaf"))
    intent = put(
        intent,
        Key(Kind.INTERFACE_GROUP, name="h0"),
        InterfaceGroup(name="h0", members=[Port(switch="leaf0", interface="swp1")]),
    )
    intent = put(
        intent, Key(Kind.ENDPOINT, DEMO, "net_demo", "e0"), endpoint("e0", "h0", 300, "10.66.16.9", "fa:16:3e:00:00:09")
    )
    c, alloc = compiled(intent, alloc)
    for leaf in ("leaf0", "leaf1", "leaf4"):
        state = c.state(leaf)
        assert state is not None
        transit = next(b for b in state.bridges if b.vni == names.TRANSIT_VNI)
        assert (transit.tenant, transit.segment) == (SYSTEM, "transit")
        assert (transit.bridge, transit.vxlan) == (names.bridge(names.TRANSIT_VNI), names.vxlan(names.TRANSIT_VNI))
        assert list(transit.flood) == sorted(transit.flood, key=ipaddress.ip_address)
        assert len(transit.flood) == 3
        leg = next(i for i in _slice(c, leaf).interfaces if i.ifname == names.gateway_if(names.TRANSIT_VNI))
        assert (leg.peer, leg.bridge) == (names.gateway_peer(names.TRANSIT_VNI), names.bridge(names.TRANSIT_VNI))
        for bridge in state.bridges:
            assert list(bridge.flood) == sorted(bridge.flood, key=ipaddress.ip_address), bridge
