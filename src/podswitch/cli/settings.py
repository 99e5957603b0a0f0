"""Where the CLI finds its controller and token: flags, then the environment, then the local data directory."""

from __future__ import annotations

import os
from pathlib import Path

URL_ENV = "PODSWITCH_URL"
DEFAULT_PORT = 8650
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
TOKEN_ENV = "PODSWITCH_ADMIN_TOKEN"
DATA_DIR_ENV = "PODSWITCH_DATA_DIR"
DEFAULT_DATA_DIR = "var/podswitch"
ACTOR = "podswitch-cli"


def data_dir(value: str | None = None) -> Path:
    return Path(value or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def controller_urls(value: str | None = None) -> list[str]:
    """--url, else $PODSWITCH_URL, else the local default; comma-separated URLs are tried in turn."""
    text = value or os.environ.get(URL_ENV) or DEFAULT_URL
    return [u.strip().rstrip("/") for u in text.split(",") if u.strip()]


def find_token(explicit: str | None = None, data: str | None = None) -> str | None:
    """The admin token: --token, $PODSWITCH_ADMIN_TOKEN, or the file the local server wrote."""
    if explicit:
        return explicit
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    path = data_dir(data) / "admin-token"
    return path.read_text().strip() if path.exists() else None
