"""A tenant's logical router: gateway interfaces on segments, the link to tenant `system`, static routes
and policy lists."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator

from .types import IPAddress, IPInterface, IPNetwork, Model, Name, PortNumber, Seq, net_sort_key


class SegmentInterface(Model):
    """`interface segment S` with its gateway addresses (`ip address 10.66.16.1/24`)."""

    segment: Name
    ip_addresses: tuple[IPInterface, ...] = ()

    @model_validator(mode="after")
    def _canonical(self) -> SegmentInterface:
        if len(set(self.ip_addresses)) != len(self.ip_addresses):
            raise ValueError(f"interface segment {self.segment} lists an address twice")
        return self


class NextHop(Model):
    """Exactly one of: another tenant (`next-hop tenant system`) or a gateway IP on a connected subnet."""

    tenant: Name | None = None
    ip: IPAddress | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> NextHop:
        if (self.tenant is None) == (self.ip is None):
            raise ValueError("a next-hop is either a tenant or an ip, exactly one of them")
        return self

    def __str__(self) -> str:
        return f"tenant {self.tenant}" if self.tenant is not None else f"ip {self.ip}"


class Route(Model):
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
    """One side of a policy rule: any, a segment of this tenant, or a prefix."""

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
    rules: tuple[PolicyRule, ...] = ()

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

    interfaces: tuple[SegmentInterface, ...] = ()
    tenant_interfaces: tuple[Name, ...] = Field(
        default=(), description="tenants this router links to; a tenant links only to `system`"
    )
    routes: tuple[Route, ...] = ()
    policy_lists: tuple[PolicyList, ...] = ()
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
