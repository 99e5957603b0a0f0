"""Run every benchmark in its own process (clean memory figures) and print one table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from rich.console import Console
from rich.table import Table

from benchmarks.common import RESULT_PREFIX

BENCHMARKS = ["bench_config", "bench_compile", "bench_api", "bench_history", "bench_dataplane"]


def main() -> int:
    console = Console(width=max(Console().width, 150))
    only = sys.argv[1:]
    rows = []
    failed = []
    for name in BENCHMARKS:
        if only and name not in only:
            continue
        if not os.path.exists(os.path.join(os.path.dirname(__file__), f"{name}.py")):
            continue
        console.print(f"[bold]{name}[/bold] ...")
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            if line.startswith(RESULT_PREFIX):
                rows.append(json.loads(line[len(RESULT_PREFIX) :]))
                r = rows[-1]
                console.print(f"  {r['name']}: {r['value']:.3g} {r['unit']}")
        if proc.returncode != 0:
            failed.append(name)
            console.print(f"[red]{name} failed[/red]\n{proc.stderr[-3000:]}")
        elif proc.stderr.strip():
            console.print(proc.stderr.strip()[-1500:], style="dim")
        console.print(f"  ({time.perf_counter() - started:.0f} s)", style="dim")

    table = Table(title="podswitch benchmarks", title_justify="left")
    for col in ("benchmark", "figure", "target", "baseline (same run)", "ratio", ""):
        table.add_column(col)
    for r in rows:
        baseline = f"{r['baseline']:.3g} {r['unit']} ({r['baseline_name']})" if r["baseline"] else ""
        ratio = f"{r['value'] / r['baseline']:.2f}x" if r["baseline"] else ""
        verdict = {True: "[green]ok[/green]", False: "[red]over target[/red]", None: ""}[r["ok"]]
        table.add_row(r["name"], f"{r['value']:.3g} {r['unit']}", r["target"], baseline, ratio, verdict)
    console.print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
