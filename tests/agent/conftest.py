"""Fixtures for the agent's netns tests: a tiny POD (1 spine, 2 leaves, 2 hosts) cabled with veths, and an
opener whose handles count every netlink write, independently of the agent's own counter.

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

_READS = ("dump", "get", "show", "list")
_WRITERS = ("link", "addr", "route", "neigh", "fdb", "rule", "tc", "brport", "vlan_filter")


@dataclass
class WriteLog:
    entries: list[tuple[str | None, str, str]] = field(default_factory=list)  # (netns, method, command)

    def clear(self) -> None:
        self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)


class CountingIPR:
    """Wraps a pyroute2 handle: every non-read call of a write-capable method is logged."""

    def __init__(self, ipr: Any, name: str | None, log: WriteLog) -> None:
        self._ipr, self._name, self._log = ipr, name, log

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self._ipr, attr)
        if attr in ("nlm_request", "put", "sendto", "send"):
            raise AssertionError(f"unexpected raw pyroute2 call {attr}")
        if attr not in _WRITERS:
            return target

        def call(command: Any, *args: Any, **kwargs: Any) -> Any:
            if not (isinstance(command, str) and command.startswith(_READS)):
                self._log.entries.append((self._name, attr, str(command)))
            return target(command, *args, **kwargs)

        return call


class CountingRt:
    """Wraps the agent's batch socket: every request handed to `execute` is logged."""

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

    def ipr(self, name: str | None) -> Any:
        return CountingIPR(self.inner.ipr(name), name, self.log)

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
