"""A real Neutron deployment for the end-to-end tests and the benchmark, the way neutron 29 runs:

- its database on the machine's MariaDB, schema made by the real migrations (`neutron-db-manage upgrade
  heads`: neutron's branches and every installed subproject's, networking-podswitch's among them);
- the REST API (`neutron.wsgi.api:application` under waitress: serve_api.py), `neutron-rpc-server` (agents'
  RPC over RabbitMQ) and `neutron-periodic-workers` (the plugins' workers), each a process of its own;
- ML2 with `mechanism_drivers = openvswitch,podswitch` (or `openvswitch` alone: the baseline), VLAN provider
  networks on physnet1, noauth;
- stand-in OVS agents (standin_ovs_agent.py: they report state over RPC as the real agent does, nothing
  else), so that the openvswitch driver binds ports to their hosts.

Clients talk to it with openstacksdk."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openstack
from openstack.connection import Connection

from podswitch.lab.process import free_port

from .processes import Child, wait_until
from .services import Database, MessageBus

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
PHYSNET = "physnet1"
VLAN_RANGE = (100, 399)
START_TIMEOUT = 120.0  # neutron imports for 3-5 s per process; on a loaded 2-core machine much longer
AGENT_REPORT_INTERVAL = 5
PODSWITCH_SUBPROJECT = "networking-podswitch"
ADMIN_PROJECT = uuid.uuid4().hex  # the cloud's admin project: the agents' and the external network's
USER = uuid.uuid4().hex


@dataclass
class Podswitch:
    """What Neutron's `[podswitch]` section says: the controller(s) and the token."""

    urls: list[str]
    token: str
    options: dict[str, str] = field(default_factory=dict)  # further [podswitch] options (journal tuning)


@dataclass
class Neutron:
    name: str
    work: Path
    database: Database
    bus: MessageBus
    podswitch: Podswitch | None  # None: the baseline, ML2 with the openvswitch driver alone
    port: int = field(default_factory=free_port)
    api: Child | None = None
    rpc: Child | None = None
    periodic: Child | None = None
    agents: dict[str, Child] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def etc(self) -> Path:
        return self.work / "etc"

    @property
    def config_files(self) -> list[Path]:
        return [self.etc / "neutron.conf", self.etc / "plugins" / "ml2" / "ml2_conf.ini"]

    def config_args(self, *extra: Path) -> list[str]:
        return [arg for f in (*self.config_files, *extra) for arg in ("--config-file", str(f))]

    # -- configuration ------------------------------------------------------------------------------------

    def write_config(self) -> None:
        (self.etc / "plugins" / "ml2").mkdir(parents=True, exist_ok=True)
        for sub in ("state", "lock"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        stock = (BIN.parent / "etc" / "neutron" / "api-paste.ini").read_text()
        (self.etc / "api-paste.ini").write_text(api_paste(stock))
        # L3RouterPlugin advertises l3-flavors, which needs the flavors plugin loaded too.
        l3 = "podswitch_l3" if self.podswitch is not None else "router"
        podswitch = ""
        if self.podswitch is not None:
            options = {"url": ",".join(self.podswitch.urls), "token": self.podswitch.token, **self.podswitch.options}
            podswitch = "[podswitch]\n" + "".join(f"{k} = {v}\n" for k, v in options.items())
        # No port quota: the benchmark's outage backlog puts thousands of ports in one project (Neutron's
        # default quota is 500 per project).
        (self.etc / "neutron.conf").write_text(
            textwrap.dedent(f"""\
            [DEFAULT]
            core_plugin = ml2
            service_plugins = {l3},flavors
            auth_strategy = noauth
            transport_url = {self.bus.transport_url}
            control_exchange = {self.bus.exchange}
            api_paste_config = {self.etc / "api-paste.ini"}
            state_path = {self.work / "state"}
            notify_nova_on_port_status_changes = false
            notify_nova_on_port_data_changes = false
            rpc_workers = 1
            rpc_state_report_workers = 1
            agent_down_time = 60
            debug = false
            [agent]
            report_interval = {AGENT_REPORT_INTERVAL}
            [database]
            connection = {self.database.url}
            max_retries = -1
            [oslo_concurrency]
            lock_path = {self.work / "lock"}
            [oslo_messaging_rabbit]
            heartbeat_timeout_threshold = 0
            [quotas]
            quota_port = -1
            """)
            + podswitch
        )
        drivers = "openvswitch,podswitch" if self.podswitch is not None else "openvswitch"
        (self.etc / "plugins" / "ml2" / "ml2_conf.ini").write_text(
            textwrap.dedent(f"""\
            [ml2]
            type_drivers = vlan
            tenant_network_types = vlan
            mechanism_drivers = {drivers}
            extension_drivers = port_security
            [ml2_type_vlan]
            network_vlan_ranges = {PHYSNET}:{VLAN_RANGE[0]}:{VLAN_RANGE[1]}
            [securitygroup]
            enable_security_group = true
            """)
        )

    def migrate(self) -> None:
        """The real migrations, subproject by subproject: neutron's, then networking-podswitch's branch.
        Not all installed subprojects at once: the venv also holds networking-bigswitch (for its REST client
        only), whose migrations do not run on SQLAlchemy 2."""
        subprojects = ["neutron"] + ([PODSWITCH_SUBPROJECT] if self.podswitch is not None else [])
        log = self.work / "db-manage.log"
        for subproject in subprojects:
            argv = [str(BIN / "neutron-db-manage"), *self.config_args(), "--subproject", subproject, "upgrade"]
            with open(log, "ab") as out:
                proc = subprocess.run(
                    [*argv, "heads"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=600,
                )
            if proc.returncode != 0:
                raise RuntimeError(
                    f"neutron-db-manage --subproject {subproject} upgrade heads failed ({proc.returncode}):\n"
                    f"{log.read_text()[-4000:]}"
                )

    # -- processes ----------------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "OS_NEUTRON_CONFIG_DIR": str(self.etc),
            "OS_NEUTRON_CONFIG_FILES": "neutron.conf;plugins/ml2/ml2_conf.ini",
        }

    def start(self) -> Neutron:
        self.start_api()
        rpc = [str(BIN / "neutron-rpc-server"), *self.config_args()]
        self.rpc = Child(f"{self.name} rpc", rpc, self.work / "rpc.log", self._env()).start()
        self.periodic = Child(
            f"{self.name} periodic workers",
            [str(BIN / "neutron-periodic-workers"), *self.config_args()],
            self.work / "periodic.log",
            self._env(),
        ).start()
        self.wait_api()
        return self

    def start_api(self) -> None:
        argv = [sys.executable, str(HERE / "serve_api.py"), str(self.port)]
        self.api = Child(f"{self.name} api", argv, self.work / "api.log", self._env()).start()

    def wait_api(self) -> None:
        assert self.api is not None

        def answers() -> bool:
            try:
                return httpx.get(f"{self.url}/v2.0/networks", headers=identity(), timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, START_TIMEOUT, f"{self.name}'s API on {self.url}", *self.processes())

    def processes(self) -> list[Child]:
        return [c for c in (self.api, self.rpc, self.periodic, *self.agents.values()) if c is not None]

    def kill_api(self) -> None:
        """SIGKILL the API process: a crash in the middle of whatever it was doing."""
        assert self.api is not None
        self.api.kill()

    def restart_api(self) -> None:
        self.start_api()
        self.wait_api()

    def start_agent(self, host: str, bridge: str = "br-phys1") -> None:
        """A stand-in OVS agent on `host` (see standin_ovs_agent.py), waited for until Neutron lists it
        alive."""
        ini = self.etc / f"agent-{host}.ini"
        ini.write_text(
            f"[DEFAULT]\nhost = {host}\n[ovs]\nbridge_mappings = {PHYSNET}:{bridge}\n"
            f"[agent]\nreport_interval = {AGENT_REPORT_INTERVAL}\n"
        )
        argv = [sys.executable, str(HERE / "standin_ovs_agent.py"), *self.config_args(ini)]
        self.agents[host] = Child(f"{self.name} agent {host}", argv, self.work / f"agent-{host}.log").start()
        sdk = self.connection()
        wait_until(
            lambda: any(a.is_alive for a in sdk.network.agents(host=host, agent_type="Open vSwitch agent")),
            START_TIMEOUT,
            f"the stand-in OVS agent on {host} to be alive in {self.name}",
            *self.processes(),
        )

    def stop(self) -> None:
        for child in reversed(self.processes()):
            child.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {c.name} ({c.log}):\n{c.tail()}" for c in self.processes())

    # -- clients ------------------------------------------------------------------------------------------

    def connection(self, project_id: str = ADMIN_PROJECT, project_name: str = "admin") -> Connection:
        """openstacksdk as a user of the project, with the admin role (provider attributes and
        binding:host_id are admin-only): its requests carry the headers keystonemiddleware sets for such a
        token (see api_paste). The endpoint override is the root URL: with /v2.0 the SDK's version
        discovery fails."""
        conn = openstack.connect(
            auth_type="none",
            auth={"endpoint": self.url},
            network_endpoint_override=f"{self.url}/",
            region_name="RegionOne",
        )
        conn.network.additional_headers.update(identity(project_id, project_name))
        return conn


def identity(project_id: str = ADMIN_PROJECT, project_name: str = "admin") -> dict[str, str]:
    """What keystonemiddleware's auth_token puts in a request's headers once it validated a token of a
    user of `project_id` with the admin role."""
    return {
        "X-User-Id": USER,
        "X-User-Name": "e2e",
        "X-Project-Id": project_id,
        "X-Project-Name": project_name,
        "X-Roles": "admin,member,reader",
    }


def api_paste(text: str) -> str:
    """Neutron's api-paste.ini with its `noauth` pipeline taking the caller's identity from the request's
    headers (neutron.auth.NeutronKeystoneContext, the `keystonecontext` filter of the `keystone` pipeline)
    instead of making every caller admin of `fake_project_id`: Keystone's own part, auth_token validating a
    token and setting those headers, is all that is left out. So Neutron's context carries the project's
    name, as in a deployment with Keystone, and networking-podswitch names the tenant after it."""
    noauth = re.compile(r"^(noauth = .*)\bfake_project_id\b(.*neutronapiapp_v2_0)$", re.MULTILINE)
    changed, count = noauth.subn(r"\1keystonecontext\2", text)
    if count != 1:
        raise RuntimeError("api-paste.ini: no noauth pipeline with fake_project_id to replace")
    return changed


def deploy(
    name: str, work: Path, bus: MessageBus, podswitch: Podswitch | None, agent_hosts: tuple[str, ...] = ()
) -> Neutron:
    """A database of its own, migrated; the three neutron processes; stand-in agents on `agent_hosts`."""
    started = time.monotonic()
    database = Database.create(f"neutron_{name}")
    neutron = Neutron(name, work, database, bus, podswitch)
    try:
        neutron.write_config()
        neutron.migrate()
        neutron.start()
        for host in agent_hosts:
            neutron.start_agent(host)
    except BaseException:
        neutron.stop()
        database.drop()
        raise
    print(f"{name}: neutron up on {neutron.url} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return neutron


def teardown(neutron: Neutron) -> None:
    try:
        neutron.stop()
    finally:
        neutron.database.drop()


def project_body(project_id: str, **fields: Any) -> dict[str, Any]:
    """With noauth, every create must name its project in the body."""
    return {"project_id": project_id, **fields}
