"""Port status from the fabric's *applied* state, through Neutron's provisioning blocks (as networking-odl
does): a bound port gets a block of ours in the transaction that binds it; once the journal has written its
endpoint (at revision R), the block is completed when every leaf of the port's interface-group reports
(`PUT /v1/switches/{leaf}/status`, read back with `GET /v1/switches`) an applied revision of at least R.

It is reconciled, not driven by one event: every pass looks at every port still waiting, so a report missed
while Neutron was restarting, or a leaf that applies late, still ends the wait."""

from __future__ import annotations

import logging
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


def applied(switch: dict[str, Any] | None, revision: int) -> bool:
    status = (switch or {}).get("status") or {}
    return int(status.get("applied_revision") or 0) >= revision


def reconcile(context: Any, client: Client) -> int:
    """Complete the blocks of ports whose leaves applied their endpoint; the number completed."""
    with db_api.CONTEXT_READER.using(context):
        waits = [(w.port_id, w.interface_group, w.revision) for w in context.session.query(PortWait)]
    ready = [(p, g, r) for p, g, r in waits if r is not None]
    if not ready:
        return 0
    switches = {s["name"]: s for s in client.switches()}
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
        if not members or not all(applied(switches.get(leaf), revision) for leaf in members):
            continue
        finish(context, port_id)
        done += 1
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
    """The port is gone (in its delete's transaction)."""
    wait = context.session.get(PortWait, port_id)
    if wait is not None:
        context.session.delete(wait)
