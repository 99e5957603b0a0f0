"""Operations of a transaction: put or delete one object, applied in order to one edit of the intent.

A transaction is a list of these, applied as one revision, all or nothing. They are idempotent where a
client retrying after a lost reply needs them to be: putting exactly what is there changes nothing, and a
delete with `missing_ok` of what is already gone is a no-op. A refused operation raises `OperationError`
naming its index; nothing is changed."""

from __future__ import annotations

from collections.abc import Sequence

from ..model import (
    SYSTEM,
    Delete,
    Edit,
    Intent,
    IntentError,
    InUse,
    Key,
    Kind,
    NotFound,
    Operation,
    Problem,
    Put,
    referrers,
)


class OperationError(Exception):
    """Operation `index` of a transaction was refused (`error` says why); nothing was changed."""

    def __init__(self, index: int | None, error: IntentError | NotFound | InUse) -> None:
        self.index = index
        self.error = error
        where = f"operation {index}: " if index is not None else ""
        super().__init__(f"{where}{error}")


def apply_operations(intent: Intent, operations: Sequence[Operation]) -> Intent:
    """The intent after every operation, in order, as one edit. Raises OperationError for the first
    operation that cannot apply (its parent missing, a create of something that exists, a delete of
    something missing or still referred to). Rules between objects are checked by the caller's
    validation of the result; `locate` maps its problems back to operations."""
    edit = Edit(intent)
    deleted: list[tuple[int, Key]] = []
    for index, op in enumerate(operations):
        try:
            if isinstance(op, Put):
                _put(edit, op)
            elif _delete(edit, op):
                deleted.append((index, op.key))
        except (IntentError, NotFound) as exc:
            raise OperationError(index, exc) from None
    new = edit.finish()
    # References are checked against the result, not half-way: a transaction may delete a segment and the
    # router interface on it in either order.
    for index, key in deleted:
        if new.get(key) is None:
            refs = referrers(new, key)
            if refs:
                raise OperationError(index, InUse(str(key), refs))
    return new


def _put(edit: Edit, op: Put) -> None:
    key = op.key
    if op.create_only and edit.get(key) is not None:
        raise IntentError(Problem(str(key), None, "already exists", "conflict"))
    parent = key.parent
    if parent is not None and edit.get(parent) is None:
        raise NotFound(str(parent))
    edit.put(key, op.obj)


def _delete(edit: Edit, op: Delete) -> bool:
    key = op.key
    if edit.get(key) is None:
        if op.missing_ok:
            return False
        raise NotFound(str(key))
    if key.kind == Kind.TENANT and key.tenant == SYSTEM:
        raise IntentError(
            Problem(
                "tenant system",
                None,
                "the system tenant always exists; delete its logical-router or segments instead",
                "conflict",
            )
        )
    edit.delete(key)
    return True


def locate(problems: Sequence[Problem], operations: Sequence[Operation]) -> int | None:
    """The index of the operation the first problem is about: the last operation on the object the problem
    names, else the last one on an object inside it or containing it. None when no operation is near."""
    if not problems:
        return None
    named = problems[0].object
    exact = inside = None
    for index, op in enumerate(operations):
        text = str(op.key)
        if text == named:
            exact = index
        elif text.startswith(named + " ") or named.startswith(text + " "):
            inside = index
    return exact if exact is not None else inside
