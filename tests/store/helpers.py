"""Small helpers the store tests share."""

from __future__ import annotations

from typing import Any

from podswitch.model import SYSTEM, Intent, Key, Kind, Tenant, apply_changes, diff
from podswitch.store import RevisionInfo, Store


def objects(intent: Intent) -> dict[Key, Any]:
    """An intent as {key: object}: compares trees by content, ignoring dict order and cached indexes."""
    return dict(intent.objects())


def save(store: Store, new: Intent, *, actor: str = "tester", operation: str = "put") -> RevisionInfo | None:
    """Commit whatever turns the stored intent into `new`, the way the API service does."""
    head, current = store.load()
    return store.commit(diff(current, new), expected_revision=head, actor=actor, operation=operation)


def replayed(store: Store, upto: int | None = None) -> Intent:
    """The intent another controller process gets by replaying the history from the start (model.ops)."""
    return apply_changes(Intent(), (c for _, c in store.changes_between(0, upto)))


def logged_objects(store: Store, upto: int | None = None) -> dict[Key, Any]:
    """The objects the change log adds up to, applied key by key: the audit trail alone, with no model
    rules in between, must describe the stored intent exactly."""
    state: dict[Key, Any] = {Key(Kind.TENANT, SYSTEM): Tenant(name=SYSTEM)}  # exists without being created
    for _, change in store.changes_between(0, upto):
        if change.after is None:
            state.pop(change.key, None)
        else:
            state[change.key] = change.after
    return state
