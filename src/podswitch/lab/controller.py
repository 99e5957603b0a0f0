"""The lab's view of the controller: the shared client, with the lab's actor name on its writes, and the
intent read as running-config text (one consistent read with its revision)."""

from __future__ import annotations

from ..client import Client
from ..config import parse
from ..model import Intent

ACTOR = "podswitch-lab"


def lab_client(url: str, token: str | None, timeout: float = 15.0) -> Client:
    return Client(url, token=token, actor=ACTOR, timeout=timeout, retries=0)


def read_intent(client: Client) -> tuple[int, Intent]:
    """The whole intent and its revision, in one consistent read."""
    revision, text = client.running_config()
    return revision, parse(text)


def next_intent(client: Client, revision: int, wait: float) -> tuple[int, Intent] | None:
    """The intent once it is past `revision` (the moment it changes, within `wait` seconds), else None."""
    got = client.next_running_config(revision, wait=wait)
    return None if got is None else (got[0], parse(got[1]))
