"""Fixtures of the end-to-end tests: one podswitch controller (`podswitch serve`, SQLite) and one real Neutron
deployment pointing at it (deployment.py: MariaDB with the real migrations, the API under waitress,
neutron-rpc-server and neutron-periodic-workers on a RabbitMQ vhost of their own, ML2 with
`openvswitch,podswitch`, a stand-in OVS agent on osvdev0013), shared by the whole session: Neutron takes 30-90 s
to deploy, so the tests share it and each works in a project of its own. Beside it, deployed at the same time,
the baseline: the same Neutron without podswitch, for timings measured in the same run.

Nothing here skips: MariaDB, RabbitMQ and the neutron venv are part of `make test`; when one is missing the
session fails and says which."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait

import pytest

from podswitch.client import Client
from podswitch.lab.process import ControllerProcess

from .cloud import COMPUTE_HOST
from .deployment import Neutron, Podswitch, deploy, teardown
from .services import MessageBus

TOKEN = "e2e-admin-token"
# The journal tuned for a test's time scale: retries at most 2 s apart once the controller is back, a
# lease a killed process holds 5 s (not 30), batches small enough that a backlog takes several, and no
# periodic consistency check: what converges here, the journal alone made converge (a repair pass would hide
# a row it lost).
JOURNAL = {"retry_max": "2", "sync_interval": "1", "lease": "5", "batch_size": "20", "consistency_interval": "0"}


@pytest.fixture(scope="session")
def bus() -> Iterator[MessageBus]:
    bus = MessageBus.create()
    yield bus
    bus.drop()


@pytest.fixture(scope="session")
def controller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerProcess]:
    """A real `podswitch serve` on SQLite; tests stop, kill and restart it (same port, same data)."""
    ctl = ControllerProcess(tmp_path_factory.mktemp("controller") / "data", TOKEN).start()
    yield ctl
    ctl.stop()


@pytest.fixture(scope="session")
def deployments(
    tmp_path_factory: pytest.TempPathFactory, bus: MessageBus, controller: ControllerProcess
) -> Iterator[dict[str, Neutron]]:
    """Both Neutrons, deployed at the same time (each takes 30-90 s, mostly imports and migrations)."""
    plans = {
        "podswitch": (tmp_path_factory.mktemp("neutron"), Podswitch([controller.url], TOKEN, JOURNAL)),
        "baseline": (tmp_path_factory.mktemp("baseline"), None),
    }
    with ThreadPoolExecutor(len(plans)) as pool:
        futures = {
            name: pool.submit(deploy, name, work, bus, ps, (COMPUTE_HOST,)) for name, (work, ps) in plans.items()
        }
        try:
            wait(futures.values())
        except BaseException:  # interrupted: what the threads still deploy must not outlive the session
            pool.shutdown(wait=True)
            for future in futures.values():
                if future.exception() is None:
                    teardown(future.result())
            raise
    failed = [f.exception() for f in futures.values() if f.exception() is not None]
    deployed = {name: f.result() for name, f in futures.items() if f.exception() is None}
    try:
        if failed:
            raise failed[0]  # type: ignore[misc]
        yield deployed
    finally:
        for n in deployed.values():
            teardown(n)


@pytest.fixture(scope="session")
def neutron(deployments: dict[str, Neutron]) -> Neutron:
    return deployments["podswitch"]


@pytest.fixture(scope="session")
def baseline(deployments: dict[str, Neutron]) -> Neutron:
    """The same Neutron without podswitch (ML2 with the openvswitch driver alone, the stock L3 plugin), for
    timings beside the podswitch one in the same run."""
    return deployments["baseline"]


@pytest.fixture
def ensure_controller(controller: ControllerProcess) -> Iterator[ControllerProcess]:
    """The controller running at the start and at the end of the test, whatever the test did to it."""
    if controller.proc is None or controller.proc.poll() is not None:
        controller.start()
    yield controller
    if controller.proc is None or controller.proc.poll() is not None:
        controller.start()


@pytest.fixture
def ps(controller: ControllerProcess) -> Iterator[Client]:
    """podswitch.client on the controller (bounded retries: the controller is down in parts of some tests)."""
    with Client([controller.url], token=TOKEN, timeout=30.0, retries=0) as client:
        yield client


@pytest.fixture
def project_id() -> str:
    """A project of the test's own (a Keystone-style id: 32 hex digits)."""
    return uuid.uuid4().hex
