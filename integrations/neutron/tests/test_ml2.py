"""Every network, subnet and port change through Neutron's API lands on the controller as the intended
podswitch objects (docs/neutron.md: the mapping)."""

from __future__ import annotations

import ipaddress

from harness import HOST, PodswitchTestCase

from podswitch.model import Attachment, member_key


class TestNetworksAndPorts(PodswitchTestCase):
    def test_network_becomes_a_segment_of_the_projects_tenant(self) -> None:
        net = self.vlan_network("net_demo", 30)
        self.sync()
        intent = self.controller.intent()
        tname = self.tenant(net["project_id"])
        tenant = intent.tenants[tname].tenant
        self.assertEqual((net["project_id"], "openstack"), (tenant.id, tenant.origination))
        segment = intent.tenants[tname].segments["net_demo"].segment
        self.assertEqual((net["id"], "openstack"), (segment.id, segment.origination))

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
            self.assertEqual([member_key(HOST, 30)], list(snode.members))
