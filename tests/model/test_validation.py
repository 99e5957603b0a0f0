"""The rules between objects, with the messages an operator sees."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podswitch.model import (
    Endpoint,
    Intent,
    IntentError,
    InUse,
    Key,
    Kind,
    LogicalRouter,
    Member,
    NextHop,
    NotFound,
    Route,
    Segment,
    SegmentInterface,
    Tenant,
    delete,
    put,
    referrers,
    unresolved,
    validate,
)
from tests.builders import DEMO, SEED_ENDPOINT, demo_tenant, endpoint, pod


def problems(intent: Intent, changed: list[Key] | None = None) -> list[str]:
    with pytest.raises(IntentError) as info:
        validate(intent, changed)
    return [str(p) for p in info.value.problems]


def test_seed_is_valid_and_reports_the_unknown_interface_group() -> None:
    intent = demo_tenant()
    validate(intent)
    assert [str(p) for p in unresolved(intent)] == [
        "tenant demo.openstack segment net_demo interface-group osvdev0013 vlan 300: "
        "interface-group osvdev0013 is not in the topology yet"
    ]
    resolved = pod(intent, servers={"osvdev0013": "leaf1"})
    validate(resolved)
    assert unresolved(resolved) == []


def test_system_tenant_always_exists() -> None:
    assert "system" in Intent().tenants
    assert "system" in delete(demo_tenant(), Key(Kind.TENANT, "system")).tenants


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("vlan", 0, "VLAN must be from 1 to 4094, got 0"),
        ("vlan", 4095, "VLAN must be from 1 to 4094, got 4095"),
        ("mac", "01:00:5e:00:00:01", "is a multicast MAC"),
        ("mac", "fa:16:3e:ef:4f", "is not a MAC address"),
        ("ips", ["10.66.16.300"], "is not an IP address"),
    ],
)
def test_field_errors_name_the_problem(field: str, value: object, message: str) -> None:
    body = {
        "id": "e1",
        "attachment_point": {"interface_group": "g", "vlan": 300},
        "ips": ["10.0.0.1"],
        "mac": "fa:16:3e:00:00:01",
    }
    if field == "vlan":
        body["attachment_point"] = {"interface_group": "g", "vlan": value}
    else:
        body[field] = value
    with pytest.raises(ValueError, match=message):
        Endpoint.model_validate(body)


def test_endpoint_ip_must_be_inside_the_router_subnet() -> None:
    intent = put(
        demo_tenant(),
        Key(Kind.ENDPOINT, DEMO, "net_demo", "e2"),
        endpoint("e2", "osvdev0013", 300, "10.66.17.5", "fa:16:3e:00:00:02"),
    )
    assert problems(intent, [Key(Kind.ENDPOINT, DEMO, "net_demo", "e2")]) == [
        "tenant demo.openstack segment net_demo endpoint e2 ips: 10.66.17.5 is outside the segment's subnet "
        "10.66.16.0/24"
    ]


def test_endpoint_may_not_take_the_gateway_or_a_used_ip_or_mac() -> None:
    intent = put(
        demo_tenant(),
        Key(Kind.ENDPOINT, DEMO, "net_demo", "e2"),
        endpoint("e2", "osvdev0013", 300, "10.66.16.1", "fa:16:3e:ef:4f:f4"),
    )
    found = problems(intent)
    assert any("10.66.16.1 is the segment's gateway address" in p for p in found)
    assert any(f"fa:16:3e:ef:4f:f4 is already used by endpoint {SEED_ENDPOINT}" in p for p in found)


def test_two_segments_cannot_claim_the_same_interface_group_and_vlan() -> None:
    intent = put(demo_tenant(), Key(Kind.SEGMENT, DEMO, "net_b"), Segment(name="net_b"))
    intent = put(
        intent, Key(Kind.MEMBER, DEMO, "net_b", "osvdev0013:300"), Member(interface_group="osvdev0013", vlan=300)
    )
    assert problems(intent, [Key(Kind.MEMBER, DEMO, "net_b", "osvdev0013:300")]) == [
        "tenant demo.openstack segment net_demo interface-group osvdev0013 vlan 300: interface-group osvdev0013 "
        "vlan 300 is already claimed by tenant demo.openstack segment net_b"
    ]
    # another VLAN on the same group is fine
    other_vlan = delete(intent, Key(Kind.MEMBER, DEMO, "net_b", "osvdev0013:300"))
    validate(
        put(
            other_vlan,
            Key(Kind.MEMBER, DEMO, "net_b", "osvdev0013:301"),
            Member(interface_group="osvdev0013", vlan=301),
        )
    )
    with pytest.raises(IntentError, match="the object's own name says"):  # the key must match the object
        put(intent, Key(Kind.MEMBER, DEMO, "net_b", "osvdev0013:300"), Member(interface_group="osvdev0013", vlan=301))


def test_router_rules() -> None:
    intent = put(demo_tenant(), Key(Kind.SEGMENT, DEMO, "net_b"), Segment(name="net_b"))
    router = LogicalRouter(
        interfaces=[
            SegmentInterface(segment="net_demo", ip_addresses=["10.66.16.1/24"]),
            SegmentInterface(segment="net_b", ip_addresses=["10.66.16.129/25"]),
            SegmentInterface(segment="net_missing", ip_addresses=["10.9.0.1/24"]),
        ],
        routes=[
            Route(prefix="0.0.0.0/0", next_hop=NextHop(tenant="system")),
            Route(prefix="192.168.0.0/16", next_hop=NextHop(ip="172.16.0.1")),
        ],
    )
    found = problems(put(intent, Key(Kind.LOGICAL_ROUTER, DEMO), router), [Key(Kind.LOGICAL_ROUTER, DEMO)])
    assert any("subnet 10.66.16.0/24 overlaps 10.66.16.128/25 on interface segment net_b" in p for p in found)
    assert any("segment net_missing does not exist in tenant demo.openstack" in p for p in found)
    assert any("next-hop tenant system needs 'interface tenant system'" in p for p in found)
    assert any("next-hop 172.16.0.1 is not on a subnet of this router" in p for p in found)


def test_tenants_link_only_to_system_and_system_meets_no_overlap() -> None:
    intent = put(demo_tenant(), Key(Kind.TENANT, "other"), Tenant(name="other"))
    bad = put(intent, Key(Kind.LOGICAL_ROUTER, "other"), LogicalRouter(tenant_interfaces=[DEMO]))
    assert any("tenants link only to tenant system" in p for p in problems(bad))
    intent = put(intent, Key(Kind.SEGMENT, "other", "net_o"), Segment(name="net_o"))
    overlapping = LogicalRouter(interfaces=[SegmentInterface(segment="net_o", ip_addresses=["10.66.16.1/24"])])
    # overlapping subnets in two tenants are fine while they do not both reach tenant system
    validate(put(intent, Key(Kind.LOGICAL_ROUTER, "other"), overlapping))
    linked = overlapping.model_copy(update={"tenant_interfaces": ("system",)})
    assert any(
        "overlaps 10.66.16.0/24 of tenant demo.openstack" in p
        for p in problems(put(intent, Key(Kind.LOGICAL_ROUTER, "other"), linked))
    )


def test_endpoint_ids_are_unique_in_the_fabric() -> None:
    intent = put(demo_tenant(), Key(Kind.TENANT, "other"), Tenant(name="other"))
    intent = put(intent, Key(Kind.SEGMENT, "other", "s"), Segment(name="s"))
    with pytest.raises(IntentError, match=r"is already used in tenant demo\.openstack segment net_demo"):
        put(
            intent,
            Key(Kind.ENDPOINT, "other", "s", SEED_ENDPOINT),
            endpoint(SEED_ENDPOINT, "g", 5, "10.0.0.1", "fa:16:3e:00:00:09"),
        )


def test_referrers_say_who_still_points_at_an_object() -> None:
    intent = pod(demo_tenant(), servers={"osvdev0013": "leaf1"})
    assert referrers(intent, Key(Kind.SEGMENT, DEMO, "net_demo")) == [
        "tenant demo.openstack logical-router interface segment net_demo"
    ]
    assert referrers(intent, Key(Kind.INTERFACE_GROUP, name="osvdev0013")) == [
        "tenant demo.openstack segment net_demo (vlan 300)"
    ]
    assert "interface-group osvdev0013" in referrers(intent, Key(Kind.SWITCH, name="leaf1"))
    assert referrers(intent, Key(Kind.TENANT, "system")) == [
        "tenant demo.openstack logical-router interface tenant system",
        "tenant demo.openstack logical-router route 0.0.0.0/0",
    ]
    assert referrers(intent, Key(Kind.ENDPOINT, DEMO, "net_demo", SEED_ENDPOINT)) == []
    assert isinstance(InUse("x", ["y"]), Exception)


def test_put_under_a_missing_parent_is_not_found() -> None:
    with pytest.raises(NotFound):
        put(Intent(), Key(Kind.SEGMENT, "nope", "s"), Segment(name="s"))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 255), st.integers(24, 30)), max_size=12))
def test_system_overlap_sweep_finds_exactly_the_overlapping_pairs(nets: list[tuple[str, int, int]]) -> None:
    from podswitch.model.validate import check_system_overlap

    intent = Intent()
    wanted = {}
    for tname, host, plen in nets:
        net = ipaddress.ip_network(f"10.0.0.{host}/{plen}", strict=False)
        wanted.setdefault(tname, set()).add(net)
    for tname, subnets in wanted.items():
        intent = put(intent, Key(Kind.TENANT, tname), Tenant(name=tname))
        ifaces = []
        for i, net in enumerate(sorted(subnets)):
            intent = put(intent, Key(Kind.SEGMENT, tname, f"s{i}"), Segment(name=f"s{i}"))
            ifaces.append(SegmentInterface(segment=f"s{i}", ip_addresses=[f"{net[1]}/{net.prefixlen}"]))
        intent = put(
            intent, Key(Kind.LOGICAL_ROUTER, tname), LogicalRouter(interfaces=ifaces, tenant_interfaces=["system"])
        )
    brute = {
        (t1, str(n1), t2, str(n2))
        for t1, s1 in wanted.items()
        for t2, s2 in wanted.items()
        if t1 != t2
        for n1 in s1
        for n2 in s2
        if n1.overlaps(n2)
    }
    found = {
        (p.object.split()[1], p.message.split()[1], p.message.split()[6].rstrip(";"), p.message.split()[3])
        for p in check_system_overlap(intent, set(wanted))
    }
    assert found == brute
    assert len(check_system_overlap(intent)) * 2 == len(brute)  # once per pair without `only`
