"""Scalar types of the intent model: names, VLANs, MACs, addresses, numbers. Each carries its own validation,
a message an operator can act on, and an OpenAPI schema that admits exactly what the validation admits.

Every value here may end up as one token of the running-config text (docs/config-language.md), so each
type accepts only what renders to exactly one token that reads back as the same value: printable ASCII, no
blanks, no control characters. Addresses and prefixes are strings (or, from Python, `ipaddress` objects),
never JSON booleans or numbers, and never carry an IPv6 zone id (`fe80::1%eth0`): a fabric address has no
scope, and Python's `ipaddress` would take anything after the `%`, blanks and newlines included."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import sys
from collections.abc import Callable
from typing import Annotated, Any, cast

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

IPv4Address = ipaddress.IPv4Address
IPv6Address = ipaddress.IPv6Address
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
_IP_OBJECTS = (ipaddress.IPv4Address, IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network)

_NAME = re.compile(r"[0-9A-Za-z][-.0-9A-Za-z_]{0,63}")
_IFNAME = re.compile(r"[0-9A-Za-z][-.0-9A-Za-z_]{0,14}")
_TOKEN = re.compile(r"[!-~]{1,128}")  # printable ASCII, no blank: a config-text token
_MAC = re.compile(r"[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}")
# The characters of an IPv4 or IPv6 address, and a prefix length in digits. Checked before `ipaddress`
# parses: it would also take a zone id with any text after the `%`, and a netmask after the `/`.
_ADDRESS = re.compile(r"[0-9A-Fa-f.:]{2,45}")
_WITH_LENGTH = re.compile(r"([0-9A-Fa-f.:]{2,45})/[0-9]{1,3}")


def shown(value: Any, limit: int = 60) -> str:
    """A value as an operator wrote it, for a message: text in quotes, JSON literals as JSON."""
    if isinstance(value, str):
        return repr(value[:limit])  # quoted, with control characters and blanks other than space escaped
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, _IP_OBJECTS):
        return f"{type(value).__name__}({str(value)[:limit]!r})"
    return f"a {type(value).__name__}"


def _error(kind: str, message: str, value: Any, **extra: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, "{value} " + message, {"value": shown(value), **extra})


def _name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise _error(
            "name",
            "is not a valid name: use 1-64 letters, digits, '.', '-' or '_', starting with a letter or digit",
            value,
        )
    return value


def _ifname(value: Any) -> str:
    if not isinstance(value, str) or not _IFNAME.fullmatch(value):
        raise _error(
            "interface_name",
            "is not a valid interface name: 1-15 letters, digits, '.', '-' or '_', starting with a letter or digit",
            value,
        )
    return value


def _token(value: Any) -> str:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise _error("token", "must be 1-128 printable ASCII characters without blanks", value)
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


def _whole(value: Any, what: str, kind: str, low: int, high: int) -> int:
    """A whole number from low to high, like a VLAN: an int (not a bool: JSON `true` is no number, though
    Python's bool is an int), or plain ASCII digits (as the config text writes it; int() would also take
    '3_00', '+3', ' 3 ' or other scripts' digits)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | str)
        or (isinstance(value, str) and not (value.isascii() and value.isdigit()))
    ):
        raise PydanticCustomError(
            kind, f"{what} must be a whole number from {low} to {high}, got {{value}}", {"value": shown(value, 20)}
        )
    number = int(value)
    if not low <= number <= high:
        raise PydanticCustomError(kind, f"{what} must be from {low} to {high}, got {{value}}", {"value": number})
    return number


def _port(value: Any) -> int:
    return _whole(value, "port", "port", 1, 65535)


def _seq(value: Any) -> int:
    return _whole(value, "sequence number", "seq", 1, 65535)


def _mac(value: Any) -> str:
    text = value.lower() if isinstance(value, str) else ""
    if not _MAC.fullmatch(text):
        raise _error("mac", "is not a MAC address (like fa:16:3e:ef:4f:f4)", value)
    text = text.replace("-", ":")
    if int(text[:2], 16) & 1:
        raise PydanticCustomError(
            "mac", "'{value}' is a multicast MAC; an endpoint needs a unicast MAC", {"value": text}
        )
    if text == "00:00:00:00:00:00":
        raise PydanticCustomError("mac", "00:00:00:00:00:00 is not a usable MAC")
    return text


def _refused(kind: str, what: str, value: Any, example: str, why: str = "") -> PydanticCustomError:
    """`'x' is not <what>`, and why when it can be told: a JSON boolean or number is not written as a
    string; a zone id is not allowed."""
    if "%" in (value if isinstance(value, str) else str(value) if isinstance(value, _IP_OBJECTS) else ""):
        why = ": a zone id ('%...') is not allowed; a fabric address has no scope"
    elif not isinstance(value, (str, *_IP_OBJECTS)):
        why = f": write it as a string, like {example}"
    return _error(kind, f"is not {what}{why}", value)


def _unscoped(obj: Address | Network | Interface) -> bool:
    """No zone id (`fe80::1%eth0`). IPv4 has none; for IPv6 it is asked of the text (`IPv6Interface.ip` drops
    the zone its interface has). IPv4 first and without `str()`: the parser hands 100,000 endpoint addresses
    over as IPv4Address objects, and formatting each costs a tenth of a second at that scale."""
    if type(obj) in _IPV4:
        return True
    return "%" not in str(obj)


_IPV4 = (IPv4Address, ipaddress.IPv4Network, ipaddress.IPv4Interface)


def _ip(value: Any) -> Address:
    if type(value) in (IPv4Address, IPv6Address):  # not a subclass: an IPv4Interface is an IPv4Address
        if _unscoped(value):
            return cast(Address, value)
    elif isinstance(value, str) and _ADDRESS.fullmatch(value):
        with contextlib.suppress(ValueError):
            return ipaddress.ip_address(value)
    raise _refused("ip", "an IP address", value, '"10.66.16.2"')


def _network(value: Any) -> Network:
    if type(value) in (ipaddress.IPv4Network, ipaddress.IPv6Network):
        if _unscoped(value):
            return cast(Network, value)
    elif isinstance(value, str) and (_ADDRESS.fullmatch(value) or _WITH_LENGTH.fullmatch(value)):
        try:
            return ipaddress.ip_network(value)
        except ValueError as exc:
            if "host bits" in str(exc):
                raise _error("cidr", "is not a valid prefix: it has host bits set", value) from None
    raise _refused("cidr", "a valid prefix", value, '"10.0.0.0/8"', ": it is not a prefix like 10.0.0.0/8")


def _gateway(value: Any) -> Interface:
    iface: Interface | None = None
    if type(value) in (ipaddress.IPv4Interface, ipaddress.IPv6Interface):
        if _unscoped(value):
            iface = cast(Interface, value)
    elif isinstance(value, str) and _WITH_LENGTH.fullmatch(value):
        with contextlib.suppress(ValueError):
            iface = ipaddress.ip_interface(value)
    if iface is None:
        raise _refused(
            "ip_interface", "an address with a prefix length", value, '"10.66.16.1/24"', ", like 10.66.16.1/24"
        )
    net = iface.network
    if net.num_addresses > 2 and iface.ip in (net.network_address, net.broadcast_address) and net.version == 4:
        raise PydanticCustomError(
            "ip_interface",
            "{value} is the network or broadcast address of {net}",
            {"value": str(iface), "net": str(net)},
        )
    return iface


def _scalar(validate: Callable[[Any], Any], schema: dict[str, Any], serialize: Any = None) -> tuple[Any, ...]:
    """Annotated metadata for a scalar: our own validator (one clear message), its OpenAPI schema, and
    how it is written back to JSON."""
    parts: list[Any] = [PlainValidator(validate), WithJsonSchema(schema)]
    if serialize is not None:
        parts.append(PlainSerializer(serialize, return_type=str))
    return tuple(parts)


# The OpenAPI schema of each scalar admits exactly what its validator admits. `ip-prefix` and
# `ip-interface` are formats of our own (JSON Schema has none for them); their description says what they
# mean, and the pattern gives their characters. No schema admits a zone id.
_ADDRESS_CHARS = "[0-9A-Fa-f.:]{2,45}"
NAME_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^[0-9A-Za-z][-.0-9A-Za-z_]{0,63}$"}
IFNAME_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^[0-9A-Za-z][-.0-9A-Za-z_]{0,14}$"}
TOKEN_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^[!-~]{1,128}$"}


def digits_pattern(low: int, high: int) -> str:
    """A regular expression for the whole numbers from `low` to `high` (1 <= low) written in plain ASCII
    digits, leading zeros allowed: what `int()` reads from a digit string (`_whole`, `_vlan`)."""
    alternatives = []
    start = low
    while start <= high:
        step = 1  # the largest power of ten that starts a block at `start` and fits below `high`
        while start % (step * 10) == 0 and start + step * 10 - 1 <= high:
            step *= 10
        count = min((high - start + 1) // step, 10 - start // step % 10)
        first, last = str(start), str(start + count * step - 1)
        fixed = len(first) - len(str(step)) + 1  # digits before the varying one
        varying = first[fixed - 1] if count == 1 else f"[{first[fixed - 1]}-{last[fixed - 1]}]"
        tail = len(str(step)) - 1
        alternatives.append(
            first[: fixed - 1] + varying + ("[0-9]" if tail == 1 else f"[0-9]{{{tail}}}" if tail else "")
        )
        start += count * step
    return f"^0*(?:{'|'.join(alternatives)})$"


# Python's int() reads at most this many digits (leading zeros count): a longer digit string is refused.
_MAX_DIGITS = sys.get_int_max_str_digits() or None


def _whole_schema(low: int, high: int, what: str) -> dict[str, Any]:
    """A whole number from low to high: a JSON integer, or its plain ASCII digits as a string (as the
    running-config text writes it). Not a JSON boolean; not a number with a fraction part, even `.0` (JSON
    Schema's `integer` admits 10.0, which this refuses: see tests/api/test_schemathesis.py)."""
    text: dict[str, Any] = {"type": "string", "pattern": digits_pattern(low, high), "minLength": 1}
    if _MAX_DIGITS:
        text["maxLength"] = _MAX_DIGITS
    return {
        "anyOf": [{"type": "integer", "minimum": low, "maximum": high}, text],
        "description": f"{what}: a whole number from {low} to {high}, written without a fraction part (10, "
        'not 10.0); plain ASCII digits in a string ("10") are taken too',
    }


VLAN_SCHEMA: dict[str, Any] = _whole_schema(1, 4094, "VLAN")
PORT_SCHEMA: dict[str, Any] = _whole_schema(1, 65535, "port")
SEQ_SCHEMA: dict[str, Any] = _whole_schema(1, 65535, "sequence number")
MAC_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "a unicast MAC address, not all zeros; ':' or '-' between the bytes, any case",
    # the low bit of the first byte is 0 (unicast)
    "pattern": "^[0-9a-fA-F][02468aceACE]([:-])[0-9a-fA-F]{2}(\\1[0-9a-fA-F]{2}){4}$",
    "not": {"pattern": "^00([:-])00(\\1(00)){4}$"},
    "example": "fa:16:3e:ef:4f:f4",
}
IP_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "format": "ipv4"},
        {"type": "string", "format": "ipv6", "pattern": f"^{_ADDRESS_CHARS}$"},
    ],
    "description": "an IPv4 or IPv6 address, without a zone id",
    "example": "10.66.16.2",
}
PREFIX_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "ip-prefix",
    "pattern": f"^{_ADDRESS_CHARS}(/[0-9]{{1,3}})?$",
    "description": "format ip-prefix: an IPv4 or IPv6 network as ADDRESS/LENGTH with no host bits set "
    "(10.0.0.0/8, 2001:db8::/32, ::/0); a bare address is a host prefix (/32, /128); no zone id",
    "example": "10.66.16.0/24",
}
INTERFACE_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "ip-interface",
    "pattern": f"^{_ADDRESS_CHARS}/[0-9]{{1,3}}$",
    "description": "format ip-interface: an IPv4 or IPv6 address with the length of its subnet's prefix, "
    "ADDRESS/LENGTH (10.66.16.1/24, 2001:db8::1/64); for IPv4 subnets larger than /31 not the network or "
    "broadcast address; no zone id",
    "example": "10.66.16.1/24",
}

Name = Annotated[str, *_scalar(_name, NAME_SCHEMA)]
IfName = Annotated[str, *_scalar(_ifname, IFNAME_SCHEMA)]
Token = Annotated[str, *_scalar(_token, TOKEN_SCHEMA)]
Vlan = Annotated[int, *_scalar(_vlan, VLAN_SCHEMA)]
PortNumber = Annotated[int, *_scalar(_port, PORT_SCHEMA)]
Seq = Annotated[int, *_scalar(_seq, SEQ_SCHEMA)]
Mac = Annotated[str, *_scalar(_mac, MAC_SCHEMA)]
IPAddress = Annotated[Address, *_scalar(_ip, IP_SCHEMA, str)]
IPNetwork = Annotated[Network, *_scalar(_network, PREFIX_SCHEMA, str)]
IPInterface = Annotated[Interface, *_scalar(_gateway, INTERFACE_SCHEMA, str)]


def model_schema(
    keywords: dict[str, Any] | None = None, *, required: tuple[str, ...] = ()
) -> Callable[[dict[str, Any]], None]:
    """`json_schema_extra` of a model whose schema states more than its fields do: `keywords` (`oneOf`,
    `not`, ...) state rules between fields, and `required` fields have a default in Python but are refused
    when absent (a rule `validate` enforces). Fields a schema leaves out (what a path names) are skipped."""

    def extra(schema: dict[str, Any]) -> None:
        properties = schema.get("properties", {})
        for name in required:
            if name in properties and name not in schema.setdefault("required", []):
                schema["required"].append(name)
                properties[name].pop("default", None)
        schema.update(keywords or {})

    return extra


class Model(BaseModel):
    """Base of every intent object: immutable, strict about unknown fields, compared by value."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def ip_sort_key(addr: Address) -> tuple[int, int]:
    return (addr.version, int(addr))


def net_sort_key(net: Network) -> tuple[int, int, int]:
    return (net.version, int(net.network_address), net.prefixlen)
