"""Fixtures for tests that run real traffic through a lab POD.

    def test_ping(lab_factory):
        lab = lab_factory(SEED_CONFIG)                    # controller + running-config + `podswitch lab up`
        assert lab.ping("0485e7a0", "10.66.16.1")         # endpoint id prefix, switch, server or `external`
        lab.exec("leaf1", "ip", "-br", "link")            # CompletedProcess, never raises on rc != 0
        lab.api.put(...)                                  # httpx client on the controller, admin token set
        lab.apply(OTHER_CONFIG)                           # replace the tenants, keep the lab's topology
        lab.wait_synced()                                 # every agent reports the current desired state

`lab_factory` is function-scoped; a module that runs many checks against one POD can build it once with
`start_controller` / `start_lab` in a module-scoped fixture of its own (see `seed_lab` below). Each lab has
its own namespace prefix (`pslab<pid>x<n>-`), and teardown runs `lab down` and checks that no namespace
with that prefix is left. Waiting is always bounded polling (`Lab.wait_for`), never a fixed sleep.

Needs root: tests using these fixtures are skipped otherwise (the reason is printed with -rs)."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from podswitch.agent import netns
from podswitch.config import parse, render
from podswitch.lab import control
from podswitch.lab import statefile as lab_state
from podswitch.lab.process import ControllerProcess as ControllerProc
from podswitch.lab.process import ControllerStartError
from podswitch.lab.process import start_controller as start_controller_process
from podswitch.lab.process import tail as _tail

REPO = Path(__file__).resolve().parents[2]
SEED_CONFIG = (REPO / "examples" / "seed-running-config.txt").read_text()
DEMO_CONFIG = (REPO / "examples" / "demo-running-config.txt").read_text()
PODSWITCH = [sys.executable, "-m", "podswitch"]
TOKEN = "lab-test-admin-token"
STARTUP_TIMEOUT = 60.0  # a busy 2-core machine needs a few seconds to import and start a controller
LAB_TIMEOUT = 120.0
_counter = itertools.count(1)


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: the lab builds network namespaces, veths, bridges and tc BPF filters")
    if shutil.which("ip") is None or shutil.which("ping") is None:
        pytest.skip("needs iproute2 and iputils-ping (scripts/system-deps.sh installs them)")


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2, what: str = "") -> Any:
    """Poll until `predicate()` is truthy (and return it); fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what or predicate}")
        time.sleep(interval)


def start_controller(data_dir: Path) -> ControllerProc:
    """`podswitch serve` on a free port with SQLite in data_dir; the admin token comes from the environment."""
    try:
        return start_controller_process(data_dir, TOKEN, STARTUP_TIMEOUT)
    except ControllerStartError as exc:
        pytest.fail(str(exc))


@dataclass
class Lab:
    controller: ControllerProc
    prefix: str
    api: httpx.Client
    shape: dict[str, Any] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.controller.data_dir

    @property
    def lab_dir(self) -> Path:
        return lab_state.lab_dir(self.data_dir)

    def state(self) -> lab_state.LabState:
        state = lab_state.load(self.lab_dir)
        assert state is not None, "the lab has no state file"
        return state

    def ns(self, name: str) -> str | None:
        """The namespace of a switch, server, `external`, or endpoint id (prefix); None if unknown."""
        state = lab_state.load(self.lab_dir)
        return control.lookup(state, name).namespace if state is not None else None

    def namespaces(self) -> list[str]:
        return netns.names(self.prefix)

    def cli(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """`podswitch ARGS` against this lab's controller and data dir."""
        return subprocess.run(
            [*PODSWITCH, *args], capture_output=True, text=True, timeout=timeout, env=self.controller.env, check=False
        )

    def exec(self, name: str, *argv: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run argv in the namespace `name` stands for (like `lab exec`, without starting the CLI)."""
        ns = self.ns(name)
        assert ns is not None, f"no switch, server or endpoint {name!r} in the lab"
        return subprocess.run(
            ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout, check=False
        )

    def ping(self, name: str, address: str, count: int = 3, wait: float = 1.0) -> bool:
        """True when `count` echo requests from `name` to `address` got at least one reply (False while
        `name` is not in the lab yet)."""
        if self.ns(name) is None:
            return False
        return (
            self.exec(name, "ping", "-n", "-q", "-c", str(count), "-W", str(wait), "-i", "0.2", address).returncode == 0
        )

    def wait_ping(self, name: str, address: str, timeout: float = 60.0) -> None:
        """Bounded: the path may need the agents to apply a change first."""
        wait_for(
            lambda: self.ping(name, address, count=1), timeout, what=f"{name} to ping {address}\n{self.diagnostics()}"
        )

    def wait_endpoint(self, eid: str, timeout: float = 60.0) -> str:
        """Wait until the lab has built endpoint `eid` (namespace exists, recorded without error); returns
        its namespace."""

        def built() -> str | None:
            state = lab_state.load(self.lab_dir)
            ep = state.endpoints.get(eid) if state is not None else None
            return ep["netns"] if ep and not ep.get("error") and netns.exists(ep["netns"]) else None

        return str(wait_for(built, timeout, what=f"endpoint {eid} to be built\n{self.diagnostics()}"))

    def wait_gone(self, eid: str, timeout: float = 60.0) -> None:
        """Wait until endpoint `eid` has no namespace and no entry in the lab's state."""

        def gone() -> bool:
            state = lab_state.load(self.lab_dir)
            ep = state.endpoints.get(eid) if state is not None else None
            return ep is None and not any(n.startswith(f"{self.prefix}ep-{eid[:8]}") for n in self.namespaces())

        wait_for(gone, timeout, what=f"endpoint {eid} to be removed\n{self.diagnostics()}")

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
        return wait_for(predicate, timeout, what=what)

    def revision(self) -> int:
        return int(self.api.get("/healthz").json()["revision"])

    def synced(self) -> bool:
        """Every lab switch's agent reports the current desired state, without errors, and the lab has
        realised the current intent revision."""
        state = lab_state.load(self.lab_dir)
        if state is None or state.revision != self.revision():
            return False
        items = {s["name"]: s for s in self.api.get("/v1/switches", params={"limit": 1000}).json()["items"]}
        return all(
            items.get(n, {}).get("in_sync") and not (items[n].get("status") or {}).get("errors") for n in state.switches
        )

    def wait_synced(self, timeout: float = 60.0) -> None:
        wait_for(self.synced, timeout, what=f"the lab and its agents to be in sync\n{self.diagnostics()}")

    def apply(self, text: str, keep_topology: bool = True) -> int:
        """Replace the intent with running-config `text`; by default the lab's topology is kept (else the
        lab writes it back, in more revisions). Returns the new revision."""
        if keep_topology:
            current = parse(self.api.get("/v1/running-config").text)
            new = parse(text)
            if not new.topology.switches:
                new = new.model_copy(update={"topology": current.topology})
            text = render(new)
        resp = self.api.put("/v1/running-config", content=text.encode(), headers={"Content-Type": "text/plain"})
        assert resp.status_code == 200, resp.text
        return int(resp.json()["revision"])

    def diagnostics(self) -> str:
        parts = [
            f"--- namespaces {self.prefix}*: {' '.join(self.namespaces())}",
            f"--- supervisor log:\n{_tail(self.lab_dir / lab_state.SUPERVISOR_LOG)}",
        ]
        for log in sorted(self.lab_dir.glob("agent-*.log")):
            parts.append(f"--- {log.name}:\n{_tail(log, 8)}")
        return "\n".join(parts)

    def down(self) -> None:
        control.down(self.data_dir, self.prefix)


def start_lab(
    controller: ControllerProc,
    config: str | None = None,
    *,
    spines: int = 2,
    leaves: int = 4,
    servers: tuple[str, ...] = (),
    prefix: str | None = None,
    agent_command: str | None = None,
) -> Lab:
    """Apply `config` (running-config text) and bring the lab up with `podswitch lab up` (`agent_command`: its
    `--agent-command`, another release's agent)."""
    prefix = prefix or f"pslab{os.getpid()}x{next(_counter)}-"
    api = controller.client()
    if config is not None:
        resp = api.put("/v1/running-config", content=config.encode(), headers={"Content-Type": "text/plain"})
        assert resp.status_code == 200, resp.text
    lab = Lab(controller, prefix, api, {"spines": spines, "leaves": leaves, "servers": servers})
    args = [
        "lab",
        "up",
        "--prefix",
        prefix,
        "--spines",
        str(spines),
        "--leaves",
        str(leaves),
        "--timeout",
        str(LAB_TIMEOUT),
    ]
    for s in servers:
        args += ["--server", s]
    if agent_command is not None:
        args += ["--agent-command", agent_command]
    proc = lab.cli(*args, timeout=LAB_TIMEOUT + 60)
    if proc.returncode != 0:
        diag = ""
        with contextlib.suppress(Exception):
            diag = lab.diagnostics()
        lab.down()
        api.close()
        pytest.fail(f"podswitch lab up failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{diag}")
    return lab


def stop_lab(lab: Lab) -> None:
    """`lab down`, then check nothing with the prefix is left."""
    try:
        proc = lab.cli("lab", "down", "--prefix", lab.prefix)
        assert proc.returncode == 0, proc.stderr
    finally:
        lab.down()  # in-process too: idempotent, and it works even if the CLI could not start
        lab.api.close()
    assert netns.names(lab.prefix) == [], f"namespaces left behind: {netns.names(lab.prefix)}"


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[ControllerProc]:
    require_root()
    ctl = start_controller(tmp_path / "data")
    yield ctl
    ctl.stop()


@pytest.fixture
def lab_factory(controller: ControllerProc) -> Iterator[Callable[..., Lab]]:
    """lab_factory(config_text=None, spines=2, leaves=4, servers=()) -> Lab; torn down after the test."""
    labs: list[Lab] = []

    def make(config: str | None = None, **shape: Any) -> Lab:
        lab = start_lab(controller, config, **shape)
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        stop_lab(lab)


@pytest.fixture(scope="module")
def seed_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One lab with the demo config (seed tenant + the outside world) for a whole module."""
    with running_lab(tmp_path_factory, DEMO_CONFIG, "seed-lab") as lab:
        yield lab


@contextlib.contextmanager
def running_lab(tmp_path_factory: pytest.TempPathFactory, config: str, name: str, **shape: Any) -> Iterator[Lab]:
    """A controller of its own with `config`, and a lab up on it (`shape`: spines, leaves, ...)."""
    require_root()
    ctl = start_controller(tmp_path_factory.mktemp(name) / "data")
    try:
        lab = start_lab(ctl, config, **shape)
        try:
            yield lab
        finally:
            stop_lab(lab)
    finally:
        ctl.stop()
