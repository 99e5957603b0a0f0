"""What networking-podswitch costs, by counts (never by the clock): database statements in the precommits on
Neutron's API path, rows read per journal pass and per batch, batches built while the controller is down."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from harness import HOST, HOST2, PodswitchTestCase
from networking_podswitch import view
from networking_podswitch.journal import port_status, send, worker
from networking_podswitch.ml2.mech_driver import PodswitchMechanismDriver
from neutron.db import provisioning_blocks
from neutron_lib.callbacks import resources
from neutron_lib.db import api as db_api
from sqlalchemy import event


class Statements:
    """SQL statements the database is sent while `counting`, by the first word (SELECT, INSERT, ...)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.on = False
        engine = db_api.get_context_manager().writer.get_engine()
        event.listen(engine, "before_cursor_execute", self._seen)
        self.engine = engine

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.on:
            self.sent.append(statement.split(None, 1)[0].upper())

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        self.on = True
        try:
            yield
        finally:
            self.on = False

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


class CostTestCase(PodswitchTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.statements = Statements()
        self.addCleanup(self.statements.close)

    def in_precommits(self, *hooks: str) -> dict[str, list[str]]:
        """Count the statements our driver's `hooks` send, per hook, while the test runs Neutron calls."""
        seen: dict[str, list[str]] = {h: [] for h in hooks}
        for hook in hooks:
            original = getattr(PodswitchMechanismDriver, hook)

            def counted(driver: Any, context: Any, _hook: str = hook, _original: Any = original) -> None:
                before = len(self.statements.sent)
                with self.statements.counting():
                    _original(driver, context)
                seen[_hook].append(",".join(self.statements.sent[before:]))

            setattr(PodswitchMechanismDriver, hook, counted)
            self.addCleanup(setattr, PodswitchMechanismDriver, hook, original)
        return seen


class TestPrecommits(CostTestCase):
    def test_a_bound_port_create_reads_nothing_and_its_binding_only_the_blocks(self) -> None:
        net = self.vlan_network("net_demo", 30)
        self.sync()
        seen = self.in_precommits("create_port_precommit", "update_port_precommit", "delete_port_precommit")
        for _ in range(3):
            self.bound_port(net)
        # The create: nothing sent to the database (its journal row is flushed with Neutron's commit).
        self.assertEqual([""] * 3, seen["create_port_precommit"])
        # The binding: Neutron's provisioning_blocks reading the port's standard attribute id and whether the
        # block exists, and the port's wait of ours (a port bound before may have one).
        self.assertEqual(3, len(seen["update_port_precommit"]))
        for statements in seen["update_port_precommit"]:
            # (the INSERT/UPDATE first are Neutron's and our pending rows flushed before the first read)
            self.assertEqual(3, statements.split(",").count("SELECT"), statements)  # 2 Neutron's, our wait

    def test_a_port_delete_reads_the_project_name_and_its_networks_once_each(self) -> None:
        net = self.vlan_network("net_demo", 30)
        for n in range(5):
            self.vlan_network(f"net_other{n}", 40 + n, project_id=net["project_id"])
        port = self.bound_port(net)
        self.sync()
        seen = self.in_precommits("delete_port_precommit")
        self._delete("ports", port["id"], as_admin=True)
        (statements,) = seen["delete_port_precommit"]
        # what that query gives is what Neutron's API shows (segment names are worked out from it at send
        # time too: both must agree)
        shown = self._list("networks", as_admin=True, query_params=f"project_id={net['project_id']}")["networks"]
        with db_api.CONTEXT_READER.using(self.admin):
            read = view.project_networks(self.admin, net["project_id"])
        self.assertEqual(
            sorted((n["id"], n["name"], n.get("created_at")) for n in shown),
            sorted((n["id"], n["name"], n.get("created_at")) for n in read),
        )
        # The project's name, its networks (one plain query, whatever their number: the segment's name),
        # then the port's wait deleted (flushing the journal row first).
        self.assertEqual(["SELECT", "SELECT", "INSERT", "DELETE"], statements.split(","), statements)


class TestSenderReads(CostTestCase):
    def test_a_batchs_member_read_is_one_row_per_vlan_not_per_port(self) -> None:
        net = self.vlan_network("net_demo", 30)
        ports = [self.bound_port(net) for _ in range(12)]
        with db_api.CONTEXT_READER.using(self.admin):
            rows = view.member_vlans(self.admin, [net["id"]], [HOST])
            members = view.bound_members(self.admin, set(), {(net["id"], HOST)})
        self.assertEqual([(net["id"], HOST, 30)], rows)
        self.assertEqual({(net["id"], HOST): frozenset({30})}, members)
        for port in ports:
            self._delete("ports", port["id"], as_admin=True)
        with db_api.CONTEXT_READER.using(self.admin):
            self.assertEqual([], view.member_vlans(self.admin, [net["id"]], [HOST]))
            members = view.bound_members(self.admin, set(), {(net["id"], HOST)})
        self.assertEqual({(net["id"], HOST): frozenset()}, members)  # the last port left: the member goes

    def test_a_batch_is_built_with_the_same_statements_however_many_ports_the_host_has(self) -> None:
        net = self.vlan_network("net_demo", 30)
        self.bound_port(net)
        self.sync()

        def build_statements() -> int:
            port = self.bound_port(net)
            from networking_podswitch.journal import rows

            _, pending = rows.window(self.admin, 100, 0.01, 0.05)
            batch = [r for r in pending.values() if r.object_id == port["id"]]
            before = len(self.statements.sent)
            with self.statements.counting():
                send.build(self.admin, batch, self.journal.settings)
            self.sync()
            return len(self.statements.sent) - before

        first = build_statements()
        for _ in range(10):
            self.bound_port(net)
        self.sync()
        self.assertEqual(first, build_statements())


class TestPortWaits(CostTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.host_on_leaf()

    def test_waiting_ports_are_read_again_only_when_a_leaf_reports_or_endpoints_were_sent(self) -> None:
        net = self.vlan_network("net_demo", 30)
        ports = [self.bound_port(net) for _ in range(4)]
        self.sync()
        waits = self.journal.port_waits
        self.controller.client.report_status("leaf1", {"applied_revision": 1})  # older than the endpoints
        self.assertEqual(0, self.journal.reconcile_ports())
        self.assertEqual(0, waits.looked_at)  # none waits for a revision leaf1 has reached
        self.controller.client.report_status("leaf1", {"applied_revision": self.controller.client.revision()})
        for port in ports[:2]:  # the L2 agent is done with two of them
            provisioning_blocks.provisioning_complete(
                self.admin, port["id"], resources.PORT, provisioning_blocks.L2_AGENT_ENTITY
            )
        self.assertEqual(4, self.journal.reconcile_ports())
        self.assertEqual(4, waits.looked_at)
        self.assertEqual(0, self.journal.reconcile_ports())  # nothing waits any more: one query, no HTTP

        stuck = [self.bound_port(net, host=HOST2) for _ in range(3)]  # a host the fabric does not carry
        self.sync()
        self.controller.client.report_status("leaf1", {"applied_revision": self.controller.client.revision()})
        self.assertEqual(0, self.journal.reconcile_ports())
        self.assertEqual(4 + 3, waits.looked_at)
        for _ in range(5):  # nothing changed: the waiting ports are not read again
            self.assertEqual(0, self.journal.reconcile_ports())
        self.assertEqual(4 + 3, waits.looked_at)
        waits.full_at = time.monotonic()  # FULL_EVERY went by: looked at again, once
        self.assertEqual(0, self.journal.reconcile_ports())
        self.assertEqual(4 + 3 + 3, waits.looked_at)
        self.assertTrue(all(port_status.is_blocked_by_us(self.admin, p["id"]) for p in stuck))


class TestControllerDown(CostTestCase):
    def test_while_the_controller_is_down_the_sender_probes_it_and_builds_no_batch(self) -> None:
        self.controller.stop()
        net = self.vlan_network("net_demo", 30)
        for _ in range(3):
            self.bound_port(net)
        self.journal.start()
        deadline = time.monotonic() + 20
        while self.journal.counts["probed"] < 5 and time.monotonic() < deadline:
            time.sleep(0.02)  # (the test's SQLite is one connection: it waits without touching it)
        self.journal.stop()
        self.assertGreaterEqual(self.journal.counts["probed"], 5)  # retries, each a GET /healthz ...
        self.assertEqual(1, self.journal.counts["built"])  # ... and one batch: the pass that found it down
        self.controller.start()
        after = worker.Journal()  # (a stopped journal's passes send nothing: the process is restarted)
        self.addCleanup(after.stop)
        self.assertEqual(7, after.run_once().sent)  # the network, each port's create and binding
        self.assertEqual(1, after.counts["built"])
        self.assertEqual(0, self.pending())
