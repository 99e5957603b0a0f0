"""With the emulated POD running (`podswitch lab up`: switches, agents and servers in network namespaces), a
port Neutron binds to osvdev0013 becomes a real endpoint behind that server, and it pings its gateway: the
whole path from an openstacksdk call to packets, through Neutron, the journal, the controller, the agents
and the kernel.

The port is bound by ML2's real `openvswitch` driver to a STAND-IN OVS agent (standin_ovs_agent.py: a
process that reports its state over RPC exactly as the real agent does). Needs root (namespaces); run under
`flock /tmp/podswitch-netns.lock` beside other namespace tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from podswitch.agent import netns
from podswitch.client import Client
from podswitch.lab import control
from podswitch.lab import statefile as lab_state
from podswitch.lab.process import ControllerProcess

from .cloud import provider_network, vm_port
from .deployment import Neutron
from .fabric import cli, poll

LAB_TIMEOUT = 180.0


@pytest.fixture
def lab(ensure_controller: ControllerProcess) -> Iterator[tuple[ControllerProcess, str]]:
    """`podswitch lab up` (1 spine, 2 leaves) on the session's controller; `lab down` after, and no
    namespace of its prefix left."""
    if os.geteuid() != 0:
        pytest.fail("needs root: the lab builds network namespaces (make test runs as root)")
    assert shutil.which("ip") and shutil.which("ping"), "iproute2 and iputils-ping (scripts/system-deps.sh)"
    prefix = f"psne{os.getpid()}-"
    up = cli(ensure_controller, "lab", "up", "--prefix", prefix, "--spines", "1", "--leaves", "2", "--timeout", "150")
    try:
        assert up.returncode == 0, f"podswitch lab up failed:\n{up.stdout}\n{up.stderr}"
        yield ensure_controller, prefix
    finally:
        down = cli(ensure_controller, "lab", "down", "--prefix", prefix)
        control.down(ensure_controller.data_dir, prefix)  # in-process too: idempotent
        assert down.returncode == 0, down.stderr
        assert netns.names(prefix) == [], f"namespaces left behind: {netns.names(prefix)}"


def endpoint_namespace(data_dir: Path, endpoint_id: str) -> str | None:
    """The namespace the lab built for the endpoint, once built without error."""
    state = lab_state.load(lab_state.lab_dir(data_dir))
    ep = state.endpoints.get(endpoint_id) if state is not None else None
    return ep["netns"] if ep and not ep.get("error") and netns.exists(ep["netns"]) else None


def pings(namespace: str, address: str) -> bool:
    argv = ["ip", "netns", "exec", namespace, "ping", "-n", "-q", "-c", "1", "-W", "1", address]
    return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 0


def test_a_port_neutron_binds_becomes_an_endpoint_that_pings_its_gateway(
    neutron: Neutron, lab: tuple[ControllerProcess, str], ps: Client, project_id: str
) -> None:
    controller, _ = lab
    conn = neutron.connection(project_id, "lab")
    net, sub = provider_network(conn, project_id, "net_lab", 340, "10.66.48.0/24", gateway_ip="10.66.48.1")
    router = conn.network.create_router(name="router_lab", project_id=project_id)
    conn.network.add_interface_to_router(router, subnet_id=sub.id)
    port = vm_port(conn, project_id, net.id, "vm-lab", fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.66.48.10"}])
    assert port.binding_vif_type == "ovs"

    namespace = poll(
        lambda: endpoint_namespace(controller.data_dir, port.id),
        LAB_TIMEOUT,
        f"the lab to build endpoint {port.id}",
        found=lambda: ps.running_config()[1],
    )
    poll(lambda: pings(namespace, "10.66.48.1"), 60, f"{port.id} to ping its gateway 10.66.48.1")

    conn.network.delete_port(port)
    conn.network.remove_interface_from_router(router, subnet_id=sub.id)
    conn.network.delete_router(router)
    conn.network.delete_subnet(sub)
    conn.network.delete_network(net)
    poll(lambda: not netns.exists(namespace), LAB_TIMEOUT, f"the lab to remove endpoint {port.id}")
