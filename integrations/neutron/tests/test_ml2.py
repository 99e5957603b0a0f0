"""Every network, subnet and port change through Neutron's API lands on the controller as the intended
podswitch objects (docs/neutron.md: the mapping)."""

from __future__ import annotations

import ipaddress

from harness import HOST, HOST2, PodswitchTestCase
from neutron_lib import context as n_context

from podswitch.model import Attachment, LogicalRouter, member_key


class TestNetworks(PodswitchTestCase):
    def test_network_becomes_a_segment_of_the_projects_tenant(self) -> None:
        net = self.vlan_network("net_demo", 30)
        self.sync()
        intent = self.controller.intent()
        tname = self.tenant(net["project_id"])
        tenant = intent.tenants[tname].tenant
        self.assertEqual((net["project_id"], "openstack"), (tenant.id, tenant.origination))
        segment = intent.tenants[tname].segments["net_demo"].segment
        self.assertEqual((net["id"], "openstack"), (segment.id, segment.origination))

    def test_a_named_project_is_tenant_name_dot_openstack(self) -> None:
        self.name_project(self._project_id, "demo")
        self.vlan_network("net_demo", 30, project_id=self._project_id)
        self.sync()
        self.assertIn("net_demo", self.controller.intent().tenants["demo.openstack"].segments)

    def test_renamed_network_moves_its_segment_with_its_endpoints_and_members(self) -> None:
        net = self.vlan_network("net_demo", 30)
        port = self.bound_port(net)
        self.sync()
        self._update("networks", net["id"], {"network": {"name": "net_prod"}}, as_admin=True)
        self.sync()
        segments = self.controller.intent().tenants[self.tenant(net["project_id"])].segments
        self.assertEqual(["net_prod"], list(segments))
        self.assertEqual([port["id"]], list(segments["net_prod"].endpoints))
        self.assertEqual([member_key(HOST, 30)], list(segments["net_prod"].members))

    def test_deleting_the_last_network_removes_the_segment_and_the_tenant(self) -> None:
        net = self.vlan_network("net_demo", 30)
        other = self.vlan_network("net_other", 31)
        self.sync()
        self._delete("networks", net["id"], as_admin=True)
        self.sync()
        tname = self.tenant(net["project_id"])
        self.assertEqual(["net_other"], list(self.controller.intent().tenants[tname].segments))
        self._delete("networks", other["id"], as_admin=True)
        self.sync()
        self.assertNotIn(tname, self.controller.intent().tenants)

    def test_two_networks_of_one_name_the_younger_is_called_by_its_id(self) -> None:
        nets = [self.vlan_network("web", 30), self.vlan_network("web", 31)]
        self.sync()
        segments = self.controller.intent().tenants[self.tenant(nets[0]["project_id"])].segments
        # older by creation time, then by id (both may be created within one second)
        older, younger = sorted(nets, key=lambda n: (n.get("created_at") or "", n["id"]))
        self.assertEqual(
            {"web": older["id"], younger["id"]: younger["id"]}, {n: s.segment.id for n, s in segments.items()}
        )


class TestPorts(PodswitchTestCase):
    def test_bound_port_becomes_an_endpoint_and_makes_its_host_a_member(self) -> None:
        net = self.vlan_network("net_demo", 30)
        with self.subnet(network={"network": net}, cidr="10.66.16.0/24") as sub:
            port = self.bound_port(net, fixed_ips=[{"subnet_id": sub["subnet"]["id"], "ip_address": "10.66.16.2"}])
            self.sync()
            snode = self.controller.intent().tenants[self.tenant(net["project_id"])].segments["net_demo"]
            endpoint = snode.endpoints[port["id"]]
            self.assertEqual(Attachment(interface_group=HOST, vlan=30), endpoint.attachment_point)
            self.assertEqual((ipaddress.ip_address("10.66.16.2"),), endpoint.ips)
            self.assertEqual(port["mac_address"], endpoint.mac)
            self.assertEqual("openstack", endpoint.origination)
            self.assertEqual([member_key(HOST, 30)], list(snode.members))

    def test_unbound_port_is_an_endpoint_without_attachment_and_no_member(self) -> None:
        net = self.vlan_network("net_demo", 30)
        port = self._make_port(self.fmt, net["id"], project_id=net["project_id"], as_admin=True)["port"]
        self.sync()
        snode = self.controller.intent().tenants[self.tenant(net["project_id"])].segments["net_demo"]
        self.assertIsNone(snode.endpoints[port["id"]].attachment_point)
        self.assertEqual({}, dict(snode.members))

    def test_the_last_port_of_a_host_leaving_removes_its_member_not_before(self) -> None:
        net = self.vlan_network("net_demo", 30)
        first, second = self.bound_port(net), self.bound_port(net)
        self.sync()
        segment = lambda: self.controller.intent().tenants[self.tenant(net["project_id"])].segments["net_demo"]  # noqa: E731
        self._delete("ports", first["id"], as_admin=True)
        self.sync()
        self.assertEqual([second["id"]], list(segment().endpoints))
        self.assertEqual([member_key(HOST, 30)], list(segment().members))
        self._delete("ports", second["id"], as_admin=True)
        self.sync()
        self.assertEqual(({}, {}), (dict(segment().endpoints), dict(segment().members)))

    def test_port_moving_host_moves_its_attachment_and_member(self) -> None:
        net = self.vlan_network("net_demo", 30)
        port = self.bound_port(net)
        self.sync()
        self._update("ports", port["id"], {"port": {"binding:host_id": HOST2}}, as_admin=True)
        self.sync()
        snode = self.controller.intent().tenants[self.tenant(net["project_id"])].segments["net_demo"]
        self.assertEqual(Attachment(interface_group=HOST2, vlan=30), snode.endpoints[port["id"]].attachment_point)
        self.assertEqual([member_key(HOST2, 30)], list(snode.members))

    def test_port_update_of_its_addresses_updates_the_endpoint(self) -> None:
        net = self.vlan_network("net_demo", 30)
        with self.subnet(network={"network": net}, cidr="10.66.16.0/24") as sub:
            port = self.bound_port(net)
            self.sync()
            fixed = [{"subnet_id": sub["subnet"]["id"], "ip_address": "10.66.16.77"}]
            self._update("ports", port["id"], {"port": {"fixed_ips": fixed}}, as_admin=True)
            self.sync()
            snode = self.controller.intent().tenants[self.tenant(net["project_id"])].segments["net_demo"]
            self.assertEqual((ipaddress.ip_address("10.66.16.77"),), snode.endpoints[port["id"]].ips)


class TestSubnetMode(PodswitchTestCase):
    l3_mode = "subnet"
    extra_config = {"exclude_physical_networks": ["physnet2"]}

    def test_every_subnet_with_a_gateway_is_routed_by_the_fabric(self) -> None:
        net = self.vlan_network("net_demo", 30)
        tname = self.tenant(net["project_id"])
        pools = [{"start": "10.66.16.10", "end": "10.66.16.200"}]
        with self.subnet(network={"network": net}, cidr="10.66.16.0/24", allocation_pools=pools) as sub:
            self.sync()
            intent = self.controller.intent()
            router = intent.tenants[tname].router
            assert isinstance(router, LogicalRouter)
            self.assertEqual(
                [("net_demo", ("10.66.16.1/24",))],
                [(i.segment, tuple(map(str, i.ip_addresses))) for i in router.interfaces],
            )
            self.assertEqual(("system",), router.tenant_interfaces)
            self.assertEqual(["0.0.0.0/0 tenant system"], [f"{r.prefix} {r.next_hop}" for r in router.routes])
            system = intent.tenants["system"].router
            assert system is not None
            self.assertIn(tname, system.tenant_interfaces)

            self._update("subnets", sub["subnet"]["id"], {"subnet": {"gateway_ip": "10.66.16.254"}})
            self.sync()
            router = self.controller.intent().tenants[tname].router
            assert router is not None
            self.assertEqual(["10.66.16.254/24"], [str(a) for a in router.interfaces[0].ip_addresses])
            self._delete("subnets", sub["subnet"]["id"])
        self.sync()
        intent = self.controller.intent()
        self.assertIsNone(intent.tenants[tname].router)
        system = intent.tenants["system"].router
        self.assertNotIn(tname, system.tenant_interfaces if system else ())

    def test_networks_on_excluded_physical_networks_are_not_routed(self) -> None:
        net = self._make_network(
            self.fmt,
            "net_storage",
            True,
            as_admin=True,
            arg_list=("provider:network_type", "provider:physical_network", "provider:segmentation_id"),
            **{
                "provider:network_type": "vlan",
                "provider:physical_network": "physnet2",
                "provider:segmentation_id": 250,
            },
        )["network"]
        with self.subnet(network={"network": net}, cidr="10.77.0.0/24"):
            self.sync()
            tnode = self.controller.intent().tenants[self.tenant(net["project_id"])]
            self.assertIn("net_storage", tnode.segments)
            self.assertIsNone(tnode.router)


class TestProjectNames(PodswitchTestCase):
    def create_network_as(self, project_name: str, name: str, vlan: int) -> dict[str, object]:
        """A network created by a user of the project, whose request context carries the project's name (as
        keystonemiddleware puts Keystone's answer there)."""
        context = n_context.Context(user_id="u", project_id=self._project_id, project_name=project_name, is_admin=True)
        body = {
            "name": name,
            "admin_state_up": True,
            "shared": False,
            "project_id": self._project_id,
            "provider:network_type": "vlan",
            "provider:physical_network": "physnet1",
            "provider:segmentation_id": vlan,
        }
        return dict(self.driver.create_network(context, {"network": body}))

    def test_the_tenant_is_named_after_the_project_and_moves_when_it_is_renamed(self) -> None:
        net = self.create_network_as("demo", "net_demo", 30)
        port = self.bound_port({**net, "project_id": self._project_id})
        self.sync()
        self.assertIn("net_demo", self.controller.intent().tenants["demo.openstack"].segments)
        self.create_network_as("demo-renamed", "net_two", 31)  # the next request says the project is renamed
        self.sync()
        tenants = self.controller.intent().tenants
        self.assertNotIn("demo.openstack", tenants)
        moved = tenants["demo-renamed.openstack"]
        self.assertEqual(["net_demo", "net_two"], sorted(moved.segments))
        self.assertEqual([port["id"]], list(moved.segments["net_demo"].endpoints))
        self.assertEqual(self._project_id, moved.tenant.id)
