"""The supervisor's incremental reading of the running-config: re-parsing only the sections that changed
gives the intent a whole parse gives, through every kind of edit. Pure, no namespaces."""

from __future__ import annotations

from podswitch.config import parse, render
from podswitch.lab.controller import IntentReader, sections

TOPOLOGY = """switch leaf1
  fabric-role leaf
!
switch spine1
  fabric-role spine
!
interface-group srv1
  member switch leaf1 interface swp1
!
"""


def tenant(name: str, endpoints: int, vlan: int = 100, subnet: str = "10.1.1") -> str:
    base = 0xAB000000 + 0x10000 * ord(name[0])
    lines = [f"tenant {name}", "  logical-router", "    interface segment net1", f"      ip address {subnet}.1/24"]
    lines += ["  !", "  segment net1", "    !"]
    for i in range(endpoints):
        lines += [
            f"    endpoint {base + i:08x}-0000-4000-8000-{i:012x}",
            f"      attachment-point interface-group srv1 vlan {vlan}",
            f"      ip {subnet}.{10 + i}",
            "    !",
        ]
    return "\n".join([*lines, "!"]) + "\n"


def canonical(text: str) -> str:
    return render(parse(text))


def test_sections_cut_the_rendered_text_into_topology_and_tenants() -> None:
    text = canonical(TOPOLOGY + tenant("a", 2) + tenant("b", 1, vlan=200, subnet="10.1.2"))
    topology, tenants = sections(text)
    assert [name for name, _ in tenants] == ["a", "b"]
    assert parse(topology, validate=False).topology == parse(text).topology
    for name, chunk in tenants:
        assert chunk.startswith(f"tenant {name}\n")
        assert parse(chunk, validate=False).tenants[name] == parse(text).tenants[name]


def test_incremental_parse_equals_a_whole_parse_through_edits() -> None:
    reader = IntentReader()
    steps = [
        "",
        TOPOLOGY,
        TOPOLOGY + tenant("a", 1),
        TOPOLOGY + tenant("a", 2),  # an endpoint more in one tenant
        TOPOLOGY + tenant("a", 2) + tenant("b", 1, vlan=200, subnet="10.1.2"),  # a tenant more
        TOPOLOGY.replace("swp1", "swp2") + tenant("a", 2) + tenant("b", 1, vlan=200, subnet="10.1.2"),  # topology
        TOPOLOGY + tenant("b", 3, vlan=200, subnet="10.1.2"),  # a tenant gone, another changed
        tenant("b", 3, vlan=200, subnet="10.1.2").replace(
            "interface-group srv1", "interface-group srv9"
        ),  # no topology
        "",
    ]
    for step in steps:
        text = canonical(step)
        got = reader.parse(text)
        assert got == parse(text)
        assert render(got) == text


def test_a_text_the_sections_do_not_fit_falls_back_to_a_whole_parse() -> None:
    reader = IntentReader()
    text = canonical(TOPOLOGY + tenant("a", 1))
    assert reader.parse(text) == parse(text)
    odd = text + "tenant\n"  # a tenant line without a name: the whole parse says what is wrong
    try:
        reader.parse(odd)
    except Exception as whole:
        try:
            parse(odd)
        except Exception as expected:
            assert str(whole) == str(expected)
    assert reader.parse(text) == parse(text)
