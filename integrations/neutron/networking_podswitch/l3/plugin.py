"""The L3 service plugin `podswitch_l3`: Neutron's own router plugin, plus a journal row for every router
change in the router's transaction (the router events' PRECOMMIT callbacks). Router interfaces and gateway
ports are ports: the ML2 driver records those. In l3_mode `router` the rows rewrite the tenant's
logical-router from the project's routers; in `subnet` mode routers change nothing on the fabric."""

from __future__ import annotations

import logging
from typing import Any

from neutron.services.l3_router.l3_router_plugin import L3RouterPlugin
from neutron_lib.callbacks import events, registry, resources

from .. import config
from ..journal import record, worker

log = logging.getLogger(__name__)

_OPERATION = {
    events.PRECOMMIT_CREATE: record.CREATE,
    events.PRECOMMIT_UPDATE: record.UPDATE,
    events.PRECOMMIT_DELETE: record.DELETE,
}


def _router(payload: Any) -> dict[str, Any]:
    """The router an event is about, as {id, project_id} (events carry a dict or a DB object)."""
    state = payload.latest_state if payload.states else payload.desired_state
    if state is None:
        state = payload.desired_state
    get = state.get if isinstance(state, dict) else lambda k, d=None: getattr(state, k, d)
    return {"id": get("id") or payload.resource_id, "project_id": get("project_id") or get("tenant_id")}


class PodswitchL3Plugin(L3RouterPlugin):
    def __init__(self) -> None:
        super().__init__()
        config.register()
        self.settings = config.settings()
        self.journal = worker.get()
        if config.opts().journal_thread:
            self.journal.start()
        for event in _OPERATION:
            registry.subscribe(self._precommit, resources.ROUTER, event)
        for event in (events.AFTER_CREATE, events.AFTER_UPDATE, events.AFTER_DELETE):
            registry.subscribe(self._committed, resources.ROUTER, event)

    def get_plugin_description(self) -> str:
        return "L3 router plugin whose routers drive the podswitch fabric's logical-routers"

    def _precommit(self, resource: str, event: str, trigger: Any, payload: Any) -> None:
        if self.settings.l3_mode != "router":
            return
        record.router(payload.context, _OPERATION[event], _router(payload), self.settings)

    def _committed(self, resource: str, event: str, trigger: Any, payload: Any) -> None:
        self.journal.wake()
