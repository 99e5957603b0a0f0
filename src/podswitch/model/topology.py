"""The physical POD: switches, the links between them, and interface-groups (a server's uplink ports)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field, model_validator

from .types import IfName, IPAddress, Model, Name, model_schema


class Role(StrEnum):
    LEAF = "leaf"
    SPINE = "spine"


class Switch(Model):
    name: Name
    role: Role = Field(description="fabric-role: leaf switches face servers, spines join the leaves")
    management_address: IPAddress | None = None


class Port(Model):
    """One interface of one switch."""

    switch: Name
    interface: IfName

    def __str__(self) -> str:
        return f"{self.switch}:{self.interface}"

    @property
    def sort_key(self) -> tuple[str, str]:
        return (self.switch, self.interface)


class Link(Model):
    """A cable between two switch ports (leaf to spine). Stored with its ends in a canonical order. Its two
    ends are different ports."""

    a: Port
    b: Port

    @model_validator(mode="after")
    def _canonical(self) -> Link:
        if self.a.sort_key == self.b.sort_key:
            raise ValueError(f"a link cannot join {self.a} to itself")
        if self.b.sort_key < self.a.sort_key:
            a, b = self.b, self.a
            object.__setattr__(self, "a", a)
            object.__setattr__(self, "b", b)
        return self

    @property
    def key(self) -> str:
        return f"{self.a}-{self.b}"


class InterfaceGroup(Model):
    """A server's uplinks: one port, or ports on two leaves of a rack pair."""

    # `validate` refuses a group without ports (422): the schema says members is required, not empty.
    model_config = ConfigDict(json_schema_extra=model_schema(required=("members",)))

    name: Name
    members: tuple[Port, ...] = Field(
        default=(),
        description="leaf ports of this group: at least one, each once",
        json_schema_extra={"minItems": 1, "uniqueItems": True},
    )

    @model_validator(mode="after")
    def _canonical(self) -> InterfaceGroup:
        ordered = tuple(sorted(set(self.members), key=lambda p: p.sort_key))
        if len(ordered) != len(self.members) or ordered != self.members:
            if len(ordered) != len(self.members):
                raise ValueError(f"interface-group {self.name} lists a member port twice")
            object.__setattr__(self, "members", ordered)
        return self
