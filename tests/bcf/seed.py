"""The seed's objects as Neutron holds them (ids and addresses of examples/seed-running-config.txt), and the
in-house L3 plugin's config-tree calls (bcf-api.md §1) for them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.builders import SEED_PATH

PROJECT_ID = "1a2cf63967ca4f26ae5356bb2e6c818c"
PROJECT = "demo"
TENANT = "demo.openstack"
NETWORK_ID = "5310d836-c170-4fda-882c-8a61324d90c6"
NETWORK = "net_demo"
SUBNET_ID = "9c1d5c2e-6a57-4d0e-9a55-0b9a8d2f7a11"
PORT_ID = "0485e7a0-198f-4b88-a877-ca79d3e882bc"
MAC = "fa:16:3e:ef:4f:f4"
HOST = "osvdev0013"
VLAN = 300


def network(name: str = NETWORK, network_id: str = NETWORK_ID, vlan: int = VLAN) -> dict[str, Any]:
    """What `_get_mapped_network_with_subnets` sends: the Neutron network with its subnets."""
    return {
        "id": network_id,
        "name": name,
        "tenant_id": PROJECT_ID,
        "tenant_name": PROJECT,
        "state": "UP",
        "shared": False,
        "provider:network_type": "vlan",
        "provider:physical_network": "physnet1",
        "provider:segmentation_id": vlan,
        "subnets": [
            {
                "id": SUBNET_ID,
                "network_id": network_id,
                "tenant_id": PROJECT_ID,
                "cidr": "10.66.16.0/24",
                "gateway_ip": "10.66.16.1",
                "ip_version": 4,
                "enable_dhcp": True,
            }
        ],
        "gateway": "10.66.16.1",
        "router:external": False,
        "segmentation_types": "vlan",
    }


def port(
    port_id: str = PORT_ID, ip: str = "10.66.16.2", mac: str = MAC, host: str = HOST, net: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What the mechanism driver's `_prepare_port_for_controller` sends: the bound port, its network and
    its bound segment."""
    net = net or network()
    return {
        "id": port_id,
        "name": "",
        "network_id": net["id"],
        "tenant_id": PROJECT_ID,
        "tenant_name": PROJECT,
        "mac_address": mac,
        "device_id": "6f0d1a9e-5d4c-4b3a-9e8f-7a6b5c4d3e2f",
        "device_owner": "compute:nova",
        "fixed_ips": [{"subnet_id": SUBNET_ID, "ip_address": ip}],
        "binding:host_id": host,
        "binding:vif_type": "ovs",
        "binding:vnic_type": "normal",
        "state": "UP",
        "network": net,
        "bound_segment": {
            "id": "b3c0d9e1-0000-4000-8000-000000000300",
            "network_type": "vlan",
            "physical_network": "physnet1",
            "segmentation_id": net["provider:segmentation_id"],
        },
    }


def seed_block(with_router: bool = True) -> str:
    """The seed's tenant block (without its logical-router part, when not `with_router`)."""
    text = SEED_PATH.read_text()
    if with_router:
        return text
    lines = text.splitlines(keepends=True)
    start = lines.index("  logical-router\n")
    end = lines.index("  !\n", start)
    return "".join(lines[:start] + lines[end + 1 :])


def tenant_block(running_config: str, tenant: str) -> str:
    """One tenant's block of running-config text, without the `!` that ends it."""
    lines = running_config.splitlines(keepends=True)
    start = lines.index(f"tenant {tenant}\n")
    end = start + 1
    while end < len(lines) and lines[end] != "!\n" and not lines[end].startswith("tenant "):
        end += 1
    return "".join(lines[start:end])


BASE = "/api/v1/data/controller/applications/bcf/"


def l3_create(
    tenant: str = TENANT, segment: str = NETWORK, gateway: str = "10.66.16.1/24"
) -> list[tuple[str, str, Any]]:
    """The in-house plugin's calls for one new network with a subnet (its create net steps 1-4 and the
    subnet's gateway), after its two reads, as (method, unquoted path, body)."""
    t = f'tenant[name="{tenant}"]/logical-router'
    return [
        ("GET", f'tenant[origination="{tenant.rpartition(".")[2]}"]', {}),
        ("GET", 'tenant[name="system"]/logical-router/tenant-interface', {}),
        (
            "PUT",
            f'tenant[name="system"]/logical-router/tenant-interface[remote-tenant="{tenant}"]',
            {"remote-tenant": tenant},
        ),
        ("PUT", f'{t}/tenant-interface[remote-tenant="system"]', {"remote-tenant": "system"}),
        (
            "PUT",
            f'{t}/static-route[dst-ip-subnet="0.0.0.0/0"]',
            {"next-hop": {"tenant": "system"}, "dst-ip-subnet": "0.0.0.0/0"},
        ),
        ("PUT", f'{t}/segment-interface[segment="{segment}"]', {"segment": segment}),
        ("PUT", f'{t}/segment-interface[segment="{segment}"]/ip-subnet[ip-cidr="{gateway}"]', {"ip-cidr": gateway}),
    ]


def l3_delete(
    tenant: str = TENANT, segment: str = NETWORK, gateway: str = "10.66.16.1/24"
) -> list[tuple[str, str, Any]]:
    """The plugin's delete subnet, then delete net steps 1-5."""
    t = f'tenant[name="{tenant}"]/logical-router'
    return [
        ("DELETE", f'{t}/segment-interface[segment="{segment}"]/ip-subnet[ip-cidr="{gateway}"]', {}),
        ("DELETE", f'{t}/segment-interface[segment="{segment}"]', {}),
        ("GET", f"{t}/segment-interface", {}),
        ("DELETE", f'{t}/static-route[dst-ip-subnet="0.0.0.0/0"]', {}),
        ("DELETE", f'tenant[name="system"]/logical-router/tenant-interface[remote-tenant="{tenant}"]', {}),
        ("DELETE", f'{t}/tenant-interface[remote-tenant="system"]', {}),
    ]


def wire(path: str) -> str:
    """As the plugin sends a path: `urllib.quote`d, `/` kept."""
    return BASE + quote(path, safe="/")
