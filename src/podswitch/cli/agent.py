"""`podswitch agent`: the switch agent (fetch desired state, reconcile the kernel, report status)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated, Any

import typer

from .main import app


@app.command("agent")
def agent(
    switch: Annotated[str, typer.Option("--switch", help="this switch's name in the topology")],
    controller: Annotated[list[str], typer.Option("--controller", help="controller base URL; repeat for several "
                                                  "(tried in turn after failures)")],
    netns: Annotated[str | None, typer.Option("--netns", help="the switch's network namespace (default: the "
                                              "current one)")] = None,
    token: Annotated[str | None, typer.Option("--token", envvar=["PODSWITCH_TOKEN", "PODSWITCH_ADMIN_TOKEN"],
                                              help="API token (or $PODSWITCH_TOKEN, $PODSWITCH_ADMIN_TOKEN)")] = None,
    interval: Annotated[float, typer.Option("--interval", help="seconds between polls")] = 2.0,
    resync: Annotated[float, typer.Option("--resync", help="seconds between local drift repairs")] = 30.0,
    log_level: Annotated[str, typer.Option("--log-level")] = "INFO",
) -> None:
    """Run the agent of one switch until SIGTERM/SIGINT; the kernel is left as programmed."""
    from ..agent.main import run

    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # else one line per poll
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        logging.getLogger("podswitch.agent").info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    run(switch, netns, controller, token=token, interval=interval, resync=resync, stop=stop)
