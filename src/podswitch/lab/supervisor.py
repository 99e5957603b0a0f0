"""The lab's long-running part: make the namespaces follow the intent, and run one agent per switch.

Start-up: write the lab's topology into the intent (through the API), build switches, cables, servers and
endpoints, start the agents. Then watch: poll `/healthz` (one cheap request) and, when the revision moved,
read the intent and bring the lab in line: new interface-groups get a server (written into the topology
first), endpoints appear, vanish or are rebuilt where they changed, dead agents are restarted with
backoff. Everything it did is in the state file for `lab status`, `lab exec` and `lab down`.

Stopping (SIGTERM/SIGINT) stops the agents and leaves the namespaces: `lab down` removes them. Agents die
with the supervisor even when it is killed (PR_SET_PDEATHSIG), so a crash never leaves them running."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..agent import netns
from ..agent.main import Stopped, until_stopped
from ..client import ApiError, Client, Conflict, PreconditionFailed, Unauthorized, Unavailable
from ..daemon import setup_logging, stop_on_signals
from . import statefile as st
from .build import Builder, endpoint_ns, server_ns, switch_ns
from .controller import IntentReader, lab_client
from .layout import (
    EndpointSpec,
    Layout,
    Place,
    Shape,
    endpoint_specs,
    is_lab_switch,
    layout,
    server_vlans,
    short_names,
    topology_operations,
)

# s a request for the next revision waits at the controller: the agents are checked at least this often.
WATCH_WAIT = 2.0
PUSH = 30.0  # s an agent's request waits at the controller for its next state (`--push 0`: poll)

log = logging.getLogger("podswitch.lab")

TOKEN_ENV = "PODSWITCH_ADMIN_TOKEN"
AGENT_TOKEN_ENV = "PODSWITCH_TOKEN"
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
RETRY_FAILED_AFTER = 5.0  # seconds before endpoints that failed to build are tried again
AGENT_STOP_GRACE = 5.0


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the supervisor dies (even by SIGKILL), so does the agent.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Forked:
    """An agent forked from the supervisor, with the bits of the Popen interface the supervisor uses.

    Forking instead of exec'ing `podswitch agent` skips the interpreter start and the imports (~1 s of CPU
    per agent, measured 11 s for six agents to come up on a busy 2-core machine): the child already has
    podswitch.agent loaded and just calls its `main` with the same arguments."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def terminate(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.02)
        assert self.returncode is not None
        return self.returncode


def fork_agent(argv: list[str], log_path: Path, env: dict[str, str]) -> Forked:
    """Fork a child that runs `podswitch.agent.main.main(argv)` with stdout/stderr on `log_path`.

    The caller must have closed its netlink handles and HTTP connections first. Closing them in the child
    instead is not an option: a pyroute2 handle owns an asyncio loop whose epoll instance is shared with
    the parent after fork, so the child's close unregisters the parent's socket and the parent's next
    request waits forever. And left open in the child they would keep namespaces alive as long as the agent
    runs."""
    from ..agent import main as agent_main

    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid:
        os.close(fd)
        return Forked(pid)
    code = 1
    try:  # the child: never returns into the supervisor's frames
        _die_with_parent()
        if os.getppid() != parent:  # the supervisor died before the death signal was armed
            os._exit(1)
        _set_name("agent " + argv[argv.index("--switch") + 1] if "--switch" in argv else "agent")
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.environ.clear()
        os.environ.update(env)
        logging.root.handlers.clear()
        code = agent_main.main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _set_name(name: str) -> None:
    # The process name top and `ps -o comm` show (15 bytes); the command line stays the supervisor's.
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


AGENT_STABLE_AFTER = 60.0  # seconds an agent must run before a crash no longer counts as "keeps dying"


@dataclass
class Agent:
    switch: str
    netns: str
    proc: subprocess.Popen[bytes] | Forked | None = None
    restarts: int = 0
    failures: int = 0  # consecutive quick exits: what the restart backoff grows with
    started_at: float = 0.0
    next_start: float = 0.0
    log_path: Path | None = None


class Supervisor:
    def __init__(
        self,
        lab_dir: Path,
        url: str,
        token: str | None,
        prefix: str,
        shape: Shape,
        *,
        poll: float = 0.5,
        agent_interval: float = 1.0,
        push: float | None = None,
        agent_cmd: list[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lab_dir = lab_dir
        self.url = url
        self.token = token
        self.prefix = prefix
        self.shape = shape
        self.poll = poll
        self.agent_interval = agent_interval
        self.push = PUSH if push is None else push
        # None: fork agents from this process (see Forked); else the command to exec, e.g. `podswitch agent`.
        self.agent_cmd = agent_cmd
        self.clock = clock
        self.ctl: Client = lab_client(url, token)
        self.builder = Builder(prefix)
        self.reader = IntentReader()  # re-parses only what changed of the running-config
        self.state = st.LabState(
            prefix=prefix,
            url=url,
            spines=shape.spines,
            leaves=shape.leaves,
            extra_servers=list(shape.servers),
            supervisor_pid=os.getpid(),
        )
        self.agents: dict[str, Agent] = {}
        self.layout: Layout | None = None
        self.specs: dict[str, EndpointSpec] = {}
        self.shorts: dict[str, str] = {}
        self.failed: dict[str, str] = {}  # endpoint id -> error
        self.retry_at = float("inf")
        self.built_fabric: tuple[Any, ...] | None = None

    # ---- lifecycle -------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> int:
        st.write_pid(self.lab_dir, os.getpid())
        self._save(st.STARTING)
        try:
            return self._run(stop)
        except Exception as e:
            log.exception("lab supervisor failed")
            self.state.error = f"{type(e).__name__}: {e}"
            self._save(st.FAILED)
            return 1
        finally:
            self._stop_agents()
            self.builder.close()
            self.ctl.close()
            if self.state.phase != st.FAILED:
                self._save(st.STOPPED)
            st.remove_pid(self.lab_dir, os.getpid())
            log.info("lab supervisor stopped; namespaces left in place (podswitch lab down removes them)")

    def _run(self, stop: threading.Event) -> int:
        revision = self._wait_for_controller(stop)
        if revision is None:
            return 0
        started = time.perf_counter()
        self._save(st.TOPOLOGY)
        revision, intent = self._write_topology()
        self.state.timings["topology"] = round(time.perf_counter() - started, 3)
        self._save(st.BUILDING)
        t = time.perf_counter()
        self._remove_leftovers()
        self._realise(intent)
        self.state.revision = revision
        self.state.timings["build"] = round(time.perf_counter() - t, 3)
        self._save(st.AGENTS)
        t = time.perf_counter()
        for name in self._layout().switches:
            self._start_agent(name)
        self.builder.open_all(self._layout())  # the forks made it drop them
        self.state.timings["agents_started"] = round(time.perf_counter() - t, 3)
        self._save(st.RUNNING)
        log.info(
            "lab built in %.2fs (topology %.2fs, build %.2fs): %d switches, %d servers, %d endpoints",
            time.perf_counter() - started,
            self.state.timings["topology"],
            self.state.timings["build"],
            len(self.state.switches),
            len(self.state.servers),
            len(self.state.endpoints),
        )
        self._watch(stop, revision)
        return 0

    def _wait_for_controller(self, stop: threading.Event) -> int | None:
        delay = 0.2
        while not stop.is_set():
            try:
                return self.ctl.revision()
            except ApiError as e:
                log.warning("controller not reachable yet: %s", e)
                self._next_controller(e)
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
        return None

    def _next_controller(self, error: ApiError) -> None:
        """With several controllers (a comma-separated URL list), ask the next one after this one failed. The
        client has already moved on from one it could not reach."""
        if not isinstance(error, Unavailable):
            self.ctl.rotate()

    def _watch(self, stop: threading.Event, revision: int) -> None:
        """Follow the intent: each request waits at the controller for the next revision (answered the moment
        it exists), at most WATCH_WAIT seconds, so the agents are checked at least that often."""
        errors = 0
        while not stop.is_set():
            self._check_agents()
            try:
                if self.clock() >= self.retry_at:
                    got: tuple[int, Any] | None = self.reader.read(self.ctl)
                elif self.push <= 0:  # polling, as before push: one cheap request every `poll`
                    stop.wait(self.poll)
                    got = self.reader.read(self.ctl) if self.ctl.revision() != revision else None
                else:
                    got = until_stopped(functools.partial(self.reader.next, self.ctl, revision, WATCH_WAIT), stop)
                if got is not None:
                    received = self.clock()
                    revision, intent = got
                    revision = self._sync(intent, revision)
                    self.state.revision = revision
                    self._save(st.RUNNING)
                    log.info("revision %d realised in %.0f ms", revision, (self.clock() - received) * 1000)
                errors = 0
            except Stopped:
                return
            except ApiError as e:
                errors += 1
                self._next_controller(e)
                # Bounded complaint: a controller restart should not fill the log.
                if errors <= 3 or errors % 60 == 0:
                    log.warning("controller: %s", e)
                stop.wait(min(5.0, self.poll * 2 ** min(errors, 4)))

    # ---- intent -> lab ----------------------------------------------------------------------------

    def _layout(self) -> Layout:
        assert self.layout is not None
        return self.layout

    def _placed(self) -> dict[str, Place]:
        return {g: Place(s["leaf"], s["port"]) for g, s in self.state.servers.items()}

    def _write_topology(self) -> tuple[int, Any]:
        """Write what the topology lacks, as one transaction conditional on the intent it was planned
        from (so it cannot undo a change made in between); returns the intent after the write."""
        for _ in range(5):
            revision, intent = self.reader.read(self.ctl)
            lab = layout(intent, self.shape, self._placed())
            operations = topology_operations(intent, lab)
            if not operations:
                self.layout = lab
                return revision, intent
            log.info("topology: %d changes in one transaction", len(operations))
            try:
                self.ctl.transaction(operations, if_revision=revision)
            except Unauthorized:  # no retry makes a wrong token right
                raise
            except (PreconditionFailed, Conflict) as e:
                # Someone else changed the intent in between, or the plan clashes with it: re-plan.
                log.warning("topology transaction refused (re-planning): %s", e)
        revision, intent = self.reader.read(self.ctl)
        self.layout = layout(intent, self.shape, self._placed())
        return revision, intent

    def _sync(self, intent: Any, revision: int) -> int:
        lab = layout(intent, self.shape, self._placed())
        if topology_operations(intent, lab):
            revision, intent = self._write_topology()
        else:
            self.layout = lab
        self._realise(intent)
        lab = self._layout()
        started = [name for name in lab.switches if name not in self.agents]
        for name in started:
            self._start_agent(name)
        if started:
            self.builder.open_all(lab)
        for name in list(self.agents):
            if name not in lab.switches:
                self._stop_agent(name)
                self._remove_switch(name)
        return revision

    def _remove_leftovers(self) -> None:
        """Namespaces of a previous run that crashed: endpoints are rebuilt from scratch anyway, servers the
        plan no longer has go."""
        lab = self._layout()
        keep_servers = {server_ns(self.prefix, g) for g in lab.servers}
        for name in netns.names(endpoint_ns(self.prefix, "")):
            netns.remove(name)
        for name in netns.names(server_ns(self.prefix, "")):
            if name not in keep_servers:
                netns.remove(name)
        # Switches of a bigger POD than this one, with their router slices (`<prefix><switch>-<slice>`).
        for name in netns.names(self.prefix):
            switch = name[len(self.prefix) :].split("-", 1)[0]
            if is_lab_switch(switch) and switch not in lab.switches:
                netns.remove(name)

    def _realise(self, intent: Any) -> None:
        lab = self._layout()
        fabric_key = (tuple(lab.switches), tuple(lab.links))
        if fabric_key != self.built_fabric:
            self.builder.build_fabric(lab)
            self.built_fabric = fabric_key
            for name, sw in lab.switches.items():
                entry = self.state.switches.setdefault(name, {})
                entry.update(netns=switch_ns(self.prefix, name), role=sw.role.value)
        vlans = server_vlans(intent, lab.servers)
        specs = endpoint_specs(intent, lab.servers)
        # Endpoints whose server moves or goes are unplugged first.
        for eid, old in list(self.specs.items()):
            if eid not in specs or specs[eid] != old or old.server not in lab.servers:
                self._remove_endpoint(eid)
        for group in list(self.state.servers):
            if group not in lab.servers:
                self.builder.remove_server(group)
                del self.state.servers[group]
        fresh: set[str] = set()
        for group, where in lab.servers.items():
            have = self.state.servers.get(group)
            server = server_ns(self.prefix, group)
            want = {
                "netns": server,
                "leaf": where.leaf,
                "port": where.port,
                "vlans": vlans[group],
            }
            gone = not netns.exists(server)
            if have != want or gone:
                if gone:
                    fresh.add(group)  # a new server namespace has none of its endpoints plugged in
                self.builder.ensure_server(group, where, vlans[group])
                self.state.servers[group] = want
        self.shorts = short_names(specs, {e: s for e, s in self.shorts.items() if e in specs})
        self.retry_at = float("inf")
        for eid, spec in specs.items():
            if self.specs.get(eid) == spec and eid not in self.failed and spec.server not in fresh:
                continue
            short = self.shorts[eid]
            try:
                self.builder.build_endpoint(spec, short)
                self.failed.pop(eid, None)
            except Exception as e:
                log.warning("endpoint %s: %s", eid, e)
                self.failed[eid] = f"{type(e).__name__}: {e}"
                self.retry_at = self.clock() + RETRY_FAILED_AFTER
            self.specs[eid] = spec
            self.state.endpoints[eid] = {
                **spec.to_json(),
                "short": short,
                "netns": endpoint_ns(self.prefix, short),
                "error": self.failed.get(eid),
            }
        for eid in list(self.state.endpoints):
            if eid not in specs:
                del self.state.endpoints[eid]

    def _remove_endpoint(self, eid: str) -> None:
        old = self.specs.pop(eid, None)
        short = self.shorts.get(eid)
        if short is not None:
            self.builder.remove_endpoint(short, old.server if old else None)
        self.state.endpoints.pop(eid, None)
        self.failed.pop(eid, None)

    def _remove_switch(self, name: str) -> None:
        ns = switch_ns(self.prefix, name)
        self.builder.forget(ns)
        for victim in netns.names(ns + "-"):  # its router slices
            netns.remove(victim)
        if netns.exists(ns):
            netns.remove(ns)
        self.state.switches.pop(name, None)
        self.built_fabric = None

    # ---- agents ----------------------------------------------------------------------------------

    def _start_agent(self, name: str) -> None:
        agent = self.agents.get(name)
        if agent is None:
            agent = self.agents[name] = Agent(
                switch=name, netns=switch_ns(self.prefix, name), log_path=st.agent_log(self.lab_dir, name)
            )
        env = dict(os.environ)
        env.pop(TOKEN_ENV, None)
        if self.token:
            env[AGENT_TOKEN_ENV] = self.token  # the environment, not argv: argv is world-readable in /proc
        args = [
            "--switch",
            name,
            "--netns",
            agent.netns,
            "--controller",
            self.url,
            "--interval",
            str(self.agent_interval),
            "--push",
            str(self.push),
        ]
        assert agent.log_path is not None
        if self.agent_cmd is None:
            self._release_handles()
            agent.proc = fork_agent(args, agent.log_path, env)
        else:
            with open(agent.log_path, "ab") as out:
                agent.proc = subprocess.Popen(
                    [*self.agent_cmd, *args],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    preexec_fn=_die_with_parent,
                    close_fds=True,
                )
        agent.started_at = self.clock()
        entry = self.state.switches.setdefault(name, {"netns": agent.netns})
        entry.update(agent_pid=agent.proc.pid, log=str(agent.log_path), restarts=agent.restarts)
        log.info("agent %s started (pid %d, netns %s)", name, agent.proc.pid, agent.netns)

    def _release_handles(self) -> None:
        """Close every netlink handle and HTTP connection before a fork (see fork_agent); the builder
        reopens handles as it needs them, and a fresh HTTP client connects on its first request."""
        self.builder.close()
        self.ctl.close()
        self.ctl = lab_client(self.url, self.token)

    def _check_agents(self) -> None:
        now = self.clock()
        changed = False
        for name, agent in self.agents.items():
            if agent.proc is not None and agent.proc.poll() is not None:
                agent.restarts += 1
                # An agent that ran for a while and then died starts over with a short delay; one that keeps
                # dying right away waits longer each time.
                agent.failures = 1 if now - agent.started_at > AGENT_STABLE_AFTER else agent.failures + 1
                delay = min(30.0, 2.0 ** min(agent.failures, 5))
                log.warning(
                    "agent %s exited with %s; restart %d in %.0fs (log: %s)",
                    name,
                    agent.proc.returncode,
                    agent.restarts,
                    delay,
                    agent.log_path,
                )
                agent.proc = None
                agent.next_start = now + delay
                self.state.switches.get(name, {})["agent_pid"] = None
                changed = True
            if agent.proc is None and now >= agent.next_start:
                self._start_agent(name)
                changed = True
        if changed:
            self._save(self.state.phase)

    def _stop_agent(self, name: str) -> None:
        agent = self.agents.pop(name, None)
        if agent is not None and agent.proc is not None:
            _terminate([agent.proc])

    def _stop_agents(self) -> None:
        procs = [a.proc for a in self.agents.values() if a.proc is not None]
        _terminate(procs)
        for name in self.agents:
            self.state.switches.get(name, {})["agent_pid"] = None
        self.agents.clear()

    def _save(self, phase: str) -> None:
        self.state.phase = phase
        st.save(self.lab_dir, self.state)


def _terminate(procs: list[subprocess.Popen[bytes] | Forked]) -> None:
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.terminate()
    deadline = time.monotonic() + AGENT_STOP_GRACE
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            p.wait(timeout=5)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="podswitch-lab-supervisor", description="podswitch lab supervisor")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--prefix", default=st.DEFAULT_PREFIX)
    p.add_argument("--spines", type=int, default=2)
    p.add_argument("--leaves", type=int, default=4)
    p.add_argument("--server", action="append", default=[], dest="servers")
    p.add_argument("--agent-interval", type=float, default=1.0)
    p.add_argument(
        "--push",
        type=float,
        default=PUSH,
        help="seconds a request for the next state waits at the controller (supervisor and agents); 0: poll",
    )
    p.add_argument(
        "--agent-exec",
        action="store_true",
        help="exec `podswitch agent` for every switch instead of forking agents from the supervisor",
    )
    p.add_argument(
        "--agent-command",
        help="exec this command (split like a shell would) with the agent's arguments for every switch: "
        "e.g. an agent of another release, for a rolling upgrade",
    )
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    setup_logging(args.log_level)
    stop = stop_on_signals(log)
    sup = Supervisor(
        st.lab_dir(args.data_dir),
        args.url,
        os.environ.get(TOKEN_ENV),
        args.prefix,
        Shape(args.spines, args.leaves, tuple(args.servers)),
        agent_interval=args.agent_interval,
        push=args.push,
        agent_cmd=shlex.split(args.agent_command)
        if args.agent_command
        else [sys.executable, "-m", "podswitch", "agent"]
        if args.agent_exec
        else None,
    )
    return sup.run(stop)


if __name__ == "__main__":
    raise SystemExit(main())
