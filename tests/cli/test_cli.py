"""The CLI as an operator uses it: offline config tools, and object commands against a live controller."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from podswitch.api.app import create_app
from podswitch.cli import output
from podswitch.cli.main import app
from podswitch.store import Store

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "seed-running-config.txt"
TOKEN = "cli-test-token"
runner = CliRunner()


def cli(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def test_config_fmt_of_the_seed_prints_it_unchanged() -> None:
    result = cli("config", "fmt", str(SEED))
    assert result.exit_code == 0
    assert result.stdout == SEED.read_text()


def test_config_check_reports_file_line_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text(SEED.read_text().replace("mac fa:16:3e:ef:4f:f4", "mac fa:16:3e:ef:4f"))
    result = cli("config", "check", str(bad))
    assert result.exit_code == 1
    assert f"{bad}:18:11: " in result.output and "is not a MAC address" in result.output
    assert cli("config", "check", str(SEED)).exit_code == 0


def test_config_fmt_canonicalises(tmp_path: Path) -> None:
    messy = tmp_path / "messy.conf"
    messy.write_text("! a comment\ntenant b\n\n    origination x\ntenant a\n")
    result = cli("config", "fmt", str(messy))
    assert result.exit_code == 0 and result.stdout == "tenant a\n!\ntenant b\n  origination x\n"


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    result = cli("config", "check", str(tmp_path / "missing.conf"))
    assert result.exit_code == 2 and "missing.conf" in result.output


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    store = Store.open(Store.default_url(tmp_path))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(store, TOKEN), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    yield url
    srv.should_exit = True
    thread.join(timeout=10)
    store.close()


def test_apply_show_revert_against_a_controller(server: str, tmp_path: Path) -> None:
    env = {"PODSWITCH_URL": server, "PODSWITCH_ADMIN_TOKEN": TOKEN}
    plan = cli("apply", "-f", str(SEED), "--dry-run", env=env)
    assert plan.exit_code == 0 and "+tenant demo.openstack" in plan.stdout and "endpoint +1" in plan.stdout
    assert cli("show", "running-config", env=env).stdout == ""
    applied = cli("apply", "-f", str(SEED), env=env)
    assert applied.exit_code == 0 and "applied: revision 1" in applied.stdout
    assert cli("show", "running-config", env=env).stdout == SEED.read_text()
    assert "no changes" in cli("apply", "-f", str(SEED), env=env).stdout

    assert cli("tenant", "create", "t2", "--origination", "cli", env=env).exit_code == 0
    assert cli("segment", "create", "t2", "web", env=env).exit_code == 0
    assert cli("router", "interface-add", "t2", "web", "--ip", "10.9.0.1/24", env=env).exit_code == 0
    assert (
        cli(
            "endpoint",
            "create",
            "t2",
            "web",
            "vm1",
            "-g",
            "host1",
            "--vlan",
            "10",
            "--ip",
            "10.9.0.5",
            "--mac",
            "fa:16:3e:00:00:05",
            env=env,
        ).exit_code
        == 0
    )
    bad = cli("endpoint", "create", "t2", "web", "vm2", "-g", "host1", "--vlan", "10", "--ip", "10.8.0.5", env=env)
    assert bad.exit_code == 1 and "outside the segment's subnet" in bad.output
    endpoints = cli("show", "endpoints", env={**env, "COLUMNS": "200"})
    assert "vm1" in endpoints.stdout and "10.9.0.5" in endpoints.stdout
    history = cli("show", "history", env={**env, "COLUMNS": "200"})
    assert history.exit_code == 0 and "replace" in history.stdout

    refused = cli("segment", "delete", "t2", "web", env=env)
    assert refused.exit_code == 1 and "referenced by" in refused.output
    assert cli("revert", "4", env=env).exit_code == 0  # the router interface goes away again
    assert "interface segment web" not in cli("show", "running-config", env=env).stdout
    assert cli("restore", "1", env=env).exit_code == 0
    assert cli("show", "running-config", env=env).stdout == SEED.read_text()


def test_writes_without_the_token_say_how_to_fix_it(server: str) -> None:
    result = cli("tenant", "create", "x", env={"PODSWITCH_URL": server, "PODSWITCH_DATA_DIR": "/nonexistent"})
    assert result.exit_code == 1 and "PODSWITCH_ADMIN_TOKEN" in result.output


def test_an_unreachable_controller_is_a_clear_error() -> None:
    result = cli("show", "tenants", env={"PODSWITCH_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 1 and "cannot reach the controller" in result.output


def test_apply_applies_exactly_the_plan_it_showed(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"PODSWITCH_URL": server, "PODSWITCH_ADMIN_TOKEN": TOKEN, "COLUMNS": "200"}
    assert cli("apply", "-f", str(SEED), env=env).exit_code == 0
    stale = cli("apply", "-f", str(SEED), "--if-revision", "0", env=env)
    assert stale.exit_code == 1 and "not 0" in stale.output

    # Another writer gets in between the plan and the apply: the apply must not wipe what it wrote.
    from podswitch.client import Client

    real = Client.request

    def racing(self: Client, method: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
        response = real(self, method, path, **kwargs)
        if (kwargs.get("params") or {}).get("dry_run") == "true":
            httpx.put(
                f"{server}/v1/tenants/neutron.created",
                json={},
                headers={"Authorization": f"Bearer {TOKEN}"},
            ).raise_for_status()
        return response

    monkeypatch.setattr(Client, "request", racing)
    changed = SEED.read_text().replace("vlan 300", "vlan 301")
    result = runner.invoke(app, ["apply", "-f", "-"], env=env, input=changed)
    assert result.exit_code == 1, result.output
    assert "changed while the plan was shown" in result.output and "nothing was applied" in result.output
    monkeypatch.setattr(Client, "request", real)
    text = cli("show", "running-config", env=env).stdout
    assert "tenant neutron.created" in text and "vlan 301" not in text


def test_create_never_overwrites_unless_told(server: str) -> None:
    env = {"PODSWITCH_URL": server, "PODSWITCH_ADMIN_TOKEN": TOKEN, "COLUMNS": "200"}
    assert cli("apply", "-f", str(SEED), env=env).exit_code == 0
    before = cli("show", "running-config", env=env).stdout
    # A `create` of what exists (a typo, a script run twice) must not wipe Neutron's ids and origination.
    for args in (
        ("tenant", "create", "demo.openstack"),
        ("segment", "create", "demo.openstack", "net_demo"),
        (
            "endpoint",
            "create",
            "demo.openstack",
            "net_demo",
            "0485e7a0-198f-4b88-a877-ca79d3e882bc",
            "-g",
            "osvdev0099",
            "--vlan",
            "300",
            "--ip",
            "10.66.16.2",
            "--mac",
            "fa:16:3e:ef:4f:f4",
        ),
    ):
        result = cli(*args, env=env)
        assert result.exit_code == 1 and "already exists" in result.output and "--replace" in result.output
    assert cli("show", "running-config", env=env).stdout == before
    # --replace is the deliberate overwrite (here: an endpoint moving to another server).
    moved = cli(
        "endpoint",
        "create",
        "demo.openstack",
        "net_demo",
        "0485e7a0-198f-4b88-a877-ca79d3e882bc",
        "-g",
        "osvdev0099",
        "--vlan",
        "300",
        "--ip",
        "10.66.16.2",
        "--mac",
        "fa:16:3e:ef:4f:f4",
        "--replace",
        env=env,
    )
    assert moved.exit_code == 0
    assert "attachment-point interface-group osvdev0099 vlan 300" in cli("show", "running-config", env=env).stdout


def test_show_switches_says_what_is_wrong(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"PODSWITCH_URL": server, "PODSWITCH_ADMIN_TOKEN": TOKEN, "COLUMNS": "250"}
    # A console made where COLUMNS was already set (an xdist worker) keeps that width whatever COLUMNS says
    # later; at 80 columns the table wraps the error this test reads.
    monkeypatch.setattr(output.console, "_width", 250)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for name in ("leaf1", "leaf2"):
        httpx.put(f"{server}/v1/switches/{name}", json={"role": "leaf"}, headers=auth).raise_for_status()
    problem = "GET /v1/switches/leaf1/desired-state: desired-state format 2; upgrade the agent"
    agent = {"version": "0.3.9", "pid": 1, "state_format": 1}
    httpx.put(
        f"{server}/v1/switches/leaf1/status",
        json={"applied_revision": 1, "errors": [problem], "agent": agent},
        headers=auth,
    ).raise_for_status()
    out = cli("show", "switches", env=env).stdout
    assert "1 error: GET /v1/switches/leaf1/desired-state" in out and "upgrade the agent" in out
    assert "0.3.9 f1" in out  # the agent's release and the format it reads: one left to upgrade
    assert "no agent yet" in out  # leaf2


def test_apply_ops_is_one_transaction_planned_then_applied(server: str, tmp_path: Path) -> None:
    env = {"PODSWITCH_URL": server, "PODSWITCH_ADMIN_TOKEN": TOKEN, "COLUMNS": "200"}
    assert cli("apply", "-f", str(SEED), env=env).exit_code == 0
    ops = {
        "operations": [
            {"op": "put", "path": "/tenants/t2", "body": {"origination": "cli"}},
            {"op": "put", "path": "/tenants/t2/segments/s1", "body": {}},
            {"op": "delete", "path": "/tenants/demo.openstack/segments/net_demo/members/osvdev0013/300"},
        ]
    }
    path = tmp_path / "ops.json"
    path.write_text(json.dumps(ops))
    planned = cli("apply", "--ops", str(path), "--dry-run", env=env)
    assert planned.exit_code == 0 and "+tenant t2" in planned.stdout and "onto revision 1" in planned.stdout
    applied = cli("apply", "--ops", str(path), env=env)
    assert applied.exit_code == 0 and "applied: revision 2" in applied.stdout
    text = cli("show", "running-config", env=env).stdout
    assert "segment s1" in text and "member interface-group" not in text
    again = cli("apply", "--ops", str(path), env=env)  # the delete is not missing_ok: nothing changes
    assert again.exit_code == 1 and "operation 2" in again.output
    path.write_text("{not json")
    bad = cli("apply", "--ops", str(path), env=env)
    assert bad.exit_code == 2 and f"{path}:1:2" in bad.output
