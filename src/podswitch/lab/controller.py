"""The lab's view of the controller: the shared client, with the lab's actor name on its writes, and the
intent read as running-config text (one consistent read with its revision).

The supervisor reads the whole text at every revision; parsing all of it each time is most of what it does
per change (~1 ms per KB on a loaded 2-core machine, and tens of KB for a small lab). `IntentReader` parses
only the sections that changed since the last text: the running-config is the topology followed by one
section per tenant (`config.render.sections`), each of which parses on its own, so a change to one endpoint
re-parses one tenant. The text comes from the controller, which validated the intent it renders: sections
are parsed without the rules between objects (those span sections), as the controller has checked them."""

from __future__ import annotations

from ..client import Client
from ..config import parse
from ..model import Intent, TenantNode, Topology

ACTOR = "podswitch-lab"
TENANT = "tenant "


def lab_client(url: str, token: str | None, timeout: float = 15.0) -> Client:
    return Client(url, token=token, actor=ACTOR, timeout=timeout, retries=0)


def sections(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(topology text, [(tenant name, section text)]) of a running-config: each tenant's section runs from
    its `tenant NAME` line (the only lines that start with it) to the next one."""
    topology, _, rest = ("\n" + text).partition("\n" + TENANT)
    if not rest:
        return text, []
    out = []
    for chunk in (TENANT + rest).split("\n" + TENANT):
        chunk = chunk if chunk.startswith(TENANT) else TENANT + chunk
        name = chunk[len(TENANT) :].split("\n", 1)[0].strip()
        out.append((name, chunk if chunk.endswith("\n") else chunk + "\n"))
    return topology[1:] + "\n" if topology else "", out


class IntentReader:
    """Running-config text -> Intent, re-parsing only the sections that changed since the previous text."""

    def __init__(self) -> None:
        self._topology: tuple[str, Topology] | None = None
        self._tenants: dict[str, tuple[str, TenantNode]] = {}

    def parse(self, text: str) -> Intent:
        try:
            return self._incremental(text)
        except Exception:  # a text these sections do not cut cleanly: the whole parse says what is wrong
            self._topology, self._tenants = None, {}
            return parse(text)

    def _incremental(self, text: str) -> Intent:
        topo_text, tenant_texts = sections(text)
        if self._topology is None or self._topology[0] != topo_text:
            self._topology = (topo_text, parse(topo_text, validate=False).topology)
        tenants: dict[str, tuple[str, TenantNode]] = {}
        for name, chunk in tenant_texts:
            known = self._tenants.get(name)
            if known is None or known[0] != chunk:
                known = (chunk, parse(chunk, validate=False).tenants[name])
            tenants[name] = known
        self._tenants = tenants
        return Intent(topology=self._topology[1], tenants={name: node for name, (_, node) in tenants.items()})

    def read(self, client: Client) -> tuple[int, Intent]:
        """The whole intent and its revision, in one consistent read."""
        revision, text = client.running_config()
        return revision, self.parse(text)

    def next(self, client: Client, revision: int, wait: float) -> tuple[int, Intent] | None:
        """The intent once it is past `revision` (the moment it changes, within `wait` seconds), else None."""
        got = client.next_running_config(revision, wait=wait)
        return None if got is None else (got[0], self.parse(got[1]))
