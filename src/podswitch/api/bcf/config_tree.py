"""BCF's config-tree API (`/api/v1`) as the seed's in-house L3 plugin used it: log in for a session, then
GET/PUT/PATCH/DELETE on `data/controller/applications/bcf/<path>`, where the path (`paths.py`) selects
entries of the tree by `[key="value"]`. Every path of the tree goes through the same four functions of
`tree.py`; a write is one transaction (the difference of the edited tree, as operations)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool

from ...model import Intent, Operation
from ..errors import Refused
from . import paths, tree
from .common import Ctl, User, commit, guard, json_body, json_object

PREFIX = "/api/v1"
LOGIN = f"{PREFIX}/auth/login"
DATA = f"{PREFIX}/{paths.BASE}"
SESSION = f"{PREFIX}/data/controller/core/aaa/session"

router = APIRouter(prefix=PREFIX, tags=["bcf config tree"], include_in_schema=False)

TreePath = Annotated[str, Path(max_length=4096, description="a config-tree path, percent-encoded")]


@router.post("/auth/login")
async def login(request: Request) -> dict[str, Any]:
    """`{"user", "password"}` -> `{"session_cookie"}` (the user `admin` logs in with the admin token)."""
    body = json_object(await json_body(request))
    user, password = body.get("user"), body.get("password")
    if not isinstance(user, str) or not isinstance(password, str):
        raise Refused(422, 'log in with {"user": "...", "password": "..."}', field="user")
    g = guard(request)
    if not g.password_ok(user, password):
        raise Refused(401, "wrong user or password", field="password")
    return {"success": True, "session_cookie": g.sessions.open(user)}


@router.delete("/data/controller/core/aaa/session{selector:path}")
def logout(request: Request, selector: str) -> dict[str, Any]:
    """`session[auth-token="TOKEN"]`: that session ends (the token is the credential; the in-house plugin
    logs its old session out this way before logging in again, and ignores the answer)."""
    steps = selector.strip()
    token = None
    if steps.startswith('[auth-token="') and steps.endswith('"]'):
        token = steps[len('[auth-token="') : -2]
    if not token or not guard(request).sessions.close(token):
        raise Refused(404, "no such session", object="session")
    return {}


def _steps(path: str) -> tuple[paths.Element, ...]:
    return paths.parse(path)


@router.get("/data/controller/applications/bcf/{path:path}")
async def read(ctl: Ctl, _: User, path: TreePath) -> list[Any]:
    """The entries the path selects, as a JSON list of nested objects."""
    steps = _steps(path)
    intent = ctl.snapshot().intent
    return await run_in_threadpool(lambda: tree.select(tree.trees(intent, steps[0]), steps))


async def _write(ctl: Ctl, request: Request, actor: str, path: str, verb: str) -> dict[str, Any]:
    steps = _steps(path)
    body = None if verb == "DELETE" else json_object(await json_body(request))

    def plan(intent: Intent) -> list[Operation]:
        before = tree.trees(intent, steps[0])
        old_names = [t["name"] for t in before]
        if body is None:
            if tree.delete(before, steps) == 0:
                raise Refused(404, f"{paths.render(steps)[:300]} selects nothing", object=paths.render(steps)[:300])
        else:
            tree.put(before, steps, body, merge=verb == "PATCH")
        after = [tree.tenant_node(t, intent.tenants.get(str(t.get("name")))) for t in before]
        return tree.operations(intent, old_names, after)

    outcome = await commit(ctl, plan, actor)
    return {"revision": outcome.revision, "changed": outcome.changed}


@router.put("/data/controller/applications/bcf/{path:path}")
async def replace(ctl: Ctl, request: Request, actor: User, path: TreePath) -> dict[str, Any]:
    """Create or replace the entry at a keyed path (its child lists are kept unless the body gives them)."""
    return await _write(ctl, request, actor, path, "PUT")


@router.patch("/data/controller/applications/bcf/{path:path}")
async def merge(ctl: Ctl, request: Request, actor: User, path: TreePath) -> dict[str, Any]:
    """Change the fields the body gives of the entry at a keyed path."""
    return await _write(ctl, request, actor, path, "PATCH")


@router.delete("/data/controller/applications/bcf/{path:path}")
async def remove(ctl: Ctl, request: Request, actor: User, path: TreePath) -> dict[str, Any]:
    """Remove every entry the path selects, with everything below it."""
    return await _write(ctl, request, actor, path, "DELETE")
