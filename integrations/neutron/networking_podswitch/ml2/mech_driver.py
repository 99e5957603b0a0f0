"""The ML2 mechanism driver `podswitch`: records networks, subnets and ports in the journal, in Neutron's
transaction (precommit), and wakes the journal after the commit (postcommit). It binds no port: it runs
beside the `openvswitch` driver, which does; a port's VLAN is the one that driver bound it on."""

from __future__ import annotations

import logging
from typing import Any

from neutron_lib.plugins.ml2 import api

from .. import config
from ..journal import port_status, record, worker

log = logging.getLogger(__name__)


def _project(context: Any) -> str:
    """The project whose tenant holds a subnet's or port's intent: its network's."""
    from ..mapping import project_of

    return project_of(context.network.current)


def _binding(context: Any, original: bool = False) -> tuple[str | None, int | None]:
    host = context.original_host if original else context.host
    segment = context.original_bottom_bound_segment if original else context.bottom_bound_segment
    return host or None, record._vlan(segment)


class PodswitchMechanismDriver(api.MechanismDriver):
    def initialize(self) -> None:
        self.opts = config.opts()
        self.settings = config.settings()
        self.journal = worker.get()
        if self.opts.journal_thread:
            self.journal.start()
        log.info("podswitch mechanism driver: controllers %s, origination %s", self.opts.url, self.settings.origination)

    def get_workers(self) -> list[Any]:
        return [] if self.opts.journal_thread else [worker.JournalWorker()]

    # ---- networks -------------------------------------------------------------------------------

    def create_network_precommit(self, context: Any) -> None:
        record.network(context._plugin_context, record.CREATE, context.current, None, self.settings)

    def update_network_precommit(self, context: Any) -> None:
        record.network(context._plugin_context, record.UPDATE, context.current, context.original, self.settings)

    def delete_network_precommit(self, context: Any) -> None:
        record.network(context._plugin_context, record.DELETE, context.current, None, self.settings)

    # ---- subnets --------------------------------------------------------------------------------

    def create_subnet_precommit(self, context: Any) -> None:
        record.subnet(context._plugin_context, record.CREATE, context.current, _project(context), self.settings)

    def update_subnet_precommit(self, context: Any) -> None:
        record.subnet(
            context._plugin_context, record.UPDATE, context.current, _project(context), self.settings, context.original
        )

    def delete_subnet_precommit(self, context: Any) -> None:
        record.subnet(context._plugin_context, record.DELETE, context.current, _project(context), self.settings)

    # ---- ports ----------------------------------------------------------------------------------

    def _port(self, context: Any, operation: str) -> tuple[tuple[str | None, int | None], ...]:
        """Record the port; (host, VLAN) it is bound to now and was before."""
        bound = _binding(context)
        was = {record.CREATE: (None, None), record.DELETE: bound}.get(operation) or _binding(context, original=True)
        original = context.original if operation == record.UPDATE else None
        plugin_context = context._plugin_context
        record.port(plugin_context, operation, context.current, original, _project(context), bound, was, self.settings)
        return bound, was

    def create_port_precommit(self, context: Any) -> None:
        self._block(context, *self._port(context, record.CREATE))

    def update_port_precommit(self, context: Any) -> None:
        self._block(context, *self._port(context, record.UPDATE))

    def delete_port_precommit(self, context: Any) -> None:
        self._port(context, record.DELETE)
        port_status.forget(context._plugin_context, context.current["id"])

    def _block(self, context: Any, bound: tuple[str | None, int | None], was: tuple[str | None, int | None]) -> None:
        if self.opts.port_status and bound != was and bound[0] and bound[1]:
            port_status.block(context._plugin_context, context.current, bound[0], bound[1])

    # ---- after the commit -----------------------------------------------------------------------

    def _wake(self, context: Any) -> None:
        self.journal.wake()

    create_network_postcommit = update_network_postcommit = delete_network_postcommit = _wake
    create_subnet_postcommit = update_subnet_postcommit = delete_subnet_postcommit = _wake
    create_port_postcommit = update_port_postcommit = delete_port_postcommit = _wake

    def bind_port(self, context: Any) -> None:
        """Binding is the L2 agent's driver's job (openvswitch): nothing to do here."""
