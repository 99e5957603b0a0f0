"""Neutron's own ML2/L3 test bases with a REAL podswitch controller: its API app under uvicorn on loopback
(tests/api/conftest.py `serve`), a SQLite store in a temporary directory, reached over HTTP by the journal
through `podswitch.client`. Nothing on the podswitch side is mocked.

The `openvswitch` mechanism driver binds the ports, as in production; its agent on the test's hosts is
stood in by the agent state neutron's own helper writes to the database (`register_ovs_agent`), which is
what the driver reads to bind."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from networking_podswitch import config
from networking_podswitch.db.models import JournalRow
from networking_podswitch.journal import record, worker
from neutron.tests.common import helpers
from neutron.tests.unit.api import test_extensions
from neutron.tests.unit.extensions import test_extraroute, test_l3
from neutron.tests.unit.plugins.ml2 import test_plugin
from neutron_lib import context as n_context
from neutron_lib.db import api as db_api
from oslo_config import cfg
from tests.api.conftest import TOKEN, serve

from podswitch import config as podswitch_config
from podswitch.client import Client
from podswitch.model import Intent, InterfaceGroup, Key, Kind, Port, Role, Switch
from podswitch.store import Store

HOST = "osvdev0013"
HOST2 = "osvdev0014"
PHYSNET = "physnet1"
PROVIDER = ("provider:network_type", "provider:physical_network", "provider:segmentation_id")


class Controller:
    """A podswitch controller of the test's own: stop() and start() again on the same port and store."""

    def __init__(self, directory: Path) -> None:
        self.store = Store.open(Store.default_url(directory))
        self.url, self._stop = serve(self.store)
        self.port = int(self.url.rsplit(":", 1)[1])
        self.running = True
        self.client = Client(self.url, token=TOKEN, retries=0)

    def stop(self) -> None:
        if self.running:
            self._stop()
            self.running = False

    def start(self) -> None:
        if not self.running:
            self.url, self._stop = serve(self.store, port=self.port)
            self.running = True

    def close(self) -> None:
        self.stop()
        self.client.close()
        self.store.close()

    def intent(self) -> Intent:
        return podswitch_config.parse(self.client.running_config()[1])

    def text(self) -> str:
        return self.client.running_config()[1]


class PodswitchTestCase(test_l3.L3NatTestCaseMixin, test_plugin.Ml2PluginV2TestCase):
    """ML2 with `openvswitch,podswitch` and the `podswitch_l3` service plugin against a real controller.
    The journal's thread is off: each test drains it with `sync()` (one pass, as the thread would)."""

    _mechanism_drivers = ["openvswitch", "podswitch"]
    l3_plugin = "networking_podswitch.l3.plugin.PodswitchL3Plugin"
    l3_mode = "router"
    extra_config: dict[str, Any] = {}
    urls_before: tuple[str, ...] = ()  # `[podswitch] url` entries ahead of the test's controller

    def get_additional_service_plugins(self) -> dict[str, str]:
        # The router plugin advertises l3-flavors, which needs the flavors plugin (neutron-notes.md).
        return {"flavors": "neutron.services.flavors.flavors_plugin.FlavorsPlugin"}

    def setUp(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="podswitch-neutron-"))
        self.controller = Controller(self.directory)
        self.addCleanup(self.controller.close)
        config.register()
        overrides = {
            "url": [*self.urls_before, self.controller.url],
            "token": TOKEN,
            "journal_thread": False,
            "l3_mode": self.l3_mode,
            "consistency_interval": 0,
            "retry_min": 0.01,
            "retry_max": 0.05,
            "timeout": 5.0,
            **self.extra_config,
        }
        for name, value in overrides.items():
            cfg.CONF.set_override(name, value, config.GROUP)
        worker.reset()
        self.addCleanup(worker.reset)
        super().setUp()
        self.ext_api = test_extensions.setup_extensions_middleware(test_extraroute.ExtraRouteTestExtensionManager())
        self.journal = worker.get()
        self.admin = n_context.get_admin_context()
        for host in (HOST, HOST2):
            helpers.register_ovs_agent(host=host, bridge_mappings={PHYSNET: "br-phys1"}, tunnel_types=[])

    # ---- Neutron side helpers -------------------------------------------------------------------

    def vlan_network(self, name: str, vlan: int, project_id: str | None = None, **extra: Any) -> dict[str, Any]:
        kwargs = {
            "provider:network_type": "vlan",
            "provider:physical_network": PHYSNET,
            "provider:segmentation_id": vlan,
            **extra,
        }
        return self._make_network(
            self.fmt, name, True, as_admin=True, arg_list=PROVIDER + tuple(extra), project_id=project_id, **kwargs
        )["network"]

    def host_on_leaf(self, host: str = HOST, leaf: str = "leaf1") -> None:
        """Put `host`'s interface-group on `leaf` in the topology (a port bound on a host outside it stays DOWN)."""
        ops = self.controller.client
        ops.put_object(Key(Kind.SWITCH, name=leaf), Switch(name=leaf, role=Role.LEAF))
        group = InterfaceGroup(name=host, members=(Port(switch=leaf, interface="eth1"),))
        ops.put_object(Key(Kind.INTERFACE_GROUP, name=host), group)

    def bound_port(self, network: dict[str, Any], host: str = HOST, **kwargs: Any) -> dict[str, Any]:
        return self._make_port(
            self.fmt,
            network["id"],
            as_admin=True,
            arg_list=("binding:host_id",),
            project_id=network["project_id"],
            **{"binding:host_id": host, **kwargs},
        )["port"]

    def name_project(self, project_id: str, name: str) -> None:
        with db_api.CONTEXT_WRITER.using(self.admin):
            record.rename_project(self.admin, project_id, None, name, config.settings())

    def sync(self) -> worker.Pass:
        """Drain the journal once (what the thread does after each wake-up)."""
        return self.journal.run_once()

    def pending(self) -> int:
        with db_api.CONTEXT_READER.using(self.admin):
            return int(self.admin.session.query(JournalRow).filter_by(state="pending").count())

    def tenant(self, project_id: str) -> str:
        return f"{project_id}.openstack"
