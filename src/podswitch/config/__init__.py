"""Running-config text: `parse(text) -> Intent`, `render(intent) -> text`, `plan(old, new) -> Plan`, and
`decode(raw) -> text` for bytes from a file or an HTTP body.

Pure functions over `podswitch.model`; the grammar is in docs/config-language.md."""

from .errors import ConfigError
from .parse import parse
from .plan import Plan, plan
from .render import render
from .text import decode

__all__ = ["ConfigError", "Plan", "decode", "parse", "plan", "render"]
