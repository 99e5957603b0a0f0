"""The journal: Neutron never waits for the controller, rows go in order per project, refusals are pinned to
their row, replays are harmless, one process sends at a time."""

from __future__ import annotations

import time

from harness import HOST, PodswitchTestCase
from networking_podswitch.db.models import FAILED, JournalRow
from networking_podswitch.journal import send, worker
from networking_podswitch.journal.dependencies import Pending, ready
from neutron_lib.db import api as db_api

from podswitch.client import Unavailable
from podswitch.lab.process import free_port
from podswitch.model import Key, Kind, Member, Segment, Tenant


def test_a_row_waits_for_older_rows_about_it_or_its_parents_and_no_one_else() -> None:
    rows = [
        Pending(1, "net1", frozenset({"p"}), due=100.0),  # a network waiting out a retry delay
        Pending(2, "port1", frozenset({"net1", "p"}), due=0.0),  # a port on it: waits
        Pending(3, "port1", frozenset({"net1", "p"}), due=0.0),  # the same port again: waits too
        Pending(4, "net2", frozenset({"p"}), due=0.0),  # another network of the project: goes
        Pending(5, "port2", frozenset({"net2", "p"}), due=0.0),
        Pending(6, "router", frozenset({"p"}), due=0.0),
    ]
    assert [r.seq for r in ready(rows, now=50.0, limit=10)] == [4, 5, 6]
    assert [r.seq for r in ready(rows, now=150.0, limit=10)] == [1, 2, 3, 4, 5, 6]
    assert [r.seq for r in ready(rows, now=150.0, limit=2)] == [1, 2]
    assert [r.seq for r in ready(rows, now=150.0, limit=10, held={"port1"})] == [1, 4, 5, 6]


class TestOutage(PodswitchTestCase):
    def test_controller_down_neutron_unaffected_backlog_drains_in_order_on_return(self) -> None:
        self.controller.stop()
        net = self.vlan_network("net_demo", 30)
        ports = [self.bound_port(net) for _ in range(5)]
        for gone in ports[:2]:
            self._delete("ports", gone["id"], as_admin=True)
        self.assertRaises(Unavailable, self.sync)
        self.assertEqual(1 + 5 + 2 + 5, self.pending())  # the network, 5 creates, 2 deletes, 5 bindings

        self.controller.start()
        self.sync()
        self.assertEqual(0, self.pending())
        snode = self.controller.intent().tenants[self.tenant(net["project_id"])].segments["net_demo"]
        self.assertEqual(sorted(p["id"] for p in ports[2:]), sorted(snode.endpoints))
        self.assertEqual(["osvdev0013:30"], list(snode.members))

    def test_a_batch_applied_twice_changes_nothing_the_second_time(self) -> None:
        """What a kill -9 between the controller's answer and the rows' marking leaves: rows sent again."""
        net = self.vlan_network("net_demo", 30)
        self.bound_port(net)
        context = self.admin
        from networking_podswitch.journal import rows

        _, pending = rows.window(context, 100, 0.01, 0.05)
        first = send.send(context, self.journal.client, list(pending.values()), self.journal.settings)
        self.assertTrue(first.completed)
        before = self.controller.client.revision()
        self.sync()  # the same rows again, as after a restart
        self.assertEqual(before, self.controller.client.revision())
        self.assertEqual(0, self.pending())


class TestSeveralControllers(PodswitchTestCase):
    """`[podswitch] url` lists several controllers of one fabric: the first one is down, the journal goes on
    with the next (the pass that met the dead one fails, as any pass that cannot reach a controller does, and
    the client has moved on: the next pass, after the worker's backoff, goes to the live one)."""

    urls_before = (f"http://127.0.0.1:{free_port()}",)  # a port bound and closed: nobody listens

    def test_the_journal_fails_over_to_the_next_controller_url(self) -> None:
        self.assertEqual([*self.urls_before, self.controller.url], list(self.journal.client.urls))
        net = self.vlan_network("net_demo", 30)
        port = self.bound_port(net)
        self.assertRaises(Unavailable, self.sync)
        self.assertEqual(self.controller.url, self.journal.client.url)
        self.sync()
        self.assertEqual(0, self.pending())
        snode = self.controller.intent().tenants[self.tenant(net["project_id"])].segments["net_demo"]
        self.assertEqual([port["id"]], list(snode.endpoints))


class TestRefusals(PodswitchTestCase):
    extra_config = {"max_attempts": 2}

    def test_a_refused_row_holds_back_only_rows_about_it_until_it_fails(self) -> None:
        # An operator's segment already claims osvdev0013 on VLAN 30: the fabric refuses our member there.
        ops = self.controller.client
        ops.put_object(Key(Kind.TENANT, "ops"), Tenant(name="ops"))
        ops.put_object(Key(Kind.SEGMENT, "ops", "storage"), Segment(name="storage"))
        ops.put_object(Key(Kind.MEMBER, "ops", "storage", "osvdev0013:30"), Member(interface_group=HOST, vlan=30))

        net = self.vlan_network("net_a", 30, project_id="project-a")
        refused = self.bound_port(net)
        moved = {"port": {"device_id": "vm-1"}}
        self._update("ports", refused["id"], moved, as_admin=True)  # a later row about the refused port
        later = self.bound_port(self.vlan_network("net_a2", 31, project_id="project-a"))
        self.vlan_network("net_b", 32, project_id="project-b")
        done = self.sync()
        self.assertEqual((1, 0), (done.refused, done.failed))  # the port's first row, once in a pass
        segments = self.controller.intent().tenants[self.tenant("project-a")].segments
        self.assertIn("net_b", self.controller.intent().tenants[self.tenant("project-b")].segments)
        self.assertIn(later["id"], segments["net_a2"].endpoints)  # the project's other rows went on
        self.assertEqual({}, dict(segments["net_a"].endpoints))  # rows about the refused port wait
        self.assertEqual(3, self.pending())  # its create, its binding, its new device

        time.sleep(0.1)  # the refused row's retry delay (retry_min 0.01 s) passes
        done = self.sync()
        self.assertEqual((1, 1), (done.refused, done.failed))  # failed for good
        self.assertEqual(2, self.pending())  # its binding and new device: their turn in the next pass
        with db_api.CONTEXT_READER.using(self.admin):
            failed = self.admin.session.query(JournalRow).filter_by(state=FAILED).all()
            self.assertEqual([refused["id"]], [r.object_id for r in failed])
            self.assertIn("osvdev0013 vlan 30 is already claimed by tenant ops", failed[0].last_error)


class TestSenders(PodswitchTestCase):
    def test_one_process_sends_at_a_time(self) -> None:
        other = worker.Journal()  # another neutron-server process, same database
        self.addCleanup(other.stop)
        self.vlan_network("net_demo", 30)
        self.assertTrue(self.sync().leased)
        self.vlan_network("net_two", 31)
        result = other.run_once()
        self.assertEqual((False, 0), (result.leased, result.sent))
        self.assertEqual(1, self.pending())
        self.journal.stop()  # releases the lease
        self.assertEqual(1, other.run_once().sent)

    def test_the_thread_sends_what_was_committed(self) -> None:
        # The unit tests' in-memory SQLite is one connection shared by every thread: the test touches the
        # database only while the thread is not running (a real deployment has a connection per thread).
        net = self.vlan_network("net_demo", 30)
        self.journal.start()
        tname = self.tenant(net["project_id"])
        deadline = time.monotonic() + 20
        while tname not in self.controller.intent().tenants and time.monotonic() < deadline:
            time.sleep(0.05)
        self.journal.stop()
        self.assertIn("net_demo", self.controller.intent().tenants[tname].segments)
        self.assertEqual(0, self.pending())


class TestLeaseExpiry(PodswitchTestCase):
    extra_config = {"lease": 1.0}

    def test_a_dead_holders_lease_is_taken_once_it_expires(self) -> None:
        dead = worker.Journal()  # a process that took the lease, then was killed -9 (it never releases it)
        self.vlan_network("net_demo", 30)
        self.assertTrue(dead.lease_now())
        self.assertFalse(self.sync().leased)
        time.sleep(1.2)  # the lease's length
        self.assertEqual((True, 1), (lambda p: (p.leased, p.sent))(self.sync()))


class TestWhatIsRecorded(PodswitchTestCase):
    def test_updates_that_change_nothing_mapped_record_nothing(self) -> None:
        net = self.vlan_network("net_demo", 30)
        port = self.bound_port(net)
        self.sync()
        self._update("ports", port["id"], {"port": {"description": "web server"}}, as_admin=True)
        self._update("networks", net["id"], {"network": {"description": "front end"}}, as_admin=True)
        self.assertEqual(0, self.pending())
        self._update("ports", port["id"], {"port": {"device_id": "vm-1"}}, as_admin=True)
        self.assertEqual(1, self.pending())


class TestThreadOutage(PodswitchTestCase):
    def test_the_thread_backs_off_while_the_controller_is_down_and_drains_when_it_returns(self) -> None:
        self.controller.stop()
        net = self.vlan_network("net_demo", 30)  # Neutron answers: the row waits
        self.journal.start()
        time.sleep(0.5)  # several failed passes (backoff 0.01-0.05 s here)
        self.assertIsNotNone(self.journal.down_since)
        self.controller.start()
        tname = self.tenant(net["project_id"])
        deadline = time.monotonic() + 20
        while tname not in self.controller.intent().tenants and time.monotonic() < deadline:
            time.sleep(0.05)
        self.journal.stop()  # (the test's database is one connection: touch it with the thread stopped)
        self.assertIn("net_demo", self.controller.intent().tenants[tname].segments)
        self.assertEqual(0, self.pending())
        self.assertIsNone(self.journal.down_since)


class TestStarvation(PodswitchTestCase):
    extra_config = {"batch_size": 1, "max_attempts": 100}

    def test_rows_behind_many_waiting_rows_still_go(self) -> None:
        ops = self.controller.client
        ops.put_object(Key(Kind.TENANT, "ops"), Tenant(name="ops"))
        ops.put_object(Key(Kind.SEGMENT, "ops", "storage"), Segment(name="storage"))
        ops.put_object(Key(Kind.MEMBER, "ops", "storage", "osvdev0013:30"), Member(interface_group=HOST, vlan=30))
        net = self.vlan_network("net_a", 30)
        self.sync()
        stuck = self.bound_port(net)  # refused: its member's VLAN is claimed
        for n in range(6):  # more rows about it than the journal looks at per batch (5 x batch_size)
            self._update("ports", stuck["id"], {"port": {"device_id": f"vm-{n}"}}, as_admin=True)
        self.vlan_network("net_b", 31)
        done = self.sync()
        self.assertEqual((1, 1), (done.refused, done.sent))
        self.assertIn("net_b", self.controller.intent().tenants[self.tenant(net["project_id"])].segments)
