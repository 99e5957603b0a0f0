"""Port status from the fabric's *applied* state, through Neutron's provisioning blocks (as networking-odl
does): a bound port gets a block of ours in the transaction that binds it; once the journal has written its
endpoint (at revision R), the block is completed when every leaf of the port's interface-group reports
(`PUT /v1/switches/{leaf}/status`, read back with `GET /v1/switches`) an applied revision of at least R.

It is reconciled, not driven by one event: the ports still waiting are looked at again whenever a leaf
reports another applied revision, after this process sent endpoints, and every FULL_EVERY seconds anyway, so
a report missed while Neutron was restarting, or a leaf that applies late, still ends the wait."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from neutron.db import provisioning_blocks
from neutron.objects import provisioning_blocks as pb_obj
from neutron.plugins.ml2 import db as ml2_db  # noqa: F401  (registers the port model for blocks)
from neutron_lib import constants as n_const
from neutron_lib.callbacks import resources
from neutron_lib.db import api as db_api

from podswitch.client import Client, Missing
from podswitch.model import Endpoint, InterfaceGroup, Key, Kind, Operation, Put

from ..db.models import PortWait

log = logging.getLogger(__name__)

ENTITY = "podswitch"
# Ports Neutron itself serves (DHCP, routers...) get no block from the L2 agent either.
_NO_BLOCK_PREFIX = "network:"


def block(context: Any, port: dict[str, Any], host: str | None, vlan: int | None) -> None:
    """In the binding's transaction: hold the port DOWN until the fabric applied its endpoint."""
    if not host or not vlan or str(port.get("device_owner") or "").startswith(_NO_BLOCK_PREFIX):
        return
    if port.get("status") == n_const.PORT_STATUS_ACTIVE:
        return
    provisioning_blocks.add_provisioning_component(context, port["id"], resources.PORT, ENTITY)
    wait = context.session.get(PortWait, port["id"])
    if wait is None:
        context.session.add(PortWait(port_id=port["id"], interface_group=host, revision=None))
    else:
        wait.interface_group, wait.revision = host, None


def sent(context: Any, operations: Iterable[Operation], revision: int | None) -> None:
    """After a transaction applied: the waiting ports whose endpoint it wrote wait for `revision`."""
    if revision is None:
        return
    groups = {
        op.key.name: op.obj.attachment_point.interface_group
        for op in operations
        if isinstance(op, Put)
        and op.key.kind == Kind.ENDPOINT
        and isinstance(op.obj, Endpoint)
        and op.obj.attachment_point is not None
    }
    if not groups:
        return
    with db_api.CONTEXT_WRITER.using(context):
        for wait in context.session.query(PortWait).filter(PortWait.port_id.in_(sorted(groups))):
            if wait.interface_group == groups[wait.port_id]:
                wait.revision = revision


def applied_revision(switch: dict[str, Any] | None) -> int:
    """The revision a switch (as `GET /v1/switches` lists it) last reported applied; 0 if none."""
    status = (switch or {}).get("status") or {}
    return int(status.get("applied_revision") or 0)


FULL_EVERY = 30.0  # seconds: a pass looks at every ready port at least this often, changed reports or not


class Reconciler:
    """Completes the blocks of ports whose leaves applied their endpoint, on every pass of the journal.

    A pass costs one query that finds whether any port waits on a revision, and `GET /v1/switches`. The
    waiting ports are read only when something could have ended a wait — a leaf reported another applied
    revision, this process sent endpoints, or FULL_EVERY seconds went by (the topology changed under a
    leaf, or another process sent) — and only those waiting for a revision some leaf has reached. Reading
    every waiting port (and its interface-group) on every pass made the lease holder's work per pass grow
    with the ports that wait, e.g. on hosts the fabric does not carry."""

    def __init__(self) -> None:
        self.applied: dict[str, int] | None = None  # leaf -> applied revision at the last full look
        self.dirty = True  # endpoints were sent since
        self.full_at = 0.0
        self.looked_at = 0  # waiting ports read so far (for tests: the cost of the passes)

    def sent(self) -> None:
        self.dirty = True

    def reconcile(self, context: Any, client: Client) -> int:
        """Complete the blocks of ports whose leaves applied their endpoint; the number completed."""
        with db_api.CONTEXT_READER.using(context):
            waiting = context.session.query(PortWait.port_id).filter(PortWait.revision.isnot(None)).first()
        if waiting is None:
            return 0
        switches = {s["name"]: s for s in client.switches()}
        applied = {name: applied_revision(s) for name, s in switches.items()}
        now = time.monotonic()
        if applied == self.applied and not self.dirty and now < self.full_at:
            return 0
        top = max(applied.values(), default=0)
        with db_api.CONTEXT_READER.using(context):
            ready = [
                (w.port_id, w.interface_group, int(w.revision))
                for w in context.session.query(PortWait).filter(PortWait.revision.isnot(None), PortWait.revision <= top)
            ]
        self.looked_at += len(ready)
        leaves: dict[str, set[str] | None] = {}
        done = 0
        for port_id, group, revision in ready:
            if group not in leaves:
                try:
                    found = client.get_object(Key(Kind.INTERFACE_GROUP, name=group))
                    assert isinstance(found, InterfaceGroup)
                    leaves[group] = {p.switch for p in found.members}
                except Missing:
                    leaves[group] = None  # not in the topology (yet): the fabric cannot carry it
            members = leaves[group]
            if not members or not all(applied.get(leaf, 0) >= revision for leaf in members):
                continue
            finish(context, port_id)
            done += 1
        self.applied, self.dirty, self.full_at = applied, False, now + FULL_EVERY
        return done


def finish(context: Any, port_id: str) -> None:
    """Our part of the port's provisioning is done: complete our block (only ours: with none left Neutron
    sets the port ACTIVE) and stop waiting."""
    with db_api.CONTEXT_WRITER.using(context):
        wait = context.session.get(PortWait, port_id)
        if wait is not None:
            context.session.delete(wait)
    if is_blocked_by_us(context, port_id):
        provisioning_blocks.provisioning_complete(context, port_id, resources.PORT, ENTITY)
        log.info("port %s: its leaves applied its endpoint; provisioning complete", port_id)


def is_blocked_by_us(context: Any, port_id: str) -> bool:
    with db_api.CONTEXT_READER.using(context):
        standard_attr_id = provisioning_blocks._get_standard_attr_id(context, port_id, resources.PORT)
        return bool(
            standard_attr_id
            and pb_obj.ProvisioningBlock.objects_exist(context, standard_attr_id=standard_attr_id, entity=ENTITY)
        )


def forget(context: Any, port_id: str) -> None:
    """The port is gone (in its delete's transaction): one DELETE, nothing read."""
    context.session.query(PortWait).filter(PortWait.port_id == port_id).delete(synchronize_session=False)
