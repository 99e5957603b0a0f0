"""Drafts: what the lines of one object said, before it becomes a model object.

The reader fills one draft per object (a switch, a tenant, an endpoint, ...) with the raw values of its lines;
the builder turns each draft into its model object in one go. When the model rejects a value, the draft
maps the pydantic error location back to the line and token the value came from (`locate`), and a
cross-object Problem's field back to a child line (`child_line`).

Drafts keep only the header line of each object. The lines of its attributes (`mac`, `origination`, ...)
are found again in the text when an error needs them (`Document.find`): 100,000 endpoints don't pay for
line bookkeeping that only a broken config uses."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from podswitch.model import Problem

from .text import BLANK, indent, tokens

Loc = tuple[int | str, ...]
Where = tuple[int, int]  # (line number, token index); a token index past the last token means end of line

_TOKEN = re.compile(f"[^{BLANK}]+")  # a token: what text.tokens() splits a line into


class Document:
    """The text being read and the top-level drafts collected from it."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.switches: dict[str, SwitchDraft] = {}
        self.groups: dict[str, GroupDraft] = {}
        self.links: list[LinkDraft] = []
        self.tenants: dict[str, TenantDraft] = {}
        # Endpoint ids are unique in the whole fabric: id -> (endpoint, its segment)
        self.endpoints: dict[str, tuple[EndpointDraft, SegmentDraft]] = {}

    def find(self, header: int, keyword: str, nth: int = 0) -> int:
        """Line of the nth direct child `keyword` of the block whose header is at line `header` (the header
        itself if there is none)."""
        lines = self.lines
        base = indent(lines[header - 1])
        child = -1
        for number in range(header + 1, len(lines) + 1):
            raw = lines[number - 1]
            toks = tokens(raw)
            if not toks or toks[0][0] == "!":
                continue
            depth = indent(raw)
            if depth <= base:
                break
            if child < 0:
                child = depth
            if depth == child and toks[0] == keyword:
                if nth == 0:
                    return number
                nth -= 1
        return header

    def column(self, line: int, tok: int) -> int:
        """1-based column of token `tok` of a line; one past the end of the line if there is no such token."""
        text = self.lines[line - 1]
        for index, match in enumerate(_TOKEN.finditer(text)):
            if index == tok:
                return match.start() + 1
        return len(text.rstrip(BLANK)) + 2

    def token(self, line: int, tok: int) -> str:
        toks = tokens(self.lines[line - 1])
        return toks[tok] if tok < len(toks) else ""

    def head(self, line: int) -> str:
        text = self.lines[line - 1].strip(BLANK)
        return text if len(text) <= 60 else text[:57] + "..."


class Draft:
    """One object being read; `line` is its header line."""

    __slots__ = ("line",)

    def __init__(self, line: int) -> None:
        self.line = line

    def locate(self, loc: Loc, doc: Document) -> Where:
        """Line and token of the value at a pydantic error location of this object."""
        return (self.line, 0)

    def child_line(self, problem: Problem, doc: Document) -> int | None:
        """The child line a model Problem's field names, if any."""
        return None


def _attribute(draft: Draft, doc: Document, loc: Loc, keywords: dict[str, str]) -> Where:
    """Locate a one-value attribute line (`id X`, `mac M`): model field -> keyword of its line."""
    field = loc[0] if loc else None
    keyword = keywords.get(field) if isinstance(field, str) else None
    if keyword is not None:
        return (doc.find(draft.line, keyword), 1)
    return (draft.line, 1 if field in ("name", "id") else 0)


class SwitchDraft(Draft):
    __slots__ = ("mgmt", "name", "role")

    def __init__(self, line: int, name: str) -> None:
        super().__init__(line)
        self.name = name
        self.role: str | None = None
        self.mgmt: str | None = None

    def locate(self, loc: Loc, doc: Document) -> Where:
        return _attribute(self, doc, loc, {"role": "fabric-role", "management_address": "management-address"})


class GroupDraft(Draft):
    __slots__ = ("name", "ports")

    def __init__(self, line: int, name: str) -> None:
        super().__init__(line)
        self.name = name
        self.ports: dict[tuple[str, str], int] = {}  # (switch, interface) -> line, in text order

    def locate(self, loc: Loc, doc: Document) -> Where:
        if len(loc) >= 2 and loc[0] == "members" and isinstance(loc[1], int):
            line = list(self.ports.values())[loc[1]]
            field = loc[2] if len(loc) > 2 else None
            return (line, 2 if field == "switch" else 4 if field == "interface" else 0)
        return (self.line, 1 if loc[:1] == ("name",) else 0)

    def child_line(self, problem: Problem, doc: Document) -> int | None:
        # "switch S does not exist", "S is a spine", "port S:I is already used": the member line of S.
        message = problem.message
        for (switch, iface), line in self.ports.items():
            if f"switch {switch} " in message or message.startswith(f"{switch} ") or f"{switch}:{iface} " in message:
                return line
        return None


class LinkDraft(Draft):
    __slots__ = ("key", "toks")

    def __init__(self, line: int, toks: list[str]) -> None:
        super().__init__(line)
        self.toks = toks
        self.key = ""  # Link.key once built (its ends in canonical order)

    def locate(self, loc: Loc, doc: Document) -> Where:
        if len(loc) >= 2 and loc[0] in ("a", "b"):
            return (self.line, (1 if loc[0] == "a" else 3) + (loc[1] == "interface"))
        return (self.line, 0)


class TenantDraft(Draft):
    __slots__ = ("id", "name", "origination", "router", "segments")

    def __init__(self, line: int, name: str) -> None:
        super().__init__(line)
        self.name = name
        self.id: str | None = None
        self.origination: str | None = None
        self.router: RouterDraft | None = None
        self.segments: dict[str, SegmentDraft] = {}

    def locate(self, loc: Loc, doc: Document) -> Where:
        return _attribute(self, doc, loc, {"id": "id", "origination": "origination"})


class InterfaceDraft(Draft):
    __slots__ = ("addrs", "segment")

    def __init__(self, line: int, segment: str) -> None:
        super().__init__(line)
        self.segment = segment
        self.addrs: dict[str, int] = {}  # address text -> line, in text order


class RuleDraft(Draft):
    __slots__ = ("data", "tokens")

    def __init__(self, line: int, data: dict[str, Any], tokens: dict[str, int]) -> None:
        super().__init__(line)
        self.data = data  # PolicyRule input
        self.tokens = tokens  # model field -> index of the token that gave its value


class PolicyDraft(Draft):
    __slots__ = ("name", "rules")

    def __init__(self, line: int, name: str) -> None:
        super().__init__(line)
        self.name = name
        self.rules: dict[int, RuleDraft] = {}  # seq -> rule, in text order


class RouterDraft(Draft):
    __slots__ = ("apply", "interfaces", "peers", "policies", "routes")

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.routes: dict[str, tuple[int, list[str]]] = {}  # prefix text -> (line, tokens)
        self.interfaces: dict[str, InterfaceDraft] = {}
        self.peers: dict[str, int] = {}  # `interface tenant NAME`: name -> line
        self.policies: dict[str, PolicyDraft] = {}
        self.apply: tuple[int, str] | None = None

    def model_input(self) -> dict[str, Any]:
        return {
            "routes": [{"prefix": t[1], "next_hop": {t[3]: t[4]}} for _, t in self.routes.values()],
            "interfaces": [{"segment": i.segment, "ip_addresses": list(i.addrs)} for i in self.interfaces.values()],
            "tenant_interfaces": list(self.peers),
            "policy_lists": [
                {"name": p.name, "rules": [r.data for r in p.rules.values()]} for p in self.policies.values()
            ],
            "applied_policy_list": self.apply[1] if self.apply else None,
        }

    def locate(self, loc: Loc, doc: Document) -> Where:
        field = loc[0] if loc else None
        index = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
        rest = loc[2:]
        if field == "routes" and index is not None:
            line, _ = list(self.routes.values())[index]
            sub = rest[0] if rest else None
            # route PREFIX next-hop tenant|ip VALUE
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
                sub = rest[2] if len(rest) > 2 else None
                return (rule.line, rule.tokens.get(sub, 0) if isinstance(sub, str) else 0)
            return (policy.line, 1 if rest[:1] == ("name",) else 0)
        if field == "applied_policy_list" and self.apply is not None:
            return (self.apply[0], 2)
        return (self.line, 0)

    def child_line(self, problem: Problem, doc: Document) -> int | None:
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


class SegmentDraft(Draft):
    __slots__ = ("endpoints", "id", "members", "name", "origination")

    def __init__(self, line: int, name: str) -> None:
        super().__init__(line)
        self.name = name
        self.id: str | None = None
        self.origination: str | None = None
        self.endpoints: dict[str, EndpointDraft] = {}
        self.members: list[MemberDraft] = []

    def locate(self, loc: Loc, doc: Document) -> Where:
        return _attribute(self, doc, loc, {"id": "id", "origination": "origination"})

    def child_line(self, problem: Problem, doc: Document) -> int | None:
        # A claim clash names "interface-group G vlan V": the member (or endpoint) that claims it.
        words = (problem.field or "").split()
        if len(words) != 4 or words[0] != "interface-group" or words[2] != "vlan":
            return None
        claim = f"{words[1]}:{words[3]}"
        for member in self.members:
            if member.key == claim:
                return member.line
        for endpoint in self.endpoints.values():
            ap = endpoint.ap
            if ap is not None and ap[0] == words[1] and _same_number(ap[1], words[3]):
                return doc.find(endpoint.line, "attachment-point")
        return None


class EndpointDraft(Draft):
    # The hot spot of a large config (100,000 of them): as few attributes as the model needs.
    __slots__ = ("ap", "ips", "mac", "origination")

    def __init__(self, line: int) -> None:
        self.line = line  # not super().__init__: one call less, 100,000 times
        self.ap: tuple[str, str] | None = None  # (interface-group, vlan) of `attachment-point`
        self.ips: list[str] = []
        self.mac: str | None = None
        self.origination: str | None = None

    def locate(self, loc: Loc, doc: Document) -> Where:
        field = loc[0] if loc else None
        if field == "attachment_point":
            return (doc.find(self.line, "attachment-point"), 4 if loc[1:2] == ("vlan",) else 2)
        if field == "ips" and len(loc) > 1 and isinstance(loc[1], int):
            return (doc.find(self.line, "ip", loc[1]), 1)
        return _attribute(self, doc, loc, {"mac": "mac", "origination": "origination"})


class MemberDraft(Draft):
    __slots__ = ("group", "key", "origination", "vlan")

    def __init__(self, line: int, group: str, vlan: str) -> None:
        super().__init__(line)
        self.group = group
        self.vlan = vlan
        self.origination: str | None = None
        self.key = ""  # Member.key once built

    def locate(self, loc: Loc, doc: Document) -> Where:
        field = loc[0] if loc else None
        if field == "interface_group":
            return (self.line, 2)
        if field == "vlan":
            return (self.line, 4)
        return _attribute(self, doc, loc, {"origination": "origination"})


def digits(text: str) -> bool:
    """Plain ASCII digits (int() would also take '+1', '1_0' and other scripts' digits)."""
    return text.isascii() and text.isdigit()


def _same_number(text: str, canonical: str) -> bool:
    return digits(text) and digits(canonical) and int(text) == int(canonical)


def _same_prefix(text: str, canonical: str) -> bool:
    try:
        return str(ipaddress.ip_network(text)) == canonical
    except ValueError:
        return False
