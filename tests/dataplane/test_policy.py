"""Policy lists with real packets (fabric/policy.py); every check runs as soon as the agents report the
change applied, without any grace period: an applied list filters what the tenant's router
forwards between its segments, rules in ascending seq, first match wins, anything unmatched is dropped;
rules are stateless (each direction of a flow is judged on its own); traffic to a gateway address is not
forwarded and never filtered.

Tenant pol, three routed segments: sa (a1 on leaf1), sb (b1 on leaf2, b2 on leaf1), sc (c1 on leaf3); and
the seed's demo tenant with the world behind tenant system, for lists on the way out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab.conftest import Lab

from .conftest import DEMO, SEED_EP, apply_and_sync, running_lab
from .probe import (
    Flood,
    assert_hitless,
    in_echos,
    leaf_of,
    never_reaches,
    reaches,
    slice_ns,
    udp_echo,
    udp_probe,
)

pytestmark = [pytest.mark.netns, pytest.mark.slow]

ROUTER = """\
tenant pol
  logical-router
    interface segment sa
      ip address 10.66.40.1/24
    interface segment sb
      ip address 10.66.41.1/24
    interface segment sc
      ip address 10.66.42.1/24
{policy}\
"""
SEGMENTS = """\
  !
  segment sa
    endpoint a1
      attachment-point interface-group compute-a vlan 500
      ip 10.66.40.11
      mac fa:16:3e:40:00:11
  !
  segment sb
    endpoint b1
      attachment-point interface-group compute-b vlan 501
      ip 10.66.41.12
      mac fa:16:3e:41:00:12
    !
    endpoint b2
      attachment-point interface-group compute-a vlan 501
      ip 10.66.41.11
      mac fa:16:3e:41:00:11
  !
  segment sc
    endpoint c1
      attachment-point interface-group compute-c vlan 502
      ip 10.66.42.13
      mac fa:16:3e:42:00:13
"""
A1, B1, B2, C1 = "10.66.40.11", "10.66.41.12", "10.66.41.11", "10.66.42.13"


def config(*rules: str, applied: bool = True, demo: str = DEMO) -> str:
    """The demo tenant and the world, and tenant pol with policy-list `guard` made of `rules` (applied
    unless told otherwise)."""
    if not rules:
        return demo + ROUTER.format(policy="") + SEGMENTS
    policy = "    policy-list guard\n" + "".join(f"      {r}\n" for r in rules)
    if applied:
        policy += "    apply policy-list guard\n"
    return demo + ROUTER.format(policy=policy) + SEGMENTS


CONFIG = config()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, CONFIG, "policy") as lab:
        assert [leaf_of(lab, g) for g in ("compute-a", "compute-b", "compute-c")] == ["leaf1", "leaf2", "leaf3"]
        yield lab


@pytest.fixture
def pol(lab: Lab) -> Iterator[Lab]:
    """The lab with no policy list; put back after the test."""
    try:
        yield lab
    finally:
        apply_and_sync(lab, CONFIG)


def udp_echoes(lab: Lab, src: str, dst_ep: str, dst: str, port: int, count: int = 3) -> tuple[int, int]:
    """(datagrams that arrived at dst_ep, echoes that came back to src)."""
    with udp_echo(lab, dst_ep, port) as server:
        back = udp_probe(lab, src, dst, port, count)
        arrived = server.stop()
    return arrived, back


def test_without_a_policy_list_everything_is_forwarded(lab: Lab) -> None:
    reaches(lab, "a1", B1)
    reaches(lab, "a1", B2)
    reaches(lab, "a1", C1)
    reaches(lab, "b1", A1)
    reaches(lab, "c1", B1)
    assert udp_echoes(lab, "a1", "b1", B1, 5001) == (3, 3)


def test_deny_icmp_from_a_to_b_blocks_exactly_that_and_permit_lets_it_through(pol: Lab) -> None:
    lab = pol
    apply_and_sync(lab, config("10 deny proto icmp src segment sa dst segment sb", "20 permit src any dst any"))
    before = {ep: in_echos(lab, ep) for ep in ("a1", "b1", "b2", "c1")}
    never_reaches(lab, "a1", B1)  # across leaves: dropped by leaf1's slice
    never_reaches(lab, "a1", B2)  # on the same leaf
    assert in_echos(lab, "b1") == before["b1"] and in_echos(lab, "b2") == before["b2"]
    # What the rule does not say still passes: A -> C, B -> C, C -> B, UDP from A to B, A to B's gateway
    reaches(lab, "a1", C1)
    reaches(lab, "b1", C1)
    reaches(lab, "c1", B1)
    reaches(lab, "a1", "10.66.41.1")  # the router's own address: not forwarded, not filtered
    reaches(lab, "b1", B2)  # within segment sb: bridged, never seen by the router
    assert udp_echoes(lab, "a1", "b1", B1, 5001) == (3, 3)
    # Stateless: B -> A echo requests are permitted (they arrive at a1), their replies are ICMP from A to
    # B and dropped.
    before_a1 = in_echos(lab, "a1")
    never_reaches(lab, "b1", A1)
    assert in_echos(lab, "a1") - before_a1 == 3

    apply_and_sync(lab, config("10 permit proto icmp src segment sa dst segment sb", "20 permit src any dst any"))
    reaches(lab, "a1", B1)
    reaches(lab, "a1", B2)
    reaches(lab, "b1", A1)


def test_an_applied_list_drops_what_no_rule_permits(pol: Lab) -> None:
    lab = pol
    apply_and_sync(
        lab,
        config(
            "10 permit proto icmp src segment sa dst segment sb", "20 permit proto icmp src segment sb dst segment sa"
        ),
    )
    reaches(lab, "a1", B1)
    reaches(lab, "b1", A1)
    before = in_echos(lab, "c1")
    never_reaches(lab, "a1", C1)
    never_reaches(lab, "b1", C1)
    assert in_echos(lab, "c1") == before
    assert udp_echoes(lab, "a1", "b1", B1, 5001) == (0, 0)  # not ICMP: no rule permits it
    reaches(lab, "c1", "10.66.42.1")  # its own gateway: not forwarded

    # The same list defined but not applied: everything is forwarded again.
    apply_and_sync(
        lab,
        config(
            "10 permit proto icmp src segment sa dst segment sb",
            "20 permit proto icmp src segment sb dst segment sa",
            applied=False,
        ),
    )
    reaches(lab, "a1", C1)
    assert udp_echoes(lab, "a1", "b1", B1, 5001) == (3, 3)


def test_ports_and_cidrs_match_exactly(pol: Lab) -> None:
    """Deny UDP to b1's address on port 5001 only: another port, another address of the same segment,
    and ICMP to b1 all pass. The first match wins: a permit before the deny overrides it."""
    lab = pol
    apply_and_sync(
        lab, config(f"10 deny proto udp src any dst cidr {B1}/32 dst-port 5001", "20 permit src any dst any")
    )
    assert udp_echoes(lab, "a1", "b1", B1, 5001) == (0, 0)
    assert udp_echoes(lab, "c1", "b1", B1, 5001) == (0, 0)  # src any
    assert udp_echoes(lab, "a1", "b1", B1, 5002) == (3, 3)
    assert udp_echoes(lab, "a1", "b2", B2, 5001) == (3, 3)
    reaches(lab, "a1", B1)

    apply_and_sync(
        lab,
        config(
            "5 permit proto udp src segment sc dst any dst-port 5001",
            f"10 deny proto udp src any dst cidr {B1}/32 dst-port 5001",
            "20 permit src any dst any",
        ),
    )
    assert udp_echoes(lab, "c1", "b1", B1, 5001) == (3, 3)  # rule 5 first
    assert udp_echoes(lab, "a1", "b1", B1, 5001) == (0, 0)  # still rule 10


def test_a_list_filters_traffic_to_and_from_tenant_system(pol: Lab) -> None:
    """The demo tenant denies ICMP to the world's subnet. Its echo requests to the world never leave the
    router; the world's requests come in (they match nothing denied) but the replies are ICMP to the world
    and dropped; UDP to the world and the gateway are untouched."""
    lab, seed, world = pol, SEED_EP[:8], "192.0.2.2"
    reaches(lab, seed, world)
    plist = (
        "    policy-list out\n      10 deny proto icmp src any dst cidr 192.0.2.0/24\n"
        "      20 permit src any dst any\n    apply policy-list out\n"
    )
    demo = DEMO.replace("    interface tenant system\n", "    interface tenant system\n" + plist, 1)
    assert demo != DEMO
    apply_and_sync(lab, config(demo=demo))
    before = {ep: in_echos(lab, ep) for ep in (seed, "world")}
    never_reaches(lab, seed, world)
    assert in_echos(lab, "world") == before["world"]
    never_reaches(lab, "world", "10.66.16.2")
    assert in_echos(lab, seed) - before[seed] == 3
    reaches(lab, seed, "10.66.16.1")
    assert udp_echoes(lab, seed, "world", world, 5001) == (3, 3)
    reaches(lab, "a1", B1)  # another tenant's router: its own (no) list


def test_changing_the_list_is_atomic_for_the_traffic_it_permits(pol: Lab) -> None:
    """While a1 -> c1 (permitted by every version) and b1 -> c1 flow: the list is applied, its deny rule
    is turned into a permit and back, and it is unapplied again. The ruleset is replaced in one
    transaction each time: no permitted probe is lost on the way."""
    lab = pol
    versions = [
        config("10 deny proto icmp src segment sa dst segment sb", "20 permit src any dst any"),
        config("10 permit proto icmp src segment sa dst segment sb", "20 permit src any dst any"),
        config("10 deny proto icmp src segment sa dst segment sb", "20 permit src any dst any"),
        CONFIG,
    ]
    running = [Flood(lab, "a1", C1), Flood(lab, "b1", C1)]
    try:
        for f in running:
            f.wait_replies(30)
        for text in versions:
            apply_and_sync(lab, text)
            if text != CONFIG:
                ns = slice_ns(lab, "leaf1", "pol")
                assert ns is not None and "podswitch" in lab.exec(ns, "nft", "list", "tables").stdout
        for f in running:
            f.wait_replies(60)
    finally:
        results = [f.stop() for f in running]
    for f, result in zip(running, results, strict=True):
        assert_hitless(result, f.name, 90)
