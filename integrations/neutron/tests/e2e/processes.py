"""Child processes the end-to-end harness starts: each in a session of its own, so that stopping it reaches
the workers it forks (neutron-rpc-server and neutron-periodic-workers fork through oslo.service), and always
with a SIGKILL after a short grace: neutron processes are known to ignore SIGTERM once a thread died (the
OVS agent stayed up for more than ten minutes after `timeout`, see the neutron notes)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from podswitch.lab.process import tail

STOP_GRACE = 5.0


class ChildFailed(RuntimeError):
    """A child exited or did not become ready in time; the message ends with its log."""


@dataclass
class Child:
    """One command, started and stopped as a process group, its output appended to `log`."""

    name: str
    argv: Sequence[str]
    log: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            out.write(f"--- {time.strftime('%H:%M:%S')} start {' '.join(self.argv)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                list(self.argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_running(self) -> None:
        if not self.running:
            code = None if self.proc is None else self.proc.returncode
            raise ChildFailed(f"{self.name} exited ({code}):\n{tail(self.log, 40)}")

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.proc is None:
            return
        # The group is the child's own session (start_new_session): its pgid is its pid, and it holds only
        # the child and the workers it forked.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM to the group, SIGKILL to whatever is left after `grace` seconds."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        self.kill()

    def kill(self) -> None:
        """SIGKILL to the whole group: a crash, and the fallback of every stop (forked workers included)."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=30)

    def tail(self, lines: int = 40) -> str:
        return tail(self.log, lines)


def wait_until(predicate, timeout: float, what: str, *children: Child, interval: float = 0.2):  # type: ignore[no-untyped-def]
    """Poll `predicate` until it returns something truthy; fail (with the children's logs) when any child
    exits or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        for child in children:
            child.check_running()
        if time.monotonic() >= deadline:
            logs = "\n".join(f"--- {c.name} ({c.log}):\n{c.tail()}" for c in children)
            raise ChildFailed(f"timed out after {timeout:.0f}s waiting for {what}\n{logs}")
        time.sleep(interval)
