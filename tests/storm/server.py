"""The controller under test, in a process of its own: the simulated agents must not share its interpreter
(and its GIL), and "the controller comes back" is then what it is in production: a fresh process that loads
the store and has compiled nothing yet.

`python -m tests.storm.server URL [--full-states N] [--long-polls N] [--no-cache]` serves on a free port of
127.0.0.1 and prints `PORT <n>` once it accepts connections."""

from __future__ import annotations

import argparse
import ctypes
import os
import select
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1  # prctl(2)
START_TIMEOUT = 120.0  # s: loading a large store takes a while on a busy machine


@dataclass(frozen=True)
class Config:
    full_states: int  # 0: no limit
    long_polls: int  # 0: no limit
    cache: bool
    send_buffer: int = 0  # bytes of each connection's socket send buffer (0: the kernel's own, autotuned)


class Server:
    """A controller process on `url`; `stop()` kills it (whatever it was still doing)."""

    def __init__(self, url: str, config: Config) -> None:
        args = [sys.executable, "-m", "tests.storm.server", url]
        args += ["--full-states", str(config.full_states), "--long-polls", str(config.long_polls)]
        if not config.cache:
            args.append("--no-cache")
        if config.send_buffer:
            args += ["--send-buffer", str(config.send_buffer)]
        path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])
        env = {**os.environ, "PYTHONPATH": path}
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env, preexec_fn=_die_with_parent)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""  # the child prints one line once serving, or dies
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"controller did not start: {line!r}")
        self.base = f"http://127.0.0.1:{int(line.split()[1])}"

    def cpu_seconds(self) -> float:
        """User + system CPU the process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mib(self, which: str = "VmRSS") -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(which + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def compiles(self, timeout: float = 30.0) -> float | None:
        """Desired-state compilations the controller did (cache misses); None if it cannot say in time."""
        try:
            text = httpx.get(f"{self.base}/metrics", timeout=timeout).text
        except httpx.HTTPError:
            return None
        for line in text.splitlines():
            if line.startswith('podswitch_compile_cache_total{result="miss"}'):
                return float(line.split()[-1])
        return 0.0

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _die_with_parent() -> None:
    """A controller left running by a harness that crashed would go on burning a shared machine's CPU."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--full-states", type=int, required=True)
    parser.add_argument("--long-polls", type=int, required=True)
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--send-buffer", type=int, default=0)
    args = parser.parse_args()

    import uvicorn

    from podswitch.api.admission import Admission
    from podswitch.api.app import create_app
    from podswitch.store import Store

    store = Store.open(args.url)
    admission = Admission(full_states=args.full_states, long_polls=args.long_polls)
    app = create_app(store, "storm", admission=admission, cache_compiles=not args.no_cache)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.send_buffer:  # accepted connections inherit it: a link slower than loopback, as a WAN's is
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, args.send_buffer)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", access_log=False, backlog=4096))

    original = server.startup

    async def startup(sockets: list[socket.socket] | None = None) -> None:
        await original(sockets)
        print(f"PORT {sock.getsockname()[1]}", flush=True)

    server.startup = startup  # type: ignore[method-assign]
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
