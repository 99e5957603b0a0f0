"""A bound port stays DOWN until the leaf of its interface-group reports the revision carrying its endpoint as
applied, and goes ACTIVE then (with the L2 agent's part done) — whichever of the two finishes first."""

from __future__ import annotations

from harness import HOST, PodswitchTestCase
from networking_podswitch.journal import port_status
from neutron.db import provisioning_blocks
from neutron_lib.callbacks import resources

from podswitch.model import Key, Kind


class TestPortStatus(PodswitchTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.host_on_leaf()

    def status(self, port_id: str) -> str:
        return str(self._show("ports", port_id, as_admin=True)["port"]["status"])

    def leaf_applied(self, revision: int) -> None:
        """What leaf1's agent reports after a reconcile (PUT /v1/switches/leaf1/status)."""
        self.controller.client.report_status("leaf1", {"applied_revision": revision})

    def l2_agent_done(self, port_id: str) -> None:
        """What the OVS agent's `update_device_up` does on the server."""
        provisioning_blocks.provisioning_complete(
            self.admin, port_id, resources.PORT, provisioning_blocks.L2_AGENT_ENTITY
        )

    def test_down_until_the_leaf_applied_the_endpoint_then_active(self) -> None:
        net = self.vlan_network("net_demo", 30)
        port = self.bound_port(net)
        self.assertTrue(port_status.is_blocked_by_us(self.admin, port["id"]))
        self.sync()
        revision = self.controller.client.revision()
        self.l2_agent_done(port["id"])
        self.assertEqual("DOWN", self.status(port["id"]))  # the L2 agent is done, the fabric not yet

        self.assertEqual(0, self.journal.reconcile_ports())  # no report from leaf1 yet
        self.leaf_applied(revision - 1)
        self.assertEqual(0, self.journal.reconcile_ports())  # an older state than the endpoint's
        self.assertEqual("DOWN", self.status(port["id"]))

        self.leaf_applied(revision)
        self.assertEqual(1, self.journal.reconcile_ports())
        self.assertEqual("ACTIVE", self.status(port["id"]))
        self.assertEqual(0, self.journal.reconcile_ports())  # done: nothing waits any more

    def test_the_fabric_first_then_the_l2_agent(self) -> None:
        net = self.vlan_network("net_demo", 30)
        port = self.bound_port(net)
        # The L2 agent's own block, as the openvswitch driver adds it for a live agent (the agent state the
        # test registers lets it bind, but does not make it add its block here).
        provisioning_blocks.add_provisioning_component(
            self.admin, port["id"], resources.PORT, provisioning_blocks.L2_AGENT_ENTITY
        )
        self.sync()
        self.leaf_applied(self.controller.client.revision())
        self.assertEqual(1, self.journal.reconcile_ports())
        self.assertEqual("DOWN", self.status(port["id"]))  # the L2 agent's block remains
        self.l2_agent_done(port["id"])
        self.assertEqual("ACTIVE", self.status(port["id"]))

    def test_a_host_outside_the_topology_keeps_its_ports_down(self) -> None:
        self.controller.client.delete_object(Key(Kind.INTERFACE_GROUP, name=HOST))
        net = self.vlan_network("net_demo", 30)
        port = self.bound_port(net)
        self.sync()
        self.leaf_applied(self.controller.client.revision())
        self.l2_agent_done(port["id"])
        self.assertEqual(0, self.journal.reconcile_ports())
        self.assertEqual("DOWN", self.status(port["id"]))
