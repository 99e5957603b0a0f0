"""The controller layer: the one unit of work every edge (REST API, CLI, lab, integrations) writes through.

`Controller` owns the current intent snapshot, commits (single objects, transactions of operations, a whole
running-config, revert and restore) with their errors, catching up with other controllers sharing the
store, the per-revision compile cache, history reads and switch status. Imports model, config, store and
fabric; never HTTP. The names of the agent contract the API needs to serve it are re-exported here."""

from ..fabric.delta import DELTA_IM
from ..fabric.formats import Served, Unserved, negotiate
from ..fabric.state import (
    FORMAT,
    FORMAT_HEADER,
    MAX_LONG_POLL,
    MAX_STATUS_HEADER,
    STATUS_HEADER,
    STATUS_REPORT_HEADER,
    Sync,
)
from ..model import Delete, Operation, Put
from ..store import StoreUnavailable
from .core import Controller, Delta, Outcome, Snapshot, StoreStatus
from .errors import RevisionMismatch
from .operations import OperationError, apply_operations

__all__ = [
    "DELTA_IM",
    "FORMAT",
    "FORMAT_HEADER",
    "MAX_LONG_POLL",
    "MAX_STATUS_HEADER",
    "STATUS_HEADER",
    "STATUS_REPORT_HEADER",
    "Controller",
    "Delete",
    "Delta",
    "Operation",
    "OperationError",
    "Outcome",
    "Put",
    "RevisionMismatch",
    "Served",
    "Snapshot",
    "StoreStatus",
    "StoreUnavailable",
    "Sync",
    "Unserved",
    "apply_operations",
    "negotiate",
]
