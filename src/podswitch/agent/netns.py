"""Named network namespaces without subprocesses or forks, for the agent and the lab: create, remove and
list them, run a function inside one, read and write sysctls there, and open handles on one.

`run_in(name, fn)` moves a short-lived *thread* into the namespace with setns(2) and runs `fn` there.
setns(CLONE_NEWNET) only affects the calling thread, so the rest of the process (the agent loop, httpx)
stays where it is. Sockets keep the namespace they were created in, and /proc/sys/net resolves against
the namespace of the thread that opens it, so both netlink sockets and sysctls work through this.

`add(name)` does what `ip netns add` does, also in a short-lived thread: unshare(CLONE_NEWNET) moves only
that thread into a new namespace, which is bind-mounted from /proc/thread-self/ns/net onto /run/netns/NAME.
pyroute2's own `netns.create` forks a helper process per namespace, which costs ~10 ms each on a busy
2-core machine. `create(name)` (the lab's) does the same and opens the handles of a `Space` on its way out.

Nothing here touches the root namespace's links, addresses or routes: every handle is opened inside a named
namespace."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .netlink import RtSocket

T = TypeVar("T")

NETNS_RUN_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MNT_DETACH = 2

_libc: Any = None
_run_dir_ready = False
_run_dir_lock = threading.Lock()


def libc() -> Any:
    """The C library, for the few calls Python has no wrapper for (setns, unshare, mount)."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


# ---- names ----------------------------------------------------------------------------------------------


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


def names(prefix: str) -> list[str]:
    """Every named namespace whose name starts with `prefix`."""
    if not prefix:
        raise ValueError("refusing to match every namespace: the prefix is empty")
    return [n for n in list_names() if n.startswith(prefix)]


def inode(name: str | None) -> int:
    """Identity of a namespace (None: this process's): a recreated namespace of the same name has another
    inode. FileNotFoundError if there is no such namespace."""
    return os.stat(path(name) if name is not None else "/proc/self/ns/net").st_ino


# ---- create and remove ----------------------------------------------------------------------------------


def _prepare_run_dir() -> None:
    # Like iproute2: /run/netns must be a shared mount point, so namespaces bound under it show in every
    # mount namespace (ip netns exec makes its own).
    global _run_dir_ready
    with _run_dir_lock:
        if _run_dir_ready:
            return
        os.makedirs(NETNS_RUN_DIR, exist_ok=True)
        c = libc()
        target = NETNS_RUN_DIR.encode()
        if c.mount(b"", target, b"none", MS_SHARED | MS_REC, None) != 0:
            _check(c.mount(target, target, b"none", MS_BIND | MS_REC, None), f"bind-mount {NETNS_RUN_DIR}")
            _check(c.mount(b"", target, b"none", MS_SHARED | MS_REC, None), f"make {NETNS_RUN_DIR} shared")
        _run_dir_ready = True


def _make(name: str, sysctls: dict[str, str] | None, inside: Callable[[], T], *, bind_last: bool = False) -> T:
    """Create namespace `name` in a thread of its own, write `sysctls` there and return `inside()`, run there
    too (with `bind_last`, before the namespace is bound to its name). FileExistsError if it exists; nothing
    is left behind on failure."""
    _prepare_run_dir()
    target = path(name)
    box: dict[str, Any] = {}

    def work() -> None:
        c = libc()
        try:
            os.close(os.open(target, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
        except BaseException as e:
            box["error"] = e
            return
        try:
            _check(c.unshare(CLONE_NEWNET), "unshare")
            if not bind_last:
                _check(c.mount(b"/proc/thread-self/ns/net", target.encode(), b"none", MS_BIND, None), f"mount {target}")
            for key, value in (sysctls or {}).items():
                with open(_sysctl_path(key), "w") as f:
                    f.write(value)
            box["value"] = inside()
            if bind_last:
                _check(c.mount(b"/proc/thread-self/ns/net", target.encode(), b"none", MS_BIND, None), f"mount {target}")
        except BaseException as e:
            box["error"] = e
            with contextlib.suppress(OSError):
                c.umount2(target.encode(), MNT_DETACH)
            with contextlib.suppress(OSError):
                os.unlink(target)

    thread = threading.Thread(target=work, name=f"netns-create-{name}", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def add(name: str, sysctls: dict[str, str] | None = None) -> None:
    """Create the named namespace (like `ip netns add`) and write `sysctls` in it (slash-separated keys
    under /proc/sys). FileExistsError if it exists."""
    _make(name, sysctls, lambda: None)


def remove(name: str) -> bool:
    """Unmount and unlink `name`; False if there was none. The kernel frees the namespace (and every device
    in it, so both ends of every veth that has an end there) once nothing holds it any more."""
    target = path(name)
    libc().umount2(target.encode(), MNT_DETACH)
    try:
        os.unlink(target)
    except FileNotFoundError:
        return False
    return True


def remove_all(prefix: str, *, kill: bool = True, grace: float = 2.0) -> list[str]:
    """Remove every namespace starting with `prefix`. With `kill`, processes still running inside them
    (a `lab exec tcpdump`, a ping) get SIGTERM, then SIGKILL after `grace` seconds, since a process
    keeps its namespace alive after the name is gone."""
    victims = names(prefix)
    if kill:
        inodes = set()
        for n in victims:
            with contextlib.suppress(FileNotFoundError):
                inodes.add(inode(n))
        me = os.getpid()
        terminate([p for p in pids_inside(inodes) if p != me] if inodes else [], grace)
    removed = []
    for name in victims:
        try:
            if remove(name):
                removed.append(name)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
    return removed


# ---- processes inside -----------------------------------------------------------------------------------


def pids_inside(inodes: set[int]) -> list[int]:
    """Processes whose network namespace is one of `inodes` (what `ip netns pids` reports)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino in inodes:
                out.append(int(entry))
        except OSError:
            continue
    return out


def terminate(pids: list[int], grace: float) -> None:
    """SIGTERM each process, then SIGKILL those still alive after `grace` seconds."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    left = list(pids)
    while left and time.monotonic() < deadline:
        left = [p for p in left if _alive(p)]
        if left:
            time.sleep(0.05)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ---- running inside -------------------------------------------------------------------------------------


class Resident:
    """A thread that stays in one namespace and runs calls there, for a process that works in the same few
    namespaces again and again (the agent, ~10 calls per reconcile): `run_in` hands it the call instead of
    starting a thread per call (a thread start is ~0.1 ms idle, several ms on a loaded machine, and it is on
    the path of every change). Like any handle it keeps its namespace alive until it is released."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.users = 0
        fd = os.open(path(name), os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.inode = os.fstat(fd).st_ino
            self._calls: queue.SimpleQueue[tuple[Callable[[], Any], dict[str, Any], threading.Event] | None] = (
                queue.SimpleQueue()
            )
            entered = threading.Event()
            failed: list[BaseException] = []
            self.thread = threading.Thread(
                target=self._serve, args=(fd, entered, failed), name=f"netns-{name}", daemon=True
            )
            self.thread.start()
            entered.wait()
        finally:
            os.close(fd)
        if failed:
            raise failed[0]

    def _serve(self, fd: int, entered: threading.Event, failed: list[BaseException]) -> None:
        try:
            _check(libc().setns(fd, CLONE_NEWNET), f"setns({self.name})")
        except BaseException as e:
            failed.append(e)
            return
        finally:
            entered.set()
        while (call := self._calls.get()) is not None:
            fn, box, done = call
            try:
                box["value"] = fn()
            except BaseException as e:
                box["error"] = e
            done.set()

    def call(self, fn: Callable[[], T]) -> T:
        if threading.current_thread() is self.thread:
            return fn()
        box: dict[str, Any] = {}
        done = threading.Event()
        self._calls.put((fn, box, done))
        done.wait()
        if "error" in box:
            raise box["error"]
        return box["value"]  # type: ignore[no-any-return]

    def stop(self) -> None:
        self._calls.put(None)


_residents: dict[str, Resident] = {}
_residents_lock = threading.Lock()


def keep(name: str) -> None:
    """Keep a `Resident` thread in namespace `name` for `run_in` until as many `release(name)` calls. A
    namespace recreated under the same name gets a new one."""
    with _residents_lock:
        r = _residents.get(name)
        if r is not None and (not r.thread.is_alive() or _inode_or_none(name) != r.inode):
            r.stop()
            users, r = r.users, None
        else:
            users = 0
        if r is None:
            r = _residents[name] = Resident(name)
            r.users = users
        r.users += 1


def release(name: str) -> None:
    with _residents_lock:
        r = _residents.get(name)
        if r is None:
            return
        r.users -= 1
        if r.users <= 0:
            del _residents[name]
            r.stop()


def _inode_or_none(name: str) -> int | None:
    try:
        return inode(name)
    except FileNotFoundError:
        return None


def run_in(name: str | None, fn: Callable[[], T]) -> T:
    """Run `fn()` in namespace `name` (None: right here) and return its result or raise its exception."""
    if name is None:
        return fn()
    resident = _residents.get(name)
    if resident is not None and resident.thread.is_alive() and _inode_or_none(name) == resident.inode:
        return resident.call(fn)
    fd = os.open(path(name), os.O_RDONLY | os.O_CLOEXEC)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            _check(libc().setns(fd, CLONE_NEWNET), f"setns({name})")
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


# ---- handles (the lab's) --------------------------------------------------------------------------------


def netlink_socket() -> socket.socket:
    """A NETLINK_ROUTE socket in the calling thread's namespace."""
    return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, 0)


class Space:
    """Handles on one namespace for the lab: `ipr` (pyroute2, which the lab builds servers and endpoints
    with) and `rt` (the agent's fast dumps: pyroute2 spends ~15 ms decoding a small link dump, this
    ~0.2 ms)."""

    def __init__(self, name: str, ipr: Any, rt: RtSocket) -> None:
        self.name = name
        self.ipr = ipr
        self.rt = rt

    def close(self) -> None:
        for closer in (self.ipr.close, self.rt.close):
            with contextlib.suppress(Exception):
                closer()

    def index(self, ifname: str) -> int | None:
        link = self.rt.get_link(ifname)
        return link.index if link is not None else None


def _space(name: str, a: socket.socket, b: socket.socket) -> Space:
    # Imported here: netlink's socket opens its sockets through run_in above (the imports stay one-way), and
    # the agent, which never makes a Space, does not load pyroute2 at all.
    from pyroute2 import IPRoute  # type: ignore[import-untyped]

    from .netlink import RtSocket

    return Space(name, IPRoute(use_socket=a, groups=0), RtSocket(name, sock=b))


def create(name: str, sysctls: dict[str, str] | None = None) -> Space:
    """Create namespace `name` (see `add`) and return handles on it, with `lo` up (a namespace without it
    cannot even ping itself). FileExistsError if it exists."""
    space = _space(name, *_make(name, sysctls, lambda: (netlink_socket(), netlink_socket())))
    lo = space.index("lo")
    if lo is not None:
        space.ipr.link("set", index=lo, state="up")
    return space


def create_built(name: str, sysctls: dict[str, str] | None, build: Callable[[], T]) -> T:
    """Create namespace `name` and run `build()` inside it *before* it is bound to its name, so that nobody
    who opens the name ever finds it half made (the lab's endpoints: a VM boots with its network configured).
    `build` may open /proc/thread-self/ns/net to hand the namespace to others (a veth's peer). Returns
    `build()`'s result; nothing is left behind if it fails. FileExistsError if the name is taken."""
    return _make(name, sysctls, build, bind_last=True)


def open_handle(name: str) -> Space:
    """Handles on existing namespace `name`."""
    return _space(name, *run_in(name, lambda: (netlink_socket(), netlink_socket())))


def ensure(name: str, sysctls: dict[str, str] | None = None) -> tuple[Space, bool]:
    """(handle, created): open `name`, creating it if it does not exist."""
    if exists(name):
        return open_handle(name), False
    try:
        return create(name, sysctls), True
    except FileExistsError:  # raced with another creator: theirs is as good as ours
        return open_handle(name), False
