"""Whatever the text, parse either returns an intent that renders and re-parses to itself, or raises a
ConfigError that points inside the text. Nothing else escapes."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podswitch.config import ConfigError, parse, render
from tests.builders import SEED_PATH

SEED_LINES = SEED_PATH.read_text().splitlines()
WORDS = sorted(
    {tok for line in SEED_LINES for tok in line.split()}
    | {
        "switch",
        "fabric-role",
        "leaf",
        "spine",
        "management-address",
        "interface-group",
        "member",
        "link",
        "tenant",
        "system",
        "logical-router",
        "route",
        "next-hop",
        "ip",
        "interface",
        "policy-list",
        "apply",
        "permit",
        "deny",
        "proto",
        "tcp",
        "udp",
        "icmp",
        "any",
        "src",
        "dst",
        "segment",
        "cidr",
        "src-port",
        "dst-port",
        "10",
        "80-90",
        "leaf1",
        "swp1",
        "10.0.0.0/8",
        "::/0",
        "!",
        "5000",
        "0",
        "x" * 70,
    }
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(text: str) -> None:
    try:
        intent = parse(text)
    except ConfigError as error:
        lines = text.replace("\r\n", "\n").split("\n")
        for problem in error.problems:
            assert 1 <= problem.line <= len(lines), problem
            assert 1 <= problem.column <= len(lines[problem.line - 1]) + 2, problem
            assert str(problem) == f"{problem.line}:{problem.column}: {problem.message}"
        return
    canonical = render(intent)
    assert render(parse(canonical)) == canonical
    assert dict(parse(canonical).objects()) == dict(intent.objects())


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 8), st.lists(st.sampled_from(WORDS) | st.text(max_size=6), max_size=7))))
def test_lines_of_config_words(lines: list[tuple[int, list[str]]]) -> None:
    check("".join(" " * indent + " ".join(words) + "\n" for indent, words in lines))


@FUZZ
@given(st.data())
def test_seed_with_lines_dropped_duplicated_or_reindented(data: st.DataObject) -> None:
    lines = list(SEED_LINES)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["drop", "copy", "indent", "dedent", "tab", "swap"]))
        if action == "drop":
            del lines[i]
        elif action == "copy":
            lines.insert(i, lines[i])
        elif action == "indent":
            lines[i] = " " + lines[i]
        elif action == "dedent":
            lines[i] = lines[i][1:]
        elif action == "tab":
            lines[i] = "\t" + lines[i].lstrip()
        elif i + 1 < len(lines):
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
        if not lines:
            break
    check("".join(line + "\n" for line in lines))


@FUZZ
@given(st.text())
def test_any_text(text: str) -> None:
    check(text)
