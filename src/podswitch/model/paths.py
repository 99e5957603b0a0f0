"""Where each object lives in the native API: `Key` <-> path under `/v1`, and which fields of an object its
path already names (its identity).

The REST routes, transactions (`{"op": "put", "path": P, "body": B}`) and the Python client all address
objects this way, so it is defined once, here. A body never repeats the identity its path gives: the path
names the object, the body says what it is (`PUT /v1/tenants/demo` takes `{"id": ..., "origination": ...}`).
Links are the exception: a link is named by its two ends, so its body is its identity and its path must
agree with it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from .errors import IntentError, Problem
from .intent import MODEL_OF, Key, Kind
from .tenant import member_key
from .types import Model

# Fields of each kind that its path names (the link's own fields are its identity, see module doc).
IDENTITY: dict[Kind, tuple[str, ...]] = {
    Kind.SWITCH: ("name",),
    Kind.INTERFACE_GROUP: ("name",),
    Kind.LINK: (),
    Kind.TENANT: ("name",),
    Kind.SEGMENT: ("name",),
    Kind.LOGICAL_ROUTER: (),
    Kind.MEMBER: ("interface_group", "vlan"),
    Kind.ENDPOINT: ("id",),
}

_TOP = {"switches": Kind.SWITCH, "interface-groups": Kind.INTERFACE_GROUP, "links": Kind.LINK}
_IN_SEGMENT = {"members": Kind.MEMBER, "endpoints": Kind.ENDPOINT}

PATH_FORMS = (
    "/switches/NAME",
    "/interface-groups/NAME",
    "/links/SWITCH:IF-SWITCH:IF",
    "/tenants/T",
    "/tenants/T/logical-router",
    "/tenants/T/segments/S",
    "/tenants/T/segments/S/members/GROUP/VLAN",
    "/tenants/T/segments/S/endpoints/ID",
)


class PathError(ValueError):
    """A path that names no object."""


def path_of(key: Key) -> str:
    """The object's path under /v1 (e.g. `/tenants/demo/segments/net_demo`)."""
    kind = key.kind
    if kind == Kind.SWITCH:
        return f"/switches/{_q(key.name)}"
    if kind == Kind.INTERFACE_GROUP:
        return f"/interface-groups/{_q(key.name)}"
    if kind == Kind.LINK:
        return f"/links/{_q(key.name)}"
    tenant = f"/tenants/{_q(key.tenant)}"
    if kind == Kind.TENANT:
        return tenant
    if kind == Kind.LOGICAL_ROUTER:
        return f"{tenant}/logical-router"
    segment = f"{tenant}/segments/{_q(key.segment)}"
    if kind == Kind.SEGMENT:
        return segment
    if kind == Kind.MEMBER:
        group, _, vlan = key.name.rpartition(":")
        return f"{segment}/members/{_q(group)}/{vlan}"
    return f"{segment}/endpoints/{_q(key.name)}"


def key_of(path: str) -> Key:
    """The key a path names; PathError says what is wrong with one that names nothing. A leading `/v1` is
    allowed."""
    parts = [unquote(p) for p in path.strip().split("/")]
    if parts and parts[0] == "":
        parts = parts[1:]
    if parts and parts[0] == "v1":
        parts = parts[1:]
    if any(p == "" for p in parts) or not parts:
        raise PathError(f"'{path[:200]}' is not an object's path: use one of {', '.join(PATH_FORMS)}")
    head, n = parts[0], len(parts)
    if head in _TOP and n == 2:
        return Key(_TOP[head], name=parts[1])
    if head == "tenants" and n >= 2:
        tenant = parts[1]
        if n == 2:
            return Key(Kind.TENANT, tenant)
        if n == 3 and parts[2] == "logical-router":
            return Key(Kind.LOGICAL_ROUTER, tenant)
        if n >= 4 and parts[2] == "segments":
            segment = parts[3]
            if n == 4:
                return Key(Kind.SEGMENT, tenant, segment)
            if n == 7 and parts[4] == "members":
                vlan = parts[6]
                if not (vlan.isascii() and vlan.isdigit() and 1 <= int(vlan) <= 4094):
                    raise PathError(f"'{path[:200]}': the member's VLAN must be a number from 1 to 4094")
                return Key(Kind.MEMBER, tenant, segment, member_key(parts[5], int(vlan)))
            if n == 6 and parts[4] == "endpoints":
                return Key(Kind.ENDPOINT, tenant, segment, parts[5])
    raise PathError(f"'{path[:200]}' is not an object's path: use one of {', '.join(PATH_FORMS)}")


def identity(key: Key) -> dict[str, Any]:
    """The fields of the object at `key` that its path names."""
    kind = key.kind
    if kind in (Kind.SWITCH, Kind.INTERFACE_GROUP):
        return {"name": key.name}
    if kind == Kind.TENANT:
        return {"name": key.tenant}
    if kind == Kind.SEGMENT:
        return {"name": key.segment}
    if kind == Kind.ENDPOINT:
        return {"id": key.name}
    if kind == Kind.MEMBER:
        group, _, vlan = key.name.rpartition(":")
        return {"interface_group": group, "vlan": int(vlan)}
    return {}


def body_of(key: Key, obj: Model) -> dict[str, Any]:
    """What a client sends to put `obj` at `key`: the object as JSON without what the path names."""
    return obj.model_dump(mode="json", exclude=set(IDENTITY[key.kind]), exclude_none=True)


def object_at(key: Key, body: Mapping[str, Any]) -> Model:
    """The object a body describes at `key` (identity from the path). Raises pydantic's ValidationError
    for a bad body, IntentError when a link's body names another link than its path."""
    model = MODEL_OF[key.kind]
    obj = model.model_validate({**body, **identity(key)})
    if key.kind == Kind.LINK:
        expected = Key.of(Kind.LINK, obj)
        if expected != key:
            raise IntentError(
                Problem(str(key), "a", f"the body describes link {expected.name}, but the path names {key.name}")
            )
    return obj


def digest(key: Key, obj: Model) -> str:
    """A short hash of what a client would PUT for the object (its body): equal bodies, equal digests. An
    orchestrator compares it with the hash of what it would send to find drift without fetching bodies."""
    encoded = json.dumps(body_of(key, obj), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def _q(part: str) -> str:
    return quote(part, safe=":")
