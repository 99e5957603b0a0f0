"""Hypothesis strategies for the intent model, shared by the model, config, store and API tests.

`intents()` draws a whole *valid* intent (it passes `podswitch.model.validate`): a leaf-spine topology with
links and interface-groups, tenants with logical routers (segment interfaces, `interface tenant system`,
routes, policy-lists), segments whose endpoints sit inside their router subnets, and (interface-group, VLAN)
claims that never clash. Smaller strategies (`names`, `tokens`, `macs`, ...) are the model's scalar types.

`large_intent()` is not a strategy: it builds the deterministic 1,000-tenant / 100,000-endpoint intent the
benchmarks use."""

from __future__ import annotations

import ipaddress
import operator
import string
from collections.abc import Callable
from typing import Any, NamedTuple

from hypothesis import strategies as st

from podswitch import config
from podswitch.model import (
    SYSTEM,
    Action,
    Attachment,
    Endpoint,
    Intent,
    InterfaceGroup,
    Key,
    Kind,
    Link,
    LogicalRouter,
    Match,
    Member,
    NextHop,
    PolicyList,
    PolicyRule,
    Port,
    PortRange,
    Protocol,
    Role,
    Route,
    Segment,
    SegmentInterface,
    Switch,
    Tenant,
    build,
)

_ALNUM = string.ascii_letters + string.digits
names = st.builds(operator.add, st.sampled_from(_ALNUM), st.text(_ALNUM + "-._", max_size=63))
"""Object names: tenants, segments, endpoint ids, switches, interface-groups, policy-lists."""
ifnames = st.builds(operator.add, st.sampled_from(_ALNUM), st.text(_ALNUM + "-._", max_size=14))
"""Switch interface names (Linux limits them to 15 characters)."""
tokens = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=128)
"""`id` / `origination` values: printable ASCII without blanks."""
vlans = st.integers(1, 4094)
macs = (
    st.tuples(st.integers(0, 127).map(lambda b: b * 2), st.binary(min_size=5, max_size=5))
    .filter(lambda t: t[0] or any(t[1]))
    .map(lambda t: ":".join(f"{b:02x}" for b in (t[0], *t[1])))
)
"""Unicast, non-zero MAC addresses in canonical form."""
seqs = st.integers(1, 65535)
ports = st.integers(1, 65535)
networks = st.one_of(
    st.tuples(st.ip_addresses(v=4), st.integers(0, 32)),
    st.tuples(st.ip_addresses(v=6), st.integers(0, 128)),
).map(lambda t: ipaddress.ip_network(f"{t[0]}/{t[1]}", strict=False))
"""Prefixes (IPv4 and IPv6, host bits cleared)."""


# ---- values the model must refuse (or render to one token) ------------------------------------------------

# Characters the running-config text or Python's str.split() could read as something else: blanks and line
# ends of every kind, control characters, `!` (a comment at the start of a line), `%` (an IPv6 zone id),
# invisible formatting characters, non-ASCII letters and digits.
HOSTILE_CHARACTERS = (
    "!",
    "%",
    " ",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\x00",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1f",
    "\x7f",
    "\x85",
    "\xa0",
    "\u1680",
    "\u2000",
    "\u2028",
    "\u2029",
    "\u202f",
    "\u3000",
    "\u200b",
    "\u202e",
    "\ufeff",
    "é",
    "１",
    "#",
    "/",
    ":",
    "-",
    ".",
    "_",
)
EXAMPLE_VALUES = (
    "10.66.16.2",
    "fe80::5",
    "2001:db8::1",
    "10.0.0.0/8",
    "::/0",
    "10.66.16.1/24",
    "2001:db8::1/64",
    "fa:16:3e:ef:4f:f4",
    "net_demo",
    "demo.openstack",
    "openstack",
    "swp1",
    "leaf1",
    "system",
    "0485e7a0-198f-4b88-a877-ca79d3e882bc",
)


_SPLICES = st.sampled_from(HOSTILE_CHARACTERS) | st.sampled_from(
    ["%eth0", "%1", "%x\n!\ntenant evil\n  origination pwned", "\n!\ntenant evil", " x", "\n  origination x"]
)


# Blanks and line ends: what str.split() and the text's line reader would split a value at.
_SPLITTERS = [c for c in HOSTILE_CHARACTERS if c.isspace()]
_zones = st.one_of(
    st.tuples(
        st.lists(st.sampled_from(HOSTILE_CHARACTERS) | st.sampled_from("ax0"), max_size=4),
        st.sampled_from(_SPLITTERS),
    ).map(lambda t: "".join(t[0][:1]) + t[1] + "".join(t[0][1:])),
    st.sampled_from(["eth0", "x\n!\ntenant evil\n  origination pwned", "a b"]),
    st.text(min_size=1, max_size=6),
)
"""IPv6 zone ids (what follows the `%`), mostly with a blank or a line end in them."""


@st.composite
def spliced(draw: st.DrawFn, text: str | None = None) -> str:
    """A well-formed value (`text`, or one of EXAMPLE_VALUES) with hostile characters put in: a zone id
    (before the prefix length, if any), or a newline and a tenant line, a non-breaking space, `!`... at
    some places."""
    if text is None:
        text = draw(st.sampled_from(EXAMPLE_VALUES))
    if draw(st.booleans()):
        address, slash, length = text.partition("/")
        return address + "%" + draw(_zones) + slash + length
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(_SPLICES) + text[at:]
    return text


def hostile_variants(value: Any) -> st.SearchStrategy[Any]:
    """Adversarial replacements for a value the model holds (as JSON). Half the time the value itself with
    hostile characters spliced in (for an address, prefix or gateway: one of IPv6, which takes a zone id),
    else a well-formed value of any kind with hostile characters, or any hostile value."""
    kin = st.sampled_from((_kin(value) or [value]) if isinstance(value, str) else EXAMPLE_VALUES)
    choice = st.integers(0, 9)
    return choice.flatmap(lambda n: kin.flatmap(spliced) if n < 5 else spliced() if n < 7 else hostile_values)


def _kin(text: str) -> list[str]:
    """IPv6 values of the type of text (an address, a prefix or a gateway), which take a zone id."""
    for parse, kin in (
        (ipaddress.ip_address, ["fe80::5", "2001:db8::1", "::ffff:10.0.0.1"]),
        (ipaddress.ip_network, ["fe80::/64", "2001:db8::/32", "::/0"]),
        (ipaddress.ip_interface, ["fe80::1/64", "2001:db8::1/64"]),
    ):
        try:
            parse(text)
        except ValueError:
            continue
        return kin
    return []


hostile_text = st.one_of(
    st.text(max_size=24),
    st.lists(st.sampled_from(HOSTILE_CHARACTERS) | st.characters(max_codepoint=0x7F), max_size=24).map("".join),
    st.sampled_from(EXAMPLE_VALUES),
    spliced(),
)
"""Adversarial text for any string field: arbitrary unicode, blanks and line ends of all kinds, `!`, zone
ids, and well-formed values with such characters spliced in."""
hostile_values = st.one_of(
    hostile_text,
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.none(),
    st.lists(hostile_text, max_size=2),
)
"""Adversarial JSON values for any field: hostile text, booleans, numbers, null, lists."""


# ---- the OpenAPI formats of our own (model/types.py), for an API fuzzer ---------------------------------


def _prefix_length(text: str) -> tuple[str, int | None] | None:
    """ADDRESS/LENGTH or ADDRESS: the address text and the length (None if absent); None if malformed."""
    addr, slash, length = text.partition("/")
    if not slash:
        return addr, None
    if not (length.isascii() and length.isdigit() and 1 <= len(length) <= 3):
        return None
    return addr, int(length)


def _plain_address(text: str) -> bool:
    """An IPv4 or IPv6 address as JSON Schema's ipv4/ipv6 formats mean it: ASCII, no zone id."""
    if not text.isascii() or "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_ip_prefix(text: str) -> bool:
    """format ip-prefix: ADDRESS/LENGTH with no host bits set, or a bare ADDRESS (a host prefix)."""
    parts = _prefix_length(text)
    if parts is None or not _plain_address(parts[0]):
        return False
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        return False
    return True


def is_ip_interface(text: str) -> bool:
    """format ip-interface: ADDRESS/LENGTH; in an IPv4 subnet larger than /31 not its network or broadcast
    address."""
    parts = _prefix_length(text)
    if parts is None or parts[1] is None or not _plain_address(parts[0]):
        return False
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        return False
    net = iface.network
    return not (net.version == 4 and net.num_addresses > 2 and iface.ip in (net[0], net[-1]))


@st.composite
def _interfaces(draw: st.DrawFn) -> str:
    net = draw(networks)
    last = net.num_addresses - 1
    inner = net.version == 4 and net.num_addresses > 2  # not the network or broadcast address
    host = draw(st.integers(1, last - 1) if inner else st.integers(0, last))
    return f"{net[host]}/{net.prefixlen}"


prefix_texts = st.one_of(
    networks.map(str),
    st.ip_addresses().map(str),
)
"""Text of format ip-prefix (mostly ADDRESS/LENGTH, some bare host addresses)."""
interface_texts = _interfaces()
"""Text of format ip-interface."""


class Format(NamedTuple):
    strategy: st.SearchStrategy[str]
    check: Callable[[str], bool]


def is_running_config(text: str) -> bool:
    """format running-config: text that PUT /v1/running-config applies, as `podswitch config check` reads a
    file: UTF-8 with LF or CR LF line ends, parsed into a valid intent."""
    try:
        config.parse(config.decode(text.encode()))
    except (config.ConfigError, UnicodeEncodeError):
        return False
    return True


FORMATS = {
    "ip-prefix": Format(prefix_texts, is_ip_prefix),
    "ip-interface": Format(interface_texts, is_ip_interface),
    # Defined below: running-config texts are rendered intents.
}
"""Our own OpenAPI string formats: how to draw a value and how to check one (what their descriptions say)."""


@st.composite
def port_ranges(draw: st.DrawFn) -> PortRange:
    first = draw(ports)
    last = draw(st.integers(first, min(first + 1000, 65535)) | st.just(first))
    return PortRange(first=first, last=last)


# Built once: a strategy made inside a draw is validated again on every draw, which made drawing an intent
# several times slower than testing it.
_maybe_token = st.none() | tokens
_maybe_address = st.none() | st.ip_addresses()
_maybe_ports = st.none() | port_ranges()
_match_kinds = st.sampled_from(["any", "segment", "cidr"])
_protocols = st.sampled_from(list(Protocol))
_actions = st.sampled_from(list(Action))
_flip = st.booleans()
# Whether a drawn intent is a rich fabric: in most draws (hypothesis draws 0 more often than the others,
# about one time in six); shrinking goes towards a sparse intent.
_rich = st.integers(0, 9).map(bool)


def _shuffled(draw: st.DrawFn, items: list[Any]) -> tuple[Any, ...]:
    """Items in text order or reversed: enough to show that order in the input does not matter."""
    return tuple(reversed(items) if draw(_flip) else items)


# ---- topology ------------------------------------------------------------------------------------


@st.composite
def topologies(
    draw: st.DrawFn, max_leaves: int = 4, max_spines: int = 2, max_groups: int = 4, rich: bool | None = None
) -> list[tuple[Key, Any]]:
    """(key, object) pairs of a valid topology: switches, leaf-spine links, interface-groups on leaves. A
    rich one (most draws) has at least a leaf, a spine and an interface-group."""
    least = 1 if (draw(_rich) if rich is None else rich) else 0
    leaves = draw(st.integers(min(least, max_leaves), max_leaves))
    spines = draw(st.integers(min(least, max_spines), max_spines))
    switch_names = draw(st.lists(names, min_size=leaves + spines, max_size=leaves + spines, unique=True))
    objects: list[tuple[Key, Any]] = []
    for index, name in enumerate(switch_names):
        role = Role.LEAF if index < leaves else Role.SPINE
        switch = Switch(name=name, role=role, management_address=draw(_maybe_address))
        objects.append((Key(Kind.SWITCH, name=name), switch))
    leaf_names, spine_names = switch_names[:leaves], switch_names[leaves:]
    # Links use swp49+ on leaves and swp1+ on spines; server ports (interface-groups) use swp1-48 on leaves.
    for li, leaf in enumerate(leaf_names):
        for si, spine in enumerate(spine_names):
            if draw(_flip):
                ends = [Port(switch=leaf, interface=f"swp{49 + si}"), Port(switch=spine, interface=f"swp{1 + li}")]
                a, b = _shuffled(draw, ends)
                link = Link(a=a, b=b)
                objects.append((Key(Kind.LINK, name=link.key), link))
    if leaf_names:
        group_names = draw(st.lists(names, min_size=min(least, max_groups), max_size=max_groups, unique=True))
        free = iter(range(1, 49))
        pick_leaves = st.lists(st.sampled_from(leaf_names), min_size=1, max_size=2, unique=True)
        for group in group_names:
            members = [Port(switch=leaf, interface=f"swp{next(free)}") for leaf in draw(pick_leaves)]
            objects.append(
                (Key(Kind.INTERFACE_GROUP, name=group), InterfaceGroup(name=group, members=_shuffled(draw, members)))
            )
    return objects


# ---- tenants -------------------------------------------------------------------------------------


class _Pool:
    """Fabric-wide allocations that keep a drawn intent valid: subnets never overlap (they all may meet in
    tenant system), VLAN claims never clash, endpoint ids are unique."""

    def __init__(self, known: list[str], unknown: list[str]) -> None:
        self.subnets = 0
        self.vlan = 99
        self.endpoint_ids: set[str] = set()
        # interface-groups of the topology (on leaves), and some the topology does not have (yet)
        self.known = st.sampled_from(known) if known else None
        self.groups = st.sampled_from(known + unknown)
        self.member_groups = st.lists(self.groups, max_size=2, unique=True)
        self.maybe_group = st.none() | self.groups

    def subnet(self) -> tuple[ipaddress.IPv4Network, ipaddress.IPv6Network]:
        n = self.subnets
        self.subnets += 1
        return (ipaddress.IPv4Network(f"10.{n // 256}.{n % 256}.0/24"), ipaddress.IPv6Network(f"fd00:0:{n:x}::/64"))

    def endpoint_id(self, name: str) -> str:
        if name in self.endpoint_ids:
            name = f"{name[:50]}-{len(self.endpoint_ids)}"
        self.endpoint_ids.add(name)
        return name


def _rule(draw: st.DrawFn, seq: int, segments: st.SearchStrategy[str] | None) -> PolicyRule:
    def match() -> Match:
        kind = draw(_match_kinds)
        if kind == "segment" and segments is not None:
            return Match(segment=draw(segments))
        if kind == "cidr":
            return Match(cidr=draw(networks))
        return Match()

    protocol = draw(_protocols)
    l4 = protocol in (Protocol.TCP, Protocol.UDP)
    return PolicyRule(
        seq=seq,
        action=draw(_actions),
        protocol=protocol,
        src=match(),
        dst=match(),
        src_port=draw(_maybe_ports) if l4 else None,
        dst_port=draw(_maybe_ports) if l4 else None,
    )


@st.composite
def _tenant(
    draw: st.DrawFn,
    name: str,
    pool: _Pool,
    peers: list[str],
    max_segments: int,
    max_endpoints: int,
    rich: bool = False,
) -> list[tuple[Key, Any]]:
    """A tenant with its segments and router. A rich one has at least everything that makes a tenant reach
    the fabric: a segment with a gateway and a member on a leaf's interface-group, a link to tenant system
    with a default route, and an applied policy-list with rules."""
    objects: list[tuple[Key, Any]] = [
        (Key(Kind.TENANT, name), Tenant(name=name, id=draw(_maybe_token), origination=draw(_maybe_token)))
    ]
    segment_names = draw(st.lists(names, min_size=min(int(rich), max_segments), max_size=max_segments, unique=True))
    has_router = rich or draw(_flip)
    interfaces: list[SegmentInterface] = []
    gateways: list[ipaddress.IPv4Address] = []
    for index, sname in enumerate(segment_names):
        v4, v6 = pool.subnet()
        dual = draw(_flip)
        if has_router and ((rich and index == 0) or draw(_flip)):
            addrs = [ipaddress.IPv4Interface(f"{v4[1]}/24")]
            if dual:
                addrs.append(ipaddress.IPv6Interface(f"{v6[1]}/64"))
            interfaces.append(SegmentInterface(segment=sname, ip_addresses=_shuffled(draw, addrs)))
            gateways.append(v4[1])
        objects.append(
            (Key(Kind.SEGMENT, name, sname), Segment(name=sname, id=draw(_maybe_token), origination=draw(_maybe_token)))
        )
        pool.vlan += 1
        vlan = pool.vlan
        member_groups = draw(pool.member_groups)
        if rich and index == 0 and pool.known is not None:
            member_groups = list(dict.fromkeys([draw(pool.known), *member_groups]))
        for group in member_groups:
            member = Member(interface_group=group, vlan=vlan, origination=draw(_maybe_token))
            objects.append((Key(Kind.MEMBER, name, sname, member.key), member))
        count = draw(st.integers(0, max_endpoints))
        hosts = draw(st.lists(st.integers(2, 254), min_size=count, max_size=count, unique=True))
        ep_macs = draw(st.lists(macs, min_size=count, max_size=count, unique=True))
        for host, mac in zip(hosts, ep_macs, strict=True):
            eid = pool.endpoint_id(draw(names))
            ips: list[Any] = []
            if draw(_flip):
                ips.append(v4[host])
            if dual and draw(_flip):
                ips.append(v6[host])
            group = draw(pool.maybe_group)
            endpoint = Endpoint(
                id=eid,
                attachment_point=None if group is None else Attachment(interface_group=group, vlan=vlan),
                ips=_shuffled(draw, ips),
                mac=mac if draw(_flip) else None,
                origination=draw(_maybe_token),
            )
            objects.append((Key(Kind.ENDPOINT, name, sname, eid), endpoint))
    if not has_router:
        return objects
    tenant_interfaces = list(draw(st.lists(st.sampled_from(peers), unique=True))) if peers else []
    if rich and peers and not tenant_interfaces:
        tenant_interfaces = [peers[0]]
    routes = []
    if tenant_interfaces and (rich or draw(_flip)):
        routes.append(
            Route(
                prefix=ipaddress.IPv4Network("0.0.0.0/0"),
                next_hop=NextHop(tenant=draw(st.sampled_from(tenant_interfaces))),
            )
        )
    if tenant_interfaces and draw(_flip):
        routes.append(Route(prefix=ipaddress.IPv6Network("::/0"), next_hop=NextHop(tenant=tenant_interfaces[0])))
    if gateways and draw(_flip):
        gateway = draw(st.sampled_from(gateways))
        routes.append(
            Route(
                prefix=ipaddress.IPv4Network(f"192.168.{pool.subnets % 256}.0/24"), next_hop=NextHop(ip=gateway + 253)
            )
        )
    policy_names = draw(st.lists(names, min_size=int(rich), max_size=2, unique=True))
    segments = st.sampled_from(segment_names) if segment_names else None
    policies = []
    for index, pname in enumerate(policy_names):
        rule_seqs = draw(st.lists(seqs, min_size=int(rich and index == 0), max_size=3, unique=True))
        rules = [_rule(draw, seq, segments) for seq in rule_seqs]
        policies.append(PolicyList(name=pname, rules=_shuffled(draw, rules)))
    router = LogicalRouter(
        interfaces=_shuffled(draw, interfaces),
        tenant_interfaces=tuple(tenant_interfaces),
        routes=_shuffled(draw, routes),
        policy_lists=tuple(policies),
        applied_policy_list=(
            policy_names[0] if rich else draw(st.none() | st.sampled_from(policy_names)) if policy_names else None
        ),
    )
    objects.append((Key(Kind.LOGICAL_ROUTER, name), router))
    return objects


@st.composite
def intents(
    draw: st.DrawFn, max_tenants: int = 3, max_segments: int = 3, max_endpoints: int = 3, topology: bool = True
) -> Intent:
    """A valid intent. Most draws are a rich fabric (tests/fabric/test_strategies.py measures it): its first
    tenant is on a leaf (a member on an interface-group of a leaf switch), has a router with a gateway, a
    link to tenant system and a default route through it (so the compiler makes system slices), and an
    applied policy-list; the other tenants are drawn freely. Tenant `system` is configured in some draws
    (its router links to other tenants)."""
    rich = topology and draw(_rich)
    objects: list[tuple[Key, Any]] = draw(topologies(rich=rich)) if topology else []
    known = [key.name for key, _ in objects if key.kind == Kind.INTERFACE_GROUP]
    # Segments may also name interface-groups the topology does not have yet (Neutron binds ports first).
    unknown = [n for n in draw(st.lists(names, min_size=1, max_size=2, unique=True)) if n not in known]
    pool = _Pool(known, unknown)
    least = min(int(rich), max_tenants)
    tenant_names = [n for n in draw(st.lists(names, min_size=least, max_size=max_tenants, unique=True)) if n != SYSTEM]
    for index, tname in enumerate(tenant_names):
        objects += draw(_tenant(tname, pool, [SYSTEM], max_segments, max_endpoints, rich=rich and index == 0))
    if draw(_flip):
        objects += draw(_tenant(SYSTEM, pool, tenant_names, max_segments, max_endpoints))
    return build(objects)


running_config_texts = st.deferred(lambda: intents(max_tenants=2, max_segments=2, max_endpoints=2)).map(config.render)
"""Text of format running-config: valid intents (rich fabrics, most of them) as running-config text."""
FORMATS["running-config"] = Format(running_config_texts, is_running_config)


# ---- a large, deterministic intent for benchmarks -------------------------------------------------


def large_intent(
    tenants: int = 1000,
    segments_per_tenant: int = 10,
    endpoints_per_segment: int = 10,
    leaves: int = 64,
    spines: int = 4,
    groups: int = 1000,
) -> Intent:
    """The scale podswitch is sized for: by default 1,000 tenants, 10,000 segments, 100,000 endpoints
    (about 700,000 lines of running-config). Every tenant routes to the outside through tenant system,
    like the seed's demo tenant; every segment has its own /24, VLAN claim and member."""
    if groups > leaves // 2 * 48:
        raise ValueError(f"{groups} interface-groups need {2 * -(-groups // 48)} leaves (48 server ports per pair)")
    objects: list[tuple[Key, Any]] = []
    leaf_names = [f"leaf{i:02d}" for i in range(1, leaves + 1)]
    spine_names = [f"spine{i}" for i in range(1, spines + 1)]
    for name in leaf_names:
        objects.append((Key(Kind.SWITCH, name=name), Switch(name=name, role=Role.LEAF)))
    for i, name in enumerate(spine_names):
        objects.append(
            (Key(Kind.SWITCH, name=name), Switch(name=name, role=Role.SPINE, management_address=f"192.0.2.{i + 1}"))
        )
    for li, leaf in enumerate(leaf_names):
        for si, spine in enumerate(spine_names):
            link = Link(a=Port(switch=leaf, interface=f"swp{49 + si}"), b=Port(switch=spine, interface=f"swp{li + 1}"))
            objects.append((Key(Kind.LINK, name=link.key), link))
    group_names = [f"osvdev{i:04d}" for i in range(groups)]
    for i, name in enumerate(group_names):
        pair = 2 * ((i // 48) % (leaves // 2))
        port = f"swp{i % 48 + 1}"
        members = (Port(switch=leaf_names[pair], interface=port), Port(switch=leaf_names[pair + 1], interface=port))
        objects.append((Key(Kind.INTERFACE_GROUP, name=name), InterfaceGroup(name=name, members=members)))
    n = 0
    for t in range(tenants):
        tname = f"tenant{t:04d}.openstack"
        objects.append((Key(Kind.TENANT, tname), Tenant(name=tname, id=f"{t:032x}", origination="openstack")))
        interfaces = []
        for s in range(segments_per_tenant):
            sname = f"net_{s:02d}"
            net = n
            n += 1
            prefix = f"10.{net // 256}.{net % 256}"
            interfaces.append(SegmentInterface(segment=sname, ip_addresses=(f"{prefix}.1/24",)))
            objects.append(
                (
                    Key(Kind.SEGMENT, tname, sname),
                    Segment(name=sname, id=f"{net:08x}-0000-4000-8000-000000000000", origination="openstack"),
                )
            )
            group = group_names[net % groups]
            vlan = 100 + net // groups
            member = Member(interface_group=group, vlan=vlan, origination="openstackdev")
            objects.append((Key(Kind.MEMBER, tname, sname, member.key), member))
            attachment = Attachment(interface_group=group, vlan=vlan)
            for e in range(endpoints_per_segment):
                eid = f"{net:08x}-{e:04x}-4b88-a877-ca79d3e882bc"
                mac = f"fa:16:3e:{net >> 8 & 255:02x}:{net & 255:02x}:{e:02x}"
                endpoint = Endpoint(
                    id=eid, attachment_point=attachment, ips=(f"{prefix}.{e + 2}",), mac=mac, origination="openstack"
                )
                objects.append((Key(Kind.ENDPOINT, tname, sname, eid), endpoint))
        router = LogicalRouter(
            interfaces=tuple(interfaces),
            tenant_interfaces=(SYSTEM,),
            routes=(Route(prefix="0.0.0.0/0", next_hop=NextHop(tenant=SYSTEM)),),
        )
        objects.append((Key(Kind.LOGICAL_ROUTER, tname), router))
    return build(objects)
