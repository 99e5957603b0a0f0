"""`podswitch config check` and the API's way in (`podswitch.config.decode`, then `parse`) give the same
verdict on the same bytes: the CLI reads files as bytes and decodes them the one way the API does."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from podswitch.cli.main import app
from podswitch.config import ConfigError, decode, parse
from tests.builders import SEED_PATH, slug
from tests.config.test_text import REFUSED
from tests.strategies import HOSTILE_CHARACTERS

SEED = SEED_PATH.read_bytes()
runner = CliRunner()


def library_verdict(raw: bytes, name: str) -> tuple[int, list[str]]:
    """What the API's decode + parse say of raw, in the CLI's words: exit code and error lines."""
    try:
        parse(decode(raw))
    except ConfigError as error:
        return 1, [f"{name}:{p.line}:{p.column}: {p.message}" for p in error.problems[:50]]
    return 0, []


def cli_verdict(raw: bytes, path: Path | None = None) -> tuple[int, list[str]]:
    """Exit code and error lines (none for `FILE: ok`) of `podswitch config check`."""
    if path is None:
        result = runner.invoke(app, ["config", "check", "-"], input=raw, catch_exceptions=False)
    else:
        path.write_bytes(raw)
        result = runner.invoke(app, ["config", "check", str(path)], catch_exceptions=False)
    return result.exit_code, result.output.splitlines() if result.exit_code else []


@pytest.mark.parametrize("raw", [SEED, SEED.replace(b"\n", b"\r\n"), *(raw for raw, _ in REFUSED)], ids=slug)
def test_a_file_gets_the_verdict_the_api_gives(raw: bytes, tmp_path: Path) -> None:
    path = tmp_path / "running-config.txt"
    assert cli_verdict(raw, path) == library_verdict(raw, str(path))


def test_a_lone_carriage_return_fails_the_check_as_it_fails_the_api(tmp_path: Path) -> None:
    # The CLI used to read files with universal newlines: this passed `config check` and failed PUT.
    raw = SEED.replace(b"\n", b"\r", 1)
    code, lines = cli_verdict(raw, tmp_path / "cr.txt")
    assert code == 1
    assert lines[0].endswith(":1:22: carriage return (CR) without a line feed: lines end with LF or CR LF")


def test_invalid_utf8_is_a_config_error_with_line_and_column(tmp_path: Path) -> None:
    code, lines = cli_verdict(SEED.replace(b"openstack", b"open\xffstack", 1), tmp_path / "bad.txt")
    assert code == 1 and lines == [f"{tmp_path / 'bad.txt'}:1:17: not UTF-8 text: byte 0xFF here (invalid start byte)"]


@st.composite
def damaged_seeds(draw: st.DrawFn) -> bytes:
    """The seed with a few hostile characters or bytes put in somewhere."""
    raw = SEED
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw)))
        insert = draw(st.sampled_from(HOSTILE_CHARACTERS).map(str.encode) | st.binary(min_size=1, max_size=2))
        raw = raw[:at] + insert + raw[at:]
    return raw


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_seeds())
def test_standard_input_gets_the_verdict_the_api_gives(raw: bytes) -> None:
    assert cli_verdict(raw) == library_verdict(raw, "-")
