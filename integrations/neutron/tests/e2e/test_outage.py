"""A dead controller never slows or fails Neutron, and nothing Neutron accepted meanwhile is lost.

With the controller stopped, 200 ports are created and deleted through Neutron (bound to osvdev0013, as
Nova makes them), then 20 more created; every call is timed beside the same call on a Neutron without
podswitch, in the same run, interleaved call by call so that the machine's load weighs on both alike. The
times and their ratio are printed, not asserted (they depend on the machine); what is asserted is that every
call succeeded. The controller starts -> the journal drains: the fabric holds exactly the 20 ports that
exist, each endpoint's life in the controller's history is well formed (created once, then deleted once, or
never seen: the journal sends what Neutron holds when it sends), every journal row completed, none failed.

Ports are bound by ML2's real `openvswitch` driver to a STAND-IN OVS agent (standin_ovs_agent.py: a process
that reports its state over RPC exactly as the real agent does)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from podswitch.client import Client
from podswitch.lab.process import ControllerProcess

from . import journal
from .cloud import COMPUTE_HOST, provider_network, vm_port
from .deployment import Neutron
from .fabric import endpoint_lives, poll, segment_endpoints, wrong_lives

PORTS = 200
SURVIVORS = 20
DRAIN = 180.0


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def report(what: str, ours: list[float], theirs: list[float]) -> str:
    """Each call's time beside the baseline's, then the medians, p99s and their ratios."""
    lines = [f"{what}: call, with podswitch (ms), without (ms), ratio"]
    lines += [
        f"  {i:3d} {a * 1000:8.1f} {b * 1000:8.1f} {a / b:6.2f}x"
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
    ]

    def p99(xs: list[float]) -> float:
        return sorted(xs)[max(0, round(len(xs) * 0.99) - 1)]

    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    lines.append(
        f"{what}: p50 {m_ours * 1000:.1f} ms vs {m_theirs * 1000:.1f} ms ({m_ours / m_theirs:.2f}x), "
        f"p99 {p99(ours) * 1000:.1f} ms vs {p99(theirs) * 1000:.1f} ms ({p99(ours) / p99(theirs):.2f}x)"
    )
    return "\n".join(lines)


def test_with_the_controller_down_neutron_works_as_fast_and_the_backlog_drains_in_order_when_it_returns(
    neutron: Neutron, baseline: Neutron, ensure_controller: ControllerProcess, ps: Client, project_id: str
) -> None:
    ours, theirs = neutron.connection(project_id, "outage"), baseline.connection(project_id, "outage")
    net, _ = provider_network(ours, project_id, "net_outage", 310, "10.66.32.0/23")
    base_net, _ = provider_network(theirs, project_id, "net_outage", 310, "10.66.32.0/23")
    poll(lambda: f"{net.id}" in ps.running_config()[1], 60, "the controller to hold net_outage")
    since, seq = ps.revision(), journal.last_seq(neutron)

    ensure_controller.stop()
    created: list[tuple[float, float]] = []
    ports = []
    base_ports = []
    for i in range(PORTS):
        a, port = timed(lambda i=i: vm_port(ours, project_id, net.id, f"vm{i}"))
        b, base_port = timed(lambda i=i: vm_port(theirs, project_id, base_net.id, f"vm{i}"))
        assert port.binding_vif_type == "ovs" and base_port.binding_vif_type == "ovs"
        created.append((a, b))
        ports.append(port)
        base_ports.append(base_port)
    deleted: list[tuple[float, float]] = []
    for port, base_port in zip(ports, base_ports, strict=True):
        a, _ = timed(lambda port=port: ours.network.delete_port(port, ignore_missing=False))
        b, _ = timed(lambda base_port=base_port: theirs.network.delete_port(base_port, ignore_missing=False))
        deleted.append((a, b))
    survivors = [vm_port(ours, project_id, net.id, f"survivor{i}") for i in range(SURVIVORS)]
    print(report("port create, controller down", *map(list, zip(*created, strict=True))))
    print(report("port delete, controller down", *map(list, zip(*deleted, strict=True))))

    # Neutron took every call, and the journal recorded each: waiting, or done without the controller (the
    # journal sends what Neutron holds when it sends: rows about ports already gone have nothing to send).
    assert sorted(p.id for p in ours.network.ports(network_id=net.id, device_owner="compute:nova")) == sorted(
        p.id for p in survivors
    )
    waiting = journal.states(neutron, seq)
    assert waiting["pending"] > 0 and waiting["failed"] == 0, waiting
    recorded = journal.rows_of(neutron, seq, "port")
    assert all(recorded[(p.id, "create")] == 1 and recorded[(p.id, "delete")] == 1 for p in ports), recorded
    assert all(recorded[(p.id, "create")] == 1 for p in survivors)

    ensure_controller.start()
    poll(lambda: journal.drained(neutron, seq), DRAIN, "the journal to drain", interval=0.5)
    assert journal.states(neutron, seq)["failed"] == 0
    shown = journal.status(neutron)
    assert shown["pending"] == 0 and shown["failed"] == 0 and shown["last_sync"] is not None, shown

    endpoints = segment_endpoints(ps, "outage.openstack", "net_outage")
    assert sorted(endpoints) == sorted(p.id for p in survivors)
    for p in survivors:
        ep = endpoints[p.id]
        assert ep["attachment_point"] == {"interface_group": COMPUTE_HOST, "vlan": 310}
        assert ep["mac"] == p.mac_address and ep["ips"] == [ip["ip_address"] for ip in p.fixed_ips]
    lives = endpoint_lives(ps, since)
    assert wrong_lives(lives, deleted=[p.id for p in ports], kept=[p.id for p in survivors]) == {}
