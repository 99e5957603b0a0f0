"""The one Python client of podswitch's native API, used by the CLI, the agent, the lab and integrations.

- Several controller URLs: a request that cannot be answered (transport error, 408/425/429, 5xx) moves on to
  the next URL, for the retry and for the calls after it.
- Retries only where a retry is safe (reads, PUT and DELETE, transactions whose operations are all
  replay-safe), at most `retries` times, each after `Backoff` (capped exponential, full jitter) with the
  controller's `Retry-After` as a floor. `retries=0` leaves pacing to the caller (the agent's own loop).
- A bearer token and an actor name (recorded in the audit log) on every request.
- Failures are typed (`errors.py`): Missing, Conflict, PreconditionFailed, Invalid, Unauthorized,
  Unavailable, each with the controller's message and error body."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pydantic

from .. import __version__
from ..fabric.delta import DELTA_IM, DeltaMismatch, apply_delta
from ..fabric.state import (
    FORMAT,
    FORMAT_HEADER,
    MAX_STATUS_HEADER,
    READS,
    STATUS_HEADER,
    STATUS_REPORT_HEADER,
    DesiredState,
    parse_desired,
)
from ..model import MODEL_OF, Delete, Key, Kind, Model, Operation, Put
from ..model.paths import body_of, key_of, object_at, path_of
from .backoff import Backoff, parse_retry_after
from .errors import ApiError, Unavailable, UnreadableState, error_for

log = logging.getLogger(__name__)

ACTOR_HEADER = "X-Podswitch-Actor"
REVISION_HEADER = "X-Podswitch-Revision"
USER_AGENT = "podswitch"
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class Fetched:
    """A desired-state answer: `desired` is None for 304 Not Modified; status 226 when it was made of a delta
    against the state held (see fabric.delta)."""

    status: int
    desired: DesiredState | None
    etag: str | None  # the validator to send back in If-None-Match
    url: str
    # What became of a status report sent along (see fabric.state.STATUS_HEADER): "stored", "failed" or
    # "none"; None when the controller does not take reports on this request (the agent PUTs them).
    report: str | None = None


def status_header(status: dict[str, Any]) -> str | None:
    """A status report as the value of STATUS_HEADER (compact JSON, ASCII); None when it is too long to
    ride on a request's headers (the agent PUTs it instead)."""
    text = json.dumps(status, separators=(",", ":"))
    return text if len(text) <= MAX_STATUS_HEADER else None


@dataclass(frozen=True)
class Owned:
    """One object of an origination as the controller holds it: its key, model, PUT body and digest."""

    key: Key
    model: type[Model]
    body: dict[str, Any]
    digest: str

    def object(self) -> Model:
        return object_at(self.key, self.body)


@dataclass(frozen=True)
class Written:
    """What a write did: the revision the intent is at afterwards and whether it changed."""

    revision: int
    changed: bool
    summary: str = ""
    counts: dict[str, dict[str, int]] | None = None


class Client:
    """A client of one or more controllers of the same fabric (they share one store)."""

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        token: str | None = None,
        actor: str | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 3.0,
        retries: int = 3,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        urls = [urls] if isinstance(urls, str) else list(urls)
        self.urls = [u.strip().rstrip("/") for part in urls for u in part.split(",") if u.strip()]
        if not self.urls:
            raise ValueError("no controller URL")
        self.index = 0
        self.token = token
        self.retries = retries
        self.backoff = backoff if backoff is not None else Backoff()
        self._sleep = sleep
        headers = {"User-Agent": f"{user_agent}/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if actor:
            headers[ACTOR_HEADER] = actor
        self.http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, connect_timeout)),
            transport=transport,
            follow_redirects=False,
        )

    # ---- plumbing -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The controller the next request goes to."""
        return self.urls[self.index]

    def rotate(self) -> None:
        """Move on to the next controller (after a failure)."""
        self.index = (self.index + 1) % len(self.urls)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self, method: str, path: str, *, retry: bool | None = None, ok: Sequence[int] = (), **kwargs: Any
    ) -> httpx.Response:
        """One API call, failed over and retried as the module doc says. Statuses in `ok` (e.g. 304) are
        answers, not errors. Raises an `ApiError` subclass."""
        retry = method in _IDEMPOTENT if retry is None else retry
        attempts = self.retries + 1 if retry else 1
        self.backoff.reset()
        for attempt in range(attempts):
            try:
                return self._once(method, path, ok, kwargs)
            except Unavailable as exc:
                self.rotate()
                if attempt + 1 >= attempts:
                    raise
                delay = self.backoff.next(exc.retry_after)
                log.info("%s; retrying in %.2fs on %s", exc, delay, self.url)
                self._sleep(delay)
        raise AssertionError("unreachable")

    def _once(self, method: str, path: str, ok: Sequence[int], kwargs: dict[str, Any]) -> httpx.Response:
        url = f"{self.url}{path}"
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:  # refused, reset, timeout, DNS ...
            raise Unavailable(
                f"cannot reach the controller at {self.url}: {type(exc).__name__}: {exc}",
                url=url,
                request=f"{method} {path}",
            ) from exc
        if response.status_code < 400 or response.status_code in ok:
            return response
        try:
            body = response.json().get("error") or {}
        except (ValueError, AttributeError):
            body = {"message": response.text[:500]}
        message = body.get("message") or response.reason_phrase or f"HTTP {response.status_code}"
        kind = error_for(response.status_code)
        raise kind(
            message,
            status=response.status_code,
            body=body,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            url=url,
            request=f"{method} {path}",
        )

    def _waiting(self, wait: float) -> httpx.Timeout:
        """The timeouts of a request that may wait `wait` seconds at the controller before it answers."""
        read = self.http.timeout.read or 0.0
        return httpx.Timeout(wait + read, connect=self.http.timeout.connect)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def get_all(self, path: str, **params: Any) -> list[Any]:
        """Every item of a paged list."""
        return list(self.iterate(path, **params))

    def iterate(self, path: str, page_size: int = 1000, **params: Any) -> Iterator[Any]:
        offset = 0
        while True:
            page = self.get(path, limit=page_size, offset=offset, **params)
            yield from page["items"]
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return

    # ---- intent objects -------------------------------------------------------------------------

    def get_object(self, key: Key) -> Model:
        """The object at key (`Missing` if it is not there)."""
        return MODEL_OF[key.kind].model_validate(self.get(f"/v1{path_of(key)}"))

    def put_object(self, key: Key, obj: Model) -> Written:
        """Create or replace the object at key (idempotent: putting what is there changes nothing)."""
        response = self.request("PUT", f"/v1{path_of(key)}", json=body_of(key, obj))
        return Written(int(response.headers.get(REVISION_HEADER, 0)), response.status_code == 201)

    def delete_object(self, key: Key, *, missing_ok: bool = False) -> Written:
        """Delete the object at key with everything below it (`Missing` unless `missing_ok`)."""
        params = {"missing_ok": "true"} if missing_ok else None
        response = self.request("DELETE", f"/v1{path_of(key)}", params=params)
        return Written(int(response.headers.get(REVISION_HEADER, 0)), True)

    def transaction(
        self, operations: Sequence[Operation], *, if_revision: int | None = None, dry_run: bool = False
    ) -> dict[str, Any]:
        """Apply the operations in order as one revision, all or nothing (see POST /v1/transactions). The
        answer is the controller's WriteResult (or the plan, with `dry_run`). Retried after a failure only
        when every operation is replay-safe (no create-only put, every delete `missing_ok`)."""
        safe = all(op.missing_ok if isinstance(op, Delete) else not op.create_only for op in operations)
        document = {"operations": [operation_json(op) for op in operations]}
        return self.transaction_document(document, if_revision=if_revision, dry_run=dry_run, retry=safe)

    def transaction_document(
        self,
        document: dict[str, Any],
        *,
        if_revision: int | None = None,
        dry_run: bool = False,
        retry: bool = False,
    ) -> dict[str, Any]:
        """POST /v1/transactions with a document as the API takes it (`{"operations": [...]}`)."""
        headers = {"Content-Type": "application/json"}
        if if_revision is not None:
            headers["If-Match"] = f'"{if_revision}"'
        response = self.request(
            "POST",
            "/v1/transactions",
            retry=retry,
            params={"dry_run": "true"} if dry_run else None,
            content=orjson.dumps(document),
            headers=headers,
        )
        result: dict[str, Any] = response.json()
        return result

    def owned(self, origination: str, kind: Kind | None = None) -> list[Owned]:
        """Every object of one origination with its digest (see GET /v1/objects), for consistency checks."""
        params: dict[str, Any] = {"origination": origination}
        if kind is not None:
            params["kind"] = kind.value
        return [
            Owned(key_of(item["path"]), MODEL_OF[Kind(item["kind"])], item["body"], item["digest"])
            for item in self.iterate("/v1/objects", **params)
        ]

    # ---- the whole intent -----------------------------------------------------------------------

    def running_config(self) -> tuple[int, str]:
        """The whole intent as running-config text and its revision, in one consistent read."""
        response = self.request("GET", "/v1/running-config")
        return int(response.headers.get(REVISION_HEADER, "0")), response.text

    def next_running_config(self, revision: int, *, wait: float) -> tuple[int, str] | None:
        """The running-config once the intent is past `revision`: at once if it already is, else the moment
        it changes within `wait` seconds (None if it did not)."""
        timeout = self._waiting(wait)
        response = self.request(
            "GET",
            "/v1/running-config",
            ok=(304,),
            headers={"If-None-Match": f'"{revision}"'},
            params={"wait": f"{wait:g}"},
            timeout=timeout,
        )
        if response.status_code == 304:
            return None
        return int(response.headers.get(REVISION_HEADER, "0")), response.text

    def replace_running_config(
        self, text: str, *, if_revision: int | None = None, dry_run: bool = False
    ) -> dict[str, Any]:
        """Replace ALL intent with `text`, atomically (or only plan it). PreconditionFailed when
        `if_revision` is no longer current."""
        headers = {"Content-Type": "text/plain"}
        if if_revision is not None:
            headers["If-Match"] = f'"{if_revision}"'
        response = self.request(
            "PUT",
            "/v1/running-config",
            retry=if_revision is not None,  # an unconditional replace retried could undo a write in between
            params={"dry_run": "true"} if dry_run else None,
            content=text.encode(),
            headers=headers,
        )
        result: dict[str, Any] = response.json()
        return result

    # ---- history --------------------------------------------------------------------------------

    def history(self, limit: int = 50) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/v1/history", limit=limit)
        return result

    def undo(self, what: str, revision: int, *, dry_run: bool = False) -> dict[str, Any]:
        """`what` is "revert" (undo one revision) or "restore" (go back to one), as a new revision."""
        if what not in ("revert", "restore"):
            raise ValueError(what)
        params = {"dry_run": "true"} if dry_run else None
        result: dict[str, Any] = self.request(
            "POST", f"/v1/history/{revision}/{what}", retry=False, params=params
        ).json()
        return result

    # ---- switches and agents --------------------------------------------------------------------

    def revision(self) -> int:
        """The revision the controller serves."""
        return int(self.get("/healthz")["revision"])

    def switches(self) -> list[dict[str, Any]]:
        return self.get_all("/v1/switches")

    def desired_state(
        self,
        switch: str,
        etag: str | None = None,
        *,
        wait: float = 0.0,
        held: DesiredState | None = None,
        status: str | None = None,
    ) -> Fetched:
        """A switch's desired state; with `etag` (what the agent applied) a 304 means "still current". With
        `wait` (and an etag) the controller holds the request until the state changes or `wait` seconds
        pass: the new state arrives the moment it exists (push). With `held` (the state `etag` names) a change
        may come as a delta against it (226), applied here and checked against its ETag; one that does not
        fit is never used: the whole state is fetched instead. `status` (from `status_header`) is the
        agent's report, sent along; `Fetched.report` says what became of it."""
        headers = {FORMAT_HEADER: str(FORMAT)}
        if status is not None:
            headers[STATUS_HEADER] = status
        extra: dict[str, Any] = {}
        if etag:
            headers["If-None-Match"] = etag
            if held is not None and held.format == FORMAT:  # a controller sends deltas in its own format only
                headers["A-IM"] = DELTA_IM
            if wait > 0:
                extra["params"] = {"wait": f"{wait:g}"}
                extra["timeout"] = self._waiting(wait)
        path = f"/v1/switches/{switch}/desired-state"
        response = self.request("GET", path, ok=(304, 406), headers=headers, **extra)
        url = str(response.request.url)
        report = response.headers.get(STATUS_REPORT_HEADER)
        if response.status_code == 304:
            return Fetched(304, None, etag, url, report)
        if response.status_code == 406:  # this agent is older than every format the controller serves
            raise _too_old(url, response)
        if response.status_code == 226 and held is not None:
            try:
                desired = apply_delta(held, response.content)
            except (DeltaMismatch, pydantic.ValidationError) as exc:
                log.warning("GET %s: a delta that does not apply (%s); fetching the whole state", path, exc)
                return dataclasses.replace(self.desired_state(switch), report=report)
            code = 226
        elif response.status_code != 200:
            raise ApiError(f"GET {path}: unexpected HTTP {response.status_code}", status=response.status_code, url=url)
        else:
            code = 200
            try:
                desired = parse_desired(response.content)
            except pydantic.ValidationError as exc:
                raise _unreadable(url, response.content, exc) from exc
        if desired.format not in READS:
            raise _other_format(url, desired.format)
        if desired.state.switch != switch:
            raise ApiError(f"GET {path}: state is for switch {desired.state.switch!r}", url=url)
        # Send back exactly what the server sent (quotes, weak prefix and all); else the body's own etag.
        return Fetched(code, desired, response.headers.get("etag") or f'"{desired.etag}"', url, report)

    def report_status(self, switch: str, status: dict[str, Any]) -> None:
        """What the switch's agent applied (PUT, so a retry is harmless)."""
        self.request("PUT", f"/v1/switches/{switch}/status", json=status)


def operation_json(op: Operation) -> dict[str, Any]:
    """An operation as POST /v1/transactions takes it."""
    if isinstance(op, Put):
        out: dict[str, Any] = {"op": "put", "path": path_of(op.key), "body": body_of(op.key, op.obj)}
        if op.create_only:
            out["create_only"] = True
        return out
    return {"op": "delete", "path": path_of(op.key), "missing_ok": op.missing_ok}


def _unreadable(url: str, content: bytes, error: pydantic.ValidationError) -> UnreadableState:
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError:
        document = None
    served = document.get("format") if isinstance(document, dict) else None
    if isinstance(served, int) and served not in READS:
        return _other_format(url, served)
    # Reported to the controller as a status error: keep it short however many fields are wrong.
    return UnreadableState(f"GET {url}: bad desired state: {error.error_count()} errors: {str(error)[:1000]}", url=url)


def _other_format(url: str, served: int) -> UnreadableState:
    fix = "upgrade the agent" if served > FORMAT else "upgrade the controller"
    return UnreadableState(
        f"GET {url}: the controller serves desired-state format {served}; this agent "
        f"(podswitch {__version__}) reads formats {min(READS)} to {max(READS)}: {fix}. "
        f"Forwarding stays as last programmed.",
        url=url,
    )


def _too_old(url: str, response: httpx.Response) -> UnreadableState:
    """A 406: the controller says why (which formats it serves); the agent reports it in its status."""
    try:
        body = response.json().get("error") or {}
    except (ValueError, AttributeError):
        body = {}
    said = body.get("message") or f"it serves no format this agent reads (format {FORMAT})"
    return UnreadableState(f"GET {url}: HTTP 406: {said}", status=406, body=body, url=url)
