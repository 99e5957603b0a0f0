"""The one error the config text raises: where (line, column) and what to do about it."""

from __future__ import annotations


class ConfigError(ValueError):
    """Running-config text that cannot be accepted. Nothing was applied.

    `line` and `column` are 1-based and point at the token to fix. When the parser found several problems,
    this is the first of them (in text order) and `problems` lists all of them, this one included."""

    def __init__(self, line: int, column: int, message: str, problems: list[ConfigError] | None = None) -> None:
        self.line = line
        self.column = column
        self.message = message
        self.problems: list[ConfigError] = problems if problems else [self]
        super().__init__(f"{line}:{column}: {message}")

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"

    def __repr__(self) -> str:
        return f"ConfigError({self.line}, {self.column}, {self.message!r})"

    @classmethod
    def collect(cls, problems: list[ConfigError]) -> ConfigError:
        """One error to raise for several: the first in text order, carrying all of them."""
        ordered = sorted(problems, key=lambda p: (p.line, p.column))
        first = ordered[0]
        error = cls(first.line, first.column, first.message)
        error.problems = [error, *ordered[1:]]
        return error
