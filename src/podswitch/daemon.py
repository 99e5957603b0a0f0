"""What every long-running podswitch process does the same way: log lines, and stop cleanly on
SIGTERM/SIGINT (an agent or the lab supervisor must leave the kernel as it is when told to stop)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), format=LOG_FORMAT)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # else one line per HTTP request (agents poll)


def stop_on_signals(log: logging.Logger) -> threading.Event:
    """An event set by SIGTERM or SIGINT; install from the main thread."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop
