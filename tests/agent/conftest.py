"""Fixtures for the agent's netns tests: a tiny POD (1 spine, 2 leaves, 2 hosts) cabled with veths, and an
opener whose sockets count every netlink write, independently of the agent's own counter.

Every namespace of a test run is named `psr<pid>...` and deleted by that prefix when the session ends, also
after failures (and at start, in case a previous run with the same pid was killed)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

PREFIX = f"psr{os.getpid()}"


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: builds network namespaces, veths, bridges and tc BPF filters")


def delete_namespaces(prefix: str) -> None:
    from pyroute2 import netns

    for name in netns.listnetns():
        if name.startswith(prefix):
            with contextlib.suppress(OSError):
                netns.remove(name)


def sh(ns: str, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A command inside namespace `ns` (tests only: the agent itself never runs ip/bridge)."""
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{ns}: {' '.join(argv)} -> rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


# ---- write counting ------------------------------------------------------------------------------------


@dataclass
class WriteLog:
    entries: list[tuple[str | None, str, str]] = field(default_factory=list)  # (netns, "batch", what)

    def clear(self) -> None:
        self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)


class CountingRt:
    """Wraps the agent's netlink socket: every request handed to `execute` is logged. (The agent has no
    other way to write netlink: its only handle on a namespace is this socket.)"""

    def __init__(self, rt: Any, name: str | None, log: WriteLog) -> None:
        self._rt, self._name, self._log = rt, name, log

    def execute(self, ops: Any) -> Any:
        for op in ops:
            self._log.entries.append((self._name, "batch", op.what))
        return self._rt.execute(ops)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._rt, attr)


class CountingOpener:
    def __init__(self) -> None:
        from podswitch.agent.kernel import DefaultOpener

        self.inner = DefaultOpener()
        self.log = WriteLog()

    def rt(self, name: str | None) -> Any:
        return CountingRt(self.inner.rt(name), name, self.log)


@pytest.fixture
def counting_opener() -> CountingOpener:
    return CountingOpener()


@pytest.fixture(scope="session")
def netns_prefix() -> str:
    """Prefix of every namespace this test session creates (deleted at the end by `_cleanup_namespaces`)."""
    return PREFIX


@pytest.fixture(scope="session", autouse=True)
def _cleanup_namespaces() -> Iterator[None]:
    if os.geteuid() == 0:
        delete_namespaces(PREFIX)
    yield
    if os.geteuid() == 0:
        delete_namespaces(PREFIX)
