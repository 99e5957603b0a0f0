"""Device, namespace and address naming for the data plane. Linux interface names have at most 15
characters, so names are built from the small numbers `allocate` hands out; where a name comes from an
operator's port name and would not fit, a short stable hash stands in."""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from functools import lru_cache

IFNAMSIZ = 15

LOOPBACK_POOL = ipaddress.IPv4Network("10.255.0.0/16")
P2P_POOL = ipaddress.IPv4Network("10.254.0.0/16")
# Tenant <-> system links (/31 each) and the system transit network share 169.254.0.0/16.
TENANT_LINK_POOL = ipaddress.IPv4Network("169.254.0.0/17")
TRANSIT_NET = ipaddress.IPv4Network("169.254.128.0/17")
TRANSIT_VNI = 9999
SYSTEM_SLICE = "sys"
SYSTEM_LINK = "sys"  # the tenant slice's end of its link to the system slice


def bridge(vni: int) -> str:
    return f"br{vni}"


def vxlan(vni: int) -> str:
    return f"vx{vni}"


def gateway_if(vni: int) -> str:
    """The router slice's leg into segment `vni` (holds the anycast gateway)."""
    return f"g{vni}"


def gateway_peer(vni: int) -> str:
    """The bridge-side end of that leg, in the switch namespace."""
    return f"r{vni}"


def tenant_slice(index: int) -> str:
    return f"t{index}"


def system_link_if(tenant_index: int) -> str:
    """The system slice's end of its link to tenant `tenant_index`."""
    return f"t{tenant_index}"


def _port_stem(port: str, vlan: int) -> str:
    if len(port) + 1 + len(str(vlan)) <= IFNAMSIZ:
        return port
    return "p" + hashlib.blake2s(port.encode(), digest_size=3).hexdigest()


@lru_cache(maxsize=65536)
def subif(port: str, vlan: int) -> str:
    """Stands for the 802.1Q sub-interface `port.vlan` (bridge member)."""
    return f"{_port_stem(port, vlan)}.{vlan}"


@lru_cache(maxsize=65536)
def shim(port: str, vlan: int) -> str:
    """The veth peer of `subif` where the tag is pushed on the way out."""
    return f"{_port_stem(port, vlan)}~{vlan}"


def ip_text(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """`str(ip)`, for the hundred thousand endpoint addresses a compile writes: `ipaddress` formats an IPv4
    address in Python (0.95 us), `inet_ntoa` in C (0.39 us), to the same text."""
    return socket.inet_ntoa(ip.packed) if isinstance(ip, ipaddress.IPv4Address) else str(ip)


def loopback(switch_index: int) -> ipaddress.IPv4Address:
    return LOOPBACK_POOL.network_address + switch_index


def p2p(link_index: int) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """(spine end, leaf end) of link `link_index`'s /31."""
    base = P2P_POOL.network_address + 2 * link_index
    return base, base + 1


def tenant_link(tenant_index: int) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """(system end, tenant end) of tenant `tenant_index`'s /31 to the system slice."""
    base = TENANT_LINK_POOL.network_address + 2 * tenant_index
    return base, base + 1


def transit_ip(switch_index: int) -> ipaddress.IPv4Address:
    return TRANSIT_NET.network_address + switch_index


def transit_mac(switch_index: int) -> str:
    return f"02:70:73:01:{switch_index >> 8 & 0xFF:02x}:{switch_index & 0xFF:02x}"
