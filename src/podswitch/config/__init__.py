"""Running-config text: `parse(text) -> Intent`, `render(intent) -> text`, `plan(old, new) -> Plan`.

Pure functions over `podswitch.model`; the grammar is in docs/config-language.md."""

from .errors import ConfigError
from .parse import parse
from .plan import Plan, plan
from .render import render

__all__ = ["ConfigError", "Plan", "parse", "plan", "render"]
