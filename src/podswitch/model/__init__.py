"""The intent model: what the operator asked for, validated, with no I/O."""

from .errors import IntentError, InUse, NotFound, Problem
from .intent import MODEL_OF, Intent, Key, Kind, SegmentNode, TenantNode, Topology
from .ops import Change, Delete, Edit, Operation, Put, apply_changes, build, delete, diff, put
from .router import (
    Action,
    LogicalRouter,
    Match,
    NextHop,
    PolicyList,
    PolicyRule,
    PortRange,
    Protocol,
    Route,
    SegmentInterface,
)
from .tenant import SYSTEM, Attachment, Endpoint, Member, Segment, Tenant, member_key
from .topology import InterfaceGroup, Link, Port, Role, Switch
from .types import Model
from .validate import referrers, unresolved, validate

__all__ = [
    "MODEL_OF",
    "SYSTEM",
    "Action",
    "Attachment",
    "Change",
    "Delete",
    "Edit",
    "Endpoint",
    "InUse",
    "Intent",
    "IntentError",
    "InterfaceGroup",
    "Key",
    "Kind",
    "Link",
    "LogicalRouter",
    "Match",
    "Member",
    "Model",
    "NextHop",
    "NotFound",
    "Operation",
    "PolicyList",
    "PolicyRule",
    "Port",
    "PortRange",
    "Problem",
    "Protocol",
    "Put",
    "Role",
    "Route",
    "Segment",
    "SegmentInterface",
    "SegmentNode",
    "Switch",
    "Tenant",
    "TenantNode",
    "Topology",
    "apply_changes",
    "build",
    "delete",
    "diff",
    "member_key",
    "put",
    "referrers",
    "unresolved",
    "validate",
]
