"""Start, wait for, inspect and tear down a lab: what `podswitch lab ...` and `podswitch run` call.

The supervisor runs detached (its own session, so a Ctrl-C in the terminal that started it does not reach
it); `up` starts it and waits until the POD is built and every agent reports the current desired state.
`down` works from the state file when there is one, and from the namespace prefix alone when there is
not (after a crash, or with the data directory gone)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..agent import netns
from ..client import ApiError, Client
from . import statefile as st
from .controller import lab_client
from .layout import Resolution, Shape, resolve
from .process import tail
from .supervisor import TOKEN_ENV

SUPERVISOR_MODULE = "podswitch.lab.supervisor"
AGENT_MODULE = "podswitch.agent.main"
STOP_GRACE = 10.0


class LabError(Exception):
    pass


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _arg(cmd: list[str], flag: str) -> str | None:
    with contextlib.suppress(ValueError, IndexError):
        return cmd[cmd.index(flag) + 1]
    return None


def _is_supervisor(pid: int, prefix: str | None = None) -> bool:
    cmd = _cmdline(pid)
    if SUPERVISOR_MODULE not in cmd:
        return False
    return prefix is None or _arg(cmd, "--prefix") == prefix


def _is_agent(pid: int, prefix: str) -> bool:
    """An agent of this lab started as a program (`python -m podswitch.agent.main`, `podswitch agent`);
    forked agents carry their supervisor's command line and are found as such."""
    cmd = _cmdline(pid)
    ns = _arg(cmd, "--netns")
    ours = AGENT_MODULE in cmd or ("agent" in cmd and any(a.endswith("podswitch") for a in cmd))
    return ours and "--switch" in cmd and ns is not None and ns.startswith(prefix)


def supervisor_pid(lab: Path) -> int | None:
    """The running supervisor of this lab directory, if any (a stale pidfile does not count)."""
    pid = st.read_pid(lab)
    if pid is not None and _is_supervisor(pid) and _alive(pid):
        return pid
    return None


def _alive(pid: int) -> bool:
    return netns._alive(pid)


def start(
    data_dir: str | os.PathLike[str],
    url: str,
    token: str | None,
    prefix: str,
    shape: Shape,
    *,
    agent_interval: float = 1.0,
    push: float | None = None,
    agent_command: str | None = None,
) -> int:
    """Start the supervisor detached; returns its pid. `push` 0 makes the supervisor and the agents poll
    instead of waiting at the controller for changes (default: push). `agent_command`: what to exec for each
    switch's agent (with the agent's arguments) instead of forking this release's."""
    if os.geteuid() != 0:
        raise LabError("the lab builds network namespaces and needs root")
    if not prefix or "/" in prefix:
        raise LabError(f"bad namespace prefix {prefix!r}")
    lab = st.lab_dir(data_dir)
    running = supervisor_pid(lab)
    if running is not None:
        raise LabError(
            f"a lab is already running for {data_dir} (supervisor pid {running}); `podswitch lab down` first"
        )
    lab.mkdir(parents=True, exist_ok=True)
    st.remove(lab)
    cmd = [
        sys.executable,
        "-m",
        SUPERVISOR_MODULE,
        "--data-dir",
        str(data_dir),
        "--url",
        url,
        "--prefix",
        prefix,
        "--spines",
        str(shape.spines),
        "--leaves",
        str(shape.leaves),
        "--agent-interval",
        str(agent_interval),
    ]
    if push is not None:
        cmd += ["--push", str(push)]
    if agent_command:
        cmd += ["--agent-command", agent_command]
    for server in shape.servers:
        cmd += ["--server", server]
    env = dict(os.environ)
    if token:
        env[TOKEN_ENV] = token
    with open(lab / st.SUPERVISOR_LOG, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    st.write_pid(lab, proc.pid)  # the supervisor writes it too; this closes the window before it does
    return proc.pid


@dataclass
class Progress:
    phase: str
    switches: int = 0
    in_sync: int = 0
    problems: list[str] = field(default_factory=list)


def check(lab: Path, ctl: Client) -> Progress:
    """Where the lab is: its phase, and how many of its switches' agents are in sync."""
    state = st.load(lab)
    if state is None:
        return Progress(st.STARTING)
    if state.phase == st.FAILED:
        return Progress(st.FAILED, problems=[state.error or "supervisor failed"])
    if state.phase != st.RUNNING:
        return Progress(state.phase, len(state.switches))
    problems = []
    ok = 0
    try:
        items = {s["name"]: s for s in ctl.switches()}
    except ApiError as e:
        return Progress(state.phase, len(state.switches), problems=[str(e)])
    for name in sorted(state.switches):
        s = items.get(name)
        status = (s or {}).get("status") or {}
        if s is None:
            problems.append(f"{name}: not in the topology")
        elif status.get("errors"):
            problems.append(f"{name}: {len(status['errors'])} errors, first: {status['errors'][0]}")
        elif not s.get("in_sync"):
            problems.append(f"{name}: " + ("no agent report yet" if not status else "behind"))
        else:
            ok += 1
    failed = [f"endpoint {eid}: {ep['error']}" for eid, ep in state.endpoints.items() if ep.get("error")]
    return Progress(state.phase, len(state.switches), ok, problems + failed)


def wait_ready(
    lab: Path,
    url: str,
    token: str | None,
    pid: int,
    *,
    timeout: float = 120.0,
    on_progress: Callable[[Progress], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Progress:
    """Wait until the lab runs and every agent is in sync with no errors; LabError on timeout or when the
    supervisor dies. Bounded by `timeout` seconds."""
    ctl = lab_client(url, token, timeout=5.0)
    deadline = clock() + timeout
    last = Progress(st.STARTING)
    try:
        while True:
            if not _alive(pid):
                raise LabError(
                    f"the lab supervisor exited; see {lab / st.SUPERVISOR_LOG}:\n" + tail(lab / st.SUPERVISOR_LOG)
                )
            last = check(lab, ctl)
            if on_progress is not None:
                on_progress(last)
            if last.phase == st.FAILED:
                raise LabError(f"the lab failed: {'; '.join(last.problems)}\n" + tail(lab / st.SUPERVISOR_LOG))
            if last.phase == st.RUNNING and last.switches and last.in_sync == last.switches and not last.problems:
                return last
            if clock() >= deadline:
                raise LabError(
                    f"the lab is not ready after {timeout:.0f}s (phase {last.phase}, "
                    f"{last.in_sync}/{last.switches} switches in sync): " + "; ".join(last.problems[:8])
                )
            sleep(0.25)
    finally:
        ctl.close()


@dataclass
class DownReport:
    prefix: str
    stopped: list[int] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)


def down(data_dir: str | os.PathLike[str] | None, prefix: str | None = None) -> DownReport:
    """Stop the supervisor and the agents, remove every namespace with the prefix. Works without a state
    file: then the prefix (default `psw-`) alone says what is ours."""
    lab = st.lab_dir(data_dir) if data_dir is not None else None
    state = st.load(lab) if lab is not None else None
    prefix = prefix or (state.prefix if state else None) or st.DEFAULT_PREFIX
    report = DownReport(prefix)
    victims: list[int] = []
    if lab is not None:
        pid = st.read_pid(lab)
        if pid is not None and _is_supervisor(pid) and _alive(pid):
            victims.append(pid)
    # After a crash the pidfile may be gone: our processes carry the prefix on their command line.
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            pid = int(entry)
            if pid != os.getpid() and pid not in victims and (_is_supervisor(pid, prefix) or _is_agent(pid, prefix)):
                victims.append(pid)
    report.stopped = _stop(victims)
    report.namespaces = netns.remove_all(prefix)
    if lab is not None:
        st.remove(lab)
        st.remove_pid(lab)
    return report


def _stop(pids: list[int]) -> list[int]:
    netns.terminate(pids, STOP_GRACE)
    return pids


def lookup(state: st.LabState, name: str) -> Resolution:
    """`lab exec NAME`: a switch, a server (`external` is the server of interface-group external), an
    endpoint id or unique prefix, or a lab namespace (with or without the prefix, e.g. leaf1-t1)."""
    res = resolve(
        name,
        {n: s["netns"] for n, s in state.switches.items()},
        {g: s["netns"] for g, s in state.servers.items()},
        {e: s["netns"] for e, s in state.endpoints.items()},
    )
    if res.namespace is None and res.kind == "unknown":
        for candidate in (name, state.prefix + name):
            if candidate.startswith(state.prefix) and netns.exists(candidate):
                return Resolution(candidate, "namespace")
    return res


def wait(
    predicate: Callable[[], bool],
    timeout: float,
    interval: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass; returns whether it held."""
    deadline = clock() + timeout
    while True:
        if predicate():
            return True
        if clock() >= deadline:
            return False
        sleep(interval)
