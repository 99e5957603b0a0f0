"""The mapping, pure: Neutron API dicts in, podswitch objects and operations out (no Neutron, no controller)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from networking_podswitch import drift
from networking_podswitch.mapping import (
    Desired,
    Settings,
    View,
    desired,
    keys_of,
    linked_to_system,
    plan,
    segment_names,
    tenant_name,
)

from podswitch.config.render import render_tenant
from podswitch.model import (
    SYSTEM,
    Delete,
    Intent,
    Key,
    Kind,
    LogicalRouter,
    Put,
    apply_changes,
    build,
    delete,
    put,
    validate,
)
from podswitch.model.ops import Change

SEED = Path(__file__).resolve().parents[3] / "examples" / "seed-running-config.txt"
PROJECT = "1a2cf63967ca4f26ae5356bb2e6c818c"
NETWORK = "5310d836-c170-4fda-882c-8a61324d90c6"
PORT = "0485e7a0-198f-4b88-a877-ca79d3e882bc"
SUBNET = "8d1f0a52-5d5e-4a55-9b8e-6f1bb2f0c111"
ROUTER = "c0ffee00-0000-4000-8000-000000000001"


def network(net_id: str, name: str, project: str = PROJECT, physnet: str = "physnet1", **extra: Any) -> dict[str, Any]:
    return {
        "id": net_id,
        "name": name,
        "project_id": project,
        "provider:physical_network": physnet,
        "created_at": extra.pop("created_at", "2026-01-01T00:00:00Z"),
        **extra,
    }


def seed_view(l3: str = "router") -> View:
    """The seed's demo tenant as Neutron holds it."""
    router_port = {
        "id": "r0000000-0000-4000-8000-000000000001",
        "network_id": NETWORK,
        "device_owner": "network:router_interface",
        "device_id": ROUTER,
        "fixed_ips": [{"subnet_id": SUBNET, "ip_address": "10.66.16.1"}],
    }
    vm_port = {
        "id": PORT,
        "network_id": NETWORK,
        "device_owner": "compute:nova",
        "binding:host_id": "osvdev0013",
        "mac_address": "FA:16:3E:EF:4F:F4",
        "fixed_ips": [{"subnet_id": SUBNET, "ip_address": "10.66.16.2"}],
    }
    return View(
        projects={PROJECT: "demo"},
        networks={NETWORK: network(NETWORK, "net_demo")},
        subnets={SUBNET: {"id": SUBNET, "network_id": NETWORK, "cidr": "10.66.16.0/24", "gateway_ip": "10.66.16.1"}},
        ports={PORT: vm_port, router_port["id"]: router_port},
        routers={ROUTER: {"id": ROUTER, "project_id": PROJECT, "external_gateway_info": {"network_id": "ext"}}},
        vlans={PORT: 300},
        bound={(NETWORK, "osvdev0013"): frozenset({300})},
    )


def intent_of(want: Desired) -> Intent:
    """What the controller would hold after a full sync: the objects, and system's lines to them."""
    intent = build(want.objects.items())
    system = linked_to_system(None, dict.fromkeys(want.linked, True))
    return put(intent, Key(Kind.LOGICAL_ROUTER, SYSTEM), system) if system is not None else intent


def test_the_seeds_demo_tenant_in_router_mode_renders_as_the_seed() -> None:
    want = desired(seed_view(), Settings())
    intent = intent_of(want)
    validate(intent)
    # The seed's member says `origination openstackdev` (a typo of the operators'); ours is the origination.
    expected = SEED.read_text().replace("origination openstackdev", "origination openstack")
    assert render_tenant("demo.openstack", intent.tenants["demo.openstack"]).rstrip("\n") == expected.rstrip("\n")
    assert intent.tenants[SYSTEM].router is not None
    assert intent.tenants[SYSTEM].router.tenant_interfaces == ("demo.openstack",)


def test_subnet_mode_routes_every_subnet_without_a_router() -> None:
    view = seed_view()
    view = View(**{**view.__dict__, "routers": {}})
    assert Key(Kind.LOGICAL_ROUTER, "demo.openstack") not in desired(view, Settings()).objects
    want = desired(view, Settings(l3_mode="subnet"))
    router = want.objects[Key(Kind.LOGICAL_ROUTER, "demo.openstack")]
    assert isinstance(router, LogicalRouter)
    assert [(i.segment, [str(a) for a in i.ip_addresses]) for i in router.interfaces] == [
        ("net_demo", ["10.66.16.1/24"])
    ]
    assert router.tenant_interfaces == (SYSTEM,)
    assert [(str(r.prefix), r.next_hop.tenant) for r in router.routes] == [("0.0.0.0/0", SYSTEM)]
    assert "demo.openstack" in want.linked


def test_subnet_mode_leaves_excluded_physical_networks_alone() -> None:
    view = View(**{**seed_view().__dict__, "routers": {}})
    want = desired(view, Settings(l3_mode="subnet", exclude_physical_networks=frozenset({"physnet1"})))
    assert Key(Kind.LOGICAL_ROUTER, "demo.openstack") not in want.objects
    assert Key(Kind.SEGMENT, "demo.openstack", "net_demo") in want.objects  # still a segment: only not routed
    assert not want.linked


def test_extra_routes_need_a_next_hop_on_a_connected_subnet() -> None:
    view = seed_view()
    router = {
        **view.routers[ROUTER],
        "routes": [
            {"destination": "192.168.0.0/16", "nexthop": "10.66.16.254"},
            {"destination": "172.16.0.0/12", "nexthop": "10.99.0.1"},  # on no interface of the router
        ],
    }
    want = desired(View(**{**view.__dict__, "routers": {ROUTER: router}}), Settings())
    logical = want.objects[Key(Kind.LOGICAL_ROUTER, "demo.openstack")]
    assert isinstance(logical, LogicalRouter)
    assert sorted((str(r.prefix), str(r.next_hop)) for r in logical.routes) == [
        ("0.0.0.0/0", "tenant system"),
        ("192.168.0.0/16", "ip 10.66.16.254"),
    ]


def test_names() -> None:
    assert tenant_name(PROJECT, "demo", "openstack") == "demo.openstack"
    assert tenant_name(PROJECT, "my project", "openstack") == f"{PROJECT}.openstack"  # no podswitch name
    assert tenant_name(PROJECT, None, "openstack") == f"{PROJECT}.openstack"
    older = network("n1", "web", created_at="2026-01-01T00:00:00Z")
    newer = network("n2", "web", created_at="2026-01-02T00:00:00Z")
    odd = network("n3", "not a name")
    assert segment_names([newer, odd, older]) == {"n1": "web", "n2": "n2", "n3": "n3"}


def test_plan_removes_what_moved_and_puts_what_the_tags_cover() -> None:
    want = desired(seed_view(), Settings())
    member_h2 = Key(Kind.MEMBER, "demo.openstack", "net_demo", "osvdev0014:300")
    steps = plan(want, [f"port:{PORT}", f"member:{NETWORK}:osvdev0013"], [member_h2])
    assert steps.operations == [
        Delete(member_h2, missing_ok=True),
        Put(
            Key(Kind.MEMBER, "demo.openstack", "net_demo", "osvdev0013:300"),
            want.objects[Key(Kind.MEMBER, "demo.openstack", "net_demo", "osvdev0013:300")],
        ),
        Put(
            Key(Kind.ENDPOINT, "demo.openstack", "net_demo", PORT),
            want.objects[Key(Kind.ENDPOINT, "demo.openstack", "net_demo", PORT)],
        ),
    ]
    assert steps.links == {}
    gone = plan(desired(View(), Settings()), [f"project:{PROJECT}"], keys_of(want, [f"tenant:{PROJECT}"]))
    assert [op.key.kind for op in gone.operations] == [
        Kind.ENDPOINT,
        Kind.MEMBER,
        Kind.LOGICAL_ROUTER,
        Kind.SEGMENT,
        Kind.TENANT,
    ]
    assert gone.links == {"demo.openstack": False}


def test_drift_sees_missing_different_extra_and_links() -> None:
    want = desired(seed_view(), Settings())
    have = dict(want.objects)
    endpoint = Key(Kind.ENDPOINT, "demo.openstack", "net_demo", PORT)
    del have[endpoint]
    member = Key(Kind.MEMBER, "demo.openstack", "net_demo", "osvdev0013:300")
    have[member] = have[member].model_copy(update={"vlan": 301})
    stale = Key(Kind.ENDPOINT, "demo.openstack", "net_demo", "gone")
    have[stale] = want.objects[endpoint].model_copy(update={"id": "gone"})
    found = drift.compare(want, have, system_lines=[])
    assert (found.missing, found.different, found.extra, found.links) == (
        [endpoint],
        [member],
        [stale],
        ["demo.openstack"],
    )
    tags, old = drift.repairs(want, found, limit=2)
    assert (tags, old) == ({f"member:{NETWORK}:osvdev0013"}, [stale])  # removals first, then parents first
    assert drift.compare(want, dict(want.objects), ["demo.openstack"]).__len__() == 0


# ---- properties ------------------------------------------------------------------------------------------

HOSTS = ["osvdev0013", "osvdev0014", "compute-3.example.org"]


@st.composite
def views(draw: st.DrawFn) -> View:
    """Projects with VLAN networks (each its own VLAN: Neutron allocates them per physnet), subnets, ports
    bound or not, routers with interfaces and gateways."""
    projects = draw(st.lists(st.sampled_from(["p1", "p2", "p3"]), min_size=1, max_size=3, unique=True))
    names = st.sampled_from(["web", "db", "net_demo", "bad name", ""])
    networks, subnets, ports, routers, vlans = {}, {}, {}, {}, {}
    vlan = 100
    for index in range(draw(st.integers(1, 5))):
        vlan += 1
        net_id = f"net-{index}"
        project = draw(st.sampled_from(projects))
        networks[net_id] = network(net_id, draw(names), project, created_at=f"2026-01-0{draw(st.integers(1, 3))}")
        cidr = ipaddress.ip_network(f"10.{index}.0.0/24")
        subnets[f"sub-{index}"] = {
            "id": f"sub-{index}",
            "network_id": net_id,
            "cidr": str(cidr),
            "gateway_ip": str(cidr[1]),
        }
        for p in range(draw(st.integers(0, 4))):
            port_id = f"port-{index}-{p}"
            host = draw(st.sampled_from([*HOSTS, ""]))
            ports[port_id] = {
                "id": port_id,
                "network_id": net_id,
                "device_owner": "compute:nova",
                "binding:host_id": host,
                "mac_address": f"fa:16:3e:00:{index:02x}:{p:02x}",
                "fixed_ips": [{"subnet_id": f"sub-{index}", "ip_address": str(cidr[10 + p])}],
            }
            if host:
                vlans[port_id] = vlan
        if draw(st.booleans()):
            router_id = f"router-{project}"
            routers.setdefault(
                router_id, {"id": router_id, "project_id": project, "external_gateway_info": None, "routes": []}
            )
            routers[router_id]["external_gateway_info"] = {"network_id": "ext"} if draw(st.booleans()) else None
            ports[f"rif-{index}"] = {
                "id": f"rif-{index}",
                "network_id": net_id,
                "device_owner": "network:router_interface",
                "device_id": router_id,
                "fixed_ips": [{"subnet_id": f"sub-{index}", "ip_address": str(cidr[1])}],
            }
    bound: dict[tuple[str, str], set[int]] = {}
    for port_id, vlan_of in vlans.items():
        port = ports[port_id]
        bound.setdefault((port["network_id"], port["binding:host_id"]), set()).add(vlan_of)
    return View(
        projects={p: draw(st.sampled_from([None, f"name-{p}"])) for p in projects},
        networks=networks,
        subnets=subnets,
        ports=ports,
        routers=routers,
        vlans=vlans,
        bound={k: frozenset(v) for k, v in bound.items()},
    )


def applied(intent: Intent, operations: list[Any], links: dict[str, bool]) -> Intent:
    for op in operations:
        if isinstance(op, Put):
            intent = put(intent, op.key, op.obj)
        elif intent.get(op.key) is not None:
            intent = delete(intent, op.key)
    system = intent.tenants[SYSTEM].router
    lines = linked_to_system(system, links)
    return put(intent, Key(Kind.LOGICAL_ROUTER, SYSTEM), lines) if lines is not None else intent


@settings(max_examples=150, deadline=None)
@given(views(), st.sampled_from(["router", "subnet"]))
def test_a_full_sync_builds_a_valid_intent_of_exactly_the_desired_objects(view: View, mode: str) -> None:
    want = desired(view, Settings(l3_mode=mode))
    every = {t for tags in want.tags.values() for t in tags}
    intent = applied(Intent(), plan(want, every).operations, plan(want, every).links)
    validate(intent)
    assert dict(intent.originated("openstack")) == want.objects
    # every bound port's host is a member of its network's segment on its VLAN, and every member has a port
    members = {(k.tenant, k.segment, k.name) for k in want.objects if k.kind == Kind.MEMBER}
    expected = set()
    names = {}
    for net_id, net in view.networks.items():
        same = [n for n in view.networks.values() if n["project_id"] == net["project_id"]]
        names[net_id] = (want.tenants[net["project_id"]], segment_names(same)[net_id])
    for port_id, vlan in view.vlans.items():
        port = view.ports[port_id]
        tname, sname = names[port["network_id"]]
        expected.add((tname, sname, f"{port['binding:host_id']}:{vlan}"))
    assert members == expected
    # sending it again changes nothing
    again = applied(intent, plan(want, every).operations, plan(want, every).links)
    assert dict(again.originated("openstack")) == dict(intent.originated("openstack"))
    assert again.tenants[SYSTEM].router == intent.tenants[SYSTEM].router


@settings(max_examples=100, deadline=None)
@given(views(), views(), st.sampled_from(["router", "subnet"]))
def test_rows_with_old_paths_turn_one_state_into_the_next(before: View, after: View, mode: str) -> None:
    """What a row does: put what the tags cover now, delete what was there and is no longer wanted."""
    config = Settings(l3_mode=mode)
    first, second = desired(before, config), desired(after, config)
    every = {t for d in (first, second) for tags in d.tags.values() for t in tags}
    intent = applied(Intent(), plan(first, every).operations, plan(first, every).links)
    step = plan(second, every, list(first.objects))
    intent = applied(intent, step.operations, step.links)
    validate(intent)
    assert dict(intent.originated("openstack")) == second.objects
    system = intent.tenants[SYSTEM].router
    assert set(system.tenant_interfaces if system else ()) == set(second.linked)


def test_changes_replay() -> None:
    """A guard that `applied` is the model's own semantics: replaying its diff gives the same intent."""
    want = desired(seed_view(), Settings())
    every = {t for tags in want.tags.values() for t in tags}
    intent = applied(Intent(), plan(want, every).operations, plan(want, every).links)
    from podswitch.model import diff

    changes: list[Change] = diff(Intent(), intent)
    assert apply_changes(Intent(), changes) == intent


@settings(max_examples=100, deadline=None)
@given(views(), views(), st.sampled_from(["router", "subnet"]), st.integers(1, 4))
def test_consistency_repairs_converge_in_bounded_passes_each_applicable(
    before: View, after: View, mode: str, limit: int
) -> None:
    """A controller holding one state, Neutron another: each pass repairs at most `limit` objects, every
    repair applies (parents before children), and the passes end with exactly what Neutron asks for."""
    config = Settings(l3_mode=mode)
    first, want = desired(before, config), desired(after, config)
    every = {t for tags in first.tags.values() for t in tags}
    intent = applied(Intent(), plan(first, every).operations, plan(first, every).links)
    passes = 0
    while True:
        system = intent.tenants[SYSTEM].router
        found = drift.compare(want, dict(intent.originated("openstack")), system.tenant_interfaces if system else ())
        if not len(found):
            break
        passes += 1
        assert passes <= 200
        tags, old = drift.repairs(want, found, limit)
        assert 0 < len(tags) + len(old) <= limit
        step = plan(want, tags, old)
        intent = applied(intent, step.operations, step.links)  # raises if a child came before its parent
    validate(intent)
    assert dict(intent.originated("openstack")) == want.objects
