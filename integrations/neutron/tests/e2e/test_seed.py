"""The seed's demo tenant, made through a real Neutron with openstacksdk, as an operator's cloud makes it:
project `demo`, network `net_demo` (a VLAN provider network), subnet 10.66.16.0/24, a router with a gateway
and an interface on it, and a VM's port bound to compute node osvdev0013 -> `podswitch show running-config`
prints the seed's block, with the ids and the VLAN of this run. Deleting everything leaves nothing of the
tenant in the fabric's intent.

The port is bound by ML2's real `openvswitch` mechanism driver to a STAND-IN OVS agent on osvdev0013
(standin_ovs_agent.py): a process that reports its state to Neutron over RPC exactly as the real agent does
(the real one cannot run on this machine)."""

from __future__ import annotations

import re
from pathlib import Path

from podswitch.client import Client
from podswitch.lab.process import ControllerProcess

from .cloud import provider_network, vm_port
from .deployment import ADMIN_PROJECT, Neutron
from .fabric import cli, poll, tenant_block

SEED = Path(__file__).resolve().parents[4] / "examples" / "seed-running-config.txt"
SEED_VLAN = 300  # as in the seed
CONVERGE = 60.0


def demo_block(project_id: str, network_id: str, port_id: str, mac: str) -> str:
    """The seed's demo tenant block (examples/seed-running-config.txt) with this run's ids and MAC; the
    member's origination is ours (the seed's operators had `openstackdev` there: a second Neutron)."""
    block = tenant_block(SEED.read_text(), "demo.openstack")
    assert block is not None
    for line, value in (
        (r"  id ", project_id),
        (r"    id ", network_id),
        (r"    endpoint ", port_id),
        (r"      mac ", mac),
        (r"      origination ", "openstack"),
    ):
        block = re.sub(rf"^({line})\S+$", rf"\g<1>{value}", block, flags=re.MULTILINE)
    return block


def test_neutron_builds_the_seeds_demo_tenant_and_deleting_everything_leaves_none_of_it(
    neutron: Neutron, ensure_controller: ControllerProcess, ps: Client, project_id: str
) -> None:
    # Without Keystone the project exists by its requests: they carry its id and name as keystonemiddleware
    # would put them (X-Project-Id / X-Project-Name), and Neutron's context hands both to the driver.
    demo = neutron.connection(project_id, "demo")
    admin = neutron.connection()
    ext_net, ext_sub = provider_network(
        admin, ADMIN_PROJECT, "ext_net", SEED_VLAN + 1, "198.51.100.0/24", external=True
    )
    net, sub = provider_network(demo, project_id, "net_demo", SEED_VLAN, "10.66.16.0/24", gateway_ip="10.66.16.1")
    router = demo.network.create_router(
        name="router_demo", project_id=project_id, external_gateway_info={"network_id": ext_net.id}
    )
    demo.network.add_interface_to_router(router, subnet_id=sub.id)
    port = vm_port(demo, project_id, net.id, "vm-demo", fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.66.16.2"}])
    assert port.binding_vif_type == "ovs", f"the openvswitch driver did not bind the port: {port.binding_vif_type}"

    expected = demo_block(project_id, net.id, port.id, port.mac_address)
    poll(
        lambda: tenant_block(ps.running_config()[1], "demo.openstack") == expected,
        CONVERGE,
        f"the controller to hold\n{expected}",
        found=lambda: ps.running_config()[1],
    )
    shown = cli(ensure_controller, "show", "running-config")
    assert shown.returncode == 0, shown.stderr
    assert tenant_block(shown.stdout, "demo.openstack") == expected

    demo.network.delete_port(port)
    demo.network.remove_interface_from_router(router, subnet_id=sub.id)
    demo.network.delete_router(router)
    demo.network.delete_subnet(sub)
    demo.network.delete_network(net)
    admin.network.delete_subnet(ext_sub)
    admin.network.delete_network(ext_net)

    def gone() -> bool:
        text = ps.running_config()[1]
        owned = [o for o in ps.owned("openstack") if o.key.tenant in ("demo.openstack", "admin.openstack")]
        return tenant_block(text, "demo.openstack") is None and project_id not in text and not owned

    poll(gone, CONVERGE, "the demo tenant's intent to be gone", found=lambda: ps.running_config()[1])
    shown = cli(ensure_controller, "show", "running-config")
    assert shown.returncode == 0, shown.stderr
    assert "demo.openstack" not in shown.stdout
    assert project_id not in shown.stdout and net.id not in shown.stdout and port.id not in shown.stdout
