"""Real packets through a lab POD, measured exactly: ping summaries, per-probe sequence numbers of a
long ping, ICMP counters of a namespace, tcpdump captures, and the kernel objects of a switch.

Every wait is bounded (polling with a deadline); no assertion depends on how long something took."""

from __future__ import annotations

import contextlib
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.lab.conftest import Lab, wait_for

GATEWAY_MAC = "02:70:73:00:00:01"  # fabric.state.GATEWAY_MAC: the anycast gateway on every leaf

_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) received")
_REPLY = re.compile(r"bytes from ([0-9a-f.:]+): icmp_seq=(\d+) ttl=(\d+)")


# ---- ping ---------------------------------------------------------------------------------------


@dataclass
class Ping:
    src: str
    dst: str
    rc: int
    transmitted: int
    received: int
    ttls: list[int]
    output: str

    def __str__(self) -> str:
        return f"ping {self.src} -> {self.dst}: rc={self.rc} {self.received}/{self.transmitted}\n{self.output}"


def ping(lab: Lab, src: str, dst: str, count: int = 3, wait: float = 1.0, interval: float = 0.2) -> Ping:
    """`count` echo requests from `src` (endpoint id, switch, server) to `dst`; every probe waits at most
    `wait` seconds for its reply."""
    proc = lab.exec(
        src,
        "ping",
        "-n",
        "-c",
        str(count),
        "-i",
        str(interval),
        "-W",
        str(wait),
        dst,
        timeout=count * (interval + wait) + 30,
    )
    m = _SUMMARY.search(proc.stdout)
    transmitted, received = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    ttls = [int(r.group(3)) for r in _REPLY.finditer(proc.stdout)]
    return Ping(src, dst, proc.returncode, transmitted, received, ttls, proc.stdout + proc.stderr)


def reaches(lab: Lab, src: str, dst: str, count: int = 3) -> Ping:
    """Every probe answered, once: exit code 0 and `count` of `count` replies, no duplicates. A reply may
    take up to 3 s (a busy 2-core machine), which costs nothing when it comes at once."""
    p = ping(lab, src, dst, count, wait=3.0)
    ok = p.rc == 0 and p.transmitted == count and p.received == count and "duplicates" not in p.output
    assert ok, (
        f"expected {count}/{count}: {p}\n--- {src}: ip neigh\n{lab.exec(src, 'ip', 'neigh').stdout}\n"
        + lab.diagnostics()
    )
    return p


def never_reaches(lab: Lab, src: str, dst: str, count: int = 3) -> Ping:
    """A short bounded ping that must get no reply at all (exit code 1: sent, nothing came back)."""
    p = ping(lab, src, dst, count, wait=1.0)
    assert p.rc == 1 and p.transmitted == count and p.received == 0, f"expected 0/{count}: {p}"
    return p


def wait_reaches(lab: Lab, src: str, dst: str, timeout: float = 60.0) -> None:
    """Bounded wait until one probe gets through: for set-up and clean-up only. A check after a change
    runs `reaches` right after `wait_synced`: once the agents report it applied, it must work."""
    wait_for(
        lambda: ping(lab, src, dst, count=1).received == 1, timeout, what=f"{src} to reach {dst}\n{lab.diagnostics()}"
    )


def icmp_counters(lab: Lab, name: str) -> dict[str, int]:
    """The ICMP counters of `name`'s namespace (/proc/net/snmp is per namespace): InEchos counts echo
    requests that arrived there, whoever sent them."""
    out = lab.exec(name, "cat", "/proc/net/snmp").stdout.splitlines()
    rows = [line.split() for line in out if line.startswith("Icmp:")]
    assert len(rows) >= 2, out
    return {k: int(v) for k, v in zip(rows[0][1:], rows[1][1:], strict=True)}


def in_echos(lab: Lab, name: str) -> int:
    return icmp_counters(lab, name)["InEchos"]


def neighbour_mac(lab: Lab, name: str, ip: str) -> str | None:
    out = lab.exec(name, "ip", "-4", "neigh", "show", ip).stdout
    m = re.search(r"lladdr ([0-9a-f:]{17})", out)
    return m.group(1) if m else None


# ---- a long ping while something happens ----------------------------------------------------------


@dataclass
class FloodResult:
    transmitted: int
    received: int
    seqs: list[int]
    duplicates: int
    errors: list[str]
    output: str

    @property
    def lost(self) -> list[int]:
        """Probes with no reply although a later probe got one (the last probe may be in flight when the
        ping is stopped: it is neither lost nor received)."""
        top = max(self.seqs, default=0)
        return sorted(set(range(1, top + 1)) - set(self.seqs))

    def __str__(self) -> str:
        tail = "\n".join(self.output.splitlines()[-4:])
        return (
            f"{self.received}/{self.transmitted} received, lost seqs {self.lost[:20]}, "
            f"{self.duplicates} duplicates, errors {self.errors[:5]}\n{tail}"
        )


class Flood:
    """`ping -i 0.01 -c COUNT` from `src` to `dst`, read line by line while it runs: how many probes were
    answered so far, and which sequence numbers. `stop()` interrupts it (SIGINT: it prints its summary) as
    soon as the test saw what it waited for; COUNT only bounds it (12,000 probes: ~200 s in this VM, where
    `-i 0.01` ticks every ~16 ms), generous because a busy 2-core machine makes the events slow."""

    def __init__(self, lab: Lab, src: str, dst: str, count: int = 12000, interval: float = 0.01) -> None:
        ns = lab.ns(src)
        assert ns is not None, src
        self.name = f"{src} -> {dst}"
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "ping", "-n", "-i", str(interval), "-W", "1", "-c", str(count), dst],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.lines: list[str] = []
        self.seqs: list[int] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            m = _REPLY.search(line)
            with self._lock:
                self.lines.append(line.rstrip("\n"))
                if m and "DUP!" not in line:
                    self.seqs.append(int(m.group(2)))

    def replies(self) -> int:
        with self._lock:
            return len(self.seqs)

    def wait_replies(self, n: int, timeout: float = 60.0) -> None:
        """Bounded wait until `n` more replies than now arrived (fails if the ping ended first)."""
        target = self.replies() + n

        def enough() -> bool:
            if self.replies() >= target:
                return True
            if self.proc.poll() is not None:
                self._reader.join(5)
                if self.replies() < target:
                    pytest.fail(f"{self.name}: ping ended before {n} more replies:\n" + "\n".join(self.lines[-10:]))
            return False

        wait_for(enough, timeout, interval=0.05, what=f"{n} more replies on {self.name}")

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> FloodResult:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._reader.join(10)
        out = "\n".join(self.lines)
        m = _SUMMARY.search(out)
        transmitted, received = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        errors = [ln for ln in self.lines if ln.startswith("From ") or "nreachable" in ln or "Redirect" in ln]
        return FloodResult(transmitted, received, list(self.seqs), out.count("DUP!"), errors, out)


def assert_hitless(result: FloodResult, name: str, at_least: int) -> None:
    """Nothing lost: every probe up to the last answered one was answered, once; the ping's own summary
    agrees (it may count one more probe sent, the one in flight when it was stopped)."""
    assert result.errors == [] and result.duplicates == 0, f"{name}: {result}"
    assert result.lost == [], f"{name}: lost {len(result.lost)} probes: {result}"
    assert len(result.seqs) >= at_least, f"{name}: too few probes to mean anything: {result}"
    top = max(result.seqs)
    assert result.received == len(result.seqs) == top, f"{name}: {result}"
    assert result.transmitted in (top, top + 1), f"{name}: {result}"


# ---- tcpdump ------------------------------------------------------------------------------------


class Capture:
    """A running tcpdump; `lines` are the packets decoded so far, one string per packet (a VXLAN packet's
    inner frame joined to its outer line with ` | `)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self._raw: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                with self._lock:
                    self._raw.append(line.rstrip("\n"))

    @property
    def lines(self) -> list[str]:
        with self._lock:
            raw = list(self._raw)
        packets: list[str] = []
        for line in raw:
            if re.match(r"\d\d:\d\d:\d\d\.\d+ ", line) or not packets:
                packets.append(line)
            else:
                packets[-1] += " | " + line.strip()
        return packets

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def matching(self, *words: str) -> list[str]:
        return [ln for ln in self.lines if all(w in ln for w in words)]

    def wait(self, count: int, *words: str, timeout: float = 30.0) -> list[str]:
        """Bounded wait until `count` packets containing all of `words` were seen (tcpdump reads the
        kernel's buffer asynchronously: the last packets may not be decoded yet when the ping returns)."""
        wait_for(
            lambda: len(self.matching(*words)) >= count,
            timeout,
            interval=0.05,
            what=f"{count} packets with {words} in tcpdump\n{self.text}",
        )
        return self.matching(*words)

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._reader.join(10)


@contextlib.contextmanager
def capture(
    lab: Lab, name: str, iface: str, expr: str, *, link_level: bool = False, timeout: float = 30.0
) -> Iterator[Capture]:
    """tcpdump on `iface` in `name`'s namespace, from when it listens until the block ends."""
    ns = lab.ns(name)
    assert ns is not None, name
    argv = ["ip", "netns", "exec", ns, "tcpdump", "-nn", "-l", "-i", iface]
    if link_level:
        argv.append("-e")
    proc = subprocess.Popen(
        [*argv, *expr.split()], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        _wait_listening(proc, timeout)
        cap = Capture(proc)
    except BaseException:
        proc.kill()
        proc.wait(timeout=5)
        raise
    try:
        yield cap
    finally:
        cap.stop(timeout)


def _wait_listening(proc: subprocess.Popen[str], timeout: float) -> None:
    """tcpdump says `listening on IFACE` on stderr once its socket is open: only then does it see packets.
    (Read by a thread: a text pipe buffers lines that select() no longer sees.)"""
    assert proc.stderr is not None
    stderr = proc.stderr
    seen: list[str] = []
    listening = threading.Event()

    def read() -> None:
        for line in stderr:
            seen.append(line)
            if "listening on" in line:
                listening.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not listening.wait(0.1):
        if proc.poll() is not None and not listening.is_set():
            pytest.fail(f"tcpdump exited {proc.returncode}: {''.join(seen)}")
        if time.monotonic() >= deadline:
            proc.kill()
            pytest.fail(f"tcpdump did not start listening within {timeout:.0f}s: {''.join(seen)}")


# ---- what the controller and the switches say ---------------------------------------------------


def desired_state(lab: Lab, switch: str) -> dict[str, Any]:
    resp = lab.api.get(f"/v1/switches/{switch}/desired-state")
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["state"])


def vni_of(lab: Lab, tenant: str, segment: str, switch: str = "leaf1") -> int:
    """The segment's VNI, as the controller tells `switch` (desired state: bridges[].vni)."""
    bridges = [b for b in desired_state(lab, switch)["bridges"] if b["tenant"] == tenant and b["segment"] == segment]
    assert len(bridges) == 1, f"{switch} has no bridge for {tenant}/{segment}"
    return int(bridges[0]["vni"])


def leaf_of(lab: Lab, group: str) -> str:
    """The leaf the lab cabled server `group` to."""
    return str(lab.state().servers[group]["leaf"])


def switch_status(lab: Lab, switch: str) -> dict[str, Any]:
    resp = lab.api.get(f"/v1/switches/{switch}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def fdb(lab: Lab, switch: str) -> str:
    return lab.exec(switch, "bridge", "fdb", "show").stdout


def slice_ns(lab: Lab, switch: str, tenant: str) -> str | None:
    """The namespace of `tenant`'s router slice on `switch` (`<switch-ns>-<slice name>`)."""
    for s in desired_state(lab, switch)["slices"]:
        if s["tenant"] == tenant:
            return f"{lab.ns(switch)}-{s['name']}"
    return None


# ---- UDP: a protocol the ICMP rules do not match -------------------------------------------------

_UDP_SERVER = """
import signal, socket, sys
signal.signal(signal.SIGTERM, signal.default_int_handler)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(float(sys.argv[2]))
print("ready", flush=True)
n = 0
try:
    while True:
        data, peer = s.recvfrom(2048)
        n += 1
        s.sendto(data, peer)
except (TimeoutError, KeyboardInterrupt):
    pass
print(n, flush=True)
"""

_UDP_CLIENT = """
import socket, sys
dst, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
n = 0
for i in range(count):
    msg = f"probe {i}".encode()
    s.sendto(msg, (dst, port))
    try:
        while s.recvfrom(2048)[0] != msg:
            pass
        n += 1
    except TimeoutError:
        pass
print(n, flush=True)
"""


class UdpEcho:
    """A UDP echo server on `port` in `name`'s namespace; `stop()` returns how many datagrams arrived."""

    def __init__(self, lab: Lab, name: str, port: int, idle: float = 120.0) -> None:
        ns = lab.ns(name)
        assert ns is not None, name
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", _UDP_SERVER, str(port), str(idle)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            pytest.fail(f"UDP echo server in {name} did not start: {line}{err}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=30)
        assert out.strip(), err
        return int(out.strip().splitlines()[-1])


@contextlib.contextmanager
def udp_echo(lab: Lab, name: str, port: int) -> Iterator[UdpEcho]:
    server = UdpEcho(lab, name, port)
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(timeout=10)


def udp_probe(lab: Lab, src: str, dst: str, port: int, count: int = 3) -> int:
    """Send `count` datagrams from `src` to dst:port one by one; how many came back (each waits 1 s)."""
    proc = lab.exec(src, sys.executable, "-c", _UDP_CLIENT, dst, str(port), str(count), timeout=count * 2 + 30)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip())
