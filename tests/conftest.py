"""Settings for the whole suite.

Tests that need root (network namespaces, the lab, real packets) skip themselves when not run as root, each
saying why; this makes sure such a run can never look green: the session fails and says which suites did
not run, unless PODSWITCH_ALLOW_SKIPS=1 says that is known and wanted.

Under `make mutate` (PODSWITCH_MUTATION=1) every mutant runs the tests that reach the mutated function, so
the property tests run with few, fixed examples: at most MUTATION_EXAMPLES per test, derandomized (the same
examples for every mutant, so a survivor stays a survivor from run to run) and without the example database
(whose replays would make one mutant's verdict depend on the mutants before it)."""

from __future__ import annotations

import os
from collections import Counter

import pytest

ALLOW_ENV = "PODSWITCH_ALLOW_SKIPS"
MUTATION_EXAMPLES = 10
_NOT_RUN: Counter[str] = Counter()


def _suite(nodeid: str) -> str:
    parts = nodeid.split("::")[0].split("/")
    return "/".join(parts[:2]) if len(parts) > 1 else parts[0]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "needs root" in str(report.longrepr):
        _NOT_RUN[_suite(report.nodeid)] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _NOT_RUN:
        return
    suites = ", ".join(f"{suite} ({n} tests)" for suite, n in sorted(_NOT_RUN.items()))
    terminalreporter.write_sep("!", "NOT RUN: these suites need root", red=True, bold=True)
    terminalreporter.write_line(f"{suites}: run `make test` as root (the lab and data plane build namespaces).")
    if os.environ.get(ALLOW_ENV) == "1":
        terminalreporter.write_line(f"{ALLOW_ENV}=1: the session passes without them, knowingly.")
    else:
        terminalreporter.write_line(f"The session fails for that; set {ALLOW_ENV}=1 to accept it knowingly.")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _NOT_RUN and os.environ.get(ALLOW_ENV) != "1" and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not os.environ.get("PODSWITCH_MUTATION"):
        return
    from hypothesis import settings

    for item in items:
        test = getattr(item, "obj", None)
        current = getattr(test, "_hypothesis_internal_use_settings", None)
        if current is None:
            continue
        examples = min(current.max_examples, MUTATION_EXAMPLES)
        test._hypothesis_internal_use_settings = settings(  # type: ignore[union-attr]
            current, max_examples=examples, derandomize=True, database=None
        )
