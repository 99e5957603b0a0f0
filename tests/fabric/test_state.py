"""The agent contract (fabric/state.py): what the compiler serves is exactly the contract's objects, and the
agent's one parse function gives them back, refusing anything else."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from podswitch.fabric import Compiled, allocate, compile, merged
from podswitch.fabric.state import (
    FORMAT,
    GATEWAY_MAC,
    DesiredState,
    LocalMac,
    SegmentBridge,
    SwitchState,
    ValidationError,
    VlanAttachment,
    parse_desired,
    serialize,
)
from podswitch.model import Key, Kind, put, validate
from tests.builders import DEMO, demo_tenant, endpoint, pod


def two_leaf_seed() -> tuple[Compiled, dict[tuple[str, str], int]]:
    """The seed with a second endpoint of net_demo on leaf2: leaf1's document then has every kind of
    object (ports, routes, attachments, local and remote MACs, bridges, tenant and system slices)."""
    intent = pod(demo_tenant(), servers={"osvdev0013": "leaf1", "osvdev0014": "leaf2", "external": "leaf4"})
    intent = put(
        intent,
        Key(Kind.ENDPOINT, DEMO, "net_demo", "e2"),
        endpoint("e2", "osvdev0014", 300, "10.66.16.3", "fa:16:3e:00:00:02"),
    )
    validate(intent)
    alloc = merged({}, allocate(intent, {}))
    return compile(intent, alloc, 7), alloc


def served(compiled: Compiled, switch: str) -> bytes:
    document = compiled.document(switch)
    assert document is not None
    return document


def test_every_served_document_is_the_serialization_of_what_parse_desired_gives() -> None:
    compiled, _ = two_leaf_seed()
    for switch in compiled.switches:
        document = served(compiled, switch)
        desired = parse_desired(document)
        # Byte for byte: no field the contract lacks, none it has left out, same order, same spelling.
        assert serialize(desired) == document
        assert parse_desired(serialize(desired)) == desired
        assert (desired.format, desired.revision, desired.etag) == (FORMAT, 7, compiled.etag(switch))
        assert desired.state.switch == switch


def test_a_compiled_document_parses_to_the_objects_built_by_hand() -> None:
    compiled, alloc = two_leaf_seed()
    vni = alloc[("segment", f"{DEMO}/net_demo")]
    leaf1 = parse_desired(served(compiled, "leaf1")).state
    assert isinstance(leaf1, SwitchState)
    assert leaf1.attachments == (VlanAttachment("swp1", 300, vni, "swp1.300", "swp1~300"),)
    bridge = next(b for b in leaf1.bridges if b.vni == vni)
    assert isinstance(bridge, SegmentBridge) and isinstance(bridge.flood, tuple)
    assert replace(bridge, remote_macs=()) == SegmentBridge(
        vni, DEMO, "net_demo", f"br{vni}", f"vx{vni}", ("10.255.0.1", "10.255.0.2")
    )
    assert LocalMac(GATEWAY_MAC, f"br{vni}", f"r{vni}") in leaf1.local_macs
    # contract objects are values: equal ones hash alike, so a set of them is a set of states
    assert len({leaf1, parse_desired(served(compiled, "leaf1")).state}) == 1


def _bad(document: bytes, change: Any) -> bytes:
    body = json.loads(document)
    change(body)
    return json.dumps(body).encode()


def _refused(raw: bytes) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_desired(raw)
    return caught.value


def _where(error: ValidationError) -> list[tuple[int | str, ...]]:
    return [e["loc"] for e in error.errors()]


def test_unknown_fields_are_refused_wherever_they_are() -> None:
    compiled, _ = two_leaf_seed()
    document = served(compiled, "leaf1")
    assert _where(_refused(_bad(document, lambda d: d.update(anycast_vteps=[])))) == [("anycast_vteps",)]
    assert _where(_refused(_bad(document, lambda d: d["state"].update(vrfs=[])))) == [("state", "vrfs")]
    error = _refused(_bad(document, lambda d: d["state"]["bridges"][0].update(mtu=1500)))
    assert _where(error) == [("state", "bridges", 0, "mtu")]
    error = _refused(_bad(document, lambda d: d["state"]["slices"][0]["routes"][0].update(metric=10)))
    assert _where(error) == [("state", "slices", 0, "routes", 0, "metric")]


def test_wrong_types_and_missing_fields_are_refused() -> None:
    compiled, _ = two_leaf_seed()
    document = served(compiled, "leaf1")
    cases = {
        ("state", "attachments", 0, "vlan"): lambda d: d["state"]["attachments"][0].update(vlan="300"),
        ("state", "bridges", 0, "vni"): lambda d: d["state"]["bridges"][0].update(vni=10300.0),
        ("state", "bridges", 0, "flood"): lambda d: d["state"]["bridges"][0].update(flood="10.255.0.1"),
        ("state", "loopback"): lambda d: d["state"].update(loopback=1),
        ("state", "slices", 0, "routes", 0, "kind"): lambda d: d["state"]["slices"][0]["routes"][0].update(kind="x"),
        ("format",): lambda d: d.update(format=0),
        ("etag",): lambda d: d.pop("etag"),
        ("state", "local_macs", 0, "dev"): lambda d: d["state"]["local_macs"][0].pop("dev"),
    }
    for where, change in cases.items():
        assert _where(_refused(_bad(document, change))) == [where], where
    assert _refused(b"{not json").error_count() == 1
    assert _refused(document[:-1]).error_count() == 1  # truncated


def test_the_document_carries_the_one_format() -> None:
    compiled, _ = two_leaf_seed()
    state = SwitchState(switch="leaf9", role="leaf")
    assert DesiredState(revision=1, etag="e", state=state).format == FORMAT
    assert all(parse_desired(served(compiled, s)).format == FORMAT for s in compiled.switches)
