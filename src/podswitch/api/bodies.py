"""Request bodies of `PUT` on an object's own path: the object without the fields its path names; and the
pattern of each kind's path.

Derived from the intent model (one definition of every field), not written again: `body(kind)` is the
model minus `model.paths.IDENTITY[kind]`, with unknown fields refused, and `PATH_PATTERN[kind]` is built
from the model's name patterns. The OpenAPI document then says exactly what the server takes: a body
cannot name a different object than its path, and a transaction's operation pairs a path of one kind with
that kind's body."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, TypeAlias

from pydantic import BaseModel, ConfigDict, create_model

from ..model import MODEL_OF, Key, Kind, Model
from ..model.paths import IDENTITY, object_at
from ..model.types import IFNAME_SCHEMA, NAME_SCHEMA, VLAN_SCHEMA


def _bare(pattern: str) -> str:
    return pattern.removeprefix("^").removesuffix("$")


# What each part of an object's path is, from the model's own patterns (`model/types.py`). The model's
# names need no %-escapes in a path (`model.paths.path_of` writes them as they are).
_NAME = _bare(NAME_SCHEMA["pattern"])
_PORT = f"{_NAME}:{_bare(IFNAME_SCHEMA['pattern'])}"
_VLAN = _bare(VLAN_SCHEMA["anyOf"][1]["pattern"])
NAME_PATTERN = f"^{_NAME}$"
LINK_NAME_PATTERN = f"^{_PORT}-{_PORT}$"
_TENANT = f"/tenants/{_NAME}"
_SEGMENT = f"{_TENANT}/segments/{_NAME}"
# The path of each kind of object under /v1 (`model.paths.path_of`), optionally with the /v1.
_PATHS = {
    Kind.SWITCH: f"/switches/{_NAME}",
    Kind.INTERFACE_GROUP: f"/interface-groups/{_NAME}",
    Kind.LINK: f"/links/{_PORT}-{_PORT}",
    Kind.TENANT: _TENANT,
    Kind.LOGICAL_ROUTER: f"{_TENANT}/logical-router",
    Kind.SEGMENT: _SEGMENT,
    Kind.MEMBER: f"{_SEGMENT}/members/{_NAME}/{_VLAN}",
    Kind.ENDPOINT: f"{_SEGMENT}/endpoints/{_NAME}",
}
PATH_PATTERN: dict[Kind, str] = {kind: f"^(?:/v1)?{path}$" for kind, path in _PATHS.items()}
ANY_PATH_PATTERN = f"^(?:/v1)?(?:{'|'.join(_PATHS.values())})$"


@cache
def body(kind: Kind) -> type[BaseModel]:
    model = MODEL_OF[kind]
    named = IDENTITY[kind]
    if not named:
        return model
    fields: dict[str, Any] = {n: (f.annotation, f) for n, f in model.model_fields.items() if n not in named}
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{model.__name__}Body",
        __config__=ConfigDict(
            extra="forbid", frozen=True, json_schema_extra=model.model_config.get("json_schema_extra")
        ),
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
