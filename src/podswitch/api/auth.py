"""A static admin bearer token guards every write. Finer roles come later (ROADMAP: security)."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .errors import Refused

TOKEN_ENV = "PODSWITCH_ADMIN_TOKEN"
TOKEN_FILE = "admin-token"

_bearer = HTTPBearer(auto_error=False, description="PODSWITCH_ADMIN_TOKEN")


def load_or_create_token(data_dir: Path | None) -> tuple[str, bool]:
    """The admin token: from the environment, else from the data directory, else a new one stored there
    (mode 0600). Returns (token, created)."""
    token = os.environ.get(TOKEN_ENV)
    if token:
        return token, False
    if data_dir is None:
        return secrets.token_urlsafe(32), True
    path = data_dir / TOKEN_FILE
    if path.exists():
        return path.read_text().strip(), False
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token, True


def require_admin(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str:
    """Dependency for write routes; returns the actor name recorded in the audit log."""
    expected: str = request.app.state.admin_token
    if creds is None or creds.scheme.lower() != "bearer":
        raise Refused(
            401,
            f"this request changes the fabric and needs 'Authorization: Bearer <token>' (the admin token, {TOKEN_ENV})",
            field="Authorization",
        )
    if not hmac.compare_digest(creds.credentials.encode(), expected.encode()):
        raise Refused(403, "the bearer token is not the admin token", field="Authorization")
    actor = request.headers.get("x-podswitch-actor", "admin")
    return actor[:64] if actor.isprintable() else "admin"


async def admin_of(request: Request) -> str:
    """`require_admin` for a route that needs the token only for some of what a request may carry."""
    return require_admin(request, await _bearer(request))
