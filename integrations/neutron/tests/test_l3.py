"""Routers through Neutron's L3 API (router, interface, gateway, extra routes) land as the tenant's
logical-router, and the seed's whole demo block comes out of the operations the seed's operators ran."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import HOST, PodswitchTestCase

from podswitch.config.render import render_tenant
from podswitch.model import LogicalRouter

SEED = Path(__file__).resolve().parents[3] / "examples" / "seed-running-config.txt"


class TestRouters(PodswitchTestCase):
    def external_network(self) -> dict[str, Any]:
        net = self._make_network(
            self.fmt, "public", True, as_admin=True, project_id="admin", **{"router:external": True}
        )["network"]
        self._make_subnet(self.fmt, {"network": net}, "203.0.113.1", "203.0.113.0/24", as_admin=True)
        return net

    def router_of(self, project_id: str) -> LogicalRouter | None:
        return self.controller.intent().tenants[self.tenant(project_id)].router

    def test_interface_gateway_and_extra_routes_make_the_logical_router(self) -> None:
        net = self.vlan_network("net_demo", 30, project_id=self._project_id)
        subnet = self._make_subnet(self.fmt, {"network": net}, "10.66.16.1", "10.66.16.0/24")["subnet"]
        public = self.external_network()
        with self.router(name="r1", project_id=self._project_id) as router:
            rid = router["router"]["id"]
            self.sync()
            self.assertIn(self.tenant(self._project_id), self.controller.intent().tenants)
            self.assertIsNone(self.router_of(self._project_id))

            self._router_interface_action("add", rid, subnet["id"], None)
            self.sync()
            logical = self.router_of(self._project_id)
            assert logical is not None
            self.assertEqual(
                [("net_demo", ["10.66.16.1/24"])],
                [(i.segment, list(map(str, i.ip_addresses))) for i in logical.interfaces],
            )
            self.assertEqual(((), ()), (logical.tenant_interfaces, logical.routes))

            self._add_external_gateway_to_router(rid, public["id"])
            self.sync()
            logical = self.router_of(self._project_id)
            assert logical is not None
            self.assertEqual(("system",), logical.tenant_interfaces)
            self.assertEqual(["0.0.0.0/0 tenant system"], [f"{r.prefix} {r.next_hop}" for r in logical.routes])
            system = self.controller.intent().tenants["system"].router
            assert system is not None
            self.assertIn(self.tenant(self._project_id), system.tenant_interfaces)

            routes = [{"destination": "192.168.0.0/16", "nexthop": "10.66.16.254"}]
            self._update("routers", rid, {"router": {"routes": routes}})
            self.sync()
            logical = self.router_of(self._project_id)
            assert logical is not None
            self.assertEqual(
                ["0.0.0.0/0 tenant system", "192.168.0.0/16 ip 10.66.16.254"],
                [f"{r.prefix} {r.next_hop}" for r in logical.routes],
            )

            self._update("routers", rid, {"router": {"routes": []}})
            self._remove_external_gateway_from_router(rid, public["id"])
            self.sync()
            logical = self.router_of(self._project_id)
            assert logical is not None
            self.assertEqual(((), ()), (logical.tenant_interfaces, logical.routes))
            system = self.controller.intent().tenants["system"].router
            self.assertNotIn(self.tenant(self._project_id), system.tenant_interfaces if system else ())

            self._router_interface_action("remove", rid, subnet["id"], None)
            self.sync()
            self.assertIsNone(self.router_of(self._project_id))
            self._delete("routers", rid)
        self.sync()
        self.assertIn("net_demo", self.controller.intent().tenants[self.tenant(self._project_id)].segments)

    def test_gateway_change_of_an_interfaced_subnet_moves_the_interface_address(self) -> None:
        net = self.vlan_network("net_demo", 30, project_id=self._project_id)
        pools = [{"start": "10.66.16.10", "end": "10.66.16.200"}]
        subnet = self._make_subnet(self.fmt, {"network": net}, "10.66.16.1", "10.66.16.0/24", allocation_pools=pools)
        with self.router(project_id=self._project_id) as router:
            rid = router["router"]["id"]
            port = self._make_port(
                self.fmt, net["id"], fixed_ips=[{"subnet_id": subnet["subnet"]["id"], "ip_address": "10.66.16.254"}]
            )
            self._router_interface_action("add", rid, None, port["port"]["id"])
            self.sync()
            logical = self.router_of(self._project_id)
            assert logical is not None
            # the subnet's gateway CIDR, not the router port's own address
            self.assertEqual(["10.66.16.1/24"], [str(a) for a in logical.interfaces[0].ip_addresses])

    def test_the_seeds_operations_give_the_seeds_running_config(self) -> None:
        """Project demo, network net_demo (VLAN 300), subnet 10.66.16.0/24, a router with a gateway and an
        interface, a port bound to osvdev0013: the controller's running-config holds the seed's block."""
        self.name_project(self._project_id, "demo")
        net = self.vlan_network("net_demo", 300, project_id=self._project_id)
        subnet = self._make_subnet(self.fmt, {"network": net}, "10.66.16.1", "10.66.16.0/24")["subnet"]
        public = self.external_network()
        with self.router(project_id=self._project_id) as router:
            rid = router["router"]["id"]
            self._add_external_gateway_to_router(rid, public["id"])
            self._router_interface_action("add", rid, subnet["id"], None)
            port = self.bound_port(
                net,
                fixed_ips=[{"subnet_id": subnet["id"], "ip_address": "10.66.16.2"}],
                mac_address="fa:16:3e:ef:4f:f4",
            )
            self.sync()
            text = render_tenant("demo.openstack", self.controller.intent().tenants["demo.openstack"])
            expected = (
                SEED.read_text()
                .replace("1a2cf63967ca4f26ae5356bb2e6c818c", self._project_id)
                .replace("5310d836-c170-4fda-882c-8a61324d90c6", net["id"])
                .replace("0485e7a0-198f-4b88-a877-ca79d3e882bc", port["id"])
                .replace("origination openstackdev", "origination openstack")  # the seed's typo
            )
            self.assertEqual(expected.rstrip("\n"), text.rstrip("\n"))
            self.assertIn(HOST, text)
            for resource, rid_ in (("ports", port["id"]),):
                self._delete(resource, rid_, as_admin=True)
            self._router_interface_action("remove", rid, subnet["id"], None)
            self._remove_external_gateway_from_router(rid, public["id"])
            self._delete("routers", rid)
        self._delete("subnets", subnet["id"])
        self._delete("networks", net["id"], as_admin=True)
        self.sync()
        self.assertNotIn("demo.openstack", self.controller.intent().tenants)
