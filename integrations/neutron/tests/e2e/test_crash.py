"""Nothing Neutron accepted is lost or applied twice when Neutron crashes with a journal batch in flight.

A backlog is waiting (the controller was down while 100 ports were created and 50 of them deleted); the
controller comes back frozen (SIGSTOP), the journal's first request reaches it and waits there unanswered;
neutron's API server, RPC server and periodic workers are killed with SIGKILL while it is in flight; the
controller then applies that batch without anyone to answer. After Neutron restarts the journal completes:
every row completed, each recorded once, no port's endpoint created twice, none lost.

Ports are bound by ML2's real `openvswitch` driver to a STAND-IN OVS agent (standin_ovs_agent.py: a process
that reports its state over RPC exactly as the real agent does)."""

from __future__ import annotations

import os
import signal

from podswitch.client import Client
from podswitch.lab.process import ControllerProcess

from . import journal
from .cloud import provider_network, vm_port
from .deployment import Neutron
from .fabric import endpoint_lives, poll, segment_endpoints, wrong_lives

DRAIN = 180.0


def frozen_request_at(port: int) -> bool:
    """A request sits unread on a connection the (stopped) controller accepted: an ESTABLISHED socket on
    its port with bytes in its receive queue (/proc/net/tcp: local address, state 01, rx_queue)."""
    with open("/proc/net/tcp") as fh:
        next(fh)
        for line in fh:
            fields = line.split()
            local, state, queues = fields[1], fields[3], fields[4]
            if int(local.split(":")[1], 16) == port and state == "01" and int(queues.split(":")[1], 16) > 0:
                return True
    return False


def test_kill_9_of_neutron_with_a_batch_in_flight_loses_and_doubles_no_row(
    neutron: Neutron, ensure_controller: ControllerProcess, ps: Client, project_id: str
) -> None:
    conn = neutron.connection(project_id, "crash")
    net, _ = provider_network(conn, project_id, "net_crash", 320, "10.66.40.0/24")
    poll(lambda: f"{net.id}" in ps.running_config()[1], 60, "the controller to hold net_crash")
    since, seq = ps.revision(), journal.last_seq(neutron)

    ensure_controller.stop()
    ports = [vm_port(conn, project_id, net.id, f"vm{i}") for i in range(100)]
    for port in ports[:50]:
        conn.network.delete_port(port, ignore_missing=False)
    kept = ports[50:]

    # The controller comes back frozen: the journal's first batch reaches it and waits there, unanswered.
    ensure_controller.start()
    assert ensure_controller.proc is not None
    os.kill(ensure_controller.proc.pid, signal.SIGSTOP)
    try:
        poll(lambda: frozen_request_at(ensure_controller.port), 60, "a journal batch to reach the controller")
        for child in neutron.processes():
            if child not in neutron.agents.values():
                child.kill()
    finally:
        os.kill(ensure_controller.proc.pid, signal.SIGCONT)
    # The controller answers what was waiting with nobody left to hear it: mid-backlog, every row still
    # pending in Neutron's database. What waited is a batch (applied now, unacknowledged: the restarted
    # journal sends it again) or, when the sender was retrying, the health check it makes before a batch
    # after an outage (then nothing is applied before the restart); which of the two is a race, and both must
    # end with every row applied once.
    assert journal.states(neutron, seq)["pending"] > 0

    neutron.start()
    poll(lambda: journal.drained(neutron, seq), DRAIN, "the journal to drain after the restart", interval=0.5)
    counted = journal.states(neutron, seq)
    assert counted["failed"] == 0 and counted["pending"] == 0
    recorded = journal.rows_of(neutron, seq, "port")
    assert all(recorded[(p.id, "create")] == 1 for p in ports)
    assert all(recorded[(p.id, "delete")] == 1 for p in ports[:50])

    assert set(segment_endpoints(ps, "crash.openstack", "net_crash")) == {p.id for p in kept}
    lives = endpoint_lives(ps, since)
    assert wrong_lives(lives, deleted=[p.id for p in ports[:50]], kept=[p.id for p in kept]) == {}
