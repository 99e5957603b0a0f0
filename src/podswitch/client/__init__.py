"""The one Python client of podswitch's native API (`Client`), its typed errors and polite backoff.

Used by the CLI, the switch agent, the lab and the integrations; imports only `model` and the agent
contract (`fabric.state`)."""

from .backoff import Backoff, parse_retry_after
from .errors import (
    ApiError,
    Conflict,
    Invalid,
    Missing,
    PreconditionFailed,
    Unauthorized,
    Unavailable,
    UnreadableState,
)
from .http import ACTOR_HEADER, REVISION_HEADER, Client, Fetched, Owned, Written, operation_json, status_header

__all__ = [
    "ACTOR_HEADER",
    "REVISION_HEADER",
    "ApiError",
    "Backoff",
    "Client",
    "Conflict",
    "Fetched",
    "Invalid",
    "Missing",
    "Owned",
    "PreconditionFailed",
    "Unauthorized",
    "Unavailable",
    "UnreadableState",
    "Written",
    "operation_json",
    "parse_retry_after",
    "status_header",
]
