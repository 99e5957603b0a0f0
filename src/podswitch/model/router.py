"""A tenant's logical router: gateway interfaces on segments, the link to tenant `system`, static routes
and policy lists."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from .types import IPAddress, IPInterface, IPNetwork, Model, Name, PortNumber, Seq, model_schema, net_sort_key

_UNIQUE: JsonDict = {"uniqueItems": True}


def _given(*fields: str, **schema: Any) -> dict[str, Any]:
    """A schema that holds when each of `fields` is present and not null, and is `schema` then."""
    return {"required": list(fields), "properties": {f: schema for f in fields}}


class SegmentInterface(Model):
    """`interface segment S` with its gateway addresses (`ip address 10.66.16.1/24`)."""

    segment: Name
    ip_addresses: tuple[IPInterface, ...] = Field(
        default=(), description="each address once", json_schema_extra=_UNIQUE
    )

    @model_validator(mode="after")
    def _canonical(self) -> SegmentInterface:
        if len(set(self.ip_addresses)) != len(self.ip_addresses):
            raise ValueError(f"interface segment {self.segment} lists an address twice")
        return self


class NextHop(Model):
    """Exactly one of: another tenant (`next-hop tenant system`) or a gateway IP on a connected subnet."""

    model_config = ConfigDict(
        json_schema_extra=model_schema({"oneOf": [_given("tenant", type="string"), _given("ip", type="string")]})
    )

    tenant: Name | None = None
    ip: IPAddress | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> NextHop:
        if (self.tenant is None) == (self.ip is None):
            raise ValueError("a next-hop is either a tenant or an ip, exactly one of them")
        return self

    def __str__(self) -> str:
        return f"tenant {self.tenant}" if self.tenant is not None else f"ip {self.ip}"


# A next-hop address is of the prefix's IP version (`validate` refuses others, 422). IPv6 text, and only
# IPv6 text, has a ':'.
_V4, _V6 = {"pattern": "^[^:]*$"}, {"pattern": ":"}
_SAME_VERSION = [
    {"properties": {"next_hop": {"properties": {"ip": {"type": "null"}}}}},
    {"properties": {"prefix": _V4, "next_hop": {"properties": {"ip": _V4}}}},
    {"properties": {"prefix": _V6, "next_hop": {"properties": {"ip": _V6}}}},
]


class Route(Model):
    """A static route. A next-hop ip is of the prefix's IP version."""

    model_config = ConfigDict(json_schema_extra=model_schema({"anyOf": _SAME_VERSION}))

    prefix: IPNetwork
    next_hop: NextHop


class Action(StrEnum):
    PERMIT = "permit"
    DENY = "deny"


class Protocol(StrEnum):
    ANY = "any"
    TCP = "tcp"
    UDP = "udp"
    ICMP = "icmp"


class Match(Model):
    """One side of a policy rule: any, a segment of this tenant, or a prefix (not both)."""

    model_config = ConfigDict(json_schema_extra=model_schema({"not": _given("segment", "cidr", type="string")}))

    segment: Name | None = None
    cidr: IPNetwork | None = None

    @model_validator(mode="after")
    def _at_most_one(self) -> Match:
        if self.segment is not None and self.cidr is not None:
            raise ValueError("match either a segment or a cidr, not both")
        return self

    def __str__(self) -> str:
        if self.segment is not None:
            return f"segment {self.segment}"
        if self.cidr is not None:
            return f"cidr {self.cidr}"
        return "any"


class PortRange(Model):
    """Ports first to last; last is not below first."""

    first: PortNumber
    last: PortNumber

    @model_validator(mode="after")
    def _ordered(self) -> PortRange:
        if self.last < self.first:
            raise ValueError(f"port range {self.first}-{self.last} ends before it starts")
        return self

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


class PolicyRule(Model):
    """Ports are matched only with protocol tcp or udp."""

    model_config = ConfigDict(
        json_schema_extra=model_schema(
            {
                "anyOf": [
                    _given("protocol", enum=["tcp", "udp"]),
                    {"properties": {"src_port": {"type": "null"}, "dst_port": {"type": "null"}}},
                ]
            }
        )
    )

    seq: Seq = Field(description="rules are evaluated in ascending seq; first match wins")
    action: Action
    protocol: Protocol = Protocol.ANY
    src: Match = Match()
    dst: Match = Match()
    src_port: PortRange | None = None
    dst_port: PortRange | None = None

    @model_validator(mode="after")
    def _ports_need_l4(self) -> PolicyRule:
        if (self.src_port or self.dst_port) and self.protocol not in (Protocol.TCP, Protocol.UDP):
            raise ValueError(f"rule {self.seq}: ports can only be matched with protocol tcp or udp")
        return self


class PolicyList(Model):
    name: Name
    rules: tuple[PolicyRule, ...] = Field(default=(), description="each with a seq of its own")

    @model_validator(mode="after")
    def _by_seq(self) -> PolicyList:
        seqs = [r.seq for r in self.rules]
        if len(set(seqs)) != len(seqs):
            raise ValueError(f"policy-list {self.name} has two rules with the same seq")
        if seqs != sorted(seqs):
            object.__setattr__(self, "rules", tuple(sorted(self.rules, key=lambda r: r.seq)))
        return self


class LogicalRouter(Model):
    """The tenant's router. It exists on every leaf that has one of the tenant's segments (anycast)."""

    interfaces: tuple[SegmentInterface, ...] = Field(default=(), description="one per segment")
    tenant_interfaces: tuple[Name, ...] = Field(
        default=(),
        description="tenants this router links to, each once: a tenant links only to `system`; `system` links "
        "to other tenants",
        json_schema_extra=_UNIQUE,
    )
    routes: tuple[Route, ...] = Field(default=(), description="one per prefix")
    policy_lists: tuple[PolicyList, ...] = Field(default=(), description="each with a name of its own")
    applied_policy_list: Name | None = Field(
        default=None, description="policy-list applied to routed traffic; none applied permits all"
    )

    @model_validator(mode="after")
    def _canonical(self) -> LogicalRouter:
        def canon(attr: str, key: Callable[[Any], Any], what: str) -> None:
            items = getattr(self, attr)
            keys = [key(i) for i in items]
            if len(set(keys)) != len(keys):
                raise ValueError(f"{what} is listed twice")
            if keys != sorted(keys):
                object.__setattr__(self, attr, tuple(sorted(items, key=key)))

        canon("interfaces", lambda i: i.segment, "an interface segment")
        canon("tenant_interfaces", lambda t: t, "an interface tenant")
        canon("routes", lambda r: net_sort_key(r.prefix), "a route prefix")
        canon("policy_lists", lambda p: p.name, "a policy-list name")
        return self

    def interface(self, segment: str) -> SegmentInterface | None:
        for iface in self.interfaces:
            if iface.segment == segment:
                return iface
        return None

    def policy_list(self, name: str) -> PolicyList | None:
        for pl in self.policy_lists:
            if pl.name == name:
                return pl
        return None
