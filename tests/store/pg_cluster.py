"""A PostgreSQL cluster that a test owns, to stop and start under a running controller.

Never the machine's shared server (127.0.0.1:5432, `PODSWITCH_TEST_PG_URL`): CI's other tests run against it.
The cluster is initdb'd once per session into a template (initdb takes seconds) and copied for each test;
it listens on a free port on 127.0.0.1 only, keeps its unix socket, log and data in a temporary directory of
its own, and trusts local connections. PostgreSQL refuses to run as root: as root, its commands run as the
`postgres` OS user (`runuser`), who owns that directory; as anyone else, as that user.

Binaries: `PODSWITCH_PG_BIN` (default /usr/lib/postgresql/15/bin, Debian 12's). Missing binaries FAIL the
test, saying what to install; `PODSWITCH_SKIP_PG=1` skips instead, as for the other PostgreSQL tests."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

PG_BIN_ENV = "PODSWITCH_PG_BIN"
DEFAULT_PG_BIN = "/usr/lib/postgresql/15/bin"
SKIP_PG_ENV = "PODSWITCH_SKIP_PG"
PG_OS_USER = "postgres"  # who runs the server when the tests run as root
START_TIMEOUT = 60  # s, pg_ctl -t: only a broken cluster takes this long


def _as_owner() -> list[str]:
    """The prefix that runs a command as the cluster's owner."""
    return ["runuser", "-u", PG_OS_USER, "--"] if os.geteuid() == 0 else []


def pg_bin() -> Path:
    """The directory with initdb, pg_ctl and postgres; fails (or skips, if asked to) saying why it cannot run."""
    if os.environ.get(SKIP_PG_ENV) == "1":
        pytest.skip(f"PostgreSQL tests skipped because {SKIP_PG_ENV}=1")
    where = Path(os.environ.get(PG_BIN_ENV, DEFAULT_PG_BIN))
    missing = [name for name in ("initdb", "pg_ctl", "postgres") if not (where / name).is_file()]
    problems = [f"{where} has no {', '.join(missing)}"] if missing else []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_OS_USER)
        except KeyError:
            problems.append(f"there is no {PG_OS_USER!r} OS user to run it as (PostgreSQL refuses to run as root)")
        if shutil.which("runuser") is None:
            problems.append("runuser (util-linux) is missing")
    if problems:
        pytest.fail(
            "the database-fault tests run a PostgreSQL cluster of their own, and cannot: "
            + "; ".join(problems)
            + f". Install PostgreSQL's server binaries (Debian: apt-get install postgresql-15), point {PG_BIN_ENV} "
            f"at their directory, or set {SKIP_PG_ENV}=1 to skip the PostgreSQL tests.",
            pytrace=False,
        )
    return where


def owned_tmpdir(prefix: str) -> Path:
    """A new directory under the system's temporary directory (pytest's is root-only) owned by the cluster's
    owner."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        user = pwd.getpwnam(PG_OS_USER)
        os.chown(path, user.pw_uid, user.pw_gid)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run([*_as_owner(), *argv], capture_output=True, text=True, timeout=START_TIMEOUT + 30)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stdout}{done.stderr}")


@dataclass
class Cluster:
    """One test's cluster: `start()`, `stop(mode)` as often as the test likes; `url` for the store."""

    bin: Path
    root: Path  # data/, server.log and the unix socket
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> URL:
        return URL.create(
            "postgresql+psycopg", username="postgres", host="127.0.0.1", port=self.port, database="postgres"
        )

    def start(self) -> None:
        # fsync off: the cluster is thrown away after the test, and a stop -m immediate is no power cut.
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(START_TIMEOUT),
             "-o", options, "start"],
            f"starting the test's PostgreSQL (log: {self.log})",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends sessions cleanly (what an operator's restart does); `immediate` is a crash."""
        _run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"], "stopping PostgreSQL")

    @property
    def running(self) -> bool:
        done = subprocess.run([*_as_owner(), str(self.bin / "pg_ctl"), "-D", str(self.data), "status"],
                              capture_output=True)  # fmt: skip
        return done.returncode == 0


@pytest.fixture(scope="session")
def pg_template() -> Iterator[tuple[Path, Path]]:
    """(bin, data directory) of a cluster initdb'd once for the session, copied by each `pg_cluster`."""
    where = pg_bin()
    root = owned_tmpdir("podswitch-pg-template-")
    try:
        _run([str(where / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8",
              "--no-sync"], "initdb")  # fmt: skip
        yield where, root / "data"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_cluster(pg_template: tuple[Path, Path]) -> Iterator[Cluster]:
    """A running cluster of this test's own (database `postgres`), stopped and removed afterwards."""
    where, template = pg_template
    root = owned_tmpdir("podswitch-pg-")
    # cp -a keeps the owner and the 0700 mode PostgreSQL insists on for its data directory.
    subprocess.run(["cp", "-a", str(template), str(root / "data")], check=True)
    cluster = Cluster(where, root, free_port())
    try:
        cluster.start()
        yield cluster
    finally:
        if cluster.running:
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
