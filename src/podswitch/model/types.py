"""Scalar types of the intent model: names, VLANs, MACs, addresses. Each carries its own validation and
a message an operator can act on."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

_NAME = re.compile(r"[0-9A-Za-z][-.0-9A-Za-z_]{0,63}")
_IFNAME = re.compile(r"[0-9A-Za-z][-.0-9A-Za-z_]{0,14}")
_TOKEN = re.compile(r"[!-~]{1,128}")  # printable ASCII, no blank: a config-text token
_MAC = re.compile(r"[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}")


def _name(value: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise PydanticCustomError(
            "name",
            "'{value}' is not a valid name: use 1-64 letters, digits, '.', '-' or '_', starting with a letter or digit",
            {"value": str(value)[:80]},
        )
    return value


def _ifname(value: str) -> str:
    if not isinstance(value, str) or not _IFNAME.fullmatch(value):
        raise PydanticCustomError(
            "interface_name",
            "'{value}' is not a valid interface name: 1-15 letters, digits, '.', '-' or '_'",
            {"value": str(value)[:80]},
        )
    return value


def _token(value: str) -> str:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise PydanticCustomError(
            "token", "'{value}' must be 1-128 printable characters without blanks", {"value": str(value)[:80]}
        )
    return value


def _vlan(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError("vlan", "VLAN must be a whole number from 1 to 4094")
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        # int() would also take "3_00", "+300", " 300 " or Arabic-Indic digits; a VLAN is written plainly.
        raise PydanticCustomError(
            "vlan", "VLAN must be a whole number from 1 to 4094, got '{value}'", {"value": value[:20]}
        )
    vlan = int(value)
    if not 1 <= vlan <= 4094:
        raise PydanticCustomError("vlan", "VLAN must be from 1 to 4094, got {value}", {"value": vlan})
    return vlan


def _mac(value: Any) -> str:
    text = value.lower() if isinstance(value, str) else ""
    if not _MAC.fullmatch(text):
        raise PydanticCustomError(
            "mac", "'{value}' is not a MAC address (like fa:16:3e:ef:4f:f4)", {"value": str(value)[:40]}
        )
    text = text.replace("-", ":")
    if int(text[:2], 16) & 1:
        raise PydanticCustomError(
            "mac", "'{value}' is a multicast MAC; an endpoint needs a unicast MAC", {"value": text}
        )
    if text == "00:00:00:00:00:00":
        raise PydanticCustomError("mac", "00:00:00:00:00:00 is not a usable MAC")
    return text


def _ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise PydanticCustomError("ip", "'{value}' is not an IP address", {"value": str(value)[:60]}) from None


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value
    try:
        return ipaddress.ip_network(value)
    except ValueError as exc:
        why = "it has host bits set" if "host bits" in str(exc) else "it is not a prefix like 10.0.0.0/8"
        raise PydanticCustomError(
            "cidr", "'{value}' is not a valid prefix: {why}", {"value": str(value)[:60], "why": why}
        ) from None


def _gateway(value: Any) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    if isinstance(value, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return value
    if not isinstance(value, str) or "/" not in value:
        raise PydanticCustomError(
            "ip_interface",
            "'{value}' must be an address with a prefix length, like 10.66.16.1/24",
            {"value": str(value)[:60]},
        )
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        raise PydanticCustomError(
            "ip_interface", "'{value}' is not an address with a prefix length", {"value": str(value)[:60]}
        ) from None
    net = iface.network
    if net.num_addresses > 2 and iface.ip in (net.network_address, net.broadcast_address) and net.version == 4:
        raise PydanticCustomError(
            "ip_interface",
            "{value} is the network or broadcast address of {net}",
            {"value": str(iface), "net": str(net)},
        )
    return iface


def _scalar(validate: Any, schema: dict[str, Any], serialize: Any = None) -> tuple[Any, ...]:
    """Annotated metadata for a scalar: our own validator (one clear message), its OpenAPI schema, and
    how it is written back to JSON."""
    parts: list[Any] = [PlainValidator(validate), WithJsonSchema(schema)]
    if serialize is not None:
        parts.append(PlainSerializer(serialize, return_type=str))
    return tuple(parts)


_NAME_SCHEMA = {"type": "string", "pattern": "^[0-9A-Za-z][-.0-9A-Za-z_]{0,63}$"}
Name = Annotated[str, *_scalar(_name, _NAME_SCHEMA)]
IfName = Annotated[str, *_scalar(_ifname, {"type": "string", "pattern": "^[0-9A-Za-z][-.0-9A-Za-z_]{0,14}$"})]
Token = Annotated[str, *_scalar(_token, {"type": "string", "pattern": "^[!-~]{1,128}$"})]
Vlan = Annotated[int, *_scalar(_vlan, {"type": "integer", "minimum": 1, "maximum": 4094})]
Mac = Annotated[
    str,
    *_scalar(
        _mac, {"type": "string", "pattern": "^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$", "example": "fa:16:3e:ef:4f:f4"}
    ),
]
IPAddress = Annotated[
    ipaddress.IPv4Address | ipaddress.IPv6Address,
    *_scalar(_ip, {"type": "string", "format": "ip", "example": "10.66.16.2"}, str),
]
IPNetwork = Annotated[
    ipaddress.IPv4Network | ipaddress.IPv6Network,
    *_scalar(_network, {"type": "string", "example": "10.66.16.0/24"}, str),
]
IPInterface = Annotated[
    ipaddress.IPv4Interface | ipaddress.IPv6Interface,
    *_scalar(_gateway, {"type": "string", "example": "10.66.16.1/24"}, str),
]


class Model(BaseModel):
    """Base of every intent object: immutable, strict about unknown fields, compared by value."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def ip_sort_key(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[int, int]:
    return (addr.version, int(addr))


def net_sort_key(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int, int]:
    return (net.version, int(net.network_address), net.prefixlen)
