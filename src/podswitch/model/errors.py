"""Errors raised by the intent model. They name the object and the field so every edge (API, CLI,
config text) can tell the operator exactly what is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an intent: which object, which field, and why."""

    object: str
    field: str | None
    message: str
    # "invalid" (the object itself is wrong, HTTP 422) or "conflict" (it clashes with another object, 409)
    kind: str = "invalid"

    def __str__(self) -> str:
        where = self.object + (f" {self.field}" if self.field else "")
        return f"{where}: {self.message}" if where else self.message


class IntentError(Exception):
    """The intent (or a change to it) is not acceptable; nothing has been changed."""

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__(str(self.problems[0]) if self.problems else "invalid intent")

    @property
    def first(self) -> Problem:
        return self.problems[0]

    @property
    def is_conflict(self) -> bool:
        return any(p.kind == "conflict" for p in self.problems)


class NotFound(LookupError):
    """The addressed object does not exist."""

    def __init__(self, object: str) -> None:
        self.object = object
        super().__init__(f"{object} does not exist")


@dataclass
class InUse(Exception):
    """Deleting the object is refused because other objects still refer to it."""

    object: str
    referenced_by: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        refs = "; ".join(self.referenced_by[:10])
        more = f" (and {len(self.referenced_by) - 10} more)" if len(self.referenced_by) > 10 else ""
        return f"{self.object} is still referenced by {refs}{more}"
