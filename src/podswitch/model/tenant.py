"""Tenants and their layer-2 world: segments, members (interface-group + VLAN) and endpoints."""

from __future__ import annotations

from pydantic import Field, model_validator

from .types import IPAddress, Mac, Model, Name, Token, Vlan

SYSTEM = "system"


class Tenant(Model):
    name: Name
    id: Token | None = Field(default=None, description="the orchestrator's id (a Neutron project id)")
    origination: Token | None = Field(default=None, description="who created it, e.g. openstack")


class Segment(Model):
    """A layer-2 network (a Neutron network)."""

    name: Name
    id: Token | None = None
    origination: Token | None = None


class Attachment(Model):
    """Where a segment reaches a server: an interface-group and the VLAN tag on its ports."""

    interface_group: Name
    vlan: Vlan

    def __str__(self) -> str:
        return f"interface-group {self.interface_group} vlan {self.vlan}"


class Member(Model):
    """`member interface-group G vlan V`: G's ports carry the segment tagged with V."""

    interface_group: Name
    vlan: Vlan
    origination: Token | None = None

    @property
    def key(self) -> str:
        return member_key(self.interface_group, self.vlan)

    @property
    def attachment(self) -> Attachment:
        return Attachment(interface_group=self.interface_group, vlan=self.vlan)


def member_key(interface_group: str, vlan: int) -> str:
    return f"{interface_group}:{vlan}"


class Endpoint(Model):
    """A host on a segment (a Neutron port): where it attaches, its addresses and MAC."""

    id: Name
    attachment_point: Attachment | None = None
    ips: tuple[IPAddress, ...] = Field(
        default=(), description="each address once", json_schema_extra={"uniqueItems": True}
    )
    mac: Mac | None = None
    origination: Token | None = None

    @model_validator(mode="after")
    def _unique_ips(self) -> Endpoint:
        if len(set(self.ips)) != len(self.ips):
            raise ValueError("an IP address is listed twice")
        return self
