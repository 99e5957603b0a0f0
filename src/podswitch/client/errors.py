"""What a call to the controller can fail with, as types a caller can act on.

Every error carries the HTTP status (None when the controller was not reached), the controller's message
and error body, and `retry_after` when the controller said when to come back. `Unavailable` is the one
worth retrying (transport failures, 408/425/429, 5xx); the others will fail the same way again until the
request or the intent changes."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A request to the controller failed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: dict[str, Any] | None = None,
        retry_after: float | None = None,
        url: str | None = None,
        request: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message  # the controller's own words (what a CLI shows)
        self.status = status
        self.body = body or {}
        self.retry_after = retry_after
        self.url = url
        self.request = request  # "PUT /v1/tenants/demo" (what a log shows)

    def __str__(self) -> str:
        if self.request is None:
            return self.message
        status = f"HTTP {self.status}: " if self.status is not None else ""
        return f"{self.request}: {status}{self.message}"

    @property
    def retryable(self) -> bool:
        return False

    @property
    def operation(self) -> int | None:
        """For a refused transaction: the index of the operation at fault."""
        index = self.body.get("operation")
        return index if isinstance(index, int) else None


class Unavailable(ApiError):
    """The controller could not be reached, timed out, is overloaded (429) or failed (5xx): try again later,
    or another controller."""

    @property
    def retryable(self) -> bool:
        return True


class Unauthorized(ApiError):
    """401/403: no token, or not one that may do this."""


class Missing(ApiError):
    """404: the object (or a parent it needs) does not exist (`model.NotFound` on the controller)."""


class Conflict(ApiError):
    """409: the request clashes with other objects (a duplicate address, a claimed VLAN, still referenced)."""


class PreconditionFailed(ApiError):
    """412: the intent is no longer at the revision the request was conditional on; nothing changed."""

    @property
    def revision(self) -> int | None:
        current = self.body.get("revision")
        return current if isinstance(current, int) else None


class Invalid(ApiError):
    """400/413/422: the request itself is wrong (names the field, or line:column of config text)."""


class UnreadableState(ApiError):
    """The controller served a desired state this agent cannot use (another format, or not a valid
    document). Asking again will not help until one side is upgraded or fixed."""


RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

_BY_STATUS: dict[int, type[ApiError]] = {
    400: Invalid,
    401: Unauthorized,
    403: Unauthorized,
    404: Missing,
    409: Conflict,
    412: PreconditionFailed,
    413: Invalid,
    422: Invalid,
}


def error_for(status: int) -> type[ApiError]:
    if status in RETRY_STATUSES or status >= 500:
        return Unavailable
    return _BY_STATUS.get(status, ApiError)
