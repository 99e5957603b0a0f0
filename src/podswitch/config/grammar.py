"""The running-config grammar: which lines may appear in which block, and what each line means.

One `Context` per kind of block maps a line's first word to a handler. A handler checks the line's shape,
records its values in the block's draft, and returns the context and draft of the block the line opens
(for `tenant`, `segment`, `endpoint`, ...) or None for a plain line. It raises `Syntax` for a malformed or
duplicate line. Value checks (names, VLANs, MACs, addresses) are the model's job, not the grammar's.

docs/config-language.md describes the same grammar for people; keep the two in step."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from podswitch.model import Action

from .drafts import (
    Document,
    Draft,
    EndpointDraft,
    GroupDraft,
    InterfaceDraft,
    LinkDraft,
    MemberDraft,
    PolicyDraft,
    RouterDraft,
    RuleDraft,
    SegmentDraft,
    SwitchDraft,
    TenantDraft,
    digits,
)


class Syntax(Exception):
    """A problem with one line, at token `tok` (an index into the line's tokens; past the end: end of line)."""

    def __init__(self, tok: int, message: str) -> None:
        super().__init__(message)
        self.tok = tok
        self.message = message


Opened = tuple["Context", Draft] | None
Handler = Callable[[Document, list[str], int, Any], Opened]


class Context:
    """What may appear directly inside one kind of block: first word -> handler, and how to write it."""

    __slots__ = ("fallback", "handlers", "usage", "where")

    def __init__(
        self, where: str, usage: dict[str, str], handlers: dict[str, Handler], fallback: Handler | None = None
    ) -> None:
        self.where = where  # "in a segment", for messages
        self.usage = usage  # first word -> how the line is written
        self.handlers = handlers
        self.fallback = fallback  # for lines that start with a value (policy rules start with their seq)


def arity(toks: list[str], count: int, usage: str) -> None:
    if len(toks) > count:
        raise Syntax(count, f"unexpected '{toks[count]}': expected `{usage}`")
    if len(toks) < count:
        raise Syntax(len(toks), f"incomplete line: expected `{usage}`")


def words(toks: list[str], fixed: dict[int, str], usage: str) -> None:
    """Check the fixed words of a line (e.g. `vlan` in `member interface-group G vlan V`) and its length."""
    for index, word in fixed.items():
        if index < len(toks) and toks[index] != word:
            raise Syntax(index, f"expected '{word}' here, got '{toks[index]}': the line is `{usage}`")
    arity(toks, max(fixed) + 2, usage)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _setter(keyword: str, attr: str, value: str = "TOKEN") -> Handler:
    """Handler for a one-value attribute line (`id X`, `origination O`) that may appear once per block."""
    usage = f"{keyword} {value}"

    def handler(doc: Document, toks: list[str], line: int, draft: Any) -> None:
        if len(toks) != 2:
            arity(toks, 2, usage)
        if getattr(draft, attr) is not None:
            raise Syntax(0, f"{keyword} is already set at line {doc.find(draft.line, keyword)}; give it once per block")
        setattr(draft, attr, toks[1])

    return handler


_D = TypeVar("_D", bound=Draft)


def _define(table: dict[str, _D], name: str, draft: _D, what: str, tok: int, where: str = "") -> _D:
    """Open a named block; a second block of the same name is an error at token `tok`."""
    prior = table.get(name)
    if prior is not None:
        raise Syntax(tok, f"{what} {name} is already defined at line {prior.line}{where}")
    table[name] = draft
    return draft


# ---- top level ---------------------------------------------------------------------------------------


def _switch(doc: Document, toks: list[str], line: int, _: None) -> Opened:
    arity(toks, 2, "switch NAME")
    return SWITCH, _define(doc.switches, toks[1], SwitchDraft(line, toks[1]), "switch", 1)


def _interface_group(doc: Document, toks: list[str], line: int, _: None) -> Opened:
    arity(toks, 2, "interface-group NAME")
    return GROUP, _define(doc.groups, toks[1], GroupDraft(line, toks[1]), "interface-group", 1)


def _link(doc: Document, toks: list[str], line: int, _: None) -> None:
    arity(toks, 5, "link SWITCH IFNAME SWITCH IFNAME")
    doc.links.append(LinkDraft(line, toks))  # duplicates are found once the ends are in canonical order


def _tenant(doc: Document, toks: list[str], line: int, _: None) -> Opened:
    arity(toks, 2, "tenant NAME")
    return TENANT, _define(doc.tenants, toks[1], TenantDraft(line, toks[1]), "tenant", 1)


def _group_member(doc: Document, toks: list[str], line: int, group: GroupDraft) -> None:
    words(toks, {1: "switch", 3: "interface"}, "member switch SWITCH interface IFNAME")
    port = (toks[2], toks[4])
    prior = group.ports.get(port)
    if prior is not None:
        raise Syntax(2, f"port {port[0]} {port[1]} is already a member at line {prior}")
    group.ports[port] = line


# ---- tenant and logical-router ------------------------------------------------------------------------


def _logical_router(doc: Document, toks: list[str], line: int, tenant: TenantDraft) -> Opened:
    arity(toks, 1, "logical-router")
    if tenant.router is not None:
        raise Syntax(0, f"logical-router is already defined at line {tenant.router.line}; a tenant has one")
    tenant.router = RouterDraft(line)
    return ROUTER, tenant.router


def _segment(doc: Document, toks: list[str], line: int, tenant: TenantDraft) -> Opened:
    arity(toks, 2, "segment NAME")
    return SEGMENT, _define(tenant.segments, toks[1], SegmentDraft(line, toks[1]), "segment", 1, " in this tenant")


_ROUTE_USAGE = "route PREFIX next-hop tenant NAME` or `route PREFIX next-hop ip IP"


def _route(doc: Document, toks: list[str], line: int, router: RouterDraft) -> None:
    if len(toks) > 2 and toks[2] != "next-hop":
        raise Syntax(2, f"expected 'next-hop' here, got '{toks[2]}': the line is `{_ROUTE_USAGE}`")
    if len(toks) > 3 and toks[3] not in ("tenant", "ip"):
        raise Syntax(3, f"a next-hop is `tenant NAME` or `ip IP`, got '{toks[3]}'")
    arity(toks, 5, _ROUTE_USAGE)
    prior = router.routes.get(toks[1])
    if prior is not None:
        raise Syntax(1, f"a route to {toks[1]} is already defined at line {prior[0]}")
    router.routes[toks[1]] = (line, toks)


def _interface(doc: Document, toks: list[str], line: int, router: RouterDraft) -> Opened:
    kind = toks[1] if len(toks) > 1 else None
    if kind not in ("segment", "tenant"):
        raise Syntax(1, "expected `interface segment NAME` or `interface tenant NAME`")
    arity(toks, 3, f"interface {kind} NAME")
    name = toks[2]
    if kind == "tenant":
        prior = router.peers.get(name)
        if prior is not None:
            raise Syntax(2, f"interface tenant {name} is already defined at line {prior}")
        router.peers[name] = line
        return None
    return INTERFACE, _define(router.interfaces, name, InterfaceDraft(line, name), "interface segment", 2)


def _policy_list(doc: Document, toks: list[str], line: int, router: RouterDraft) -> Opened:
    arity(toks, 2, "policy-list NAME")
    return POLICY, _define(router.policies, toks[1], PolicyDraft(line, toks[1]), "policy-list", 1)


def _apply(doc: Document, toks: list[str], line: int, router: RouterDraft) -> None:
    words(toks, {1: "policy-list"}, "apply policy-list NAME")
    if router.apply is not None:
        raise Syntax(0, f"apply policy-list is already set at line {router.apply[0]}; a router applies one")
    router.apply = (line, toks[2])


def _ip_address(doc: Document, toks: list[str], line: int, iface: InterfaceDraft) -> None:
    words(toks, {1: "address"}, "ip address IP/LEN")
    prior = iface.addrs.get(toks[2])
    if prior is not None:
        raise Syntax(2, f"ip address {toks[2]} is already listed at line {prior}")
    iface.addrs[toks[2]] = line


_ACTIONS = tuple(a.value for a in Action)
_CLAUSES = {"proto": "protocol", "src": "src", "dst": "dst", "src-port": "src_port", "dst-port": "dst_port"}
RULE_USAGE = "SEQ permit|deny [proto tcp|udp|icmp] src MATCH dst MATCH [src-port P[-Q]] [dst-port P[-Q]]"


def _rule(doc: Document, toks: list[str], line: int, policy: PolicyDraft) -> None:
    if not digits(toks[0]):
        raise Syntax(
            0,
            f"a policy-list holds rules that start with a sequence number, like "
            f"`10 permit src any dst any`; got '{toks[0]}'",
        )
    seq = int(toks[0])
    if len(toks) < 2 or toks[1] not in _ACTIONS:
        raise Syntax(1, f"expected {' or '.join(_ACTIONS)} after the sequence number: `{RULE_USAGE}`")
    prior = policy.rules.get(seq)
    if prior is not None:
        raise Syntax(0, f"rule {seq} is already defined at line {prior.line}")
    data: dict[str, Any] = {"seq": seq, "action": toks[1]}
    tokens = {"seq": 0, "action": 1}
    i, count = 2, len(toks)
    while i < count:
        word = toks[i]
        field = _CLAUSES.get(word)
        if field is None:
            raise Syntax(
                i, f"unexpected '{word}': a rule continues with {', '.join(_CLAUSES)}{did_you_mean(word, _CLAUSES)}"
            )
        if field in tokens:
            raise Syntax(i, f"{word} is given twice in this rule")
        if i + 1 >= count:
            raise Syntax(i + 1, f"{word} needs a value: `{RULE_USAGE}`")
        value = toks[i + 1]
        if field in ("src", "dst"):
            if value == "any":
                data[field] = {}
                tokens[field] = i + 1
                i += 2
                continue
            if value not in ("segment", "cidr"):
                raise Syntax(i + 1, f"{word} is `any`, `segment NAME` or `cidr PREFIX`, got '{value}'")
            if i + 2 >= count:
                raise Syntax(i + 2, f"`{word} {value}` needs a {'NAME' if value == 'segment' else 'PREFIX'}")
            data[field] = {value: toks[i + 2]}
            tokens[field] = i + 2
            i += 3
            continue
        if field == "protocol":
            data[field] = value
        else:
            first, dash, last = value.partition("-")
            if not digits(first) or (dash and not digits(last)):
                raise Syntax(i + 1, f"{word} is a port number or a range like 8000-8080, got '{value}'")
            data[field] = {"first": int(first), "last": int(last if dash else first)}
        tokens[field] = i + 1
        i += 2
    policy.rules[seq] = RuleDraft(line, data, tokens)


# ---- segment, endpoint, member -------------------------------------------------------------------------


def _endpoint(doc: Document, toks: list[str], line: int, segment: SegmentDraft) -> Opened:
    if len(toks) != 2:
        arity(toks, 2, "endpoint ID")
    eid = toks[1]
    prior = doc.endpoints.get(eid)
    if prior is not None:
        where = "" if prior[1] is segment else " (endpoint ids are unique in the whole fabric)"
        raise Syntax(1, f"endpoint {eid} is already defined at line {prior[0].line}{where}")
    draft = segment.endpoints[eid] = EndpointDraft(line)
    doc.endpoints[eid] = (draft, segment)
    return ENDPOINT, draft


def _segment_member(doc: Document, toks: list[str], line: int, segment: SegmentDraft) -> Opened:
    words(toks, {1: "interface-group", 3: "vlan"}, "member interface-group NAME vlan N")
    draft = MemberDraft(line, toks[2], toks[4])  # duplicates are found once the VLAN is a number
    segment.members.append(draft)
    return MEMBER, draft


def _attachment_point(doc: Document, toks: list[str], line: int, endpoint: EndpointDraft) -> None:
    if len(toks) != 5 or toks[1] != "interface-group" or toks[3] != "vlan":
        words(toks, {1: "interface-group", 3: "vlan"}, "attachment-point interface-group NAME vlan N")
    if endpoint.ap is not None:
        raise Syntax(
            0,
            f"attachment-point is already set at line {doc.find(endpoint.line, 'attachment-point')}"
            "; an endpoint attaches at one place",
        )
    endpoint.ap = (toks[2], toks[4])


def _endpoint_ip(doc: Document, toks: list[str], line: int, endpoint: EndpointDraft) -> None:
    if len(toks) != 2:
        arity(toks, 2, "ip IP")
    ip = toks[1]
    if ip in endpoint.ips:
        prior = doc.find(endpoint.line, "ip", endpoint.ips.index(ip))
        raise Syntax(1, f"ip {ip} is already listed at line {prior}")
    endpoint.ips.append(ip)


def _endpoint_mac(doc: Document, toks: list[str], line: int, endpoint: EndpointDraft) -> None:
    if len(toks) != 2:
        arity(toks, 2, "mac MAC")
    if endpoint.mac is not None:
        raise Syntax(0, f"mac is already set at line {doc.find(endpoint.line, 'mac')}; an endpoint has one")
    endpoint.mac = toks[1]


def _endpoint_origination(doc: Document, toks: list[str], line: int, endpoint: EndpointDraft) -> None:
    if len(toks) != 2:
        arity(toks, 2, "origination TOKEN")
    if endpoint.origination is not None:
        raise Syntax(
            0, f"origination is already set at line {doc.find(endpoint.line, 'origination')}; give it once per block"
        )
    endpoint.origination = toks[1]


# ---- the contexts ---------------------------------------------------------------------------------------

TOP = Context(
    "at top level",
    {
        "switch": "switch NAME",
        "interface-group": "interface-group NAME",
        "link": "link SWITCH IFNAME SWITCH IFNAME",
        "tenant": "tenant NAME",
    },
    {"switch": _switch, "interface-group": _interface_group, "link": _link, "tenant": _tenant},
)
SWITCH = Context(
    "in a switch",
    {
        "fabric-role": "fabric-role leaf|spine",
        "management-address": "management-address IP",
    },
    {
        "fabric-role": _setter("fabric-role", "role", "leaf|spine"),
        "management-address": _setter("management-address", "mgmt", "IP"),
    },
)
GROUP = Context(
    "in an interface-group",
    {
        "member": "member switch SWITCH interface IFNAME",
    },
    {"member": _group_member},
)
TENANT = Context(
    "in a tenant",
    {
        "id": "id TOKEN",
        "origination": "origination TOKEN",
        "logical-router": "logical-router",
        "segment": "segment NAME",
    },
    {
        "id": _setter("id", "id"),
        "origination": _setter("origination", "origination"),
        "logical-router": _logical_router,
        "segment": _segment,
    },
)
ROUTER = Context(
    "in a logical-router",
    {
        "route": "route PREFIX next-hop tenant NAME|ip IP",
        "interface": "interface segment NAME|tenant NAME",
        "policy-list": "policy-list NAME",
        "apply": "apply policy-list NAME",
    },
    {"route": _route, "interface": _interface, "policy-list": _policy_list, "apply": _apply},
)
INTERFACE = Context(
    "in an interface segment",
    {
        "ip": "ip address IP/LEN",
    },
    {"ip": _ip_address},
)
POLICY = Context("in a policy-list", {"SEQ": RULE_USAGE}, {}, fallback=_rule)
SEGMENT = Context(
    "in a segment",
    {
        "id": "id TOKEN",
        "origination": "origination TOKEN",
        "endpoint": "endpoint ID",
        "member": "member interface-group NAME vlan N",
    },
    {
        "id": _setter("id", "id"),
        "origination": _setter("origination", "origination"),
        "endpoint": _endpoint,
        "member": _segment_member,
    },
)
ENDPOINT = Context(
    "in an endpoint",
    {
        "attachment-point": "attachment-point interface-group NAME vlan N",
        "ip": "ip IP",
        "mac": "mac MAC",
        "origination": "origination TOKEN",
    },
    {
        "attachment-point": _attachment_point,
        "ip": _endpoint_ip,
        "mac": _endpoint_mac,
        "origination": _endpoint_origination,
    },
)
MEMBER = Context(
    "in a member",
    {
        "origination": "origination TOKEN",
    },
    {"origination": _setter("origination", "origination")},
)

CONTEXTS = (TOP, SWITCH, GROUP, TENANT, ROUTER, INTERFACE, POLICY, SEGMENT, ENDPOINT, MEMBER)

# first word -> the blocks it belongs in, for "'segment' belongs in a tenant" hints
HOMES: dict[str, list[str]] = {}
for _context in CONTEXTS:
    for _word in _context.handlers:
        HOMES.setdefault(_word, []).append(_context.where)
