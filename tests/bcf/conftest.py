"""A real `podswitch serve` (the CLI, its own process, on loopback) and the upstream networking-bigswitch client
run by `.venv-neutron/bin/python` (`make neutron-venv`: neutron must not enter podswitch's own venv)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
NEUTRON_PYTHON = REPO / ".venv-neutron" / "bin" / "python"
PODSWITCH = Path(sys.executable).with_name("podswitch")
DRIVER = Path(__file__).with_name("upstream_client.py")
TOKEN = "bcf-test-admin-token"
INSTANCE = "openstack"  # the seed's origination: Neutron's [RESTPROXY] neutron_id
# The seed's members carry another origination than its other objects (openstackdev).
MEMBERS_AS_IN_THE_SEED = {"PODSWITCH_BCF_MEMBER_ORIGINATION": "{instance}dev"}


def free_port() -> int:
    """A loopback port nobody listens on (a controller that is down answers connection refused there)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Controller:
    """One `podswitch serve` process."""

    port: int
    data: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **env: str) -> Controller:
        environ = {**os.environ, "PODSWITCH_ADMIN_TOKEN": TOKEN, **env}
        log = (self.data.parent / f"serve-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [str(PODSWITCH), "serve", "--data-dir", str(self.data), "--port", str(self.port), "--log-level", "warning"],
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, f"podswitch serve exited: see {log.name}"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "podswitch serve did not answer /healthz"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)
        self.process = None

    def running_config(self) -> str:
        """What `podswitch show running-config` prints (the CLI, through the native API)."""
        done = subprocess.run(
            [str(PODSWITCH), "show", "running-config", "--url", self.url],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def controller(data_dir: Path) -> Iterator[Controller]:
    """A controller whose members carry the origination the seed's do (`openstackdev`)."""
    ctl = Controller(free_port(), data_dir).start(**MEMBERS_AS_IN_THE_SEED)
    yield ctl
    ctl.stop()


def neutron_conf(servers: list[str], **extra: Any) -> str:
    """neutron.conf's [RESTPROXY] as docs/bcf-compat.md tells an operator to write it."""
    options = {
        "servers": ",".join(servers),
        "server_ssl": "False",
        "server_auth": f"admin:{TOKEN}",
        "neutron_id": INSTANCE,
        "naming_scheme_unicode": "False",
        "state_sync_interval": "0",
        "consistency_interval": "3600",
        # Keystone is not here: its tenant cache is given to the client (upstream_client.py).
        "auth_url": f"http://127.0.0.1:{free_port()}/v3",
        "auth_user": "neutron",
        "auth_password": "unused",
        "auth_tenant": "service",
        **extra,
    }
    return "[RESTPROXY]\n" + "".join(f"{k} = {v}\n" for k, v in options.items())


def upstream(script: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the unmodified networking-bigswitch client on a script (see upstream_client.py): its capabilities
    first, then what each step returned or raised."""
    if not NEUTRON_PYTHON.exists():
        pytest.fail(
            f"{NEUTRON_PYTHON} is missing: the contract tests drive networking-bigswitch from the Neutron venv. "
            "Build it with `make neutron-venv` (`make test` does).",
            pytrace=False,
        )
    done = subprocess.run(
        [str(NEUTRON_PYTHON), str(DRIVER)],
        input=json.dumps(script),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
