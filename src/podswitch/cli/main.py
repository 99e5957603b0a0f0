"""`podswitch`: run the controller, the agent and the lab; read and change the fabric."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from ..client import PreconditionFailed
from ..config import ConfigError, decode, parse, render
from .app import DryRun, Token, Url, app, client, config_app, run_api, show_app
from .output import agent_release, console, counts, diff, err, failure, table

# ---- config text, offline ---------------------------------------------------------------------------


def _read(path: Path) -> str:
    """The running-config text of a file ('-': standard input), read as bytes and decoded the one way the
    API decodes a body (`podswitch.config.decode`: strict UTF-8, lines end with LF or CR LF, the only blank
    is the ASCII space). A text it refuses exits 1 with FILE:line:col, like any other config error."""
    try:
        raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        failure(f"{path}: {exc}")
        raise typer.Exit(2) from None
    try:
        return decode(raw)
    except ConfigError as exc:
        _config_errors(path, exc)
        raise typer.Exit(1) from None


def _parse_file(path: Path) -> str:
    text = _read(path)
    try:
        return render(parse(text))
    except ConfigError as exc:
        _config_errors(path, exc)
        raise typer.Exit(1) from None


def _config_errors(path: Path, exc: ConfigError) -> None:
    for problem in exc.problems[:50]:
        err.print(Text(f"{path}:{problem.line}:{problem.column}: {problem.message}", style="red"))
    if len(exc.problems) > 50:
        err.print(Text(f"... and {len(exc.problems) - 50} more", style="red"))


@config_app.command("check")
def config_check(file: Path) -> None:
    """Check running-config text (syntax and every rule); exit 1 with FILE:line:col on error."""
    _parse_file(file)
    console.print(f"{file}: ok")


@config_app.command("fmt")
def config_fmt(file: Path) -> None:
    """Print the canonical form of running-config text."""
    sys.stdout.write(_parse_file(file))


# ---- whole-config operations ----------------------------------------------------------------------


@app.command("apply")
def apply(
    file: Annotated[
        Path | None, typer.Option("-f", "--file", help="running-config text to replace ALL intent with ('-' = stdin)")
    ] = None,
    ops: Annotated[
        Path | None,
        typer.Option(
            "--ops",
            help='a transaction as JSON, {"operations": [{"op": "put", "path": ..., "body": ...}, ...]} '
            "('-' = stdin): changes only what it names",
        ),
    ] = None,
    dry_run: DryRun = False,
    if_revision: Annotated[
        int | None,
        typer.Option(
            "--if-revision",
            min=0,
            help="apply only if the intent is still at this revision (the one a "
            "--dry-run showed); otherwise change nothing and fail",
        ),
    ] = None,
    url: Url = None,
    token: Token = None,
) -> None:
    """Replace all intent with FILE (-f), or apply a transaction (--ops), atomically; shows the plan. What is
    applied is exactly the plan shown: if anyone changes the intent in between, nothing is applied and the
    command fails."""
    if (file is None) == (ops is None):
        raise typer.BadParameter("give exactly one of -f/--file and --ops")
    api = client(url, token)
    if file is not None:
        text = _read(file)

        def submit(dry: bool, revision: int | None) -> dict[str, Any]:
            return api.replace_running_config(text, if_revision=revision, dry_run=dry)

    else:
        assert ops is not None
        document = _read_json(ops)

        def submit(dry: bool, revision: int | None) -> dict[str, Any]:
            return api.transaction_document(document, if_revision=revision, dry_run=dry)

    def go() -> None:
        plan = submit(True, if_revision)
        if plan["empty"]:
            console.print(f"no changes (revision {plan['revision']})")
            return
        diff(plan["diff"])
        console.print(f"[bold]plan:[/bold] {counts(plan['counts'])} (onto revision {plan['revision']})")
        if dry_run:
            return
        try:
            result = submit(False, plan["revision"])
        except PreconditionFailed as exc:
            exc.message = (
                f"the intent changed while the plan was shown (revision {plan['revision']} -> "
                f"{exc.revision}); nothing was applied — run apply again to see the new plan"
            )
            raise
        console.print(f"[green]applied[/green]: revision {result['revision']} ({result['summary']})")

    run_api(go)


def _read_json(path: Path) -> dict[str, Any]:
    text = _read(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        failure(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}")
        raise typer.Exit(2) from None
    if not isinstance(document, dict) or not isinstance(document.get("operations"), list):
        failure(f'{path}: a transaction is {{"operations": [...]}}')
        raise typer.Exit(2)
    return document


@app.command("revert")
def revert(revision: int, dry_run: DryRun = False, url: Url = None, token: Token = None) -> None:
    """Undo what REVISION changed, as a new revision."""
    _history_op("revert", revision, dry_run, url, token)


@app.command("restore")
def restore(revision: int, dry_run: DryRun = False, url: Url = None, token: Token = None) -> None:
    """Bring the whole intent back to how it was right after REVISION, as a new revision."""
    _history_op("restore", revision, dry_run, url, token)


def _history_op(op: str, revision: int, dry_run: bool, url: str | None, token: str | None) -> None:
    api = client(url, token)

    def go() -> None:
        result = api.undo(op, revision, dry_run=dry_run)
        if dry_run:
            diff(result["diff"])
            console.print(f"[bold]plan:[/bold] {counts(result['counts'])}")
        else:
            console.print(f"[green]{op}[/green]: revision {result['revision']} ({result['summary']})")

    run_api(go)


# ---- show -------------------------------------------------------------------------------------------


@show_app.command("running-config")
def show_running_config(url: Url = None) -> None:
    """The whole intent as running-config text."""
    sys.stdout.write(run_api(lambda: client(url).running_config()[1]))


@show_app.command("tenants")
def show_tenants(url: Url = None) -> None:
    items = run_api(lambda: client(url).get_all("/v1/tenants"))
    table("tenants", ["name", "id", "origination"], ([t["name"], t["id"], t["origination"]] for t in items))


@show_app.command("segments")
def show_segments(tenant: str, url: Url = None) -> None:
    items = run_api(lambda: client(url).get_all(f"/v1/tenants/{tenant}/segments"))
    table(
        f"segments of {tenant}", ["name", "id", "origination"], ([s["name"], s["id"], s["origination"]] for s in items)
    )


@show_app.command("endpoints")
def show_endpoints(
    tenant: Annotated[str | None, typer.Argument()] = None,
    segment: Annotated[str | None, typer.Argument()] = None,
    url: Url = None,
) -> None:
    """Endpoints of one segment, or of the whole fabric."""
    api = client(url)
    if tenant and segment:
        items = [
            {"tenant": tenant, "segment": segment, "endpoint": e}
            for e in run_api(lambda: api.get_all(f"/v1/tenants/{tenant}/segments/{segment}/endpoints"))
        ]
    else:
        items = run_api(lambda: api.get_all("/v1/endpoints"))
        if tenant:
            items = [i for i in items if i["tenant"] == tenant]

    def where(ep: dict) -> str:
        ap = ep.get("attachment_point")
        return f"{ap['interface_group']} vlan {ap['vlan']}" if ap else "-"

    table(
        "endpoints",
        ["id", "tenant", "segment", "attachment-point", "ip", "mac"],
        (
            [
                i["endpoint"]["id"],
                i["tenant"],
                i["segment"],
                where(i["endpoint"]),
                " ".join(i["endpoint"]["ips"]),
                i["endpoint"]["mac"],
            ]
            for i in items
        ),
    )


@show_app.command("history")
def show_history(limit: int = 20, url: Url = None) -> None:
    items = run_api(lambda: client(url).history(limit))
    table(
        "history",
        ["revision", "time", "actor", "operation", "changes", "summary"],
        (
            [r["revision"], _when(r["created_at"]), r["actor"], r["operation"], r["change_count"], r["summary"]]
            for r in items
        ),
    )


@show_app.command("switches")
def show_switches(url: Url = None) -> None:
    """Switches with what their agents report."""
    items = run_api(lambda: client(url).switches())

    def state(s: dict) -> str:
        st = s.get("status")
        if not st:
            return "[yellow]no agent yet[/yellow]"
        if st["errors"]:
            n = len(st["errors"])
            return f"[red]{n} error{'s' if n > 1 else ''}: {st['errors'][0][:120]}[/red]"
        return "[green]in sync[/green]" if s["in_sync"] else "[yellow]behind[/yellow]"

    table(
        "switches",
        ["name", "role", "loopback", "state", "applied revision", "agent", "last seen"],
        (
            [
                s["name"],
                s["role"],
                s["loopback"],
                state(s),
                (s.get("status") or {}).get("applied_revision"),
                agent_release(s.get("status")),
                _when(s.get("last_seen")),
            ]
            for s in items
        ),
    )


@show_app.command("controllers")
def show_controllers(url: Url = None) -> None:
    """The controllers sharing the database, and which one runs the background duties."""
    items = run_api(lambda: client(url).get("/v1/controllers"))

    def role(c: dict) -> str:
        if c["seconds_since_seen"] > STALE_CONTROLLER:
            return f"[red]silent for {c['seconds_since_seen']:.0f}s[/red]"
        return "[bold green]leader[/bold green]" if c["leader"] else "follower"

    table(
        "controllers",
        ["address", "role", "revision", "started", "id"],
        ([c["address"], role(c), c["revision"], _when(c["started_at"]), c["id"]] for c in items),
    )


# s without a heartbeat (each controller beats every second) before `show controllers` calls one silent.
STALE_CONTROLLER = 5.0


def _when(timestamp: str | None) -> str:
    """ISO time as `2026-11-25 20:40:25` (UTC, to the second): fits a narrow terminal."""
    return (timestamp or "")[:19].replace("T", " ")


@show_app.command("unresolved")
def show_unresolved(url: Url = None) -> None:
    items = run_api(lambda: client(url).get("/v1/unresolved"))
    table(
        "unresolved references",
        ["object", "reference", "why"],
        ([p["object"], p["field"], p["message"]] for p in items),
    )


def main() -> None:
    app()


# Command groups defined in their own modules register themselves on import.
from . import agent, lab, objects, run, serve  # noqa: E402,F401
