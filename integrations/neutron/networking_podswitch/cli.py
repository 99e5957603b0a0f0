"""`podswitch-neutron`: the journal seen from Neutron's database (no neutron-server needed).

podswitch-neutron --config-file /etc/neutron/neutron.conf journal status [--json]
podswitch-neutron --config-file /etc/neutron/neutron.conf journal retry"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from oslo_config import cfg
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .db.models import FAILED, PENDING, JournalRow
from .journal.rows import now
from .journal.status import summary

app = typer.Typer(help="networking-podswitch: the journal that feeds the podswitch controller", no_args_is_help=True)
journal = typer.Typer(help="the journal in Neutron's database", no_args_is_help=True)
app.add_typer(journal, name="journal")
console = Console()


class State:
    config_files: list[Path] = []


@app.callback()
def main_options(
    config_file: Annotated[
        list[Path] | None, typer.Option("--config-file", help="Neutron's configuration (its [database] connection)")
    ] = None,
) -> None:
    State.config_files = config_file or [Path("/etc/neutron/neutron.conf")]


def _session() -> Session:
    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.StrOpt("connection", secret=True)], "database")
    conf([], project="neutron", default_config_files=[str(p) for p in State.config_files])
    if not conf.database.connection:
        raise typer.BadParameter(f"no [database] connection in {', '.join(map(str, State.config_files))}")
    return Session(create_engine(conf.database.connection))


@journal.command("status")
def status(as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False) -> None:
    """Backlog, failures, last sync and last consistency check. Exits 1 when rows failed, 2 when the
    journal cannot be read (the database's error on stderr)."""
    try:
        with _session() as session:
            facts = summary(session, now())
    except SQLAlchemyError as exc:
        typer.echo(f"cannot read the journal: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(facts, indent=2, default=str))
        return
    table = Table(show_header=False, box=None)
    age = facts["oldest_pending_age_s"]
    table.add_row("pending rows", f"{facts['pending']}" + (f" (oldest {age:.0f}s)" if age is not None else ""))
    table.add_row("failed rows", str(facts["failed"]))
    table.add_row("last sync", _describe(facts["last_sync"], "revision"))
    table.add_row("last check", _describe(facts["last_check"], "state"))
    sender = facts["sender"]
    table.add_row("sender", f"{sender['holder']} (lease until {sender['until']})" if sender else "none")
    table.add_row("ports waiting for the fabric", str(facts["ports_waiting"]))
    console.print(table)
    for failure in facts["failures"]:
        console.print(
            f"[red]#{failure['seq']}[/red] {failure['row']} ({failure['attempts']} attempts): {failure['error']}"
        )
    if facts["failed"]:
        raise typer.Exit(1)


def _describe(fact: dict[str, Any] | None, field: str) -> str:
    if fact is None:
        return "never"
    extra = f" {fact.get('reason')}" if fact.get("reason") else ""
    return f"{fact['at']} ({field} {fact.get(field)}){extra}"


@journal.command("retry")
def retry() -> None:
    """Make failed rows pending again (after fixing what the controller refused)."""
    with _session() as session, session.begin():
        count = (
            session.query(JournalRow)
            .filter(JournalRow.state == FAILED)
            .update({"state": PENDING, "attempts": 0}, synchronize_session=False)
        )
    console.print(f"{count} failed rows are pending again")


def main() -> None:
    app()
