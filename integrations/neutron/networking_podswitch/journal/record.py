"""What the precommits call: one journal row per change, in Neutron's own transaction, and nothing else (no
call to the controller). A row names the Neutron objects the change touched (tags, see `mapping`) and the
podswitch paths where their intent was before (so the sender can remove what Neutron no longer has). The
sender computes what to write when it sends (`send.py`).

Creating a port, the hot path, reads nothing: its row needs no earlier location."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from neutron.db.models import l3 as l3_models
from neutron_lib import constants as n_const

from podswitch.model import Key, Kind, member_key
from podswitch.model.paths import path_of

from .. import mapping, view
from ..db.models import ProjectName
from . import rows

log = logging.getLogger(__name__)

CREATE, UPDATE, DELETE, RENAME = "create", "update", "delete", "rename"


class Names:
    """Tenant and segment names as they are inside the caller's transaction (for `old` paths)."""

    def __init__(self, context: Any, settings: mapping.Settings) -> None:
        self.context = context
        self.settings = settings

    def tenant(self, project_id: str, name: str | None = None) -> str:
        if name is None:
            name = view.project_names(self.context, [project_id]).get(project_id)
        return mapping.tenant_name(project_id, name, self.settings.origination)

    def segments(self, project_id: str, renamed: Mapping[str, str] | None = None) -> dict[str, str]:
        """Segment name of each network of the project (`renamed`: network id -> the name it had)."""
        nets = view.project_networks(self.context, project_id)
        for net in nets:
            if renamed and net["id"] in renamed:
                net["name"] = renamed[net["id"]]
        return mapping.segment_names(nets)


def _add(
    context: Any,
    object_type: str,
    object_id: str,
    operation: str,
    parents: Iterable[str],
    tags: Iterable[str],
    old: Iterable[Key] = (),
) -> None:
    rows.insert(context.session, object_type, object_id, operation, parents, tags, (path_of(k) for k in old))
    log.debug("journal: recorded %s %s %s", operation, object_type, object_id)


# What the mapping reads of each kind: an update that changes none of it (a port's status, a description)
# records nothing, so a VM's boot is a create and a binding, not also every status change.
_MAPPED = {
    "network": ("name", "project_id", "provider:physical_network", "provider:segmentation_id", "segments"),
    "subnet": ("gateway_ip", "cidr", "network_id"),
    "port": ("network_id", "fixed_ips", "mac_address", "device_owner", "device_id", "binding:host_id"),
}


def unchanged(kind: str, current: Mapping[str, Any], original: Mapping[str, Any] | None) -> bool:
    return original is not None and all(current.get(f) == original.get(f) for f in _MAPPED[kind])


def _guarded(where: Callable[[], list[Key]], obj: Mapping[str, Any]) -> list[Key]:
    """Where an object's intent was, or nothing when that cannot be worked out: the row is recorded anyway
    (it rewrites what Neutron has), the Neutron call goes on, and the consistency check removes leftovers."""
    try:
        return where()
    except Exception:
        log.exception("journal: where the intent of %s was is unknown; recording the change without it", obj.get("id"))
        return []


def learn_project_name(context: Any, project_id: str, settings: mapping.Settings) -> None:
    """Remember the name the request's context gives its own project (Keystone's, via keystonemiddleware);
    a different name than before is a rename: the tenant moves to its new name."""
    name = getattr(context, "project_name", None)
    if not name or not project_id or getattr(context, "project_id", None) != project_id:
        return
    row = context.session.get(ProjectName, project_id)
    if row is None:
        with context.session.begin_nested():
            context.session.add(ProjectName(project_id=project_id, name=name))
    elif row.name != name:
        rename_project(context, project_id, row.name, name, settings)


def rename_project(
    context: Any, project_id: str, old_name: str | None, new_name: str, settings: mapping.Settings
) -> None:
    """The project is now called `new_name`: its tenant (everything in it) moves to the new tenant name."""
    names = Names(context, settings)
    old = Key(Kind.TENANT, names.tenant(project_id, old_name))
    row = context.session.get(ProjectName, project_id)
    if row is None:
        context.session.add(ProjectName(project_id=project_id, name=new_name))
    else:
        row.name = new_name
    _add(context, "project", project_id, RENAME, [project_id], [f"tenant:{project_id}"], [old])


def network(
    context: Any,
    operation: str,
    current: Mapping[str, Any],
    original: Mapping[str, Any] | None,
    settings: mapping.Settings,
) -> None:
    project = mapping.project_of(current)
    learn_project_name(context, project, settings)
    if operation == UPDATE and unchanged("network", current, original):
        return
    # project:P rewrites the tenant and its segments; a segment whose name changed moves with everything in
    # it (network:N). Not otherwise: a port's member that the fabric refuses must not hold its network back.
    tags = [f"project:{project}"]

    def where() -> list[Key]:
        names = Names(context, settings)
        tenant = names.tenant(project)
        old = [Key(Kind.TENANT, tenant), Key(Kind.LOGICAL_ROUTER, tenant)]
        if operation != CREATE:
            now = names.segments(project)[current["id"]]
            old.append(Key(Kind.SEGMENT, tenant, now))
            if original is not None and original.get("name") != current.get("name"):
                before = names.segments(project, {current["id"]: original.get("name") or ""})[current["id"]]
                if before != now:
                    old.append(Key(Kind.SEGMENT, tenant, before))
                    tags.append(f"network:{current['id']}")
        return old

    old = _guarded(where, current)
    _add(context, "network", current["id"], operation, [project], tags, old)


def subnet(
    context: Any,
    operation: str,
    current: Mapping[str, Any],
    network_project: str,
    settings: mapping.Settings,
    original: Mapping[str, Any] | None = None,
) -> None:
    """A subnet changes its tenant's logical-router (its gateway, in either l3 mode)."""
    if operation == UPDATE and unchanged("subnet", current, original):
        return
    names = Names(context, settings)
    old = [Key(Kind.LOGICAL_ROUTER, names.tenant(network_project))]
    parents = [current["network_id"], network_project]
    _add(context, "subnet", current["id"], operation, parents, [f"project:{network_project}"], old)


def _router_project(context: Any, port: Mapping[str, Any] | None) -> str | None:
    if not port or port.get("device_owner") not in mapping.ROUTER_INTERFACE_OWNERS or not port.get("device_id"):
        return None
    project = context.session.query(l3_models.Router.project_id).filter_by(id=port["device_id"]).scalar()
    return str(project) if project else None


def _vlan(segment: Mapping[str, Any] | None) -> int | None:
    if segment and segment.get("network_type") == n_const.TYPE_VLAN and segment.get("segmentation_id"):
        return int(segment["segmentation_id"])
    return None


def port(
    context: Any,
    operation: str,
    current: Mapping[str, Any],
    original: Mapping[str, Any] | None,
    network_project: str,
    bound: tuple[str | None, int | None],
    was_bound: tuple[str | None, int | None],
    settings: mapping.Settings,
) -> None:
    """`bound`/`was_bound`: (host, VLAN of the bottom bound segment) now and before the change."""
    if operation == UPDATE and bound == was_bound and unchanged("port", current, original):
        return
    net_id = current["network_id"]
    parents = {net_id, network_project}
    tags = {f"port:{current['id']}"}
    tags |= {f"member:{net_id}:{host}" for host, _ in (bound, was_bound) if host}
    routers = set()
    if settings.l3_mode == "router":
        routers = {p for p in (_router_project(context, current), _router_project(context, original)) if p}
    parents |= routers
    tags |= {f"project:{p}" for p in routers}
    # Where the port's intent was, when it may no longer be wanted there: read only then (creating and
    # binding a port, the hot path, reads nothing more).
    before = (
        {was_bound, bound}
        if operation == DELETE
        else {was_bound}
        if operation == UPDATE and was_bound != bound
        else set()
    )
    members = sorted((h, v) for h, v in before if h and v and mapping.is_name(h))
    endpoint = operation == DELETE and not mapping.is_router_port(current)

    def where() -> list[Key]:
        old: list[Key] = []
        names = Names(context, settings)
        if members or endpoint:
            tenant, segment = names.tenant(network_project), names.segments(network_project)[net_id]
            old += [Key(Kind.MEMBER, tenant, segment, member_key(h, v)) for h, v in members]
            old += [Key(Kind.ENDPOINT, tenant, segment, current["id"])] if endpoint else []
        return old + [Key(Kind.LOGICAL_ROUTER, names.tenant(p)) for p in routers]

    old = _guarded(where, current) if members or endpoint or routers else []
    _add(context, "port", current["id"], operation, parents, tags, old)


def router(context: Any, operation: str, current: Mapping[str, Any], settings: mapping.Settings) -> None:
    project = mapping.project_of(current)
    if not project:
        return
    learn_project_name(context, project, settings)
    names = Names(context, settings)
    tenant = names.tenant(project)
    old = [Key(Kind.LOGICAL_ROUTER, tenant), Key(Kind.TENANT, tenant)]
    _add(context, "router", current["id"], operation, [project], [f"project:{project}"], old)


def repair(context: Any, tags: Iterable[str], old: Iterable[Key]) -> None:
    """A row of the consistency check: rewrite these objects from Neutron, remove these extra ones. It waits
    for nothing (no row was pending when the check compared) and nothing waits for it."""
    _add(context, "repair", "-", "repair", (), tags, old)
