"""`podswitch agent`: the switch agent (fetch desired state, reconcile the kernel, report status)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from ..daemon import setup_logging, stop_on_signals
from .app import app


@app.command("agent")
def agent(
    switch: Annotated[str, typer.Option("--switch", help="this switch's name in the topology")],
    controller: Annotated[
        list[str],
        typer.Option("--controller", help="controller base URL; repeat for several (tried in turn after failures)"),
    ],
    netns: Annotated[
        str | None, typer.Option("--netns", help="the switch's network namespace (default: the current one)")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar=["PODSWITCH_TOKEN", "PODSWITCH_ADMIN_TOKEN"],
            help="API token (or $PODSWITCH_TOKEN, $PODSWITCH_ADMIN_TOKEN)",
        ),
    ] = None,
    interval: Annotated[float, typer.Option("--interval", help="seconds between polls (without push)")] = 2.0,
    push: Annotated[
        float | None,
        typer.Option(
            "--push",
            help="seconds each request waits at the controller for a change (long-poll); 0: poll "
            "[default: as the controller says, 30]",
        ),
    ] = None,
    resync: Annotated[
        float | None,
        typer.Option("--resync", help="seconds between local drift repairs [default: as the controller says, 30]"),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "INFO",
) -> None:
    """Run the agent of one switch until SIGTERM/SIGINT; the kernel is left as programmed."""
    from ..agent.main import run

    setup_logging(log_level)
    stop = stop_on_signals(logging.getLogger("podswitch.agent"))
    run(switch, netns, controller, token=token, interval=interval, resync=resync, stop=stop, push=push)
