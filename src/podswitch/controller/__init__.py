"""The controller layer: the one unit of work every edge (REST API, CLI, lab, integrations) writes through.

`Controller` owns the current intent snapshot, commits (single objects, transactions of operations, a whole
running-config, revert and restore) with their errors, catching up with other controllers sharing the
store, the per-revision compile cache, history reads and switch status. Imports model, config, store and
fabric; never HTTP. The names of the agent contract the API needs to serve it are re-exported here."""

from ..fabric.formats import Unserved, negotiate
from ..fabric.state import FORMAT_HEADER, MAX_LONG_POLL, Sync
from ..model import Delete, Operation, Put
from ..store import StoreUnavailable
from .core import Controller, Outcome, Snapshot, StoreStatus
from .errors import RevisionMismatch
from .operations import OperationError, apply_operations

__all__ = [
    "FORMAT_HEADER",
    "MAX_LONG_POLL",
    "Controller",
    "Delete",
    "Operation",
    "OperationError",
    "Outcome",
    "Put",
    "RevisionMismatch",
    "Snapshot",
    "StoreStatus",
    "StoreUnavailable",
    "Sync",
    "Unserved",
    "apply_operations",
    "negotiate",
]
