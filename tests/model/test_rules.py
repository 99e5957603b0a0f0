"""Rules between objects that mutation testing found unguarded: each is broken once, and the problem must be
reported by a full validation and by the validation scoped to the change that broke it (what the API runs),
with the object, field and message an operator sees."""

from __future__ import annotations

import pytest

from podswitch.model import (
    Intent,
    IntentError,
    InterfaceGroup,
    Key,
    Kind,
    Link,
    LogicalRouter,
    Member,
    NextHop,
    Port,
    Route,
    Segment,
    SegmentInterface,
    Tenant,
    put,
    validate,
)
from tests.builders import DEMO, SEED_ENDPOINT, demo_tenant, endpoint, pod, slug

NET = "net_demo"


def problems(intent: Intent, changed: Key) -> list[str]:
    """The problems a full validation finds; the scoped validation of `changed` must find the same."""
    with pytest.raises(IntentError) as full:
        validate(intent)
    with pytest.raises(IntentError) as scoped:
        validate(intent, [changed])
    found = [str(p) for p in full.value.problems]
    assert sorted(str(p) for p in scoped.value.problems) == sorted(found)
    return found


def kinds(intent: Intent) -> list[str]:
    with pytest.raises(IntentError) as info:
        validate(intent)
    return [p.kind for p in info.value.problems]


# ---- endpoints in a segment ---------------------------------------------------------------------------------


def test_two_endpoints_of_a_segment_cannot_share_an_ip() -> None:
    key = Key(Kind.ENDPOINT, DEMO, NET, "e2")
    intent = put(demo_tenant(), key, endpoint("e2", "osvdev0013", 300, "10.66.16.2", "fa:16:3e:00:00:02"))
    assert problems(intent, key) == [
        f"tenant {DEMO} segment {NET} endpoint e2 ips: 10.66.16.2 is already used by endpoint {SEED_ENDPOINT}"
    ]
    assert kinds(intent) == ["conflict"]


def test_the_same_ip_in_two_segments_and_equal_numbers_of_two_ip_versions_are_fine() -> None:
    intent = put(demo_tenant(), Key(Kind.SEGMENT, DEMO, "net_b"), Segment(name="net_b"))
    intent = put(
        intent,
        Key(Kind.ENDPOINT, DEMO, "net_b", "b1"),
        endpoint("b1", "osvdev0013", 301, "10.66.16.2", "fa:16:3e:00:00:03"),
    )
    # ::a42:1002 is 10.66.16.2 as a number; a different address all the same
    intent = put(
        intent,
        Key(Kind.ENDPOINT, DEMO, "net_b", "b2"),
        endpoint("b2", "osvdev0013", 301, "::a42:1002", "fa:16:3e:00:00:04"),
    )
    validate(intent)


def test_an_endpoint_outside_every_subnet_of_a_dual_stack_segment() -> None:
    router = LogicalRouter(
        interfaces=[SegmentInterface(segment=NET, ip_addresses=["10.66.16.1/24", "2001:db8:66::1/64"])],
        tenant_interfaces=["system"],
    )
    intent = put(demo_tenant(), Key(Kind.LOGICAL_ROUTER, DEMO), router)
    validate(intent)
    key = Key(Kind.ENDPOINT, DEMO, NET, "e6")
    inside = put(intent, key, endpoint("e6", "osvdev0013", 300, "2001:db8:66::6", "fa:16:3e:00:00:06"))
    validate(inside, [key])
    outside = put(intent, key, endpoint("e6", "osvdev0013", 300, "2001:db8:67::6", "fa:16:3e:00:00:06"))
    assert problems(outside, key) == [
        f"tenant {DEMO} segment {NET} endpoint e6 ips: 2001:db8:67::6 is outside the segment's subnet "
        "10.66.16.0/24, 2001:db8:66::/64"
    ]


def test_an_endpoint_on_a_segment_without_a_gateway_may_have_any_address() -> None:
    intent = put(demo_tenant(), Key(Kind.SEGMENT, DEMO, "net_b"), Segment(name="net_b"))
    key = Key(Kind.ENDPOINT, DEMO, "net_b", "b1")
    validate(put(intent, key, endpoint("b1", "osvdev0013", 301, "192.0.2.7", "fa:16:3e:00:00:03")), [key])


# ---- the topology -------------------------------------------------------------------------------------------


def test_a_port_serves_one_link_or_one_interface_group() -> None:
    intent = pod(servers={"osvdev0013": "leaf1"})  # leaf1 swp49 is cabled to spine1, swp1 serves osvdev0013
    key = Key(Kind.INTERFACE_GROUP, name="h2")
    taken = put(intent, key, InterfaceGroup(name="h2", members=[Port(switch="leaf1", interface="swp49")]))
    assert problems(taken, key) == [
        "interface-group h2 members: port leaf1:swp49 is already used by link leaf1:swp49-spine1:swp1"
    ]
    assert kinds(taken) == ["conflict"]
    twice = put(intent, key, InterfaceGroup(name="h2", members=[Port(switch="leaf1", interface="swp1")]))
    assert problems(twice, key) == [
        "interface-group osvdev0013 members: port leaf1:swp1 is already used by interface-group h2"
    ]
    link = Link(a=Port(switch="leaf2", interface="swp49"), b=Port(switch="spine2", interface="swp9"))
    cabled = put(intent, Key(Kind.LINK, name=link.key), link)
    assert problems(cabled, Key(Kind.LINK, name=link.key)) == [
        "link leaf2:swp49-spine2:swp9 interface: port leaf2:swp49 is already used by link leaf2:swp49-spine1:swp2"
    ]


def test_links_join_a_leaf_to_a_spine_that_exist() -> None:
    intent = pod()
    for a, b, message in [
        ("leaf1", "leaf2", ": a link joins a leaf to a spine"),
        ("spine1", "spine2", ": a link joins a leaf to a spine"),
        ("leaf1", "spine9", " switch: switch spine9 does not exist"),
    ]:
        link = Link(a=Port(switch=a, interface="swp60"), b=Port(switch=b, interface="swp60"))
        key = Key(Kind.LINK, name=link.key)
        assert problems(put(intent, key, link), key) == [f"link {link.key}{message}"]


def test_interface_groups_attach_to_existing_leaves() -> None:
    intent = pod()
    key = Key(Kind.INTERFACE_GROUP, name="h")
    assert problems(put(intent, key, InterfaceGroup(name="h", members=[])), key) == [
        "interface-group h members: needs at least one leaf port"
    ]
    on_spine = InterfaceGroup(name="h", members=[Port(switch="spine1", interface="swp30")])
    assert problems(put(intent, key, on_spine), key) == [
        "interface-group h members: spine1 is a spine; servers attach to leaves"
    ]
    nowhere = InterfaceGroup(name="h", members=[Port(switch="leaf9", interface="swp30")])
    assert problems(put(intent, key, nowhere), key) == ["interface-group h members: switch leaf9 does not exist"]


# ---- routers -------------------------------------------------------------------------------------------------


def _router(*routes: Route, peers: tuple[str, ...] = ("system",)) -> LogicalRouter:
    return LogicalRouter(
        interfaces=[SegmentInterface(segment=NET, ip_addresses=["10.66.16.1/24", "2001:db8:66::1/64"])],
        tenant_interfaces=peers,
        routes=routes,
    )


def test_a_next_hop_is_of_the_ip_version_of_its_prefix() -> None:
    key = Key(Kind.LOGICAL_ROUTER, DEMO)
    v6_via_v4 = put(demo_tenant(), key, _router(Route(prefix="::/0", next_hop=NextHop(ip="10.66.16.254"))))
    assert problems(v6_via_v4, key) == [
        f"tenant {DEMO} logical-router route ::/0: next-hop 10.66.16.254 is not an IPv6 address"
    ]
    v4_via_v6 = put(demo_tenant(), key, _router(Route(prefix="0.0.0.0/0", next_hop=NextHop(ip="2001:db8:66::fe"))))
    assert problems(v4_via_v6, key) == [
        f"tenant {DEMO} logical-router route 0.0.0.0/0: next-hop 2001:db8:66::fe is not an IPv4 address"
    ]
    assert kinds(v4_via_v6) == ["invalid"]
    validate(put(demo_tenant(), key, _router(Route(prefix="::/0", next_hop=NextHop(ip="2001:db8:66::fe")))))


def test_a_router_links_neither_to_itself_nor_to_a_missing_tenant() -> None:
    intent = demo_tenant()
    key = Key(Kind.LOGICAL_ROUTER, DEMO)
    assert problems(put(intent, key, _router(peers=(DEMO,))), key) == [
        f"tenant {DEMO} logical-router interface tenant {DEMO}: a router cannot link to its own tenant"
    ]
    system = Key(Kind.LOGICAL_ROUTER, "system")
    assert problems(put(intent, system, LogicalRouter(tenant_interfaces=["gone"])), system) == [
        "tenant system logical-router interface tenant gone: tenant gone does not exist"
    ]


def test_policy_rules_name_segments_of_their_tenant_and_the_applied_list_exists() -> None:
    from podswitch.model import Match, PolicyList, PolicyRule

    key = Key(Kind.LOGICAL_ROUTER, DEMO)
    rule = PolicyRule(seq=10, action="deny", dst=Match(segment="net_x"))
    router = _router().model_copy(
        update={"policy_lists": (PolicyList(name="pl", rules=(rule,)),), "applied_policy_list": "other"}
    )
    assert problems(put(demo_tenant(), key, router), key) == [
        f"tenant {DEMO} logical-router policy-list pl rule 10: segment net_x does not exist in tenant {DEMO}",
        f"tenant {DEMO} logical-router apply policy-list: policy-list other is not defined",
    ]


# ---- a link declared from the system tenant's side -------------------------------------------------------------


def _two_tenants(system_side: bool) -> tuple[Intent, Key]:
    """demo (10.66.16.0/24, linked to system) and other (10.66.16.128/25) whose link to system is declared
    by tenant system's router (`interface tenant other`) or by other's own router."""
    intent = put(demo_tenant(), Key(Kind.TENANT, "other"), Tenant(name="other"))
    intent = put(intent, Key(Kind.SEGMENT, "other", "net_o"), Segment(name="net_o"))
    gateway = SegmentInterface(segment="net_o", ip_addresses=["10.66.16.129/25"])
    if system_side:
        intent = put(intent, Key(Kind.LOGICAL_ROUTER, "other"), LogicalRouter(interfaces=[gateway]))
        key = Key(Kind.LOGICAL_ROUTER, "system")
        return put(intent, key, LogicalRouter(tenant_interfaces=["other"])), key
    key = Key(Kind.LOGICAL_ROUTER, "other")
    return put(intent, key, LogicalRouter(interfaces=[gateway], tenant_interfaces=["system"])), key


OVERLAP = (
    "overlaps 10.66.16.0/24 of tenant demo.openstack; both meet in tenant system (no NAT), so they must not overlap"
)


def test_subnets_that_meet_in_system_must_not_overlap_when_the_tenant_links_to_system() -> None:
    intent, key = _two_tenants(system_side=False)
    assert problems(intent, key) == [
        f"tenant other logical-router interface tenant system: subnet 10.66.16.128/25 {OVERLAP}"
    ]
    assert kinds(intent) == ["conflict"]


def test_subnets_that_meet_in_system_must_not_overlap_when_system_links_to_the_tenant() -> None:
    # The compiler links a tenant to system when either router declares it: system then routes both subnets.
    intent, key = _two_tenants(system_side=True)
    assert problems(intent, key) == [
        f"tenant system logical-router interface tenant other: subnet 10.66.16.128/25 {OVERLAP}"
    ]
    assert kinds(intent) == ["conflict"]
    # and the change that makes the clash may be other's router getting its gateway
    other = Key(Kind.LOGICAL_ROUTER, "other")
    assert len(problems(intent, other)) == 1


def test_a_tenant_linked_from_system_only_may_overlap_tenants_that_system_does_not_reach() -> None:
    intent, _ = _two_tenants(system_side=True)
    # demo no longer links to system: its subnet and other's no longer meet there
    demo_router = intent.tenants[DEMO].router
    assert demo_router is not None
    unlinked = demo_router.model_copy(update={"tenant_interfaces": (), "routes": ()})
    validate(put(intent, Key(Kind.LOGICAL_ROUTER, DEMO), unlinked))


# ---- claims and ids ------------------------------------------------------------------------------------------


def test_an_endpoint_attachment_claims_its_vlan_like_a_member() -> None:
    intent = put(demo_tenant(), Key(Kind.SEGMENT, DEMO, "net_b"), Segment(name="net_b"))
    key = Key(Kind.ENDPOINT, DEMO, "net_b", "b1")
    clash = put(intent, key, endpoint("b1", "osvdev0013", 300, "10.66.16.9", "fa:16:3e:00:00:09"))
    assert problems(clash, key) == [
        f"tenant {DEMO} segment {NET} interface-group osvdev0013 vlan 300: interface-group osvdev0013 vlan 300 is "
        f"already claimed by tenant {DEMO} segment net_b"
    ]
    assert kinds(clash) == ["conflict"]


def test_endpoint_ids_are_unique_in_an_intent_built_at_once() -> None:
    # put() refuses a second endpoint with a used id; an intent built in one go (a store load, a replace)
    # is checked by validate.
    from podswitch.model import SegmentNode, TenantNode

    seed = demo_tenant()
    demo = seed.tenants[DEMO]
    copy = demo.segments[NET].model_copy(update={"segment": Segment(name="net_b"), "members": {}})
    twice = demo.model_copy(update={"segments": {**demo.segments, "net_b": copy}})
    intent = Intent(tenants={DEMO: twice})
    assert isinstance(copy, SegmentNode) and isinstance(twice, TenantNode)
    with pytest.raises(IntentError) as info:
        validate(intent)
    found = [(str(p), p.kind) for p in info.value.problems]
    duplicate = (
        f"tenant {DEMO} segment net_b endpoint {SEED_ENDPOINT} id: is already used in tenant {DEMO} segment {NET}"
    )
    assert (duplicate, "conflict") in found, found


# ---- what a scoped validation looks at ---------------------------------------------------------------------------


def test_keys_of_deleted_objects_are_validated_without_error() -> None:
    # after a delete, the API validates the changed keys: their tenant or segment may be gone
    intent = demo_tenant()
    validate(
        intent,
        [
            Key(Kind.ENDPOINT, "gone", "s", "e"),
            Key(Kind.MEMBER, DEMO, "gone", "g:5"),
            Key(Kind.LOGICAL_ROUTER, "gone"),
            Key(Kind.TENANT, "gone"),
            Key(Kind.ENDPOINT, DEMO, NET, "gone"),
        ],
    )


def test_a_deleted_tenant_among_the_changes_does_not_hide_the_problems_of_the_others() -> None:
    key = Key(Kind.LOGICAL_ROUTER, DEMO)
    bad = put(demo_tenant(), key, _router(Route(prefix="::/0", next_hop=NextHop(ip="10.66.16.254"))))
    with pytest.raises(IntentError) as info:
        validate(bad, [Key(Kind.TENANT, "a-gone-tenant"), key])  # the deleted one sorts first
    assert [p.message for p in info.value.problems] == ["next-hop 10.66.16.254 is not an IPv6 address"]


def test_a_problem_is_reported_once_when_several_changes_reach_it() -> None:
    key = Key(Kind.ENDPOINT, DEMO, NET, "e2")
    intent = put(demo_tenant(), key, endpoint("e2", "osvdev0013", 300, "10.66.16.2", "fa:16:3e:00:00:02"))
    with pytest.raises(IntentError) as info:
        validate(intent, [key, Key(Kind.LOGICAL_ROUTER, DEMO), Key(Kind.TENANT, DEMO)])
    assert [p.message for p in info.value.problems] == [f"10.66.16.2 is already used by endpoint {SEED_ENDPOINT}"]


def test_the_first_and_last_address_of_an_ipv6_subnet_are_inside_it() -> None:
    router = LogicalRouter(interfaces=[SegmentInterface(segment=NET, ip_addresses=["2001:db8:66::1/64"])])
    intent = put(demo_tenant(), Key(Kind.LOGICAL_ROUTER, DEMO), router)
    intent = put(
        intent,
        Key(Kind.ENDPOINT, DEMO, NET, SEED_ENDPOINT),
        endpoint(SEED_ENDPOINT, "osvdev0013", 300, "2001:db8:66::2", "fa:16:3e:ef:4f:f4"),
    )
    for address in ("2001:db8:66::", "2001:db8:66:0:ffff:ffff:ffff:ffff"):
        key = Key(Kind.ENDPOINT, DEMO, NET, "edge")
        validate(put(intent, key, endpoint("edge", "osvdev0013", 300, address, "fa:16:3e:00:00:0e")), [key])
    for address in ("2001:db8:65:ffff:ffff:ffff:ffff:ffff", "2001:db8:66:1::"):
        key = Key(Kind.ENDPOINT, DEMO, NET, "edge")
        found = problems(put(intent, key, endpoint("edge", "osvdev0013", 300, address, "fa:16:3e:00:00:0e")), key)
        assert found == [
            f"tenant {DEMO} segment {NET} endpoint edge ips: {address} is outside the segment's subnet 2001:db8:66::/64"
        ]


def test_the_same_host_prefix_in_two_tenants_meets_in_system() -> None:
    intent = demo_tenant()
    for tenant in ("t1", "t2"):
        intent = put(intent, Key(Kind.TENANT, tenant), Tenant(name=tenant))
        intent = put(intent, Key(Kind.SEGMENT, tenant, "s"), Segment(name="s"))
        gateway = SegmentInterface(segment="s", ip_addresses=["192.0.2.9/32"])
        key = Key(Kind.LOGICAL_ROUTER, tenant)
        intent = put(intent, key, LogicalRouter(interfaces=[gateway], tenant_interfaces=["system"]))
    assert problems(intent, key) == [
        "tenant t2 logical-router interface tenant system: subnet 192.0.2.9/32 overlaps 192.0.2.9/32 of tenant t1; "
        "both meet in tenant system (no NAT), so they must not overlap"
    ]


def test_system_own_subnets_meet_the_linked_tenants() -> None:
    intent = put(demo_tenant(), Key(Kind.SEGMENT, "system", "uplink"), Segment(name="uplink"))
    key = Key(Kind.LOGICAL_ROUTER, "system")
    clash = put(
        intent, key, LogicalRouter(interfaces=[SegmentInterface(segment="uplink", ip_addresses=["10.66.0.1/16"])])
    )
    assert problems(clash, key) == [
        f"tenant {DEMO} logical-router interface tenant system: subnet 10.66.16.0/24 overlaps 10.66.0.0/16 of tenant "
        "system; both meet in tenant system (no NAT), so they must not overlap"
    ]


# ---- the kind of each problem: "conflict" (409) when it clashes with another object, else "invalid" (422) ----


def _router_with(**fields: object) -> Intent:
    return put(demo_tenant(), Key(Kind.LOGICAL_ROUTER, DEMO), _router().model_copy(update=fields))


def _group(*ports: tuple[str, str]) -> Intent:
    group = InterfaceGroup(name="h", members=[Port(switch=s, interface=i) for s, i in ports])
    return put(pod(), Key(Kind.INTERFACE_GROUP, name="h"), group)


def _link(a: str, b: str) -> Intent:
    link = Link(a=Port(switch=a, interface="swp60"), b=Port(switch=b, interface="swp60"))
    return put(pod(), Key(Kind.LINK, name=link.key), link)


def _endpoint(ip: str, mac: str) -> Intent:
    return put(demo_tenant(), Key(Kind.ENDPOINT, DEMO, NET, "e2"), endpoint("e2", "osvdev0013", 300, ip, mac))


KINDS = {
    "link to a missing switch": (lambda: _link("leaf1", "spine9"), "conflict"),
    "link between two leaves": (lambda: _link("leaf1", "leaf2"), "conflict"),
    "interface-group without ports": (lambda: _group(), "invalid"),
    "interface-group on a missing switch": (lambda: _group(("leaf9", "swp1")), "conflict"),
    "interface-group on a spine": (lambda: _group(("spine1", "swp30")), "conflict"),
    "interface on a missing segment": (
        lambda: _router_with(interfaces=(SegmentInterface(segment="nope", ip_addresses=["10.1.0.1/24"]),)),
        "conflict",
    ),
    "two interfaces overlap": (
        lambda: _router_with(
            interfaces=(SegmentInterface(segment=NET, ip_addresses=["10.66.16.1/24", "10.66.16.129/25"]),)
        ),
        "conflict",
    ),
    "link to a missing tenant": (
        lambda: put(demo_tenant(), Key(Kind.LOGICAL_ROUTER, "system"), LogicalRouter(tenant_interfaces=["nope"])),
        "conflict",
    ),
    "link to system": (lambda: _router_with(tenant_interfaces=("system",)), None),
    "link between two tenants": (lambda: _router_with(tenant_interfaces=("system", "t2")), "invalid"),
    "next-hop tenant without its link": (
        lambda: _router_with(
            tenant_interfaces=(), routes=(Route(prefix="0.0.0.0/0", next_hop=NextHop(tenant="system")),)
        ),
        "conflict",
    ),
    "next-hop off every subnet": (
        lambda: _router_with(routes=(Route(prefix="10.9.0.0/16", next_hop=NextHop(ip="10.70.0.1")),)),
        "conflict",
    ),
    "next-hop of the other IP version": (
        lambda: _router_with(routes=(Route(prefix="10.9.0.0/16", next_hop=NextHop(ip="2001:db8:66::9")),)),
        "invalid",
    ),
    "a link to its own tenant": (lambda: _router_with(tenant_interfaces=("system", DEMO)), "invalid"),
    "an endpoint on the gateway address": (lambda: _endpoint("10.66.16.1", "fa:16:3e:00:00:02"), "conflict"),
    "an endpoint with a used MAC": (lambda: _endpoint("10.66.16.3", "fa:16:3e:ef:4f:f4"), "conflict"),
    "an endpoint outside the subnet": (lambda: _endpoint("10.66.99.3", "fa:16:3e:00:00:02"), "conflict"),
}


@pytest.mark.parametrize("case", list(KINDS), ids=slug)
def test_each_problem_has_its_kind(case: str) -> None:
    build, kind = KINDS[case]
    intent = build()
    if kind is None:
        validate(intent)
        return
    assert kinds(intent) == [kind], case


def test_policy_problems_are_conflicts() -> None:
    from podswitch.model import Match, PolicyList, PolicyRule

    rule = PolicyRule(seq=10, action="deny", dst=Match(segment="net_x"))
    intent = _router_with(policy_lists=(PolicyList(name="pl", rules=(rule,)),), applied_policy_list="other")
    assert kinds(intent) == ["conflict", "conflict"]


def test_gateway_and_mac_problems_name_the_endpoint_and_field() -> None:
    key = Key(Kind.ENDPOINT, DEMO, NET, "e2")
    assert problems(_endpoint("10.66.16.1", "fa:16:3e:ef:4f:f4"), key) == [
        f"tenant {DEMO} segment {NET} endpoint e2 ips: 10.66.16.1 is the segment's gateway address",
        f"tenant {DEMO} segment {NET} endpoint e2 mac: fa:16:3e:ef:4f:f4 is already used by endpoint {SEED_ENDPOINT}",
    ]


# ---- scoped validation over several changes --------------------------------------------------------------------


def test_every_changed_part_reports_its_problems() -> None:
    intent = _link("leaf1", "leaf2")  # a topology problem
    intent = put(
        demo_tenant(intent),
        Key(Kind.LOGICAL_ROUTER, DEMO),
        _router(Route(prefix="::/0", next_hop=NextHop(ip="10.66.16.254"))),  # a router problem
    )
    intent = put(intent, Key(Kind.TENANT, "t2"), Tenant(name="t2"))
    intent = put(intent, Key(Kind.SEGMENT, "t2", "s"), Segment(name="s"))
    duplicate = endpoint("x2", "h9", 7, "10.0.0.2", "fa:16:3e:00:00:21")
    intent = put(intent, Key(Kind.ENDPOINT, "t2", "s", "x1"), endpoint("x1", "h9", 7, "10.0.0.2", "fa:16:3e:00:00:20"))
    intent = put(intent, Key(Kind.ENDPOINT, "t2", "s", "x2"), duplicate)  # a segment problem
    link_key = next(k for k, _ in intent.objects() if k.kind == Kind.LINK and "leaf2:swp60" in k.name)
    with pytest.raises(IntentError) as info:
        validate(intent, [link_key, Key(Kind.LOGICAL_ROUTER, DEMO), Key(Kind.ENDPOINT, "t2", "s", "x2")])
    assert sorted(p.message for p in info.value.problems) == [
        "10.0.0.2 is already used by endpoint x1",
        "a link joins a leaf to a spine",
        "next-hop 10.66.16.254 is not an IPv6 address",
    ]


def test_a_router_change_checks_the_endpoints_of_its_segments_against_it() -> None:
    key = Key(Kind.LOGICAL_ROUTER, DEMO)
    moved = put(
        demo_tenant(), key, LogicalRouter(interfaces=[SegmentInterface(segment=NET, ip_addresses=["10.66.17.1/24"])])
    )
    with pytest.raises(IntentError) as info:
        validate(moved, [key])
    assert [str(p) for p in info.value.problems] == [
        f"tenant {DEMO} segment {NET} endpoint {SEED_ENDPOINT} ips: 10.66.16.2 is outside the segment's subnet "
        "10.66.17.0/24"
    ]


def test_an_overlap_is_blamed_on_the_router_that_changed() -> None:
    # t2's /16 contains demo's /24: the API's answer to the change of t2 names t2, not demo
    intent = put(demo_tenant(), Key(Kind.TENANT, "t2"), Tenant(name="t2"))
    intent = put(intent, Key(Kind.SEGMENT, "t2", "s"), Segment(name="s"))
    key = Key(Kind.LOGICAL_ROUTER, "t2")
    wide = LogicalRouter(
        interfaces=[SegmentInterface(segment="s", ip_addresses=["10.66.0.1/16"])], tenant_interfaces=["system"]
    )
    with pytest.raises(IntentError) as info:
        validate(put(intent, key, wide), [key])
    assert [p.object for p in info.value.problems] == ["tenant t2 logical-router"]


# ---- referrers ---------------------------------------------------------------------------------------------------


def test_referrers_list_every_reference() -> None:
    from podswitch.model import Match, PolicyList, PolicyRule, referrers

    intent = pod(demo_tenant(), servers={"osvdev0013": "leaf1", "h2": "leaf1"})
    rules = (
        PolicyRule(seq=10, action="deny", src=Match(segment=NET)),
        PolicyRule(seq=20, action="permit", dst=Match(segment=NET)),
        PolicyRule(seq=30, action="permit"),
    )
    router = _router(Route(prefix="0.0.0.0/0", next_hop=NextHop(tenant="system"))).model_copy(
        update={"policy_lists": (PolicyList(name="pl", rules=rules),)}
    )
    intent = put(intent, Key(Kind.LOGICAL_ROUTER, DEMO), router)
    intent = put(intent, Key(Kind.TENANT, "t2"), Tenant(name="t2"))
    intent = put(intent, Key(Kind.LOGICAL_ROUTER, "t2"), LogicalRouter(tenant_interfaces=["system"]))
    intent = put(intent, Key(Kind.SEGMENT, "t2", "s"), Segment(name="s"))
    intent = put(intent, Key(Kind.MEMBER, "t2", "s", "osvdev0013:301"), Member(interface_group="osvdev0013", vlan=301))
    assert referrers(intent, Key(Kind.SEGMENT, DEMO, NET)) == [
        f"tenant {DEMO} logical-router interface segment {NET}",
        f"tenant {DEMO} logical-router policy-list pl rule 10",
        f"tenant {DEMO} logical-router policy-list pl rule 20",
    ]
    assert referrers(intent, Key(Kind.SEGMENT, "nope", "s")) == []
    assert referrers(intent, Key(Kind.INTERFACE_GROUP, name="osvdev0013")) == [
        f"tenant {DEMO} segment {NET} (vlan 300)",
        "tenant t2 segment s (vlan 301)",
    ]
    assert sorted(referrers(intent, Key(Kind.SWITCH, name="leaf1"))) == [
        "interface-group h2",
        "interface-group osvdev0013",
        "link leaf1:swp49-spine1:swp1",
        "link leaf1:swp50-spine2:swp1",
    ]
    assert referrers(intent, Key(Kind.TENANT, "system")) == [
        f"tenant {DEMO} logical-router interface tenant system",
        f"tenant {DEMO} logical-router route 0.0.0.0/0",
        "tenant t2 logical-router interface tenant system",
    ]
    assert referrers(intent, Key(Kind.TENANT, "t2")) == []


def test_tenants_link_to_each_other_only_through_system() -> None:
    intent = put(demo_tenant(), Key(Kind.TENANT, "t2"), Tenant(name="t2"))
    key = Key(Kind.LOGICAL_ROUTER, DEMO)
    assert problems(put(intent, key, _router(peers=("system", "t2"))), key) == [
        f"tenant {DEMO} logical-router interface tenant t2: tenants link only to tenant system, the way between tenants"
    ]
