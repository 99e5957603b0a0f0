"""`podswitch run` (what `make run` does): the controller, the lab POD and the seed's demo tenant, in the
foreground until Ctrl-C; on exit the agents stop and the lab is torn down."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ..client import ApiError, Client
from ..lab import statefile as lab_state
from .app import app
from .output import console, failure
from .settings import ACTOR, DEFAULT_DATA_DIR, DEFAULT_PORT, DEFAULT_URL, data_dir

DEMO_CONFIG = "demo-running-config.txt"
STARTUP_TIMEOUT = 30.0


def _demo_config() -> Path | None:
    """examples/demo-running-config.txt of this checkout (the current directory first: `make run`)."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[3]):
        path = root / "examples" / DEMO_CONFIG
        if path.is_file():
            return path
    return None


def _port_busy(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) == 0


@app.command("run")
def run(
    data: Annotated[
        str, typer.Option("--data-dir", envvar="PODSWITCH_DATA_DIR", help="embedded store, admin token and lab state")
    ] = DEFAULT_DATA_DIR,
    port: Annotated[int, typer.Option("--port")] = DEFAULT_PORT,
    config: Annotated[
        Path | None,
        typer.Option("--config", help=f"running-config loaded into an empty store (default examples/{DEMO_CONFIG})"),
    ] = None,
    spines: Annotated[int, typer.Option("--spines")] = 2,
    leaves: Annotated[int, typer.Option("--leaves")] = 4,
    prefix: Annotated[str, typer.Option("--prefix", help="lab namespace prefix")] = lab_state.DEFAULT_PREFIX,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds to wait for the lab")] = 180.0,
) -> None:
    """Controller + lab POD + demo tenant; prints how to ping; Ctrl-C stops everything and removes the lab."""
    import uvicorn

    from ..api.app import create_app
    from ..api.auth import TOKEN_FILE, load_or_create_token
    from ..controller.duties import DutySettings
    from ..daemon import setup_logging
    from . import lab as lab_cli
    from .serve import open_store

    if os.geteuid() != 0:
        failure("`podswitch run` builds the lab POD in network namespaces and needs root")
        raise typer.Exit(1)
    host = "127.0.0.1"
    url = f"http://{host}:{port}"
    if _port_busy(host, port):
        failure(f"something already listens on {host}:{port}; stop it or use --port")
        raise typer.Exit(1)
    text_path = config or _demo_config()
    setup_logging("WARNING")  # the console is for the user; the lab's and agents' logs go to files
    directory = data_dir(data)
    directory.mkdir(parents=True, exist_ok=True)

    # A previous run that was killed may have left its lab behind.
    leftover = lab_cli.down(str(directory), prefix)
    if leftover.stopped or leftover.namespaces:
        console.print(
            f"removed a previous lab: {len(leftover.stopped)} processes, {len(leftover.namespaces)} namespaces"
        )

    store = open_store(None, str(directory))
    token, _ = load_or_create_token(directory)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(store, token, duties=DutySettings.from_env(), address=f"{host}:{port}"),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, name="controller", daemon=True)
    stop = threading.Event()
    serving = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()
        if not serving.is_set():  # still starting: abandon the start-up, the finally below cleans up
            raise KeyboardInterrupt

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                failure(f"the controller did not start on {url}")
                raise typer.Exit(1)
            time.sleep(0.05)
        console.print(f"controller on [bold]{url}[/bold] (data dir {directory}, revision {store.head()})")
        ctl = Client(url, token=token, actor=ACTOR, timeout=600.0)
        if store.head() == 0:
            if text_path is None:
                console.print(f"[yellow]examples/{DEMO_CONFIG} not found: starting with an empty intent[/yellow]")
            else:
                result = ctl.replace_running_config(text_path.read_text())
                console.print(f"loaded {text_path} as revision {result['revision']}")
        lab_cli.up(
            spines=spines,
            leaves=leaves,
            servers=[],
            url=url,
            token=token,
            data=str(directory),
            prefix=prefix,
            timeout=timeout,
            show_status=True,
        )
        console.print()
        console.rule("running-config")
        console.print(ctl.running_config()[1], end="", markup=False, highlight=False)
        console.rule()
        _howto(url, directory, directory / TOKEN_FILE)
        console.print("\n[bold]Ctrl-C[/bold] stops the agents and removes the lab.")
        serving.set()
        while not stop.wait(1.0):
            if not thread.is_alive():
                failure("the controller stopped")
                break
    except ApiError as e:
        failure(str(e))
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("interrupted while starting")
        raise typer.Exit(130) from None
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        console.print("stopping: agents, lab, controller ...")
        report = lab_cli.down(str(directory), prefix)
        console.print(f"lab down: {len(report.stopped)} processes stopped, {len(report.namespaces)} namespaces removed")
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


def _say(text: str) -> None:
    # Commands are printed whole, never wrapped: they are meant to be copied.
    console.print(text, soft_wrap=True)


def _howto(url: str, directory: Path, token_file: Path) -> None:
    state = lab_state.load(lab_state.lab_dir(directory))
    extra = "" if str(directory) == DEFAULT_DATA_DIR else f" --data-dir {directory}"
    at = "" if url == DEFAULT_URL else f" --url {url}"
    # Say `podswitch` when it is on PATH, else the path of this very executable (.venv/bin/podswitch).
    exe = "podswitch"
    local = Path(sys.executable).parent / "podswitch"
    if shutil.which("podswitch") is None and local.exists():
        exe = os.path.relpath(local) if not os.path.relpath(local).startswith("../..") else str(local)
    _say(f"API:         {url}   (docs: {url}/docs)")
    _say(f"admin token: {token_file}   (export PODSWITCH_ADMIN_TOKEN=$(cat {token_file}))")
    if state is None:
        return
    tenant_eps = [(eid, ep) for eid, ep in sorted(state.endpoints.items()) if ep["tenant"] != "system"]
    outside = [ep for _, ep in sorted(state.endpoints.items()) if ep["tenant"] == "system"]
    if not tenant_eps:
        return
    eid, ep = tenant_eps[0]
    short = eid[:8]
    _say(
        f"\nendpoint {eid} ({ep['tenant']}/{ep['segment']}, {' '.join(ep['addresses'])}) lives in "
        f"namespace {ep['netns']}. Ping from it:"
    )
    for gw in ep["gateways"]:
        _say(f"  {exe} lab exec{extra} {short} -- ping -c 3 {gw}      # its gateway (the fabric's anycast router)")
    for other in outside:
        for addr in other["addresses"]:
            ip = addr.split("/")[0]
            _say(
                f"  {exe} lab exec{extra} {short} -- ping -c 3 {ip}      # the outside world "
                f"(endpoint {other['id']} behind tenant system)"
            )
    _say("More:")
    _say(f"  {exe} lab status{extra}")
    _say(f"  {exe} show switches{at}")
    _say(f"  {exe} show running-config{at}")
