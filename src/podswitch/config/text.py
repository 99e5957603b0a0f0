"""Running-config text as characters: the one definition of line ends and blanks, for the parser, the CLI
(`podswitch config check`, `apply`) and the API (`PUT /v1/running-config`) alike.

- Input is bytes in UTF-8, decoded strictly (`decode`); an invalid byte is an error at its line and column.
- A line ends with LF or CR LF. A CR that no LF follows is an error, and so are the other line ends Unicode
  knows (VT, FF, NEL, the separators U+001C-U+001E, U+2028, U+2029): `str.splitlines()` would break lines
  there and `str.split()` would take them for blanks, so each reader would see a different text.
- The only blank is the ASCII space. A tab is an error (in the indentation and between tokens), and so is
  any other control character, any other Unicode space (no-break space U+00A0, ideographic space U+3000...)
  and any invisible formatting character (zero-width space, bidirectional overrides, a byte-order mark).
- Anything else is a character of the text if it is printable (`str.isprintable()`: not private-use nor
  unassigned either). Values are checked by the model (they are printable ASCII); a comment (`! ...`) may
  hold any printable character.

Errors are `ConfigError`s with the line and column (1-based, counted in characters) of the character, all
of them in text order. `lines(text)` checks and splits a text; `tokens` and `indent` read a checked line."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from .errors import ConfigError

BLANK = " "
MAX_PROBLEMS = 100

# what str.splitlines() breaks at besides LF and CR (U+2028 and U+2029 are all of Unicode's Zl and Zp)
_LINE_ENDS = {"\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"}
_CONTROL_NAMES = {
    "\x00": "NUL",
    "\x0b": "LINE TABULATION (VT)",
    "\x0c": "FORM FEED (FF)",
    "\x1b": "ESCAPE",
    "\x1c": "FILE SEPARATOR",
    "\x1d": "GROUP SEPARATOR",
    "\x1e": "RECORD SEPARATOR",
    "\x1f": "UNIT SEPARATOR",
    "\x7f": "DELETE",
    "\x85": "NEXT LINE (NEL)",
}


def problems(text: str) -> list[ConfigError]:
    """Every character of text that running-config text may not hold, in text order (at most
    MAX_PROBLEMS). A text may hold printable characters (`str.isprintable()`: not a control, format,
    private-use or unassigned character, and no blank but the ASCII space) and line ends."""
    body = text.replace("\r\n", "\n") if "\r" in text else text
    if body.replace("\n", "").isprintable():  # in C: the whole check for a good text, 22 MB in milliseconds
        return []
    found: list[ConfigError] = []
    split = text.split("\n")
    for number, line in enumerate(split, 1):
        if line.endswith("\r") and number < len(split):
            line = line[:-1]  # the CR of a CR LF
        if line.isprintable():
            continue
        for at, char in enumerate(line):
            if not char.isprintable():
                found.append(ConfigError(number, at + 1, _why(line, at, start=number == 1 and at == 0)))
                if len(found) >= MAX_PROBLEMS:
                    return found
    return found


def _why(line: str, at: int, start: bool) -> str:
    char = line[at]
    code = f"U+{ord(char):04X}"
    if char == "\t":
        if line[:at].strip(BLANK + "\t") == "":
            return "tab in indentation: indent with spaces (two per level)"
        return "tab between tokens: separate tokens with spaces"
    if char == "\r":
        return "carriage return (CR) without a line feed: lines end with LF or CR LF"
    name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "")
    what = f"{code} {name}".rstrip()
    if char in _LINE_ENDS:
        return f"{what} is not a line end: lines end with LF or CR LF"
    category = unicodedata.category(char)
    if category == "Zs":
        return f"{what} is not a blank: separate tokens with ASCII spaces"
    if char == "\ufeff" and start:
        return "byte-order mark (U+FEFF) at the start: save the text as UTF-8 without a BOM"
    if category == "Cf":
        return f"invisible formatting character {what} is not allowed in running-config text"
    if category == "Cs":
        return f"{code} is a lone surrogate, not a character"
    if category == "Co":
        return f"private-use character {code} is not allowed in running-config text"
    if category == "Cn":
        return f"{code} is not an assigned Unicode character"
    return f"control character {what} is not allowed in running-config text"


def check(text: str) -> None:
    """Raise ConfigError (all problems, the first in text order) unless every character of text is
    allowed."""
    found = problems(text)
    if found:
        raise ConfigError.collect(found)


def lines(text: str) -> list[str]:
    """The lines of a checked text, without their line ends (a last line without one included; a text
    that ends with a line end has an empty last line). Raises ConfigError as `check` does."""
    check(text)
    if "\r" in text:  # after the check, every CR is the first half of a CR LF
        text = text.replace("\r\n", "\n")
    return text.split("\n")


tokens: Callable[[str], list[str]] = str.split
"""The tokens of a line from `lines`: the runs of characters between blanks. After the check the only
whitespace a line holds is BLANK, so str.split() splits exactly at blanks; it is used as it is (in C, no
Python call around it: this runs once per line of a 700,000-line config). tests/config/test_text.py proves
over all of Unicode that every other character str.split() splits at is refused."""


def indent(line: str) -> int:
    """How many blanks a line from `lines` starts with."""
    return len(line) - len(line.lstrip(BLANK))


def decode(raw: bytes) -> str:
    """Running-config text from bytes: strict UTF-8 whose characters `check` allows. Raises ConfigError
    with the line and column of the first invalid byte, or of every refused character."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid_utf8(raw, exc) from None
    check(text)
    return text


def _invalid_utf8(raw: bytes, exc: UnicodeDecodeError) -> ConfigError:
    at = exc.start
    line_start = raw.rfind(b"\n", 0, at) + 1
    line = raw.count(b"\n", 0, line_start) + 1
    column = len(raw[line_start:at].decode("utf-8")) + 1  # everything before the first bad byte is UTF-8
    return ConfigError(line, column, f"not UTF-8 text: byte 0x{raw[at]:02X} here ({exc.reason})")
