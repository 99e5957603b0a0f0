"""The lab's view of the controller: the intent (as running-config, parsed here), topology writes, and
the switches' sync state. Plain HTTP like any other client; writes carry the actor `podswitch-lab`."""

from __future__ import annotations

from typing import Any

import httpx

from ..config import parse
from ..model import Intent
from .plan import Write

ACTOR = "podswitch-lab"
REVISION_HEADER = "X-Podswitch-Revision"


class ControllerError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Controller:
    def __init__(self, url: str, token: str | None, timeout: float = 15.0) -> None:
        self.url = url.rstrip("/")
        headers = {"X-Podswitch-Actor": ACTOR}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0))
        )

    def close(self) -> None:
        self.http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise ControllerError(f"{method} {self.url}{path}: {type(e).__name__}: {e}") from e
        if resp.status_code >= 400:
            try:
                message = resp.json().get("error", {}).get("message") or resp.text[:300]
            except ValueError:
                message = resp.text[:300]
            raise ControllerError(f"{method} {path}: HTTP {resp.status_code}: {message}", resp.status_code)
        return resp

    def revision(self) -> int:
        return int(self._request("GET", "/healthz").json()["revision"])

    def intent(self) -> tuple[int, Intent]:
        """The whole intent and its revision, in one consistent read."""
        resp = self._request("GET", "/v1/running-config")
        return int(resp.headers.get(REVISION_HEADER, "0")), parse(resp.text)

    def write(self, w: Write) -> None:
        kwargs: dict[str, Any] = {} if w.body is None else {"json": w.body}
        if w.method == "DELETE":
            kwargs["params"] = {"missing_ok": "true"}
        self._request(w.method, w.path, **kwargs)

    def switches(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self._request("GET", "/v1/switches", params={"limit": 1000, "offset": offset}).json()
            items.extend(page["items"])
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return items

    def put_running_config(self, text: str) -> dict[str, Any]:
        resp = self._request("PUT", "/v1/running-config", content=text.encode(), headers={"Content-Type": "text/plain"})
        return resp.json()  # type: ignore[no-any-return]
