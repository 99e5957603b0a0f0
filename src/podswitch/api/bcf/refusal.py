"""A BCF request podswitch refuses, said in the request's own terms. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from ...model import Model

M = TypeVar("M", bound=Model)


class Refusal(ValueError):
    """`status` (4xx), the `field` at fault (as the client names it), and `where`: the config-tree entry it
    is in, if any."""

    def __init__(self, status: int, field: str | None, message: str, where: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.status = status
        self.field = field
        self.message = message
        self.where = where


def validated(
    model: type[M],
    data: Mapping[str, Any],
    *,
    prefix: str = "",
    where: str | None = None,
    names: Mapping[str, str] | None = None,
) -> M:
    """`model` from `data` (None values left out); a bad value is a 422 naming its field, the model's name
    for it translated by `names` and put after `prefix`."""
    try:
        return model.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = [str(p) for p in err.get("loc", ())]
        if loc and names:
            loc[0] = names.get(loc[0], loc[0])
        field = prefix + ".".join(loc) if loc else prefix.rstrip(".") or None
        raise Refusal(422, field, f"{field + ': ' if field else ''}{err.get('msg', 'invalid')}", where) from None
