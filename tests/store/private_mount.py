"""A small tmpfs in a mount namespace of its own, to fill a database's disk for real (ENOSPC, SQLITE_FULL).

The mount exists only in that namespace: nothing on the machine sees it, and it goes when the namespace's
last process does. A holder process (`cat`, reading a pipe from the test) keeps it; commands and the
controller under test enter it with `nsenter`. If the test process dies, the pipe closes, the holder exits
and the mount is gone. Needs root (mount); the SQLite file cannot be reached from outside the namespace, not
even through /proc/PID/root, because SQLite resolves that magic link back to the path outside."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import TracebackType

import pytest

FILLER = ".filler"


class PrivateTmpfs:
    def __init__(self, path: Path, size_bytes: int) -> None:
        if os.geteuid() != 0:
            pytest.skip("needs root: mounts a small tmpfs in a mount namespace of its own to fill the database's disk")
        missing = [tool for tool in ("unshare", "nsenter", "fallocate") if shutil.which(tool) is None]
        if missing:
            pytest.fail(f"the disk-full test needs {', '.join(missing)} (util-linux)", pytrace=False)
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        script = 'mount -t tmpfs -o size="$1" podswitch-test "$2" && echo mounted && exec cat'
        self._holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(size_bytes), str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._holder.stdout is not None
        if self._holder.stdout.readline().strip() != "mounted":
            self._holder.wait(10)
            assert self._holder.stderr is not None
            pytest.fail(f"cannot mount a tmpfs in a mount namespace: {self._holder.stderr.read()}", pytrace=False)

    @property
    def enter(self) -> tuple[str, ...]:
        """The prefix that runs a command in the namespace (it execs the command: signals reach it)."""
        return ("nsenter", "-t", str(self._holder.pid), "-m", "--")

    def run(self, *argv: str) -> str:
        return subprocess.run([*self.enter, *argv], capture_output=True, text=True, check=True).stdout

    def available(self) -> int:
        """Bytes free on the tmpfs."""
        return int(self.run("df", "--output=avail", "-B1", str(self.path)).split()[-1])

    def fill(self, leave: int) -> None:
        """Take all the free space but `leave` bytes (with a file of our own, so `free` can give it back)."""
        self.run("fallocate", "-l", str(max(self.available() - leave, 4096)), str(self.path / FILLER))

    def free(self) -> None:
        self.run("rm", "-f", str(self.path / FILLER))

    def close(self) -> None:
        if self._holder.poll() is None:
            assert self._holder.stdin is not None
            self._holder.stdin.close()  # cat ends, and with the namespace's last process the mount
            self._holder.wait(10)

    def __enter__(self) -> PrivateTmpfs:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
