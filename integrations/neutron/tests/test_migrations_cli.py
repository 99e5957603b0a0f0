"""The journal's tables come from `neutron-db-manage --subproject networking-podswitch` and match the models;
`podswitch-neutron journal status/retry` read and fix them without a neutron-server."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from networking_podswitch.db import models
from neutron_lib.db import model_base
from sqlalchemy.orm import Session

BIN = Path(sys.executable).parent


def migrated(tmp_path: Path) -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path / 'neutron.sqlite'}"
    conf = tmp_path / "neutron.conf"
    conf.write_text(f"[database]\nconnection = {url}\n")
    run = subprocess.run(
        [BIN / "neutron-db-manage", "--config-file", conf, "--subproject", "networking-podswitch", "upgrade", "heads"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return conf, url


def test_the_migrations_make_exactly_the_models_tables(tmp_path: Path) -> None:
    _, url = migrated(tmp_path)
    inspector = sa.inspect(sa.create_engine(url))
    ours = {t.name: t for t in model_base.BASEV2.metadata.sorted_tables if t.name.startswith("podswitch_")}
    assert set(ours) == {
        "podswitch_journal",
        "podswitch_lease",
        "podswitch_status",
        "podswitch_project",
        "podswitch_port_wait",
    }
    assert set(ours) | {"podswitch_alembic_version"} == set(inspector.get_table_names())
    for name, table in ours.items():
        columns = {c["name"]: c for c in inspector.get_columns(name)}
        assert set(columns) == {c.name for c in table.columns}, name
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, (name, column.name)
        assert {c.name for c in table.primary_key} == set(inspector.get_pk_constraint(name)["constrained_columns"])
    assert {i["name"] for i in inspector.get_indexes("podswitch_journal")} == {"ix_podswitch_journal_state_seq"}


def cli(conf: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN / "podswitch-neutron", "--config-file", str(conf), "journal", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_journal_status_shows_backlog_failures_and_last_sync_and_retry_revives_failed_rows(tmp_path: Path) -> None:
    conf, url = migrated(tmp_path)
    when = datetime(2026, 12, 1, 12, 0, 0)
    with Session(sa.create_engine(url)) as session, session.begin():
        for seq, state in ((1, models.COMPLETED), (2, models.FAILED), (3, models.PENDING), (4, models.PENDING)):
            session.add(
                models.JournalRow(
                    seq=seq,
                    object_type="port",
                    object_id=f"port-{seq}",
                    operation="create",
                    parents="net project",
                    tags="[]",
                    old="[]",
                    state=state,
                    attempts=5 if state == models.FAILED else 0,
                    last_error="HTTP 409: interface-group osvdev0013 vlan 30 is already claimed"
                    if state == models.FAILED
                    else None,
                    created_at=when,
                )
            )
        session.add(models.Status(name="last_sync", value=json.dumps({"revision": 42, "rows": 7}), updated_at=when))

    shown = cli(conf, "status", "--json")
    assert shown.returncode == 0, shown.stderr
    facts = json.loads(shown.stdout)
    assert (facts["pending"], facts["failed"], facts["completed_kept"]) == (2, 1, 1)
    assert facts["last_sync"]["revision"] == 42
    assert facts["failures"][0]["row"] == "create port port-2"
    assert "already claimed" in facts["failures"][0]["error"]

    table = cli(conf, "status")
    assert table.returncode == 1  # failed rows: not a healthy journal
    assert "pending rows" in table.stdout and "already claimed" in table.stdout

    assert "1 failed rows are pending again" in cli(conf, "retry").stdout
    after = json.loads(cli(conf, "status", "--json").stdout)
    assert (after["pending"], after["failed"]) == (3, 0)


def test_journal_status_says_when_it_cannot_read_the_journal(tmp_path: Path) -> None:
    conf = tmp_path / "neutron.conf"
    conf.write_text(f"[database]\nconnection = sqlite:///{tmp_path / 'no-tables.sqlite'}\n")
    shown = cli(conf, "status", "--json")
    assert (shown.returncode, shown.stdout) == (2, "")
    assert "cannot read the journal" in shown.stderr and "podswitch_journal" in shown.stderr
