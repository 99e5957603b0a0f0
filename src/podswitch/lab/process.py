"""A `podswitch serve` child process on 127.0.0.1 with SQLite in its own data directory: what the lab's
tests, the data-plane benchmark and the crash tests start, stop, kill and restart."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PODSWITCH = [sys.executable, "-m", "podswitch"]


class ControllerStartError(RuntimeError):
    """The controller exited or did not answer /healthz in time; the message ends with its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class ControllerProcess:
    data_dir: Path
    token: str
    port: int = field(default_factory=free_port)
    log_level: str = "warning"
    db: str | None = None  # a database URL (several controllers on one PostgreSQL); None: SQLite in data_dir
    proc: subprocess.Popen[bytes] | None = None
    # A command the controller runs under, e.g. `nsenter -t PID -m --` to see a mount namespace of its own
    # (the database-fault tests put its data on a small tmpfs there). It must exec the controller, so that
    # stop and kill reach it.
    wrap: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        # Controllers sharing a database share the data dir (its admin token) too: one log each.
        return self.data_dir / ("controller.log" if self.db is None else f"controller-{self.port}.log")

    @property
    def env(self) -> dict[str, str]:
        """The environment the CLI needs to talk to this controller."""
        return {
            **os.environ,
            "PODSWITCH_ADMIN_TOKEN": self.token,
            "PODSWITCH_URL": self.url,
            "PODSWITCH_DATA_DIR": str(self.data_dir),
        }

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=timeout)

    def start(self, timeout: float = 60.0) -> ControllerProcess:
        """Start (again, on the same port and data) and wait until /healthz answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PODSWITCH_ADMIN_TOKEN": self.token}
        env.pop("PODSWITCH_DATABASE_URL", None)  # SQLite in data_dir, whatever the environment says
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    *self.wrap,
                    *PODSWITCH,
                    "serve",
                    "--data-dir",
                    str(self.data_dir),
                    "--port",
                    str(self.port),
                    "--log-level",
                    self.log_level,
                    *(["--db", self.db] if self.db else []),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise ControllerStartError(f"podswitch serve exited with {self.proc.returncode}:\n{tail(self.log)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=2.0).status_code == 200:
                    return self
            if time.monotonic() >= deadline:
                self.stop()
                raise ControllerStartError(f"no answer on {self.url}/healthz after {timeout:.0f}s:\n{tail(self.log)}")
            time.sleep(0.1)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it does not go."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL: a crash, as the crash tests need it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def restart(self, timeout: float = 60.0) -> ControllerProcess:
        self.stop()
        return self.start(timeout)


def start_controller(data_dir: Path, token: str, timeout: float = 60.0) -> ControllerProcess:
    return ControllerProcess(data_dir, token).start(timeout)
