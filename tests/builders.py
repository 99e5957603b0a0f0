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
