"""The lab's plan: which switches, links and servers the POD has, where servers are cabled, and how
endpoints are realised. Pure functions, no namespaces."""

from __future__ import annotations

import pytest

from podswitch.config import parse
from podswitch.controller import apply_operations
from podswitch.lab.layout import (
    EXTERNAL,
    EndpointSpec,
    Place,
    Shape,
    endpoint_specs,
    layout,
    resolve,
    server_vlans,
    short_names,
    topology_operations,
)
from podswitch.model import Intent, InterfaceGroup, Key, Kind, Port, Put, Switch, put
from podswitch.model.ops import apply_changes, diff
from podswitch.model.paths import path_of
from tests.builders import DEMO, SEED_ENDPOINT, demo_tenant, endpoint, pod


def _apply_writes(intent: Intent, lab) -> Intent:  # type: ignore[no-untyped-def]
    """What the controller holds after the lab's transaction (applied as the controller applies it)."""
    return apply_operations(intent, topology_operations(intent, lab))


def topology_writes(intent: Intent, lab) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """The lab's operations as (PUT|DELETE, the object's API path)."""
    return [
        ("PUT" if isinstance(op, Put) else "DELETE", "/v1" + path_of(op.key)) for op in topology_operations(intent, lab)
    ]


def test_default_pod_has_two_spines_four_leaves_and_a_full_mesh() -> None:
    lab = layout(Intent(), Shape())
    assert sorted(lab.switches) == ["leaf1", "leaf2", "leaf3", "leaf4", "spine1", "spine2"]
    assert len(lab.links) == 8
    assert "leaf3:swp50-spine2:swp3" in lab.links
    assert lab.switches["spine1"].role.value == "spine"


def test_seed_gets_a_server_for_its_interface_group_and_external_on_the_border_leaf() -> None:
    lab = layout(demo_tenant(), Shape())
    assert lab.servers == {"external": Place("leaf4", "swp1"), "osvdev0013": Place("leaf1", "swp1")}
    assert lab.groups["osvdev0013"].members == (Port(switch="leaf1", interface="swp1"),)


def test_external_is_on_the_last_leaf_whatever_the_size() -> None:
    for leaves in (1, 2, 7):
        lab = layout(demo_tenant(), Shape(leaves=leaves))
        assert lab.servers[EXTERNAL].leaf == f"leaf{leaves}"


def test_new_servers_go_to_the_least_loaded_leaf_on_the_next_free_port() -> None:
    lab = layout(Intent(), Shape(leaves=2, servers=("a", "b", "c", "d")))
    # external first (leaf2:swp1), then each new server to the least loaded leaf, lowest leaf on a tie
    assert lab.servers["external"] == Place("leaf2", "swp1")
    loads: dict[str, int] = {}
    for where in lab.servers.values():
        loads[where.leaf] = loads.get(where.leaf, 0) + 1
    assert sorted(loads.values()) == [2, 3]
    assert len({(p.leaf, p.port) for p in lab.servers.values()}) == 5


def test_placement_is_stable_when_servers_come_and_go() -> None:
    shape = Shape(leaves=4)
    intent = demo_tenant()
    first = layout(intent, shape)
    intent = _apply_writes(intent, first)
    # Another compute node appears (Neutron binds a port there) ...
    intent = put(
        intent,
        Key(Kind.ENDPOINT, DEMO, "net_demo", "e2"),
        endpoint("e2", "osvdev0099", 300, "10.66.16.9", "fa:16:3e:00:00:09"),
    )
    second = layout(intent, shape, first.servers)
    for name, where in first.servers.items():
        assert second.servers[name] == where
    assert second.servers["osvdev0099"].leaf in {"leaf2", "leaf3"}  # leaf1 and leaf4 already have one
    # ... and the lab keeps the old placement even when the topology lost its groups (running-config replaced).
    bare = demo_tenant()
    third = layout(bare, shape, second.servers)
    assert third.servers["osvdev0013"] == first.servers["osvdev0013"]


def test_topology_groups_on_lab_leaves_are_respected() -> None:
    intent = pod(demo_tenant(), leaves=4, servers={"osvdev0013": "leaf3"})
    lab = layout(intent, Shape())
    assert lab.servers["osvdev0013"] == Place("leaf3", "swp1")
    assert lab.groups["osvdev0013"] is intent.topology.interface_groups["osvdev0013"]
    assert not [w for w in topology_writes(intent, lab) if "osvdev0013" in w[1]]


def test_groups_on_switches_that_are_not_lab_leaves_are_recabled() -> None:
    intent = put(demo_tenant(), Key(Kind.SWITCH, name="rack9"), Switch(name="rack9", role="leaf"))
    intent = put(
        intent,
        Key(Kind.INTERFACE_GROUP, name="osvdev0013"),
        InterfaceGroup(name="osvdev0013", members=[Port(switch="rack9", interface="eth7")]),
    )
    lab = layout(intent, Shape())
    assert lab.servers["osvdev0013"].leaf.startswith("leaf")
    writes = set(topology_writes(intent, lab))
    assert ("PUT", "/v1/interface-groups/osvdev0013") in writes
    assert ("DELETE", "/v1/switches/rack9") not in writes  # not a lab-named switch: never deleted


def test_writes_are_empty_once_the_topology_holds_the_plan() -> None:
    intent = demo_tenant()
    lab = layout(intent, Shape())
    writes = topology_writes(intent, lab)
    assert [method for method, _ in writes].count("PUT") == 6 + 2 + 8  # switches, groups, links
    # parents first: every switch before any group or link
    kinds = [path.split("/")[2] for _, path in writes]
    assert kinds.index("interface-groups") > max(i for i, k in enumerate(kinds) if k == "switches")
    assert topology_writes(_apply_writes(intent, lab), lab) == []


def test_shrinking_the_pod_deletes_surplus_lab_links_and_switches() -> None:
    intent = demo_tenant()
    big = layout(intent, Shape(leaves=6))
    intent = _apply_writes(intent, big)
    small = layout(intent, Shape(leaves=4), big.servers)
    writes = topology_writes(intent, small)
    deleted = {path for method, path in writes if method == "DELETE"}
    assert "/v1/switches/leaf6" in deleted and "/v1/switches/leaf5" in deleted
    assert "/v1/links/leaf6:swp49-spine1:swp6" in deleted
    # external was on leaf6 (the old border leaf): it moves to the new last leaf
    assert small.servers[EXTERNAL].leaf == "leaf4"
    assert writes.index(next(w for w in writes if w[0] == "DELETE")) > max(
        i for i, w in enumerate(writes) if w[0] != "DELETE"
    )


def test_extra_servers_and_claims_decide_the_servers() -> None:
    lab = layout(demo_tenant(), Shape(servers=("spare1",)))
    assert set(lab.servers) == {"osvdev0013", "spare1", EXTERNAL}
    with pytest.raises(ValueError):
        Shape(leaves=0)


def test_no_free_port_is_an_error_not_a_silent_overlap() -> None:
    with pytest.raises(ValueError, match="no free server port"):
        layout(Intent(), Shape(leaves=1, servers=tuple(f"s{i}" for i in range(48))))


SEED_WITH_SYSTEM = """\
tenant demo.openstack
  logical-router
    route 0.0.0.0/0 next-hop tenant system
    interface segment net_demo
      ip address 10.66.16.1/24
    interface tenant system
  !
  segment net_demo
    !
    endpoint 0485e7a0-198f-4b88-a877-ca79d3e882bc
      attachment-point interface-group osvdev0013 vlan 300
      ip 10.66.16.2
      mac fa:16:3e:ef:4f:f4
  !
  segment plain
    !
    endpoint 0485e7a0-ffff
      attachment-point interface-group osvdev0014 vlan 301
      ip 10.66.99.5
    !
    endpoint p1
      attachment-point interface-group osvdev0013 vlan 302
      ip 172.16.0.9
!
tenant system
  logical-router
    interface segment uplink
      ip address 192.0.2.1/24
  !
  segment uplink
    !
    endpoint world
      attachment-point interface-group external vlan 100
      ip 192.0.2.2
    !
    member interface-group external vlan 100
"""


def test_endpoints_get_the_gateway_subnet_prefix_and_a_default_route() -> None:
    intent = parse(SEED_WITH_SYSTEM)
    lab = layout(intent, Shape())
    specs = endpoint_specs(intent, lab.servers)
    assert specs[SEED_ENDPOINT] == EndpointSpec(
        id=SEED_ENDPOINT,
        tenant="demo.openstack",
        segment="net_demo",
        server="osvdev0013",
        vlan=300,
        mac="fa:16:3e:ef:4f:f4",
        addresses=("10.66.16.2/24",),
        gateways=("10.66.16.1",),
    )
    assert specs["world"].addresses == ("192.0.2.2/24",) and specs["world"].gateways == ("192.0.2.1",)
    # a segment without a gateway: /24 and no default route
    assert specs["0485e7a0-ffff"].addresses == ("10.66.99.5/24",) and specs["0485e7a0-ffff"].gateways == ()
    assert specs["p1"].addresses == ("172.16.0.9/24",) and specs["p1"].gateways == ()
    assert EndpointSpec.from_json(specs["p1"].to_json()) == specs["p1"]
    assert server_vlans(intent, lab.servers) == {"external": [100], "osvdev0013": [300, 302], "osvdev0014": [301]}


def test_endpoint_specs_change_when_the_endpoint_moves() -> None:
    intent = parse(SEED_WITH_SYSTEM)
    before = endpoint_specs(intent, ["osvdev0013", "osvdev0014", "external"])
    moved = intent.find_endpoint("p1")
    assert moved is not None
    after_intent = put(
        intent,
        Key(Kind.ENDPOINT, "demo.openstack", "plain", "p1"),
        moved[2].model_copy(
            update={"attachment_point": moved[2].attachment_point.model_copy(update={"interface_group": "osvdev0014"})}
        ),
    )
    after = endpoint_specs(after_intent, ["osvdev0013", "osvdev0014", "external"])
    assert after["p1"].server == "osvdev0014" and before["p1"] != after["p1"]
    assert {k: v for k, v in after.items() if k != "p1"} == {k: v for k, v in before.items() if k != "p1"}
    assert apply_changes(intent, diff(intent, after_intent)) == after_intent


def test_short_names_are_unique_and_stable() -> None:
    ids = ["0485e7a0-198f-4b88-a877-ca79d3e882bc", "0485e7a0-ffff", "world"]
    first = short_names(ids, {})
    assert first == {
        "0485e7a0-198f-4b88-a877-ca79d3e882bc": "0485e7a0",
        "0485e7a0-ffff": "0485e7a0-2",
        "world": "world",
    }
    # the first one goes: the second keeps its name, a newcomer does not take the freed one's place
    again = short_names(["0485e7a0-ffff", "0485e7a0-zzzz"], first)
    assert again["0485e7a0-ffff"] == "0485e7a0-2"
    assert again["0485e7a0-zzzz"] == "0485e7a0"


def test_resolve_exact_names_prefixes_and_ambiguity() -> None:
    switches = {"leaf1": "psw-leaf1"}
    servers = {"external": "psw-srv-external", "osvdev0013": "psw-srv-osvdev0013"}
    endpoints = {"0485e7a0-198f": "psw-ep-0485e7a0", "0485e7a0-ffff": "psw-ep-0485e7a0-2", "world": "psw-ep-world"}
    assert resolve("leaf1", switches, servers, endpoints).namespace == "psw-leaf1"
    assert resolve("external", switches, servers, endpoints).namespace == "psw-srv-external"
    assert resolve("wor", switches, servers, endpoints).namespace == "psw-ep-world"
    assert resolve("0485e7a0-f", switches, servers, endpoints).namespace == "psw-ep-0485e7a0-2"
    amb = resolve("0485", switches, servers, endpoints)
    assert amb.namespace is None and amb.candidates == ["0485e7a0-198f", "0485e7a0-ffff"]
    assert resolve("nope", switches, servers, endpoints).kind == "unknown"
    assert resolve("", switches, servers, endpoints).kind == "unknown"


def test_demo_config_is_the_seed_plus_the_outside_world() -> None:
    from pathlib import Path

    from podswitch.config import render

    examples = Path(__file__).resolve().parents[2] / "examples"
    seed = (examples / "seed-running-config.txt").read_text()
    demo = (examples / "demo-running-config.txt").read_text()
    assert demo.startswith(seed)  # the seed's tenant, byte for byte
    intent = parse(demo)
    assert render(intent) == demo  # canonical: `show running-config` prints it back unchanged
    lab = layout(intent, Shape())
    specs = endpoint_specs(intent, lab.servers)
    assert specs["world"].server == EXTERNAL and specs["world"].tenant == "system"
    assert specs["world"].addresses == ("192.0.2.2/24",) and specs["world"].gateways == ("192.0.2.1",)
