"""Running-config text -> Intent.

Three passes, all pure:

1. *read*: split lines into tokens, follow the indentation, check each line's shape and collect a draft per
   object (with the line of every value, so an error can point at its token). Syntax errors and duplicates
   are found here.
2. *build*: turn each draft into its model object, once per object. The model validates the values; a
   pydantic error is mapped back from its field to the token it came from.
3. *validate* (optional): `podswitch.model.validate` checks the rules between objects; each problem is
   mapped to the header line of the object it names (or to the child line its field names).

Errors are collected (up to MAX_ERRORS) and raised together as one ConfigError; nothing is returned on
error, so a caller never applies half a config. The grammar is documented in docs/config-language.md."""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

from podswitch.model import (
    Action,
    Attachment,
    Endpoint,
    Intent,
    IntentError,
    InterfaceGroup,
    Key,
    Kind,
    Link,
    LogicalRouter,
    Member,
    Problem,
    Segment,
    Switch,
    Tenant,
    build,
)
from podswitch.model import validate as validate_intent
from podswitch.model.types import Model

from .errors import ConfigError

MAX_ERRORS = 100

Loc = tuple[int | str, ...]
Where = tuple[int, int]  # (line number, token index); a token index past the last token means end of line


def parse(text: str, *, validate: bool = True) -> Intent:
    """The whole intent described by running-config `text`.

    Raises ConfigError (first problem, with all of them in `.problems`). With validate=False only the text
    and the objects themselves are checked, not the rules between objects (used to load a draft that is
    known to be incomplete)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    parser = _Parser(text.split("\n"))
    return parser.run(validate)


class _Syntax(Exception):
    """A problem with one line, at token `tok` (an index into the line's tokens)."""

    def __init__(self, tok: int, message: str) -> None:
        super().__init__(message)
        self.tok = tok
        self.message = message


class _TooMany(Exception):
    pass


# ---- drafts: what one object's lines said, and where --------------------------------------------

class _Draft:
    """An object being read. `line` is its header line; `locate` maps a pydantic error location to the
    line and token the value came from; `child_line` maps a model Problem's field to a child line."""

    __slots__ = ("key", "line")

    def __init__(self, line: int) -> None:
        self.line = line
        self.key: Key | None = None

    def locate(self, loc: Loc) -> Where:
        return (self.line, 0)

    def child_line(self, problem: Problem) -> int | None:
        return None


class _SwitchD(_Draft):
    __slots__ = ("mgmt", "mgmt_line", "name", "role", "role_line")

    def __init__(self, line: int, name: str) -> None:
        super().__init__(line)
        self.name = name
        self.role: str | None = None
        self.role_line = 0
        self.mgmt: str | None = None
        self.mgmt_line = 0

    def locate(self, loc: Loc) -> Where:
        field = loc[0] if loc else None
        if field == "role":
            return (self.role_line, 1)
        if field == "management_address":
            return (self.mgmt_line, 1)
        return (self.line, 1 if field == "name" else 0)


class _GroupD(_Draft):
    __slots__ = ("name", "ports")

    def __init__(self, line: int, name: str) -> None:
        super().__init__(line)
        self.name = name
        self.ports: dict[tuple[str, str], int] = {}  # (switch, interface) -> line, in text order

    def locate(self, loc: Loc) -> Where:
        if len(loc) >= 2 and loc[0] == "members" and isinstance(loc[1], int):
            line = list(self.ports.values())[loc[1]]
            field = loc[2] if len(loc) > 2 else None
            return (line, {"switch": 2, "interface": 4}.get(field, 0))  # type: ignore[arg-type]
        return (self.line, 1 if loc[:1] == ("name",) else 0)

    def child_line(self, problem: Problem) -> int | None:
        # "switch S does not exist", "S is a spine", "port S:I is already used": find the member line.
        for (switch, iface), line in self.ports.items():
            if (f"switch {switch} " in problem.message or problem.message.startswith(f"{switch} ")
                    or f"{switch}:{iface} " in problem.message):
                return line
        return None


class _LinkD(_Draft):
    __slots__ = ("toks",)

    def __init__(self, line: int, toks: list[str]) -> None:
        super().__init__(line)
        self.toks = toks

    def locate(self, loc: Loc) -> Where:
        if len(loc) >= 2 and loc[0] in ("a", "b"):
            return (self.line, (1 if loc[0] == "a" else 3) + (loc[1] == "interface"))
        return (self.line, 0)


class _TenantD(_Draft):
    __slots__ = ("id", "id_line", "name", "origination", "origination_line", "router", "segments")

    def __init__(self, line: int, name: str) -> None:
        super().__init__(line)
        self.name = name
        self.id: str | None = None
        self.id_line = 0
        self.origination: str | None = None
        self.origination_line = 0
        self.router: _RouterD | None = None
        self.segments: dict[str, _SegmentD] = {}

    def locate(self, loc: Loc) -> Where:
        field = loc[0] if loc else None
        if field == "id":
            return (self.id_line, 1)
        if field == "origination":
            return (self.origination_line, 1)
        return (self.line, 1 if field == "name" else 0)


class _IfaceD(_Draft):
    __slots__ = ("addrs", "segment")

    def __init__(self, line: int, segment: str) -> None:
        super().__init__(line)
        self.segment = segment
        self.addrs: dict[str, int] = {}  # text -> line, in text order


class _RuleD(_Draft):
    __slots__ = ("data", "tokens")

    def __init__(self, line: int, data: dict[str, Any], tokens: dict[str, int]) -> None:
        super().__init__(line)
        self.data = data
        self.tokens = tokens  # model field -> index of the token that gave its value


class _PolicyD(_Draft):
    __slots__ = ("name", "rules")

    def __init__(self, line: int, name: str) -> None:
        super().__init__(line)
        self.name = name
        self.rules: dict[int, _RuleD] = {}  # seq -> rule, in text order


class _RouterD(_Draft):
    __slots__ = ("apply", "interfaces", "peers", "policies", "routes")

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.routes: dict[str, tuple[int, list[str]]] = {}  # prefix text -> (line, tokens)
        self.interfaces: dict[str, _IfaceD] = {}
        self.peers: dict[str, int] = {}  # tenant -> line
        self.policies: dict[str, _PolicyD] = {}
        self.apply: tuple[int, str] | None = None

    def model_input(self) -> dict[str, Any]:
        return {
            "routes": [{"prefix": t[1], "next_hop": {t[3]: t[4]}} for _, t in self.routes.values()],
            "interfaces": [{"segment": i.segment, "ip_addresses": list(i.addrs)}
                           for i in self.interfaces.values()],
            "tenant_interfaces": list(self.peers),
            "policy_lists": [{"name": p.name, "rules": [r.data for r in p.rules.values()]}
                             for p in self.policies.values()],
            "applied_policy_list": self.apply[1] if self.apply else None,
        }

    def locate(self, loc: Loc) -> Where:
        field = loc[0] if loc else None
        index = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
        rest = loc[2:]
        if field == "routes" and index is not None:
            line, _ = list(self.routes.values())[index]
            sub = rest[0] if rest else None
            return (line, 1 if sub == "prefix" else 4 if len(rest) > 1 else 3 if sub == "next_hop" else 0)
        if field == "interfaces" and index is not None:
            iface = list(self.interfaces.values())[index]
            if rest[:1] == ("ip_addresses",) and len(rest) > 1 and isinstance(rest[1], int):
                return (list(iface.addrs.values())[rest[1]], 2)
            return (iface.line, 2 if rest[:1] == ("segment",) else 0)
        if field == "tenant_interfaces" and index is not None:
            return (list(self.peers.values())[index], 2)
        if field == "policy_lists" and index is not None:
            policy = list(self.policies.values())[index]
            if rest[:1] == ("rules",) and len(rest) > 1 and isinstance(rest[1], int):
                rule = list(policy.rules.values())[rest[1]]
                tok = rule.tokens.get(rest[2], 0) if len(rest) > 2 else 0  # type: ignore[arg-type]
                return (rule.line, tok)
            return (policy.line, 1 if rest[:1] == ("name",) else 0)
        if field == "applied_policy_list" and self.apply is not None:
            return (self.apply[0], 2)
        return (self.line, 0)

    def child_line(self, problem: Problem) -> int | None:
        field = problem.field or ""
        words = field.split()
        if words[:2] == ["interface", "segment"] and len(words) == 3 and words[2] in self.interfaces:
            return self.interfaces[words[2]].line
        if words[:2] == ["interface", "tenant"] and len(words) == 3 and words[2] in self.peers:
            return self.peers[words[2]]
        if words[:1] == ["route"] and len(words) == 2:
            for text, (line, _) in self.routes.items():
                if _same_prefix(text, words[1]):
                    return line
        if words[:1] == ["policy-list"] and len(words) >= 2 and words[1] in self.policies:
            policy = self.policies[words[1]]
            if len(words) == 4 and words[2] == "rule" and words[3].isdigit():
                rule = policy.rules.get(int(words[3]))
                if rule is not None:
                    return rule.line
            return policy.line
        if field == "apply policy-list" and self.apply is not None:
            return self.apply[0]
        return None


class _SegmentD(_Draft):
    __slots__ = ("endpoints", "id", "id_line", "members", "name", "origination", "origination_line")

    def __init__(self, line: int, name: str) -> None:
        super().__init__(line)
        self.name = name
        self.id: str | None = None
        self.id_line = 0
        self.origination: str | None = None
        self.origination_line = 0
        self.endpoints: dict[str, _EndpointD] = {}
        self.members: list[_MemberD] = []

    def locate(self, loc: Loc) -> Where:
        field = loc[0] if loc else None
        if field == "id":
            return (self.id_line, 1)
        if field == "origination":
            return (self.origination_line, 1)
        return (self.line, 1 if field == "name" else 0)

    def child_line(self, problem: Problem) -> int | None:
        # A claim clash names "interface-group G vlan V": point at the member (or endpoint) that claims it.
        words = (problem.field or "").split()
        if len(words) != 4 or words[0] != "interface-group" or words[2] != "vlan":
            return None
        claim = f"{words[1]}:{words[3]}"
        for member in self.members:
            if member.key is not None and member.key.name == claim:
                return member.line
        for endpoint in self.endpoints.values():
            if endpoint.ap_group == words[1] and _same_number(endpoint.ap_vlan, words[3]):
                return endpoint.ap_line
        return None


class _EndpointD(_Draft):
    __slots__ = ("ap_group", "ap_line", "ap_vlan", "id", "ip_lines", "ips", "mac", "mac_line",
                 "origination", "origination_line")

    def __init__(self, line: int, eid: str) -> None:
        super().__init__(line)
        self.id = eid
        self.ap_group: str | None = None
        self.ap_vlan: str | None = None
        self.ap_line = 0
        self.ips: list[str] = []
        self.ip_lines: list[int] = []
        self.mac: str | None = None
        self.mac_line = 0
        self.origination: str | None = None
        self.origination_line = 0

    def locate(self, loc: Loc) -> Where:
        field = loc[0] if loc else None
        if field == "attachment_point":
            return (self.ap_line, 4 if loc[1:2] == ("vlan",) else 2)
        if field == "ips" and len(loc) > 1 and isinstance(loc[1], int):
            return (self.ip_lines[loc[1]], 1)
        if field == "mac":
            return (self.mac_line, 1)
        if field == "origination":
            return (self.origination_line, 1)
        return (self.line, 1 if field == "id" else 0)


class _MemberD(_Draft):
    __slots__ = ("group", "origination", "origination_line", "vlan")

    def __init__(self, line: int, group: str, vlan: str) -> None:
        super().__init__(line)
        self.group = group
        self.vlan = vlan
        self.origination: str | None = None
        self.origination_line = 0

    def locate(self, loc: Loc) -> Where:
        field = loc[0] if loc else None
        if field == "interface_group":
            return (self.line, 2)
        if field == "vlan":
            return (self.line, 4)
        if field == "origination":
            return (self.origination_line, 1)
        return (self.line, 0)


def _same_number(text: str | None, canonical: str) -> bool:
    return text is not None and _digits(text) and int(text) == int(canonical)


def _same_prefix(text: str, canonical: str) -> bool:
    try:
        return str(ipaddress.ip_network(text)) == canonical
    except ValueError:
        return False


# ---- the grammar: one context per kind of block ---------------------------------------------------

Handler = Callable[["_Parser", list[str], int, Any], "tuple[_Context, _Draft] | None"]


class _Context:
    """What may appear directly inside one kind of block: keyword -> handler, and how to write it."""

    __slots__ = ("fallback", "handlers", "usage", "where")

    def __init__(self, where: str, usage: dict[str, str], handlers: dict[str, Handler],
                 fallback: Handler | None = None) -> None:
        self.where = where
        self.usage = usage
        self.handlers = handlers
        self.fallback = fallback


def _arity(toks: list[str], count: int, usage: str) -> None:
    if len(toks) > count:
        raise _Syntax(count, f"unexpected '{toks[count]}': expected `{usage}`")
    if len(toks) < count:
        raise _Syntax(len(toks), f"incomplete line: expected `{usage}`")


def _words(toks: list[str], words: dict[int, str], usage: str) -> None:
    """Check the fixed words of a line (e.g. `vlan` in `member interface-group G vlan V`)."""
    for index, word in words.items():
        if index < len(toks) and toks[index] != word:
            raise _Syntax(index, f"expected '{word}' here, got '{toks[index]}': the line is `{usage}`")
    _arity(toks, max(words) + 2, usage)


def _setter(keyword: str, attr: str, value: str = "TOKEN") -> Handler:
    """Handler for a one-value attribute line (`id X`, `mac M`, ...) that may appear once per block."""
    usage = f"{keyword} {value}"
    line_attr = attr + "_line"

    def handler(p: _Parser, toks: list[str], line: int, draft: Any) -> None:
        if len(toks) != 2:
            _arity(toks, 2, usage)
        prior = getattr(draft, line_attr)
        if prior:
            raise _Syntax(0, f"{keyword} is already set at line {prior}; give it once per block")
        setattr(draft, attr, toks[1])
        setattr(draft, line_attr, line)

    return handler


# top level

def _switch(p: _Parser, toks: list[str], line: int, _: None) -> tuple[_Context, _Draft]:
    _arity(toks, 2, "switch NAME")
    prior = p.switches.get(toks[1])
    if prior is not None:
        raise _Syntax(1, f"switch {toks[1]} is already defined at line {prior.line}")
    draft = p.switches[toks[1]] = _SwitchD(line, toks[1])
    return SWITCH, draft


def _interface_group(p: _Parser, toks: list[str], line: int, _: None) -> tuple[_Context, _Draft]:
    _arity(toks, 2, "interface-group NAME")
    prior = p.groups.get(toks[1])
    if prior is not None:
        raise _Syntax(1, f"interface-group {toks[1]} is already defined at line {prior.line}")
    draft = p.groups[toks[1]] = _GroupD(line, toks[1])
    return GROUP, draft


def _link(p: _Parser, toks: list[str], line: int, _: None) -> None:
    _arity(toks, 5, "link SWITCH IFNAME SWITCH IFNAME")
    p.links.append(_LinkD(line, toks))


def _tenant(p: _Parser, toks: list[str], line: int, _: None) -> tuple[_Context, _Draft]:
    _arity(toks, 2, "tenant NAME")
    prior = p.tenants.get(toks[1])
    if prior is not None:
        raise _Syntax(1, f"tenant {toks[1]} is already defined at line {prior.line}")
    draft = p.tenants[toks[1]] = _TenantD(line, toks[1])
    return TENANT, draft


# switch, interface-group

def _group_member(p: _Parser, toks: list[str], line: int, group: _GroupD) -> None:
    _words(toks, {1: "switch", 3: "interface"}, "member switch SWITCH interface IFNAME")
    port = (toks[2], toks[4])
    prior = group.ports.get(port)
    if prior is not None:
        raise _Syntax(2, f"port {port[0]} {port[1]} is already a member at line {prior}")
    group.ports[port] = line


# tenant

def _logical_router(p: _Parser, toks: list[str], line: int, tenant: _TenantD) -> tuple[_Context, _Draft]:
    _arity(toks, 1, "logical-router")
    if tenant.router is not None:
        raise _Syntax(0, f"logical-router is already defined at line {tenant.router.line}; a tenant has one")
    tenant.router = _RouterD(line)
    return ROUTER, tenant.router


def _segment(p: _Parser, toks: list[str], line: int, tenant: _TenantD) -> tuple[_Context, _Draft]:
    _arity(toks, 2, "segment NAME")
    prior = tenant.segments.get(toks[1])
    if prior is not None:
        raise _Syntax(1, f"segment {toks[1]} is already defined at line {prior.line} in this tenant")
    draft = tenant.segments[toks[1]] = _SegmentD(line, toks[1])
    return SEGMENT, draft


# logical-router

_ROUTE_USAGE = "route PREFIX next-hop tenant NAME` or `route PREFIX next-hop ip IP"


def _route(p: _Parser, toks: list[str], line: int, router: _RouterD) -> None:
    if len(toks) > 2 and toks[2] != "next-hop":
        raise _Syntax(2, f"expected 'next-hop' here, got '{toks[2]}': the line is `{_ROUTE_USAGE}`")
    if len(toks) > 3 and toks[3] not in ("tenant", "ip"):
        raise _Syntax(3, f"a next-hop is `tenant NAME` or `ip IP`, got '{toks[3]}'")
    _arity(toks, 5, _ROUTE_USAGE)
    prior = router.routes.get(toks[1])
    if prior is not None:
        raise _Syntax(1, f"a route to {toks[1]} is already defined at line {prior[0]}")
    router.routes[toks[1]] = (line, toks)


def _interface(p: _Parser, toks: list[str], line: int, router: _RouterD) -> tuple[_Context, _Draft] | None:
    kind = toks[1] if len(toks) > 1 else None
    if kind not in ("segment", "tenant"):
        raise _Syntax(1, "expected `interface segment NAME` or `interface tenant NAME`")
    _arity(toks, 3, f"interface {kind} NAME")
    name = toks[2]
    if kind == "tenant":
        prior = router.peers.get(name)
        if prior is not None:
            raise _Syntax(2, f"interface tenant {name} is already defined at line {prior}")
        router.peers[name] = line
        return None
    prior_iface = router.interfaces.get(name)
    if prior_iface is not None:
        raise _Syntax(2, f"interface segment {name} is already defined at line {prior_iface.line}")
    draft = router.interfaces[name] = _IfaceD(line, name)
    return INTERFACE, draft


def _policy_list(p: _Parser, toks: list[str], line: int, router: _RouterD) -> tuple[_Context, _Draft]:
    _arity(toks, 2, "policy-list NAME")
    prior = router.policies.get(toks[1])
    if prior is not None:
        raise _Syntax(1, f"policy-list {toks[1]} is already defined at line {prior.line}")
    draft = router.policies[toks[1]] = _PolicyD(line, toks[1])
    return POLICY, draft


def _apply(p: _Parser, toks: list[str], line: int, router: _RouterD) -> None:
    _words(toks, {1: "policy-list"}, "apply policy-list NAME")
    if router.apply is not None:
        raise _Syntax(0, f"apply policy-list is already set at line {router.apply[0]}; a router applies one")
    router.apply = (line, toks[2])


def _ip_address(p: _Parser, toks: list[str], line: int, iface: _IfaceD) -> None:
    _words(toks, {1: "address"}, "ip address IP/LEN")
    prior = iface.addrs.get(toks[2])
    if prior is not None:
        raise _Syntax(2, f"ip address {toks[2]} is already listed at line {prior}")
    iface.addrs[toks[2]] = line


_ACTIONS = tuple(a.value for a in Action)
_CLAUSES = {"proto": "protocol", "src": "src", "dst": "dst", "src-port": "src_port", "dst-port": "dst_port"}
_RULE_USAGE = ("SEQ permit|deny [proto tcp|udp|icmp] src MATCH dst MATCH [src-port P[-Q]] [dst-port P[-Q]]")


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _rule(p: _Parser, toks: list[str], line: int, policy: _PolicyD) -> None:
    if not _digits(toks[0]):
        raise _Syntax(0, f"a policy-list holds rules that start with a sequence number, like "
                         f"`10 permit src any dst any`; got '{toks[0]}'")
    seq = int(toks[0])
    if len(toks) < 2 or toks[1] not in _ACTIONS:
        raise _Syntax(1, f"expected {' or '.join(_ACTIONS)} after the sequence number: `{_RULE_USAGE}`")
    prior = policy.rules.get(seq)
    if prior is not None:
        raise _Syntax(0, f"rule {seq} is already defined at line {prior.line}")
    data: dict[str, Any] = {"seq": seq, "action": toks[1]}
    tokens = {"seq": 0, "action": 1}
    i, count = 2, len(toks)
    while i < count:
        word = toks[i]
        field = _CLAUSES.get(word)
        if field is None:
            raise _Syntax(i, f"unexpected '{word}': a rule continues with {', '.join(_CLAUSES)}"
                             f"{_did_you_mean(word, _CLAUSES)}")
        if field in tokens:
            raise _Syntax(i, f"{word} is given twice in this rule")
        if i + 1 >= count:
            raise _Syntax(i + 1, f"{word} needs a value: `{_RULE_USAGE}`")
        value = toks[i + 1]
        if field in ("src", "dst"):
            if value == "any":
                data[field] = {}
                tokens[field] = i + 1
                i += 2
                continue
            if value not in ("segment", "cidr"):
                raise _Syntax(i + 1, f"{word} is `any`, `segment NAME` or `cidr PREFIX`, got '{value}'")
            if i + 2 >= count:
                raise _Syntax(i + 2, f"`{word} {value}` needs a {'NAME' if value == 'segment' else 'PREFIX'}")
            data[field] = {value: toks[i + 2]}
            tokens[field] = i + 2
            i += 3
            continue
        if field == "protocol":
            data[field] = value
        else:
            first, dash, last = value.partition("-")
            if not _digits(first) or (dash and not _digits(last)):
                raise _Syntax(i + 1, f"{word} is a port number or a range like 8000-8080, got '{value}'")
            data[field] = {"first": int(first), "last": int(last if dash else first)}
        tokens[field] = i + 1
        i += 2
    policy.rules[seq] = _RuleD(line, data, tokens)


# segment, endpoint, member

def _endpoint(p: _Parser, toks: list[str], line: int, segment: _SegmentD) -> tuple[_Context, _Draft]:
    if len(toks) != 2:
        _arity(toks, 2, "endpoint ID")
    eid = toks[1]
    prior = p.endpoint_at.get(eid)
    if prior is not None:
        where = "" if prior[1] is segment else " (endpoint ids are unique in the whole fabric)"
        raise _Syntax(1, f"endpoint {eid} is already defined at line {prior[0]}{where}")
    draft = _EndpointD(line, eid)
    p.endpoint_at[eid] = (line, segment)
    segment.endpoints[eid] = draft
    return ENDPOINT, draft


def _segment_member(p: _Parser, toks: list[str], line: int, segment: _SegmentD) -> tuple[_Context, _Draft]:
    _words(toks, {1: "interface-group", 3: "vlan"}, "member interface-group NAME vlan N")
    draft = _MemberD(line, toks[2], toks[4])
    segment.members.append(draft)
    return MEMBER, draft


def _attachment_point(p: _Parser, toks: list[str], line: int, endpoint: _EndpointD) -> None:
    if len(toks) != 5 or toks[1] != "interface-group" or toks[3] != "vlan":
        _words(toks, {1: "interface-group", 3: "vlan"}, "attachment-point interface-group NAME vlan N")
    if endpoint.ap_line:
        raise _Syntax(0, f"attachment-point is already set at line {endpoint.ap_line}; an endpoint has one")
    endpoint.ap_group = toks[2]
    endpoint.ap_vlan = toks[4]
    endpoint.ap_line = line


def _endpoint_ip(p: _Parser, toks: list[str], line: int, endpoint: _EndpointD) -> None:
    if len(toks) != 2:
        _arity(toks, 2, "ip IP")
    ip = toks[1]
    if ip in endpoint.ips:
        raise _Syntax(1, f"ip {ip} is already listed at line {endpoint.ip_lines[endpoint.ips.index(ip)]}")
    endpoint.ips.append(ip)
    endpoint.ip_lines.append(line)


TOP = _Context("at top level", {
    "switch": "switch NAME",
    "interface-group": "interface-group NAME",
    "link": "link SWITCH IFNAME SWITCH IFNAME",
    "tenant": "tenant NAME",
}, {"switch": _switch, "interface-group": _interface_group, "link": _link, "tenant": _tenant})
SWITCH = _Context("in a switch", {
    "fabric-role": "fabric-role leaf|spine",
    "management-address": "management-address IP",
}, {"fabric-role": _setter("fabric-role", "role", "leaf|spine"),
    "management-address": _setter("management-address", "mgmt", "IP")})
GROUP = _Context("in an interface-group", {
    "member": "member switch SWITCH interface IFNAME",
}, {"member": _group_member})
TENANT = _Context("in a tenant", {
    "id": "id TOKEN",
    "origination": "origination TOKEN",
    "logical-router": "logical-router",
    "segment": "segment NAME",
}, {"id": _setter("id", "id"), "origination": _setter("origination", "origination"),
    "logical-router": _logical_router, "segment": _segment})
ROUTER = _Context("in a logical-router", {
    "route": "route PREFIX next-hop tenant NAME|ip IP",
    "interface": "interface segment NAME|tenant NAME",
    "policy-list": "policy-list NAME",
    "apply": "apply policy-list NAME",
}, {"route": _route, "interface": _interface, "policy-list": _policy_list, "apply": _apply})
INTERFACE = _Context("in an interface segment", {
    "ip": "ip address IP/LEN",
}, {"ip": _ip_address})
POLICY = _Context("in a policy-list", {"SEQ": _RULE_USAGE}, {}, fallback=_rule)
SEGMENT = _Context("in a segment", {
    "id": "id TOKEN",
    "origination": "origination TOKEN",
    "endpoint": "endpoint ID",
    "member": "member interface-group NAME vlan N",
}, {"id": _setter("id", "id"), "origination": _setter("origination", "origination"),
    "endpoint": _endpoint, "member": _segment_member})
ENDPOINT = _Context("in an endpoint", {
    "attachment-point": "attachment-point interface-group NAME vlan N",
    "ip": "ip IP",
    "mac": "mac MAC",
    "origination": "origination TOKEN",
}, {"attachment-point": _attachment_point, "ip": _endpoint_ip, "mac": _setter("mac", "mac", "MAC"),
    "origination": _setter("origination", "origination")})
MEMBER = _Context("in a member", {
    "origination": "origination TOKEN",
}, {"origination": _setter("origination", "origination")})

_CONTEXTS = (TOP, SWITCH, GROUP, TENANT, ROUTER, INTERFACE, POLICY, SEGMENT, ENDPOINT, MEMBER)
# keyword -> the blocks it belongs to, for "`segment` belongs in a tenant" hints
_HOMES: dict[str, list[str]] = {}
for _ctx in _CONTEXTS:
    for _word in _ctx.handlers:
        _HOMES.setdefault(_word, []).append(_ctx.where)
_ALL_KEYWORDS = sorted(_HOMES)


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


# ---- the parser ---------------------------------------------------------------------------------

class _Frame:
    """An open block: its indentation, its children's (-1 until the first child), what it may contain
    (None: a block skipped after an error) and the draft its children fill in."""

    __slots__ = ("child_indent", "context", "draft", "indent", "last_line")

    def __init__(self, indent: int, child_indent: int, context: _Context | None, draft: Any) -> None:
        self.indent = indent
        self.child_indent = child_indent
        self.context = context
        self.draft = draft
        self.last_line = 0


_TOKEN = re.compile(r"\S+")


class _Parser:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.errors: list[ConfigError] = []
        self.switches: dict[str, _SwitchD] = {}
        self.groups: dict[str, _GroupD] = {}
        self.links: list[_LinkD] = []
        self.tenants: dict[str, _TenantD] = {}
        self.endpoint_at: dict[str, tuple[int, _SegmentD]] = {}

    def run(self, validate: bool) -> Intent:
        try:
            self.read()
            objects = self.build()
        except _TooMany:
            objects = []
        if self.errors:
            raise ConfigError.collect(self.errors)
        intent = build(objects)
        if validate:
            try:
                validate_intent(intent)
            except IntentError as exc:
                self.map_problems(exc.problems)
                raise ConfigError.collect(self.errors) from None
        return intent

    # -- errors --

    def error(self, line: int, column: int, message: str) -> None:
        self.errors.append(ConfigError(line, column, message))
        if len(self.errors) >= MAX_ERRORS:
            raise _TooMany

    def column(self, line: int, tok: int) -> int:
        """1-based column of token `tok` of a line; one past the end of the line if there is no such token."""
        text = self.lines[line - 1]
        for index, match in enumerate(_TOKEN.finditer(text)):
            if index == tok:
                return match.start() + 1
        return len(text.rstrip()) + 2

    def error_at(self, line: int, tok: int, message: str) -> None:
        self.error(line, self.column(line, tok), message)

    def head(self, line: int) -> str:
        text = self.lines[line - 1].strip()
        return text if len(text) <= 60 else text[:57] + "..."

    # -- pass 1: lines -> drafts --

    def read(self) -> None:
        frame = _Frame(-1, 0, TOP, None)
        stack = [frame]
        for number, raw in enumerate(self.lines, 1):
            toks = raw.split()
            if not toks:
                continue
            word = toks[0]
            if word[0] == "!":
                continue
            indent = len(raw) - len(raw.lstrip(" "))
            if raw[indent] != word[0]:
                self.bad_whitespace(number, raw, indent)
                continue
            if indent <= frame.indent:
                stack.pop()
                frame = stack[-1]
                while indent <= frame.indent:
                    stack.pop()
                    frame = stack[-1]
            context = frame.context
            if context is None:
                continue
            if indent != frame.child_indent:
                if frame.child_indent < 0:
                    frame.child_indent = indent
                else:
                    self.bad_indent(number, indent, frame)
                    frame = _Frame(indent, -1, None, None)
                    stack.append(frame)
                    continue
            frame.last_line = number
            handler = context.handlers.get(word, context.fallback)
            if handler is None:
                self.unknown(number, word, context)
                frame = _Frame(indent, -1, None, None)
                stack.append(frame)
                continue
            try:
                pushed = handler(self, toks, number, frame.draft)
            except _Syntax as exc:
                self.error_at(number, exc.tok, exc.message)
                pushed = (None, None)  # skip whatever is indented under a rejected line
            if pushed is not None:
                frame = _Frame(indent, -1, pushed[0], pushed[1])
                stack.append(frame)

    def bad_whitespace(self, number: int, raw: str, indent: int) -> None:
        char = raw[indent]
        if char == "\t":
            message = "tab in indentation: indent with spaces (two per level)"
        else:
            message = f"unexpected whitespace character U+{ord(char):04X} in indentation: indent with spaces"
        self.error(number, indent + 1, message)

    def bad_indent(self, number: int, indent: int, frame: _Frame) -> None:
        expected = frame.child_indent
        if indent > expected:
            if frame.last_line:
                message = (f"unexpected indentation: line {frame.last_line} (`{self.head(frame.last_line)}`) "
                           "does not open a block, so nothing can be indented under it")
            else:
                message = "this line is indented but has no parent block; top-level lines start in column 1"
        else:
            message = (f"indentation matches no enclosing block: this line is indented {indent} spaces, "
                       f"the lines of its block (line {frame.last_line}) {expected}")
        self.error(number, indent + 1, message)

    def unknown(self, number: int, word: str, context: _Context) -> None:
        allowed = ", ".join(context.usage)
        homes = _HOMES.get(word)
        if homes:
            message = f"'{word}' is not allowed {context.where}; it belongs {' or '.join(homes)}"
        else:
            message = f"unknown keyword '{word}' {context.where}{_did_you_mean(word, context.usage)}"
        self.error_at(number, 0, f"{message}; allowed here: {allowed}")

    # -- pass 2: drafts -> model objects --

    def make(self, model: type[Model], data: dict[str, Any], draft: _Draft, key: Key) -> Model | None:
        try:
            obj = model.model_validate(data)
        except ValidationError as exc:
            self.model_errors(exc, draft)
            return None
        draft.key = key
        return obj

    def model_errors(self, exc: ValidationError, draft: _Draft, prefix: Loc = ()) -> None:
        for err in exc.errors(include_url=False):
            line, tok = draft.locate(prefix + tuple(err["loc"]))
            message = err["msg"]
            if message.startswith("Value error, "):
                message = message[len("Value error, "):]
            elif message.startswith("Input should"):
                toks = self.lines[line - 1].split()
                value = toks[tok] if tok < len(toks) else ""
                message = f"'{value}' is not valid here: input should{message[len('Input should'):]}"
            self.error_at(line, tok, message)

    def build(self) -> list[tuple[Key, Model]]:
        objects: list[tuple[Key, Model]] = []
        add = objects.append
        make = self.make
        for name, sw in self.switches.items():
            if sw.role is None:
                self.error_at(sw.line, 0, f"switch {name} needs its role: add `fabric-role leaf` or "
                                          "`fabric-role spine`")
                continue
            key = Key(Kind.SWITCH, name=name)
            obj = make(Switch, {"name": name, "role": sw.role, "management_address": sw.mgmt}, sw, key)
            if obj is not None:
                add((key, obj))
        for name, group in self.groups.items():
            key = Key(Kind.INTERFACE_GROUP, name=name)
            members = [{"switch": s, "interface": i} for s, i in group.ports]
            obj = make(InterfaceGroup, {"name": name, "members": members}, group, key)
            if obj is not None:
                add((key, obj))
        links: dict[str, _LinkD] = {}
        for draft in self.links:
            t = draft.toks
            link = make(Link, {"a": {"switch": t[1], "interface": t[2]}, "b": {"switch": t[3], "interface": t[4]}},
                        draft, Key(Kind.LINK))
            if link is None:
                continue
            assert isinstance(link, Link)
            prior = links.get(link.key)
            if prior is not None:
                self.error_at(draft.line, 1, f"this link is already defined at line {prior.line}")
                continue
            links[link.key] = draft
            draft.key = Key(Kind.LINK, name=link.key)
            add((draft.key, link))
        for tname, tenant in self.tenants.items():
            self.build_tenant(tname, tenant, add)
        return objects

    def build_tenant(self, tname: str, tenant: _TenantD, add: Callable[[tuple[Key, Model]], None]) -> None:
        key = Key(Kind.TENANT, tname)
        obj = self.make(Tenant, {"name": tname, "id": tenant.id, "origination": tenant.origination}, tenant, key)
        if obj is None:
            return  # its children would only repeat the error as "tenant does not exist"
        add((key, obj))
        if tenant.router is not None:
            key = Key(Kind.LOGICAL_ROUTER, tname)
            obj = self.make(LogicalRouter, tenant.router.model_input(), tenant.router, key)
            if obj is not None:
                add((key, obj))
        attachments: dict[tuple[str, str], Attachment | ValidationError] = {}
        for sname, seg in tenant.segments.items():
            key = Key(Kind.SEGMENT, tname, sname)
            obj = self.make(Segment, {"name": sname, "id": seg.id, "origination": seg.origination}, seg, key)
            if obj is None:
                continue
            add((key, obj))
            members: dict[str, _MemberD] = {}
            for md in seg.members:
                try:
                    member = Member(interface_group=md.group, vlan=md.vlan,  # type: ignore[arg-type]
                                    origination=md.origination)
                except ValidationError as exc:
                    self.model_errors(exc, md)
                    continue
                prior = members.get(member.key)
                if prior is not None:
                    self.error_at(md.line, 2, f"member interface-group {member.interface_group} vlan "
                                              f"{member.vlan} is already defined at line {prior.line}")
                    continue
                members[member.key] = md
                md.key = Key(Kind.MEMBER, tname, sname, member.key)
                add((md.key, member))
            for eid, ep in seg.endpoints.items():
                data: dict[str, Any] = {"id": eid, "ips": ep.ips, "mac": ep.mac, "origination": ep.origination}
                if ep.ap_line:
                    # Many endpoints share an attachment (one per server and VLAN): validate it once.
                    where = (ep.ap_group, ep.ap_vlan)
                    attachment = attachments.get(where)  # type: ignore[arg-type]
                    if attachment is None:
                        try:
                            attachment = Attachment(interface_group=ep.ap_group, vlan=ep.ap_vlan)  # type: ignore[arg-type]
                        except ValidationError as exc:
                            attachment = exc
                        attachments[where] = attachment  # type: ignore[index]
                    if isinstance(attachment, ValidationError):
                        self.model_errors(attachment, ep, ("attachment_point",))
                        continue
                    data["attachment_point"] = attachment
                try:
                    endpoint = Endpoint.model_validate(data)
                except ValidationError as exc:
                    self.model_errors(exc, ep)
                    continue
                ep.key = Key(Kind.ENDPOINT, tname, sname, eid)
                add((ep.key, endpoint))

    # -- pass 3: model problems -> lines --

    def drafts(self) -> Iterable[_Draft]:
        yield from self.switches.values()
        yield from self.groups.values()
        yield from self.links
        for tenant in self.tenants.values():
            yield tenant
            if tenant.router is not None:
                yield tenant.router
            for seg in tenant.segments.values():
                yield seg
                yield from seg.members
                yield from seg.endpoints.values()

    def map_problems(self, problems: list[Problem]) -> None:
        index = {str(d.key): d for d in self.drafts() if d.key is not None}
        for problem in problems:
            draft = index.get(problem.object)
            line = 1
            if draft is not None:
                line = draft.child_line(problem) or draft.line
            text = self.lines[line - 1]
            self.errors.append(ConfigError(line, len(text) - len(text.lstrip()) + 1, str(problem)))
