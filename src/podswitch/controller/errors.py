"""Errors of the unit of work that are not the intent's own (those are in `podswitch.model`)."""

from __future__ import annotations


class RevisionMismatch(Exception):
    """The write was conditional on a revision (`If-Match`) that is no longer the current one: someone
    changed the intent since the client read or planned it, and nothing was written."""

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(
            f"the intent is at revision {current}, not {expected}: it changed since you read or "
            f"planned it; nothing was changed (read it again and re-plan)"
        )
        self.expected = expected
        self.current = current
