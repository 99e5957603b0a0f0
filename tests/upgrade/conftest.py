"""The previous release, for cross-version tests: its own code, not a copy of its contract.

`previous_release` extracts `src/podswitch` of PREVIOUS (a commit that speaks desired-state format 1) from the
local repository's history with `git archive` into a temporary directory: nothing is written to the repository
(no worktree to clean up), nothing is fetched from the network. Code run with `PYTHONPATH=<that>/src` imports
that release's `podswitch`. It needs the history: a shallow clone fails here, saying how to get it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The last commit before desired-state format 2: agents of this release read format 1 only.
PREVIOUS = "4621cb35b12cb5d9615a355802dea41dd0f607b6"


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, check=False)


@pytest.fixture(scope="session")
def previous_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `src` directory of PREVIOUS."""
    found = _git("cat-file", "-e", f"{PREVIOUS}^{{commit}}")
    if found.returncode != 0:
        shallow = _git("rev-parse", "--is-shallow-repository").stdout.decode().strip()
        pytest.fail(
            f"the previous release {PREVIOUS[:10]} (desired-state format 1) is not in the git history of {REPO} "
            f"(shallow clone: {shallow or 'not a git repository'}); the rolling-upgrade tests run its own agent "
            f"against today's controller. Fetch the full history: git fetch --unshallow. "
            f"({found.stderr.decode().strip()})"
        )
    archive = _git("archive", "--format=tar", PREVIOUS, "src/podswitch")
    assert archive.returncode == 0, archive.stderr.decode()
    where = tmp_path_factory.mktemp("previous-release")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(where, filter="data")
    src = where / "src"
    assert "FORMAT = 1\n" in (src / "podswitch" / "fabric" / "state.py").read_text(), "PREVIOUS must speak format 1"
    return src


def run_previous(src: Path, script: str, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """`script` run by this interpreter with the previous release's `podswitch` (and only it) importable."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
