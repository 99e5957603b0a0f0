"""The CLI's HTTP client for a running controller."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

URL_ENV = "PODSWITCH_URL"
DEFAULT_PORT = 8650
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
TOKEN_ENV = "PODSWITCH_ADMIN_TOKEN"
DATA_DIR_ENV = "PODSWITCH_DATA_DIR"
DEFAULT_DATA_DIR = "var/podswitch"


class ApiFailure(Exception):
    """The controller refused the request (4xx/5xx) or could not be reached."""

    def __init__(self, status: int, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body or {}


def data_dir(value: str | None = None) -> Path:
    return Path(value or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def find_token(explicit: str | None = None, data: str | None = None) -> str | None:
    """The admin token: --token, $PODSWITCH_ADMIN_TOKEN, or the file the local server wrote."""
    if explicit:
        return explicit
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    path = data_dir(data) / "admin-token"
    return path.read_text().strip() if path.exists() else None


class Client:
    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 600.0) -> None:
        self.url = (url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiFailure(0, f"cannot reach the controller at {self.url}: {exc}") from None
        if response.status_code >= 400:
            try:
                body = response.json().get("error", {})
            except ValueError:
                body = {"message": response.text[:500]}
            message = body.get("message") or response.reason_phrase
            if response.status_code == 401 and not self.token:
                message += f" (set {TOKEN_ENV} or pass --token)"
            raise ApiFailure(response.status_code, message, body)
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def get_all(self, path: str, **params: Any) -> list[Any]:
        """Every item of a paged list."""
        items: list[Any] = []
        offset = 0
        while True:
            page = self.get(path, limit=1000, offset=offset, **params)
            items.extend(page["items"])
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return items

    def put(self, path: str, body: Any) -> Any:
        response = self.request("PUT", path, json=body)
        return response.json() if response.content else None

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        response = self.request("POST", path, json=body, params=params)
        return response.json() if response.content else None

    def delete(self, path: str, **params: Any) -> None:
        self.request("DELETE", path, params=params)
