"""The suite cannot look green when its root-only parts did not run (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT_ONLY = """
import pytest

def test_builds_namespaces():
    pytest.skip("needs root: builds network namespaces")

def test_pure():
    assert True
"""


def test_a_run_without_root_fails_and_names_the_suites(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PODSWITCH_ALLOW_SKIPS", raising=False)
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.mkpydir("dataplane").joinpath("test_x.py").write_text(ROOT_ONLY)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*NOT RUN: these suites need root*", "*dataplane/test_x.py (1 tests)*"])


def test_skipping_them_knowingly_passes_but_still_says_so(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODSWITCH_ALLOW_SKIPS", "1")
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_y=ROOT_ONLY)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*NOT RUN: these suites need root*", "*PODSWITCH_ALLOW_SKIPS=1*"])
