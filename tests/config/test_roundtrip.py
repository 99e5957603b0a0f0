"""Text -> intent -> text: the seed byte for byte, and every valid intent hypothesis can draw."""

from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, given, settings

from podswitch.config import parse, render
from podswitch.model import (
    SYSTEM,
    Attachment,
    Endpoint,
    Intent,
    Key,
    Kind,
    LogicalRouter,
    Member,
    NextHop,
    Route,
    Segment,
    SegmentInterface,
    Tenant,
    validate,
)
from tests.builders import SEED_PATH
from tests.strategies import intents

SEED = SEED_PATH
SEED_TEXT = SEED.read_text()
DEMO = "demo.openstack"
NET = "net_demo"
PORT = "0485e7a0-198f-4b88-a877-ca79d3e882bc"

HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def objects(intent: Intent) -> dict[Key, object]:
    return dict(intent.objects())


# ---- the seed -------------------------------------------------------------------------------------------


def test_seed_round_trips_byte_for_byte() -> None:
    assert SEED_TEXT.endswith("!\n") is False and SEED_TEXT.endswith("\n")
    assert render(parse(SEED_TEXT)) == SEED_TEXT


def test_seed_parses_to_the_demo_tenant() -> None:
    intent = parse(SEED_TEXT)
    expected = {
        Key(Kind.TENANT, DEMO): Tenant(name=DEMO, id="1a2cf63967ca4f26ae5356bb2e6c818c", origination="openstack"),
        Key(Kind.LOGICAL_ROUTER, DEMO): LogicalRouter(
            interfaces=(SegmentInterface(segment=NET, ip_addresses=("10.66.16.1/24",)),),
            tenant_interfaces=(SYSTEM,),
            routes=(Route(prefix="0.0.0.0/0", next_hop=NextHop(tenant=SYSTEM)),),
        ),
        Key(Kind.SEGMENT, DEMO, NET): Segment(
            name=NET, id="5310d836-c170-4fda-882c-8a61324d90c6", origination="openstack"
        ),
        Key(Kind.ENDPOINT, DEMO, NET, PORT): Endpoint(
            id=PORT,
            attachment_point=Attachment(interface_group="osvdev0013", vlan=300),
            ips=(ipaddress.ip_address("10.66.16.2"),),
            mac="fa:16:3e:ef:4f:f4",
            origination="openstack",
        ),
        Key(Kind.MEMBER, DEMO, NET, "osvdev0013:300"): Member(
            interface_group="osvdev0013", vlan=300, origination="openstackdev"
        ),
        Key(Kind.TENANT, SYSTEM): Tenant(name=SYSTEM),
    }
    assert objects(intent) == expected
    assert intent.topology.switches == {}


def test_system_tenant_is_printed_only_when_configured() -> None:
    intent = parse("tenant system\n")
    assert render(intent) == ""
    assert list(intent.tenants) == [SYSTEM]
    configured = parse("tenant system\n  origination fabric\n")
    assert render(configured) == "tenant system\n  origination fabric\n"


def test_empty_text_is_the_empty_intent() -> None:
    for text in ("", "\n", "!\n", "  \n! nothing here\n"):
        intent = parse(text)
        assert objects(intent) == objects(Intent())
        assert render(intent) == ""


# ---- lenient input, canonical output ---------------------------------------------------------------------

LOOSE = """\
! a comment at the top
tenant demo.openstack

    segment net_demo
        ! comments and blank lines are ignored anywhere
        member interface-group osvdev0013 vlan 0300
        endpoint 0485e7a0-198f-4b88-a877-ca79d3e882bc
              mac FA:16:3E:EF:4F:F4
              ip 10.66.16.2
              attachment-point interface-group osvdev0013 vlan 300
    origination openstack
    logical-router
        policy-list web
            20 deny
            10 permit proto any dst segment net_demo src cidr 10.0.0.0/8
            30 permit proto tcp dst-port 443 src any dst any
        interface tenant system
        route 0.0.0.0/0 next-hop tenant system
        interface segment net_demo
          ip address 10.66.16.1/24
    id 1a2cf63967ca4f26ae5356bb2e6c818c
link leaf2 swp49 spine1 swp2
switch spine1
 fabric-role spine
link spine1 swp1 leaf1 swp49
switch leaf2
 fabric-role leaf
switch leaf1
 fabric-role leaf
"""

CANONICAL = """\
switch leaf1
  fabric-role leaf
!
switch leaf2
  fabric-role leaf
!
switch spine1
  fabric-role spine
!
link leaf1 swp49 spine1 swp1
link leaf2 swp49 spine1 swp2
!
tenant demo.openstack
  id 1a2cf63967ca4f26ae5356bb2e6c818c
  origination openstack
  !
  logical-router
    route 0.0.0.0/0 next-hop tenant system
    interface segment net_demo
      ip address 10.66.16.1/24
    interface tenant system
    policy-list web
      10 permit src cidr 10.0.0.0/8 dst segment net_demo
      20 deny src any dst any
      30 permit proto tcp src any dst any dst-port 443
  !
  segment net_demo
    !
    endpoint 0485e7a0-198f-4b88-a877-ca79d3e882bc
      attachment-point interface-group osvdev0013 vlan 300
      ip 10.66.16.2
      mac fa:16:3e:ef:4f:f4
    !
    member interface-group osvdev0013 vlan 300
"""


def test_loose_input_renders_canonically() -> None:
    # Any indentation deeper than the parent, any order of children, comments, blank lines, defaults for
    # src/dst/proto, upper-case MACs, leading zeros in a VLAN: all come out in the one canonical form.
    text = render(parse(LOOSE))
    assert text == CANONICAL.replace("  segment net_demo\n    !\n", "  segment net_demo\n")
    assert render(parse(text)) == text


def test_crlf_line_ends_are_accepted() -> None:
    assert render(parse(SEED_TEXT.replace("\n", "\r\n"))) == SEED_TEXT


def test_validate_false_accepts_dangling_references() -> None:
    text = "tenant t\n  logical-router\n    route 0.0.0.0/0 next-hop tenant system\n"
    intent = parse(text, validate=False)
    assert render(intent) == text


# ---- generated intents ------------------------------------------------------------------------------------


def loosen(text: str) -> str:
    """The same config written carelessly: deeper indentation, comments and blank lines in between."""
    return "".join(
        ("! note\n" if i % 3 == 0 else "") + ("\n" if i % 4 == 0 else "") + line.replace("  ", "   ") + "\n"
        for i, line in enumerate(text.splitlines())
    )


@HYPOTHESIS
@given(intents())
def test_generated_intents_round_trip(intent: Intent) -> None:
    validate(intent)  # the strategy draws valid intents only
    text = render(intent)
    parsed = parse(text)
    assert objects(parsed) == objects(intent)
    assert set(parsed.objects()) == set(intent.objects())
    assert render(parsed) == text
    assert render(parse(loosen(text))) == text


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(intents(max_tenants=5, max_segments=4, max_endpoints=6))
def test_larger_generated_intents_round_trip(intent: Intent) -> None:
    text = render(intent)
    parsed = parse(text)
    assert objects(parsed) == objects(intent)
    assert render(parsed) == text
