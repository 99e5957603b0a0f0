"""The consistency check repairs drift of its own origination in bounded batches, and does nothing at all
unless it holds two complete snapshots at known points."""

from __future__ import annotations

from typing import Any

from harness import Controller, PodswitchTestCase
from tests.api.conftest import TOKEN

from podswitch.client import Client
from podswitch.model import Endpoint, Key, Kind


class TestRepairs(PodswitchTestCase):
    extra_config = {"repair_batch": 2}

    def test_drift_of_our_origination_is_repaired_and_nothing_else_touched(self) -> None:
        net = self.vlan_network("net_demo", 30)
        ports = [self.bound_port(net) for _ in range(2)]
        self.sync()
        self.assertEqual("clean", self.journal.check().state)
        tname, ops = self.tenant(net["project_id"]), self.controller.client
        lost = Key(Kind.ENDPOINT, tname, "net_demo", ports[0]["id"])
        ops.delete_object(lost)
        stray = Key(Kind.ENDPOINT, tname, "net_demo", "stray")
        ops.put_object(stray, Endpoint(id="stray", origination="openstack"))
        foreign = Key(Kind.ENDPOINT, tname, "net_demo", "operators-own")
        ops.put_object(foreign, Endpoint(id="operators-own", origination="ops"))

        report = self.journal.check()
        self.assertEqual(("repairing", 1, 1), (report.state, report.counts["missing"], report.counts["extra"]))
        self.sync()
        endpoints = self.controller.intent().tenants[tname].segments["net_demo"].endpoints
        self.assertEqual(sorted([ports[0]["id"], ports[1]["id"], "operators-own"]), sorted(endpoints))
        self.assertEqual("clean", self.journal.check().state)

    def test_a_pass_repairs_at_most_repair_batch_objects(self) -> None:
        net = self.vlan_network("net_demo", 30)
        ports = [
            self._make_port(self.fmt, net["id"], project_id=net["project_id"], as_admin=True)["port"] for _ in range(5)
        ]
        self.sync()
        tname = self.tenant(net["project_id"])
        for port in ports:
            self.controller.client.delete_object(Key(Kind.ENDPOINT, tname, "net_demo", port["id"]))
        missing = []
        for _ in range(3):
            report = self.journal.check()
            missing.append(report.counts["missing"])
            self.sync()
        self.assertEqual([5, 3, 1], missing)
        self.assertEqual("clean", self.journal.check().state)


class TestPartialViews(PodswitchTestCase):
    def assert_nothing_done(self, report: Any, reason: str, text: str, pending: int) -> None:
        self.assertEqual("skipped", report.state)
        self.assertIn(reason, report.reason)
        self.assertEqual(text, self.controller.text())
        self.assertEqual(pending, self.pending())

    def test_not_while_journal_rows_are_pending(self) -> None:
        self.vlan_network("net_demo", 30)
        self.sync()
        text = self.controller.text()
        self.vlan_network("net_two", 31)  # recorded, not sent: the controller is legitimately behind
        self.assert_nothing_done(self.journal.check(), "not sent yet", text, 1)

    def test_not_against_a_controller_older_than_what_the_journal_wrote(self) -> None:
        """A controller that restarted from an old backup, or has not loaded or caught up yet, serves an older
        revision: comparing with it would recreate (or delete) what is fine."""
        self.vlan_network("net_demo", 30)
        self.sync()
        fresh = Controller(self.directory / "fresh")
        self.addCleanup(fresh.close)
        self.journal.client = Client(fresh.url, token=TOKEN, retries=0)
        report = self.journal.check()
        self.assertEqual("skipped", report.state)
        self.assertIn("older than", report.reason)
        self.assertEqual(0, self.pending())
        self.assertEqual({"system"}, set(fresh.intent().tenants))

    def test_not_when_neutron_changed_while_the_controller_was_read(self) -> None:
        net = self.vlan_network("net_demo", 30)
        self.sync()
        test = self

        class Racing(Client):
            """The controller's answer arrives after a Neutron call committed (another API worker)."""

            def running_config(self) -> tuple[int, str]:
                answer = super().running_config()
                test.bound_port(net)
                return answer

        self.journal.client = Racing(self.controller.url, token=TOKEN, retries=0)
        text = self.controller.text()
        self.assert_nothing_done(self.journal.check(), "changed while", text, 2)  # the port's create and binding


class TestWithoutRouters(PodswitchTestCase):
    """l3_mode router, but no L3 plugin is loaded (yet): Neutron cannot be read whole."""

    def test_the_check_does_nothing_without_the_l3_plugin(self) -> None:
        from neutron_lib.plugins import constants, directory

        self.vlan_network("net_demo", 30)
        self.sync()
        text = self.controller.text()
        l3 = directory.get_plugin(constants.L3)
        directory.add_plugin(constants.L3, None)
        self.addCleanup(directory.add_plugin, constants.L3, l3)
        report = self.journal.check()
        self.assertEqual("skipped", report.state)
        self.assertIn("no L3 plugin", report.reason)
        self.assertEqual((text, 0), (self.controller.text(), self.pending()))
