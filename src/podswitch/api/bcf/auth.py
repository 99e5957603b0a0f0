"""Who may use the BCF-compatible APIs, answered from the request's headers alone (before any body is read).

Accepted, as BCF's own controller accepts them:
- `Authorization: Basic base64(user:password)`: user `admin` with the admin token as password, or a user of
  the users file (`PODSWITCH_BCF_USERS`: one `user:password` a line);
- `Cookie: session_cookie=TOKEN` (quoted or not): any podswitch API token (today: the admin token), or a
  session from `POST /api/v1/auth/login`;
- `Authorization: Bearer <admin token>`, as the native API takes it.

A session is signed, not stored: `user.expiry.nonce.signature`, signed with a key derived from the admin token,
so every controller that shares the admin token (HA on one database) honours the sessions of the others and a
restart keeps them. Logout revokes a session on the controller that received it, until it expires."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from pathlib import Path

from ..errors import Refused

USERS_ENV = "PODSWITCH_BCF_USERS"
ADMIN = "admin"
SESSION_SECONDS = 24 * 3600
MAX_REVOKED = 100_000


def load_users(path: str | None = None) -> dict[str, str]:
    """The users file named by `path` (default `$PODSWITCH_BCF_USERS`; none: no users but admin)."""
    name = path if path is not None else os.environ.get(USERS_ENV)
    if not name:
        return {}
    users: dict[str, str] = {}
    for number, line in enumerate(Path(name).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise ValueError(f"{name}:{number}: expected user:password")
        users[user] = password
    return users


@dataclass
class Sessions:
    """Signed sessions and the ones logged out here. `key` is the admin token (read when used: it may change)."""

    key: Callable[[], str]
    revoked: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _sign(self, payload: str) -> str:
        secret = hashlib.sha256(b"podswitch bcf session\0" + self.key().encode()).digest()
        return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()[:43]

    def open(self, user: str, now: float | None = None) -> str:
        expiry = int((now if now is not None else time.time()) + SESSION_SECONDS)
        payload = f"{base64.urlsafe_b64encode(user.encode()).decode().rstrip('=')}.{expiry}.{secrets.token_hex(8)}"
        return f"{payload}.{self._sign(payload)}"

    def user(self, token: str, now: float | None = None) -> str | None:
        """The user of a valid session token, else None."""
        parts = token.split(".")
        if len(parts) != 4 or not parts[1].isdigit():
            return None
        payload = ".".join(parts[:3])
        if not hmac.compare_digest(parts[3].encode(), self._sign(payload).encode()):
            return None
        if int(parts[1]) < (now if now is not None else time.time()) or token in self.revoked:
            return None
        try:
            return base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None

    def close(self, token: str) -> bool:
        """Log a session out; False when it was no valid session."""
        if self.user(token) is None:
            return False
        with self._lock:
            if len(self.revoked) >= MAX_REVOKED:
                now = time.time()
                for old in [t for t, expiry in self.revoked.items() if expiry < now]:
                    del self.revoked[old]
            self.revoked[token] = float(token.split(".")[1])
        return True


@dataclass
class Guard:
    """Checks a BCF request's credentials: `admin_token` (read when used) and the configured `users`."""

    admin_token: Callable[[], str]
    users: Mapping[str, str]
    sessions: Sessions

    def password_ok(self, user: str, password: str) -> bool:
        expected = self.admin_token() if user == ADMIN else self.users.get(user)
        return expected is not None and hmac.compare_digest(password.encode(), expected.encode())

    def who(self, headers: Mapping[str, str]) -> str:
        """The user the headers authenticate; Refused (401/403) otherwise."""
        scheme, _, credentials = (headers.get("authorization") or "").strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "basic" and credentials:
            try:
                user, sep, password = base64.b64decode(credentials, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise Refused(
                    401, "Authorization: Basic needs base64 of user:password", field="Authorization"
                ) from None
            if not sep or not self.password_ok(user, password):
                raise Refused(403, "wrong user or password", field="Authorization")
            return user
        if scheme.lower() == "bearer" and credentials:
            if hmac.compare_digest(credentials.encode(), self.admin_token().encode()):
                return ADMIN
            raise Refused(403, "the bearer token is not the admin token", field="Authorization")
        token = session_cookie(headers.get("cookie"))
        if token is not None:
            if hmac.compare_digest(token.encode(), self.admin_token().encode()):
                return ADMIN
            session_user = self.sessions.user(token)
            if session_user is not None and (session_user == ADMIN or session_user in self.users):
                return session_user
            raise Refused(
                403, "session_cookie is no valid session (log in again: POST /api/v1/auth/login)", field="Cookie"
            )
        raise Refused(
            401,
            "this API needs 'Authorization: Basic' (admin and the admin token, or a configured user), a "
            "session_cookie from POST /api/v1/auth/login, or the admin token as session_cookie",
            field="Authorization",
        )

    def problem(self, headers: Mapping[str, str]) -> Refused | None:
        try:
            self.who(headers)
        except Refused as exc:
            return exc
        return None


def session_cookie(header: str | None) -> str | None:
    """The `session_cookie` of a Cookie header (the client quotes it: `session_cookie="..."`)."""
    if not header:
        return None
    try:
        jar = SimpleCookie()
        jar.load(header)
    except CookieError:
        jar = SimpleCookie()
    morsel = jar.get("session_cookie")
    if morsel is not None and morsel.value:
        return morsel.value
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == "session_cookie" and value.strip('"'):
            return value.strip('"')
    return None
