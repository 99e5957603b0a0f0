"""One definition of running-config text as characters (config/text.py), the same for the parser, the CLI and
the API: lines end with LF or CR LF, the only blank is the ASCII space, the bytes are strict UTF-8; every
other line end, blank, control or invisible character is an error at its line and column."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podswitch.config import ConfigError, decode, parse, render
from podswitch.config.text import BLANK, check, lines, problems, tokens
from tests.builders import SEED_PATH, slug

SEED = SEED_PATH.read_bytes()
SEED_TEXT = SEED.decode()


def first_error(raw: bytes) -> tuple[int, int, str]:
    """Where and why the API's way in (decode, then parse) refuses raw."""
    with pytest.raises(ConfigError) as info:
        parse(decode(raw))
    error = info.value
    return error.line, error.column, error.message


# ---- each class of character ------------------------------------------------------------------------------

# (bytes in place of the blank between `tenant` and `demo.openstack`, or where said) -> (line, column, message)
REFUSED = [
    (
        b"tenant demo.openstack\r  id x\n",
        (1, 22, "carriage return (CR) without a line feed: lines end with LF or CR LF"),
    ),
    (b"tenant\tdemo\n", (1, 7, "tab between tokens: separate tokens with spaces")),
    (b"tenant demo\n\tid x\n", (2, 1, "tab in indentation: indent with spaces (two per level)")),
    (b"tenant demo\n  \tid x\n", (2, 3, "tab in indentation: indent with spaces (two per level)")),
    (b"tenant demo\n  id x\t\n", (2, 7, "tab between tokens: separate tokens with spaces")),
    ("tenant\u00a0demo\n".encode(), (1, 7, "U+00A0 NO-BREAK SPACE is not a blank: separate tokens with ASCII spaces")),
    (
        "tenant\u3000demo\n".encode(),
        (1, 7, "U+3000 IDEOGRAPHIC SPACE is not a blank: separate tokens with ASCII spaces"),
    ),
    ("tenant\u2002demo\n".encode(), (1, 7, "U+2002 EN SPACE is not a blank: separate tokens with ASCII spaces")),
    ("tenant demo\u2028".encode(), (1, 12, "U+2028 LINE SEPARATOR is not a line end: lines end with LF or CR LF")),
    (
        "tenant demo\u2029x".encode(),
        (1, 12, "U+2029 PARAGRAPH SEPARATOR is not a line end: lines end with LF or CR LF"),
    ),
    ("tenant demo\u0085x".encode(), (1, 12, "U+0085 NEXT LINE (NEL) is not a line end: lines end with LF or CR LF")),
    (b"tenant demo\x0bx", (1, 12, "U+000B LINE TABULATION (VT) is not a line end: lines end with LF or CR LF")),
    (b"tenant demo\x0cx", (1, 12, "U+000C FORM FEED (FF) is not a line end: lines end with LF or CR LF")),
    (b"tenant demo\x1cx", (1, 12, "U+001C FILE SEPARATOR is not a line end: lines end with LF or CR LF")),
    (b"tenant demo\x1fx", (1, 12, "control character U+001F UNIT SEPARATOR is not allowed in running-config text")),
    (b"tenant de\x00mo\n", (1, 10, "control character U+0000 NUL is not allowed in running-config text")),
    (b"tenant \x1b[31mdemo\n", (1, 8, "control character U+001B ESCAPE is not allowed in running-config text")),
    (b"tenant demo\x7f\n", (1, 12, "control character U+007F DELETE is not allowed in running-config text")),
    (
        "tenant de\u200bmo\n".encode(),
        (1, 10, "invisible formatting character U+200B ZERO WIDTH SPACE is not allowed in running-config text"),
    ),
    (
        "! comment \u202egnp.\n".encode(),  # a bidirectional override, even in a comment
        (1, 11, "invisible formatting character U+202E RIGHT-TO-LEFT OVERRIDE is not allowed in running-config text"),
    ),
    (
        "\ufefftenant demo\n".encode(),
        (1, 1, "byte-order mark (U+FEFF) at the start: save the text as UTF-8 without a BOM"),
    ),
    (
        "tenant demo\n\ufeff".encode(),
        (2, 1, "invisible formatting character U+FEFF ZERO WIDTH NO-BREAK SPACE is not allowed in running-config text"),
    ),
    ("! \ue000\n".encode(), (1, 3, "private-use character U+E000 is not allowed in running-config text")),
    ("! \u0378\n".encode(), (1, 3, "U+0378 is not an assigned Unicode character")),
    (b"tenant demo\n  id \xff\n", (2, 6, "not UTF-8 text: byte 0xFF here (invalid start byte)")),
    (b"tenant d\xc3\xa9mo\xc3(\n", (1, 12, "not UTF-8 text: byte 0xC3 here (invalid continuation byte)")),
    (b"tenant demo\xe2\x80", (1, 12, "not UTF-8 text: byte 0xE2 here (unexpected end of data)")),
    (b"tenant \xed\xa0\x80\n", (1, 8, "not UTF-8 text: byte 0xED here (invalid continuation byte)")),  # a surrogate
    (b"tenant \xc0\xafx\n", (1, 8, "not UTF-8 text: byte 0xC0 here (invalid start byte)")),  # overlong '/'
]


@pytest.mark.parametrize(("raw", "expected"), REFUSED, ids=slug)
def test_each_refused_character_is_an_error_at_its_line_and_column(raw: bytes, expected: tuple[int, int, str]) -> None:
    assert first_error(raw) == expected


def test_a_lone_carriage_return_is_not_a_line_end() -> None:
    # Universal newlines would have read two lines here; str.split() one line of four tokens.
    assert first_error(b"tenant a\rtenant b\n")[:2] == (1, 9)
    assert first_error(b"tenant a\n\r") == (
        2,
        1,
        "carriage return (CR) without a line feed: lines end with LF or CR LF",
    )


def test_lf_and_crlf_end_lines_alike_even_mixed() -> None:
    crlf = SEED.replace(b"\n", b"\r\n")
    mixed = b"".join(line + (b"\r\n" if i % 2 else b"\n") for i, line in enumerate(SEED.splitlines()))
    for raw in (SEED, crlf, mixed, SEED.rstrip(b"\n")):
        assert render(parse(decode(raw))) == SEED_TEXT


def test_non_ascii_is_allowed_in_comments_only() -> None:
    assert render(parse(decode("! Müller's rack, 机柜 3\n".encode() + SEED))) == SEED_TEXT
    assert "is not a valid name" in first_error("tenant démo\n".encode())[2]


def test_all_problems_are_reported_in_text_order() -> None:
    with pytest.raises(ConfigError) as info:
        parse("tenant\ta\ntenant\u00a0b\r\n\ttenant c\rx\n")
    assert [(p.line, p.column) for p in info.value.problems] == [(1, 7), (2, 7), (3, 1), (3, 10)]


def test_the_problem_count_is_bounded() -> None:
    assert len(problems("\t" * 1000)) == 100


def test_text_from_python_gets_the_same_checks_as_bytes() -> None:
    # parse(str) is what a Python caller (and the controller) uses: the same definition applies.
    for raw, expected in REFUSED:
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            continue
        with pytest.raises(ConfigError) as info:
            parse(text)
        assert (info.value.line, info.value.column, info.value.message) == expected
    with pytest.raises(ConfigError, match="U\\+D800 is a lone surrogate"):
        parse("tenant \ud800\n")


# ---- the blank and the line end, over all of Unicode -------------------------------------------------------

ALL = [chr(code) for code in range(sys.maxunicode + 1)]


def test_every_character_str_split_takes_for_a_blank_but_the_space_is_refused() -> None:
    # So text.tokens() (str.split(), in C) splits exactly at ASCII spaces in every text check() lets through.
    splitters = [c for c in ALL if c.isspace() and c not in " \n"]
    assert len(splitters) > 20
    assert [c for c in splitters if not problems(f"a{c}b")] == []


def test_every_line_end_str_splitlines_knows_but_lf_and_crlf_is_refused() -> None:
    breakers = [c for c in ALL if len(f"a{c}b".splitlines()) > 1 and c != "\n"]
    assert [c for c in breakers if not problems(f"a{c}b")] == []
    assert problems("a\r\nb") == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.characters(codec="utf-8") | st.sampled_from([" ", "\n", "\r\n", "\t", "\u00a0"])).map("".join))
def test_tokens_are_the_runs_between_ascii_spaces(text: str) -> None:
    try:
        split = lines(text)
    except ConfigError as error:
        assert 1 <= error.line <= text.count("\n") + 1
        return
    for line in split:
        assert tokens(line) == [t for t in line.split(BLANK) if t]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40) | st.builds(lambda a, b: a + b, st.sampled_from([SEED[:80], b""]), st.binary(max_size=8)))
def test_decode_is_strict_utf8_and_points_at_the_first_bad_byte(raw: bytes) -> None:
    try:
        text = decode(raw)
    except ConfigError as error:
        try:
            valid = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = raw[: exc.start].decode("utf-8")
            line = before.count("\n") + 1
            assert (error.line, error.column) == (line, len(before) - (before.rfind("\n") + 1) + 1)
            assert error.message.startswith(f"not UTF-8 text: byte 0x{raw[exc.start]:02X} here")
        else:
            assert problems(valid), valid  # valid UTF-8: refused for a character
        return
    assert text == raw.decode("utf-8")
    check(text)


def test_messages_of_nameless_controls_and_of_characters_before_a_crlf() -> None:
    assert [str(p) for p in problems("a\x01\r\nb\x00\r\n")] == [
        "1:2: control character U+0001 is not allowed in running-config text",
        "2:2: control character U+0000 NUL is not allowed in running-config text",
    ]


def test_crlf_text_reports_the_columns_lf_text_does() -> None:
    # "incomplete line" points one past the end of the line: the CR is not part of it
    lf = SEED_TEXT.replace("vlan 300\n", "vlan\n", 1)
    errors = []
    for text in (lf, lf.replace("\n", "\r\n")):
        with pytest.raises(ConfigError) as info:
            parse(text)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


@pytest.mark.parametrize(("raw", "where"), [(b"\n\xff", (2, 1)), (b"\n\n\xff", (3, 1)), (b"\xff\n", (1, 1))], ids=slug)
def test_an_invalid_byte_after_empty_lines(raw: bytes, where: tuple[int, int]) -> None:
    with pytest.raises(ConfigError) as info:
        decode(raw)
    assert (info.value.line, info.value.column) == where
