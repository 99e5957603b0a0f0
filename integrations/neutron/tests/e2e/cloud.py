"""What the tests and the benchmark do through openstacksdk, as a cloud's users and Nova do it."""

from __future__ import annotations

import uuid
from typing import Any

from openstack.connection import Connection

from .deployment import PHYSNET

COMPUTE_HOST = "osvdev0013"  # the seed's compute node, where the stand-in OVS agent runs


def provider_network(
    conn: Connection, project_id: str, name: str, vlan: int, cidr: str, *, external: bool = False, **subnet: Any
) -> tuple[Any, Any]:
    """A VLAN provider network on physnet1 (as the seed's operators ran them) and its subnet; `external`:
    the cloud's way out (router:external), where routers have their gateways."""
    net = conn.network.create_network(
        name=name,
        project_id=project_id,
        is_router_external=external,
        provider_network_type="vlan",
        provider_physical_network=PHYSNET,
        provider_segmentation_id=vlan,
    )
    sub = conn.network.create_subnet(network_id=net.id, project_id=project_id, ip_version=4, cidr=cidr, **subnet)
    return net, sub


def vm_port(conn: Connection, project_id: str, network_id: str, name: str, **port: Any) -> Any:
    """A port as Nova asks for one for a VM on osvdev0013: bound to the host, owned by a compute instance."""
    return conn.network.create_port(
        network_id=network_id,
        project_id=project_id,
        name=name,
        binding_host_id=COMPUTE_HOST,
        device_owner="compute:nova",
        device_id=str(uuid.uuid4()),
        **port,
    )
