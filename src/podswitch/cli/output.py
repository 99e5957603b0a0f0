"""rich output: tables, plans with colour, errors that say what to do."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

# Lines of text are never wrapped: an operator greps them and copies paths and URLs out of them; a script
# parses an error's FILE:line:col. Piped or captured output is not squeezed into rich's default 80 columns
# (tables get 200 unless COLUMNS says otherwise): ids and names are copied from it.
console = Console(highlight=False, soft_wrap=True)
if not console.is_terminal and not os.environ.get("COLUMNS"):
    console = Console(highlight=False, soft_wrap=True, width=200)
err = Console(stderr=True, highlight=False, soft_wrap=True)

_DIFF_STYLE = {"+": "green", "-": "red", "@": "cyan"}


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    # Folded, never elided: ids and namespace names are copied from here (into `lab exec`, say).
    t = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console.print(t)


def diff(text: str) -> None:
    for line in text.splitlines():
        style = "bold" if line.startswith(("+++", "---")) else _DIFF_STYLE.get(line[:1])
        console.print(Text(line, style=style or ""))


def counts(counts: dict[str, dict[str, int]]) -> str:
    parts = []
    for kind in sorted(counts):
        c = counts[kind]
        bits = [
            f"+{c['created']}" if c["created"] else "",
            f"~{c['updated']}" if c["updated"] else "",
            f"-{c['deleted']}" if c["deleted"] else "",
        ]
        parts.append(f"{kind} {' '.join(b for b in bits if b)}")
    return ", ".join(parts) or "no changes"


def failure(message: str, body: dict[str, Any] | None = None) -> None:
    err.print(Text("error: ", style="bold red") + Text(message))
    for problem in (body or {}).get("problems", [])[1:20]:
        where = problem.get("object") or ""
        if problem.get("line"):
            where = f"{problem['line']}:{problem['column']}"
        err.print(Text(f"  {where}: {problem.get('message')}", style="red"))
    refs = (body or {}).get("referenced_by", [])
    if len(refs) > 1 or (refs and refs[0] not in message):  # the message names the first ten already
        for ref in refs[:20]:
            err.print(Text(f"  referenced by {ref}", style="yellow"))


def agent_release(status: dict[str, Any] | None) -> str:
    """`0.4.0 f2`: the agent's version and the desired-state format it reads. During a rolling upgrade (controllers
    first, then agents) the agents still on `f1` are the ones left to upgrade."""
    agent = (status or {}).get("agent") or {}
    if not agent:
        return ""
    version, format = agent.get("version"), agent.get("state_format")
    return " ".join(part for part in (str(version or "?"), f"f{format}" if format is not None else "") if part)
