"""Network namespaces without subprocesses: create/remove/list named namespaces, run a function inside
one, and read/write sysctls there.

`run_in(name, fn)` moves a short-lived *thread* into the namespace with setns(2) and runs `fn` there.
setns(CLONE_NEWNET) only affects the calling thread, so the rest of the process (the agent loop, httpx)
stays where it is. Sockets keep the namespace they were created in, and /proc/sys/net resolves against
the namespace of the thread that opens it, so both netlink sockets and sysctls work through this."""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from pyroute2 import netns as _pr_netns

T = TypeVar("T")

NETNS_RUN_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000

_libc: Any = None


def libc() -> Any:
    """The C library, for the few calls Python has no wrapper for (setns, unshare, mount)."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def path(name: str) -> str:
    """A named namespace's file; a name containing '/' is taken as a path already."""
    return name if "/" in name else os.path.join(NETNS_RUN_DIR, name)


def exists(name: str) -> bool:
    return os.path.exists(path(name))


def list_names() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return []


def inode(name: str | None) -> int:
    """Identity of a namespace: a recreated namespace of the same name has another inode."""
    return os.stat(path(name) if name is not None else "/proc/self/ns/net").st_ino


def create(name: str) -> None:
    """Create the named namespace (like `ip netns add`). EEXIST if it already exists."""
    if exists(name):
        raise FileExistsError(errno.EEXIST, "netns exists", name)
    _pr_netns.create(name)


def remove(name: str) -> None:
    _pr_netns.remove(name)


def run_in(name: str | None, fn: Callable[[], T]) -> T:
    """Run `fn()` in namespace `name` (None: right here) and return its result or raise its exception."""
    if name is None:
        return fn()
    fd = os.open(path(name), os.O_RDONLY | os.O_CLOEXEC)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            if libc().setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns({name}): {os.strerror(err)}")
            box["value"] = fn()
        except BaseException as e:
            box["error"] = e

    try:
        thread = threading.Thread(target=target, name=f"netns-{name}", daemon=True)
        thread.start()
        thread.join()
    finally:
        os.close(fd)
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def _sysctl_path(key: str) -> str:
    # Keys are slash-separated ("net/ipv4/conf/swp1.300/rp_filter"): device names may contain dots.
    return "/proc/sys/" + key


def sysctl_get_many(name: str | None, keys: list[str]) -> dict[str, str | None]:
    """Current values (stripped); None where the key does not exist (e.g. a device that is gone)."""

    def read() -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for key in keys:
            try:
                with open(_sysctl_path(key)) as f:
                    out[key] = f.read().strip()
            except FileNotFoundError:
                out[key] = None
        return out

    return run_in(name, read)


def sysctl_set_many(name: str | None, values: dict[str, str]) -> dict[str, OSError]:
    """Write values; returns the failures by key (the rest were written)."""

    def write() -> dict[str, OSError]:
        errors: dict[str, OSError] = {}
        for key, value in values.items():
            try:
                with open(_sysctl_path(key), "w") as f:
                    f.write(value)
            except OSError as e:
                errors[key] = e
        return errors

    return run_in(name, write)
