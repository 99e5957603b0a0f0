"""The periodic consistency check: compare Neutron with the controller and repair drift of our origination,
a bounded number of objects per pass, through the journal (a repair row is sent like any other, computed
from Neutron's state when it is sent).

It acts only on two COMPLETE snapshots at known points, and otherwise does nothing (the failure peers hit:
a pass that compared with a half-loaded side "repaired" by creating duplicates or deleting live objects):
- Neutron: everything read in one reader transaction, with no journal row pending (a pending row means the
  controller is legitimately behind), and the journal's last row unchanged when the controller has
  answered (a change recorded meanwhile could already be on the controller);
- the controller: the whole intent as running-config text and its revision, in one consistent read, at a
  revision no older than the last one the journal wrote (a controller still catching up serves an older
  snapshot);
- the L3 plugin loaded when routers drive the logical-routers.
It runs under the journal's lease, so no batch is sent while it compares."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from neutron_lib.db import api as db_api

from podswitch import config as podswitch_config
from podswitch.client import Client
from podswitch.model import Key, Kind

from .. import drift, mapping, view
from . import record, rows

log = logging.getLogger(__name__)


@dataclass
class Report:
    state: str  # skipped | clean | repairing
    reason: str = ""
    revision: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    repaired: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "reason": self.reason,
            "revision": self.revision,
            "counts": self.counts,
            "repaired": self.repaired,
        }


def check(context: Any, client: Client, settings: mapping.Settings, limit: int) -> Report:
    report = _check(context, client, settings, limit)
    with db_api.CONTEXT_WRITER.using(context):
        rows.set_status(context, "last_check", report.as_dict())
    log.info("consistency check: %s %s %s", report.state, report.reason, report.counts)
    return report


def _check(context: Any, client: Client, settings: mapping.Settings, limit: int) -> Report:
    with db_api.CONTEXT_READER.using(context):
        pending, last_seq = rows.unfinished(context)
        if pending:
            return Report("skipped", f"{pending} journal rows are not sent yet")
        try:
            snapshot = view.load_all(context, settings)
        except view.Incomplete as exc:
            return Report("skipped", str(exc))
        wrote = rows.get_status(context, "last_sync")
    want = mapping.desired(snapshot, settings)

    revision, text = client.running_config()
    written = (wrote[0].get("revision") if wrote else None) or 0
    if revision < written:
        return Report(
            "skipped", f"the controller serves revision {revision}, older than {written} the journal wrote", revision
        )
    intent = podswitch_config.parse(text)

    with db_api.CONTEXT_READER.using(context):
        pending, last_now = rows.unfinished(context)
    if pending or last_now != last_seq:
        return Report("skipped", "Neutron changed while the controller was read", revision)

    have = dict(intent.originated(settings.origination))
    system = intent.tenants.get(mapping.SYSTEM)
    lines = system.router.tenant_interfaces if system is not None and system.router is not None else ()
    foreign = [
        Key(Kind.TENANT, tname)
        for tname, tnode in intent.tenants.items()
        if Key(Kind.TENANT, tname) in have
        and any(
            getattr(obj, "origination", None) != settings.origination
            for snode in tnode.segments.values()
            for obj in (snode.segment, *snode.members.values(), *snode.endpoints.values())
        )
    ]
    found = drift.compare(want, have, lines, foreign)
    counts = {
        "missing": len(found.missing),
        "different": len(found.different),
        "extra": len(found.extra),
        "links": len(found.links),
        "kept": len(found.kept),
        "objects": len(want.objects),
    }
    if not len(found):
        return Report("clean", revision=revision, counts=counts)
    tags, old = drift.repairs(want, found, limit)
    with db_api.CONTEXT_WRITER.using(context):
        record.repair(context, tags, old)
    return Report("repairing", revision=revision, counts=counts, repaired=min(limit, len(found)))
