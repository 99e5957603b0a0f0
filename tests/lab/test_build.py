"""The lab's builder on its own, against real namespaces: a server and its endpoints."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from podswitch.agent import netlink as nl
from podswitch.agent import netns
from podswitch.agent.netlink import RtSocket
from podswitch.lab.build import Builder, endpoint_ns, endpoint_port, server_ns, vlan_bridge
from podswitch.lab.layout import EndpointSpec, Place

from .conftest import require_root

pytestmark = pytest.mark.netns

PREFIX = f"psbld{os.getpid() % 10000}-"


@pytest.fixture
def builder() -> Iterator[Builder]:
    require_root()
    with Builder(PREFIX) as b:
        try:
            netns.create(f"{PREFIX}leaf1").close()  # the switch end of the server's trunk
            b.ensure_server("osvdev0013", Place("leaf1", "swp1"), [300])
            yield b
        finally:
            b.close()
            for name in netns.names(PREFIX):
                netns.remove(name)


def spec(mac: str) -> EndpointSpec:
    return EndpointSpec(id="e1", tenant="t", segment="s", server="osvdev0013", vlan=300, mac=mac,
                        addresses=("10.66.16.5/24",), gateways=("10.66.16.1",))  # fmt: skip


def ports(builder: Builder) -> dict[str, int]:
    with RtSocket(server_ns(PREFIX, "osvdev0013")) as rt:
        bridge = rt.get_link(vlan_bridge(300))
        assert bridge is not None
        return {link.name: link.master for link in rt.links() if link.name.startswith("ep-")} | {"": bridge.index}


def test_a_new_endpoint_is_plugged_in_even_over_a_stale_port_of_its_name(builder: Builder) -> None:
    # What an endpoint whose namespace the kernel is still tearing down leaves for a moment: its server port.
    with RtSocket(server_ns(PREFIX, "osvdev0013")) as rt:
        rt.execute([nl.link_op("add", what="stale", ifname=endpoint_port("e1"), kind="veth",
                               info_data=nl.veth_peer("stale0"))])  # fmt: skip
    builder.build_endpoint(spec("02:00:00:00:00:05"), "e1")
    assert netns.exists(endpoint_ns(PREFIX, "e1"))
    seen = ports(builder)
    assert seen == {endpoint_port("e1"): seen[""], "": seen[""]}  # the new cable, in the VLAN's bridge
    # Rebuilt (a changed endpoint): unplugged and plugged again, one port still.
    builder.build_endpoint(spec("02:00:00:00:00:06"), "e1")
    assert ports(builder).keys() == {endpoint_port("e1"), ""}
