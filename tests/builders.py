"""Intents built the way an operator would: a POD topology and the seed's demo tenant."""

from __future__ import annotations

from pathlib import Path

from podswitch.model import (
    Attachment,
    Endpoint,
    Intent,
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
    Switch,
    Tenant,
    put,
)

# The seed's running-config, as copied byte for byte from ../shared/fixtures into the project.
SEED_PATH = Path(__file__).resolve().parents[1] / "examples" / "seed-running-config.txt"
DEMO = "demo.openstack"
SEED_ENDPOINT = "0485e7a0-198f-4b88-a877-ca79d3e882bc"


def pod(
    intent: Intent | None = None, spines: int = 2, leaves: int = 4, servers: dict[str, str] | None = None
) -> Intent:
    """spine1..N, leaf1..M, leaf{l}:swp{48+s} <-> spine{s}:swp{l}; servers: interface-group -> leaf."""
    intent = intent or Intent()
    for s in range(1, spines + 1):
        intent = put(intent, Key(Kind.SWITCH, name=f"spine{s}"), Switch(name=f"spine{s}", role="spine"))
    for leaf in range(1, leaves + 1):
        intent = put(intent, Key(Kind.SWITCH, name=f"leaf{leaf}"), Switch(name=f"leaf{leaf}", role="leaf"))
        for s in range(1, spines + 1):
            link = Link(
                a=Port(switch=f"leaf{leaf}", interface=f"swp{48 + s}"),
                b=Port(switch=f"spine{s}", interface=f"swp{leaf}"),
            )
            intent = put(intent, Key(Kind.LINK, name=link.key), link)
    ports: dict[str, int] = {}
    for group, leaf in (servers or {}).items():
        ports[leaf] = ports.get(leaf, 0) + 1
        ig = InterfaceGroup(name=group, members=[Port(switch=leaf, interface=f"swp{ports[leaf]}")])
        intent = put(intent, Key(Kind.INTERFACE_GROUP, name=group), ig)
    return intent


def demo_tenant(intent: Intent | None = None) -> Intent:
    """The seed's running-config example, object by object."""
    intent = intent or Intent()
    intent = put(
        intent,
        Key(Kind.TENANT, DEMO),
        Tenant(name=DEMO, id="1a2cf63967ca4f26ae5356bb2e6c818c", origination="openstack"),
    )
    intent = put(
        intent,
        Key(Kind.SEGMENT, DEMO, "net_demo"),
        Segment(name="net_demo", id="5310d836-c170-4fda-882c-8a61324d90c6", origination="openstack"),
    )
    intent = put(
        intent,
        Key(Kind.LOGICAL_ROUTER, DEMO),
        LogicalRouter(
            routes=[Route(prefix="0.0.0.0/0", next_hop=NextHop(tenant="system"))],
            interfaces=[SegmentInterface(segment="net_demo", ip_addresses=["10.66.16.1/24"])],
            tenant_interfaces=["system"],
        ),
    )
    intent = put(
        intent,
        Key(Kind.ENDPOINT, DEMO, "net_demo", SEED_ENDPOINT),
        Endpoint(
            id=SEED_ENDPOINT,
            attachment_point=Attachment(interface_group="osvdev0013", vlan=300),
            ips=["10.66.16.2"],
            mac="fa:16:3e:ef:4f:f4",
            origination="openstack",
        ),
    )
    intent = put(
        intent,
        Key(Kind.MEMBER, DEMO, "net_demo", "osvdev0013:300"),
        Member(interface_group="osvdev0013", vlan=300, origination="openstackdev"),
    )
    return intent


def endpoint(eid: str, group: str, vlan: int, ip: str, mac: str) -> Endpoint:
    return Endpoint(id=eid, attachment_point=Attachment(interface_group=group, vlan=vlan), ips=[ip], mac=mac)


FULL_CONFIG = """\
switch leaf1
  fabric-role leaf
  management-address 192.0.2.11
!
switch leaf2
  fabric-role leaf
  management-address 2001:db8:ff::12
!
switch spine1
  fabric-role spine
!
interface-group osvdev0013
  member switch leaf1 interface swp1
  member switch leaf2 interface swp1
!
interface-group uplink0
  member switch leaf2 interface swp48
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
    route 172.16.0.0/12 next-hop ip 10.66.16.254
    interface segment net_demo
      ip address 10.66.16.1/24
      ip address 2001:db8:66::1/64
    interface segment net_web
      ip address 10.66.17.1/24
    interface tenant system
    policy-list web
      10 permit proto tcp src segment net_demo dst segment net_web src-port 1024-65535 dst-port 443
      20 permit proto udp src cidr 10.0.0.0/8 dst any dst-port 53
      30 deny src any dst cidr 2001:db8::/32
    apply policy-list web
  !
  segment net_demo
    id 5310d836-c170-4fda-882c-8a61324d90c6
    origination openstack
    !
    endpoint 0485e7a0-198f-4b88-a877-ca79d3e882bc
      attachment-point interface-group osvdev0013 vlan 300
      ip 10.66.16.2
      ip 2001:db8:66::2
      mac fa:16:3e:ef:4f:f4
      origination openstack
    !
    member interface-group osvdev0013 vlan 300
      origination openstackdev
  !
  segment net_web
    endpoint web1
      attachment-point interface-group osvdev0013 vlan 301
      ip 10.66.17.2
      mac fa:16:3e:00:00:02
!
tenant system
  origination fabric
  !
  logical-router
    route 198.51.100.0/24 next-hop ip 192.0.2.2
    interface segment uplink
      ip address 192.0.2.1/24
  !
  segment uplink
    endpoint world
      attachment-point interface-group uplink0 vlan 100
      ip 192.0.2.2
      mac fa:16:3e:99:00:01
    !
    member interface-group uplink0 vlan 100
"""
"""Running-config that uses every line of the grammar and every field of every model object (canonical:
`render(parse(FULL_CONFIG)) == FULL_CONFIG`)."""


def slug(value: object) -> str:
    """A test id of plain ASCII without blanks (mutmut passes node ids back to pytest on its command line)."""
    import re

    text = value if isinstance(value, str) else repr(value)
    text = text.encode("ascii", "backslashreplace").decode()
    return re.sub(r"[^A-Za-z0-9_.:-]+", "_", text).strip("_")[:48] or "empty"
