"""The journal as the tests see it: its rows in Neutron's own database (table `podswitch_journal` of
networking-podswitch's migration branch), counted by state (the rows of one test: the database is the
session's), and `podswitch-neutron journal status` (the whole journal, as an operator sees it)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from .deployment import Neutron

TABLE = "podswitch_journal"


def last_seq(neutron: Neutron) -> int:
    """The newest row's number (rows after it belong to what a test does next)."""
    rows = neutron.database.query(f"SELECT COALESCE(MAX(seq), 0) FROM {TABLE}")
    return int(rows[0][0])  # type: ignore[call-overload]


def states(neutron: Neutron, after: int) -> Counter[str]:
    """Rows after seq `after` by state (pending, completed, failed)."""
    rows = neutron.database.query(f"SELECT state, COUNT(*) FROM {TABLE} WHERE seq > %s GROUP BY state", after)
    return Counter({str(state): int(n) for state, n in rows})  # type: ignore[call-overload]


def rows_of(neutron: Neutron, after: int, object_type: str) -> Counter[tuple[str, str]]:
    """(object id, operation) -> how many rows recorded it, after seq `after`."""
    rows = neutron.database.query(
        f"SELECT object_id, operation, COUNT(*) FROM {TABLE} WHERE seq > %s AND object_type = %s "
        "GROUP BY object_id, operation",
        after,
        object_type,
    )
    return Counter({(str(oid), str(op)): int(n) for oid, op, n in rows})  # type: ignore[call-overload]


def drained(neutron: Neutron, after: int) -> bool:
    counted = states(neutron, after)
    return counted["pending"] == 0 and counted["completed"] > 0


def status(neutron: Neutron) -> dict[str, Any]:
    """`podswitch-neutron journal status --json`, as an operator runs it on the Neutron host (it exits 1
    when rows failed)."""
    cli = Path(sys.executable).parent / "podswitch-neutron"
    shown = subprocess.run(
        [str(cli), *neutron.config_args(), "journal", "status", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        facts: dict[str, Any] = json.loads(shown.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"podswitch-neutron journal status --json: {shown.returncode}\n{shown.stderr}") from None
    return facts
