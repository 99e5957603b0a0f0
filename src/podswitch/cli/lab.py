"""`podswitch lab up|down|status|exec`: the emulated POD in network namespaces."""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..client import ApiError
from ..lab import control
from ..lab import statefile as st
from ..lab.controller import lab_client
from ..lab.layout import Shape
from .app import Token, Url, app
from .output import agent_release, console, failure, table
from .settings import data_dir, find_token

lab_app = typer.Typer(
    no_args_is_help=True,
    help="The emulated POD: switches, servers and endpoints in network namespaces, one agent per switch.",
)
app.add_typer(lab_app, name="lab")

DataDir = Annotated[
    str | None,
    typer.Option(
        "--data-dir", envvar="PODSWITCH_DATA_DIR", help="the controller's data dir; the lab keeps its state in DATA/lab"
    ),
]
Prefix = Annotated[
    str | None,
    typer.Option("--prefix", help=f"namespace name prefix (default {st.DEFAULT_PREFIX}, or the running lab's)"),
]

PHASE_TEXT = {
    st.STARTING: "waiting for the controller",
    st.TOPOLOGY: "writing the topology",
    st.BUILDING: "building namespaces",
    st.AGENTS: "starting agents",
    st.RUNNING: "agents syncing",
}


def _url(url: str | None) -> str:
    from .settings import DEFAULT_URL, URL_ENV

    return (url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")


def _require_root() -> None:
    if os.geteuid() != 0:
        failure("the lab builds network namespaces: run it as root")
        raise typer.Exit(1)


def up(
    *,
    spines: int,
    leaves: int,
    servers: list[str],
    url: str,
    token: str | None,
    data: str | None,
    prefix: str,
    timeout: float,
    agent_interval: float = 1.0,
    push: float | None = None,
    show_status: bool = True,
    agent_command: str | None = None,
) -> None:
    """Start the lab and wait until every agent is in sync (also used by `podswitch run`)."""
    _require_root()
    try:
        shape = Shape(spines, leaves, tuple(servers))
    except ValueError as e:
        failure(str(e))
        raise typer.Exit(2) from None
    directory = data_dir(data)
    lab = st.lab_dir(directory)
    try:
        lab_client(url, token, timeout=5.0).revision()
    except ApiError as e:
        failure(f"no controller at {url}: {e} (start one with `podswitch serve` or use `podswitch run`)")
        raise typer.Exit(1) from None
    if token is None:
        failure(
            "no admin token: the lab writes its topology through the API (set PODSWITCH_ADMIN_TOKEN, "
            "pass --token, or use the controller's --data-dir)"
        )
        raise typer.Exit(1)
    started = time.monotonic()
    try:
        pid = control.start(
            directory, url, token, prefix, shape, agent_interval=agent_interval, push=push, agent_command=agent_command
        )
    except control.LabError as e:
        failure(str(e))
        raise typer.Exit(1) from None
    console.print(f"lab supervisor started (pid {pid}), namespaces {prefix}*, log {lab / st.SUPERVISOR_LOG}")
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[sync]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=len(st.PHASES) + 1, sync="")

        def show(p: control.Progress) -> None:
            done: float = st.PHASES.index(p.phase) if p.phase in st.PHASES else 0
            if p.phase == st.RUNNING and p.switches:
                done += p.in_sync / p.switches
            bar.update(
                task,
                completed=done,
                description=PHASE_TEXT.get(p.phase, p.phase),
                sync=f"{p.in_sync}/{p.switches} in sync" if p.phase == st.RUNNING else "",
            )

        try:
            control.wait_ready(lab, url, token, pid, timeout=timeout, on_progress=show)
        except control.LabError as e:
            failure(str(e))
            console.print("the lab is left as it is: `podswitch lab status` to look, `podswitch lab down` to remove")
            raise typer.Exit(1) from None
    elapsed = time.monotonic() - started
    state = st.load(lab)
    timings = state.timings if state else {}
    console.print(
        f"[green]lab up[/green] in {elapsed:.1f}s (topology {timings.get('topology', 0):.2f}s, "
        f"build {timings.get('build', 0):.2f}s, then agents until in sync)"
    )
    if show_status and state is not None:
        print_status(state, url)


@lab_app.command("up")
def up_command(
    spines: Annotated[int, typer.Option("--spines", help="number of spine switches")] = 2,
    leaves: Annotated[int, typer.Option("--leaves", help="number of leaf switches")] = 4,
    server: Annotated[
        list[str] | None, typer.Option("--server", help="an extra server (interface-group); repeat for several")
    ] = None,
    url: Url = None,
    token: Token = None,
    data: DataDir = None,
    prefix: Prefix = None,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds to wait for the agents")] = 120.0,
    push: Annotated[
        float | None,
        typer.Option(
            "--push", help="seconds requests for changes wait at the controller (default 30); 0: poll instead"
        ),
    ] = None,
    agent_command: Annotated[
        str | None,
        typer.Option(
            "--agent-command",
            help="exec this command with the agent's arguments for each switch instead of this release's agent "
            "(e.g. another release's, to rehearse a rolling upgrade)",
        ),
    ] = None,
) -> None:
    """Build the POD in namespaces, start one agent per switch, wait until all are in sync."""
    up(
        spines=spines,
        leaves=leaves,
        servers=server or [],
        url=_url(url),
        token=find_token(token, data),
        data=data,
        prefix=prefix or st.DEFAULT_PREFIX,
        timeout=timeout,
        push=push,
        agent_command=agent_command,
    )


@lab_app.command("supervise", hidden=True)
def supervise(
    url: Url = None,
    data: DataDir = None,
    prefix: Prefix = None,
    spines: Annotated[int, typer.Option("--spines")] = 2,
    leaves: Annotated[int, typer.Option("--leaves")] = 4,
    server: Annotated[list[str] | None, typer.Option("--server")] = None,
    token: Token = None,
) -> None:
    """Run the lab supervisor in the foreground (what `lab up` starts in the background)."""
    from ..lab import supervisor

    tok = find_token(token, data)
    if tok:
        os.environ[supervisor.TOKEN_ENV] = tok
    argv = [
        "--data-dir",
        str(data_dir(data)),
        "--url",
        _url(url),
        "--prefix",
        prefix or st.DEFAULT_PREFIX,
        "--spines",
        str(spines),
        "--leaves",
        str(leaves),
    ]
    for s in server or []:
        argv += ["--server", s]
    raise typer.Exit(supervisor.main(argv))


def down(data: str | None, prefix: str | None) -> control.DownReport:
    _require_root()
    return control.down(data_dir(data), prefix)


@lab_app.command("down")
def down_command(data: DataDir = None, prefix: Prefix = None) -> None:
    """Stop the agents and the supervisor, remove every namespace with the prefix (also after a crash)."""
    report = down(data, prefix)
    console.print(
        f"lab down: stopped {len(report.stopped)} processes, removed {len(report.namespaces)} "
        f"namespaces {report.prefix}*"
    )


def _load(data: str | None) -> st.LabState:
    state = st.load(st.lab_dir(data_dir(data)))
    if state is None:
        failure(f"no lab state in {st.lab_dir(data_dir(data))} (is the lab up? `podswitch lab up`)")
        raise typer.Exit(1)
    return state


def print_status(state: st.LabState, url: str | None = None) -> None:
    statuses: dict[str, dict] = {}
    try:
        statuses = {s["name"]: s for s in lab_client(url or state.url, None, timeout=5.0).switches()}
    except ApiError as e:
        console.print(f"[yellow]controller not reachable: {e}[/yellow]")
    pid = state.supervisor_pid
    alive = pid is not None and control._alive(pid)
    console.print(
        f"lab [bold]{state.phase}[/bold]{'' if alive else ' (supervisor not running)'}, "
        f"prefix {state.prefix}, controller {state.url}, intent revision {state.revision}"
    )
    if state.error:
        console.print(f"[red]{state.error}[/red]")

    def agent(name: str, sw: dict) -> str:
        s = statuses.get(name) or {}
        status = s.get("status")
        pid = sw.get("agent_pid")
        if pid is None or not control._alive(pid):
            return "[red]agent not running[/red]"
        if not status:
            return "[yellow]no report yet[/yellow]"
        if status.get("errors"):
            return f"[red]{len(status['errors'])} errors[/red]"
        return "[green]in sync[/green]" if s.get("in_sync") else "[yellow]behind[/yellow]"

    table(
        "switches",
        ["name", "role", "namespace", "agent", "pid", "applied revision", "release"],
        (
            [
                n,
                sw.get("role"),
                sw.get("netns"),
                agent(n, sw),
                sw.get("agent_pid"),
                ((statuses.get(n) or {}).get("status") or {}).get("applied_revision"),
                agent_release((statuses.get(n) or {}).get("status")),
            ]
            for n, sw in sorted(state.switches.items(), key=lambda kv: _natural(kv[0]))
        ),
    )
    table(
        "servers",
        ["interface-group", "namespace", "cabled to", "vlans"],
        (
            [g, s["netns"], f"{s['leaf']}:{s['port']}", " ".join(map(str, s["vlans"])) or "-"]
            for g, s in sorted(state.servers.items())
        ),
    )
    table(
        "endpoints",
        ["id", "tenant / segment", "namespace", "server vlan", "mac", "addresses", "gateway"],
        (
            [
                e,
                f"{ep['tenant']} / {ep['segment']}",
                ep["netns"] + (f" [red](failed: {ep['error']})[/red]" if ep.get("error") else ""),
                f"{ep['server']} {ep['vlan']}",
                ep.get("mac") or "-",
                " ".join(ep["addresses"]),
                " ".join(ep["gateways"]) or "-",
            ]
            for e, ep in sorted(state.endpoints.items())
        ),
    )


def _natural(name: str) -> tuple[str, int]:
    stem = name.rstrip("0123456789")
    return (stem, int(name[len(stem) :] or 0))


@lab_app.command("status")
def status_command(data: DataDir = None, url: Url = None) -> None:
    """Switches with their agents, servers, endpoints with namespace and addresses."""
    print_status(_load(data), url)


@lab_app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_command(
    name: Annotated[str, typer.Argument(help="switch, server, `external`, or endpoint id (a unique prefix is enough)")],
    command: Annotated[list[str] | None, typer.Argument(help="the command, after --")] = None,
    data: DataDir = None,
) -> None:
    """Run a command in a lab namespace: `podswitch lab exec 0485e7a0 -- ping 10.66.16.1`."""
    _require_root()
    state = _load(data)
    res = control.lookup(state, name)
    if res.namespace is None:
        if res.kind == "ambiguous":
            failure(f"'{name}' matches several endpoints: " + ", ".join(res.candidates))
        else:
            known = sorted([*state.switches, *state.servers, *state.endpoints])
            failure(f"no switch, server or endpoint '{name}' in the lab; known: " + ", ".join(known[:40]))
        raise typer.Exit(2)
    argv = command or [os.environ.get("SHELL", "/bin/sh")]
    ip = shutil.which("ip") or "/usr/sbin/ip"
    sys.stdout.flush()
    sys.stderr.flush()
    # exec: the command's exit code, signals and terminal are the caller's, exactly as with `ip netns exec`.
    os.execv(ip, [ip, "netns", "exec", res.namespace, *argv])


__all__ = ["down", "lab_app", "print_status", "up"]
