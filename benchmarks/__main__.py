"""Run every benchmark in its own process (clean memory figures) and print one table.

`python -m benchmarks [NAME ...] [--against REV]`: with `--against`, the same benchmarks of an earlier
revision (checked out into a temporary git worktree) run right after each of today's, in the same session on
the same machine, and the table shows both figures side by side: a change that made something slower shows up
as a ratio above 1, whatever the machine's mood."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.common import RESULT_PREFIX

BENCHMARKS = [
    "bench_config",
    "bench_compile",
    "bench_api",
    "bench_sync",
    "bench_history",
    "bench_storm",
    "bench_dataplane",
    "bench_neutron",
]
REPO = Path(__file__).resolve().parents[1]


def run(name: str, tree: Path, console: Console, label: str) -> tuple[list[dict[str, Any]], bool]:
    """One benchmark module of `tree`, in its own process; (results, ok)."""
    if not (tree / "benchmarks" / f"{name}.py").exists():
        return [], True
    console.print(f"[bold]{name}[/bold] ({label}) ...")
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree}"}
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}"], capture_output=True, text=True, cwd=tree, env=env
    )
    rows = []
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            rows.append(json.loads(line[len(RESULT_PREFIX) :]))
            r = rows[-1]
            console.print(f"  {r['name']}: {r['value']:.3g} {r['unit']}")
    if proc.returncode != 0:
        console.print(f"[red]{name} ({label}) failed[/red]\n{proc.stderr[-3000:]}")
    elif proc.stderr.strip():
        console.print(proc.stderr.strip()[-1500:], style="dim")
    console.print(f"  ({time.perf_counter() - started:.0f} s)", style="dim")
    return rows, proc.returncode == 0


def _qualified(rows: list[dict[str, Any]]) -> list[str]:
    """Each figure's name, an indented one ("  peak memory during that PUT") qualified by the figure above it:
    the same sub-figure follows several figures."""
    names, parent = [], ""
    for r in rows:
        if r["name"].startswith(" "):
            names.append(f"{parent} / {r['name'].strip()}")
        else:
            parent = r["name"]
            names.append(parent)
    return names


def worktree(rev: str, where: Path) -> Path:
    path = where / "previous"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), rev], check=True)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--against", metavar="REV", help="also run REV's benchmarks, side by side")
    args = parser.parse_args()
    console = Console(width=max(Console().width, 170))
    failed = []
    rows: list[dict[str, Any]] = []
    previous: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="podswitch-bench-") as tmp:
        old = worktree(args.against, Path(tmp)) if args.against else None
        try:
            for name in BENCHMARKS:
                if args.names and name not in args.names:
                    continue
                new_rows, ok = run(name, REPO, console, "this tree")
                rows += new_rows
                if not ok:
                    failed.append(name)
                if old is not None:
                    old_rows, _ = run(name, old, console, args.against)
                    previous.update(zip(_qualified(old_rows), old_rows, strict=True))
        finally:
            if old is not None:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)], check=False)

    table = Table(title="podswitch benchmarks", title_justify="left")
    columns = ["benchmark", "figure", "target", "baseline (same run)", "ratio", ""]
    if args.against:
        columns += [f"at {args.against}", "now / then"]
    for col in columns:
        table.add_column(col)
    for r, qualified in zip(rows, _qualified(rows), strict=True):
        baseline = f"{r['baseline']:.3g} {r['unit']} ({r['baseline_name']})" if r["baseline"] else ""
        ratio = f"{r['value'] / r['baseline']:.2f}x" if r["baseline"] else ""
        verdict = {True: "[green]ok[/green]", False: "[red]over target[/red]", None: ""}[r["ok"]]
        cells = [r["name"], f"{r['value']:.3g} {r['unit']}", r["target"], baseline, ratio, verdict]
        if args.against:
            then = previous.get(qualified)
            if then is None or not then["value"]:
                cells += ["", ""]
            else:
                cells += [f"{then['value']:.3g} {then['unit']}", f"{r['value'] / then['value']:.2f}x"]
        table.add_row(*cells)
    console.print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
