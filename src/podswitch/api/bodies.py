"""Request bodies of `PUT` on an object's own path: the object without the fields its path names.

Derived from the intent model (one definition of every field), not written again: `body(kind)` is the
model minus `model.paths.IDENTITY[kind]`, with unknown fields refused. The OpenAPI document then says
exactly what the server takes: a body cannot name a different object than its path."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, TypeAlias

from pydantic import BaseModel, ConfigDict, create_model

from ..model import MODEL_OF, Key, Kind, Model
from ..model.paths import IDENTITY, object_at


@cache
def body(kind: Kind) -> type[BaseModel]:
    model = MODEL_OF[kind]
    named = IDENTITY[kind]
    if not named:
        return model
    fields: dict[str, Any] = {n: (f.annotation, f) for n, f in model.model_fields.items() if n not in named}
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{model.__name__}Body",
        __config__=ConfigDict(extra="forbid", frozen=True),
        __doc__=f"{(model.__doc__ or model.__name__).strip()}\n\nThe path names the object ({', '.join(named)}).",
        **fields,
    )


def obj(key: Key, given: BaseModel) -> Model:
    """The object `given` (a `body(kind)` or the model itself) describes at `key`."""
    if isinstance(given, Model):
        return given
    return object_at(key, given.model_dump(exclude_unset=True))


if TYPE_CHECKING:  # generated classes: to a type checker they are plain request models
    TenantBody: TypeAlias = BaseModel
    SegmentBody: TypeAlias = BaseModel
    MemberBody: TypeAlias = BaseModel
    EndpointBody: TypeAlias = BaseModel
    SwitchBody: TypeAlias = BaseModel
    InterfaceGroupBody: TypeAlias = BaseModel
else:
    TenantBody = body(Kind.TENANT)
    SegmentBody = body(Kind.SEGMENT)
    MemberBody = body(Kind.MEMBER)
    EndpointBody = body(Kind.ENDPOINT)
    SwitchBody = body(Kind.SWITCH)
    InterfaceGroupBody = body(Kind.INTERFACE_GROUP)
