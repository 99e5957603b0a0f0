"""Running-config text -> Intent.

Three passes, all pure:

1. *read*: split each line into tokens, follow the indentation, and hand the line to the grammar of its block
   (config/grammar.py), which checks its shape and records its values in a draft (config/drafts.py).
   Syntax errors and duplicates are found here.
2. *build*: turn each draft into its model object, once per object. The model checks the values; a pydantic
   error is mapped from its field back to the token the value came from.
3. *validate* (optional): `podswitch.model.validate` checks the rules between objects; each problem is mapped
   to the header line of the object it names, or to the child line its field names.

Errors are collected (up to MAX_ERRORS) and raised together as one ConfigError; nothing is returned on error,
so a caller never applies half a config. The grammar is documented in docs/config-language.md."""

from __future__ import annotations

from ipaddress import IPv4Address
from socket import AF_INET, inet_pton
from typing import Any

from pydantic import ValidationError

from podswitch.gc_pause import gc_paused
from podswitch.model import (
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
    SegmentNode,
    Switch,
    Tenant,
    TenantNode,
    Topology,
)
from podswitch.model import validate as validate_intent
from podswitch.model.types import Model

from .drafts import Document, Draft, Loc, TenantDraft
from .errors import ConfigError
from .grammar import HOMES, TOP, Context, Syntax, did_you_mean
from .text import BLANK, indent, lines, tokens

MAX_ERRORS = 100


def parse(text: str, *, validate: bool = True) -> Intent:
    """The whole intent described by running-config `text`.

    Raises ConfigError: the first problem in text order, with all of them in `.problems`. With
    validate=False the text and each object are checked but not the rules between objects (for loading a
    config that is known to be incomplete)."""
    split = lines(text)  # ConfigError for characters running-config text may not hold (config/text.py)
    # About ten objects per line, all living on in the intent (see gc_pause).
    with gc_paused():
        return _Parser(split).run(validate)


class _TooMany(Exception):
    pass


class _Frame:
    """An open block: its indentation, its children's (-1 until the first child), what may appear in it
    (None: a block skipped after an error) and the draft its children fill in."""

    __slots__ = ("child_indent", "context", "draft", "indent")

    def __init__(self, indent: int, context: Context | None, draft: Any, child_indent: int = -1) -> None:
        self.indent = indent
        self.child_indent = child_indent
        self.context = context
        self.draft = draft


class _Parser:
    def __init__(self, lines: list[str]) -> None:
        self.doc = Document(lines)
        self.errors: list[ConfigError] = []

    def run(self, validate: bool) -> Intent:
        intent: Intent | None = None
        try:
            self.read()
            intent = self.build()
        except _TooMany:
            pass
        if self.errors or intent is None:
            raise ConfigError.collect(self.errors)
        if validate:
            try:
                validate_intent(intent)
            except IntentError as exc:
                self.map_problems(exc.problems)
                raise ConfigError.collect(self.errors) from None
        return intent

    # ---- errors --------------------------------------------------------------------------------------

    def error(self, line: int, column: int, message: str) -> None:
        self.errors.append(ConfigError(line, column, message))
        if len(self.errors) >= MAX_ERRORS:
            raise _TooMany

    def error_at(self, line: int, tok: int, message: str) -> None:
        self.error(line, self.doc.column(line, tok), message)

    # ---- pass 1: lines -> drafts ---------------------------------------------------------------------

    def read(self) -> None:
        doc = self.doc
        stack = [_Frame(-1, TOP, None, child_indent=0)]
        # The innermost open block, mirrored in locals: this loop runs once per line (700,000 times for
        # the benchmark config), and a line at the indentation of its block's children takes the short way.
        child_indent, handlers, fallback, draft = 0, TOP.handlers, TOP.fallback, None
        for number, raw in enumerate(doc.lines, 1):
            toks = tokens(raw)
            if not toks:
                continue
            word = toks[0]
            if word[0] == "!":
                continue
            indent = len(raw) - len(raw.lstrip(BLANK))  # text.indent(raw), inlined: once per line
            if indent != child_indent:
                # A block ends, a block gets its first child, or the indentation is wrong.
                frame = stack[-1]
                while indent <= frame.indent:
                    stack.pop()
                    frame = stack[-1]
                if frame.context is None:
                    child_indent = -1  # inside a skipped block: every line takes this way
                    continue
                if frame.child_indent < 0:
                    frame.child_indent = indent
                elif indent != frame.child_indent:
                    self.bad_indent(number, indent, frame)
                    stack.append(_Frame(indent, None, None))
                    child_indent = -1
                    continue
                child_indent = frame.child_indent
                handlers, fallback, draft = frame.context.handlers, frame.context.fallback, frame.draft
            handler = handlers.get(word, fallback)
            try:
                if handler is None:
                    raise Syntax(0, self.unknown(word, stack[-1].context))  # type: ignore[arg-type]
                opened = handler(doc, toks, number, draft)
            except Syntax as exc:
                self.error_at(number, exc.tok, exc.message)
                stack.append(_Frame(indent, None, None))  # skip whatever is indented under a rejected line
                child_indent = -1
                continue
            if opened is not None:
                stack.append(_Frame(indent, opened[0], opened[1]))
                child_indent = -1

    def bad_indent(self, number: int, indent: int, frame: _Frame) -> None:
        expected = frame.child_indent
        previous = self.previous_line(number, expected)
        if indent > expected:
            if previous:
                message = (
                    f"unexpected indentation: line {previous} (`{self.doc.head(previous)}`) does not "
                    "open a block, so nothing can be indented under it"
                )
            else:
                message = "this line is indented but has no parent block; top-level lines start in column 1"
        else:
            message = (
                f"indentation matches no enclosing block: this line is indented {indent} spaces, "
                f"the lines of its block {expected} (like line {previous})"
            )
        self.error(number, indent + 1, message)

    def previous_line(self, number: int, depth: int) -> int:
        """The nearest line above `number` indented by `depth` blanks (0 if none)."""
        for earlier in range(number - 1, 0, -1):
            raw = self.doc.lines[earlier - 1]
            toks = tokens(raw)
            if toks and toks[0][0] != "!" and indent(raw) == depth:
                return earlier
        return 0

    def unknown(self, word: str, context: Context) -> str:
        allowed = ", ".join(context.usage)
        homes = HOMES.get(word)
        if homes:
            message = f"'{word}' is not allowed {context.where}; it belongs {' or '.join(homes)}"
        else:
            message = f"unknown keyword '{word}' {context.where}{did_you_mean(word, context.usage)}"
        return f"{message}; allowed here: {allowed}"

    # ---- pass 2: drafts -> model objects -------------------------------------------------------------

    def make(self, model: type[Model], data: dict[str, Any], draft: Draft) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            self.model_errors(exc, draft)
            return None

    def model_errors(self, exc: ValidationError, draft: Draft, prefix: Loc = ()) -> None:
        for err in exc.errors(include_url=False):
            line, tok = draft.locate(prefix + tuple(err["loc"]), self.doc)
            message = err["msg"]
            if message.startswith("Value error, "):
                message = message[len("Value error, ") :]
            elif message.startswith("Input should"):
                # pydantic's own wording ("Input should be 'leaf' or 'spine'") does not quote the value.
                value = self.doc.token(line, tok)
                message = f"'{value}' is not valid here: input should{message[len('Input should') :]}"
            self.error_at(line, tok, message)

    def build(self) -> Intent:
        """The intent tree, assembled directly: the drafts already form the tree, which spares the sort and
        the per-object keys `model.build` would spend on 100,000 endpoints."""
        doc, make = self.doc, self.make
        switches: dict[str, Switch] = {}
        for name, sw in doc.switches.items():
            if sw.role is None:
                self.error_at(
                    sw.line, 0, f"switch {name} needs its role: add `fabric-role leaf` or `fabric-role spine`"
                )
                continue
            switch = make(Switch, {"name": name, "role": sw.role, "management_address": sw.mgmt}, sw)
            if switch is not None:
                switches[name] = switch
        groups: dict[str, InterfaceGroup] = {}
        for name, group in doc.groups.items():
            members = [{"switch": s, "interface": i} for s, i in group.ports]
            built = make(InterfaceGroup, {"name": name, "members": members}, group)
            if built is not None:
                groups[name] = built
        links: dict[str, Link] = {}
        link_lines: dict[str, int] = {}
        for draft in doc.links:
            t = draft.toks
            link = make(
                Link, {"a": {"switch": t[1], "interface": t[2]}, "b": {"switch": t[3], "interface": t[4]}}, draft
            )
            if link is None:
                continue
            prior = link_lines.get(link.key)
            if prior is not None:
                self.error_at(draft.line, 1, f"this link is already defined at line {prior}")
                continue
            link_lines[link.key] = draft.line
            draft.key = link.key
            links[link.key] = link
        tenants: dict[str, TenantNode] = {}
        for tname, tenant in doc.tenants.items():
            node = self.build_tenant(tname, tenant)
            if node is not None:
                tenants[tname] = node
        topology = Topology.model_construct(switches=switches, links=links, interface_groups=groups)
        return Intent.model_construct(topology=topology, tenants=tenants)  # adds tenant system if absent

    def build_tenant(self, tname: str, tenant: TenantDraft) -> TenantNode | None:
        make = self.make
        obj = make(Tenant, {"name": tname, "id": tenant.id, "origination": tenant.origination}, tenant)
        if obj is None:
            return None  # its children would only repeat the error
        router = None
        if tenant.router is not None:
            router = make(LogicalRouter, tenant.router.model_input(), tenant.router)
        segments: dict[str, SegmentNode] = {}
        # Many endpoints share an attachment (one server, one VLAN): validate each of them once.
        attachments: dict[tuple[str, str], Attachment | ValidationError] = {}
        validate_endpoint = Endpoint.model_validate
        for sname, seg in tenant.segments.items():
            segment = make(Segment, {"name": sname, "id": seg.id, "origination": seg.origination}, seg)
            if segment is None:
                continue
            members: dict[str, Member] = {}
            member_lines: dict[str, int] = {}
            for md in seg.members:
                member = make(Member, {"interface_group": md.group, "vlan": md.vlan, "origination": md.origination}, md)
                if member is None:
                    continue
                prior = member_lines.get(member.key)
                if prior is not None:
                    self.error_at(
                        md.line,
                        2,
                        f"member interface-group {member.interface_group} vlan "
                        f"{member.vlan} is already defined at line {prior}",
                    )
                    continue
                member_lines[member.key] = md.line
                md.key = member.key
                members[member.key] = member
            endpoints: dict[str, Endpoint] = {}
            for eid, ep in seg.endpoints.items():
                data: dict[str, Any] = {
                    "id": eid,
                    "ips": tuple(map(_address, ep.ips)),
                    "mac": ep.mac,
                    "origination": ep.origination,
                }
                ap = ep.ap
                if ap is not None:
                    attachment = attachments.get(ap)
                    if attachment is None:
                        try:
                            attachment = Attachment(interface_group=ap[0], vlan=ap[1])
                        except ValidationError as exc:
                            attachment = exc
                        attachments[ap] = attachment
                    if isinstance(attachment, ValidationError):
                        self.model_errors(attachment, ep, ("attachment_point",))
                        continue
                    data["attachment_point"] = attachment
                try:
                    endpoints[eid] = validate_endpoint(data)
                except ValidationError as exc:
                    self.model_errors(exc, ep)
            segments[sname] = SegmentNode.model_construct(segment=segment, members=members, endpoints=endpoints)
        return TenantNode.model_construct(tenant=obj, router=router, segments=segments)

    # ---- pass 3: model problems -> lines -------------------------------------------------------------

    def keyed_drafts(self) -> list[tuple[Key, Draft]]:
        """Every draft with the key of the object it became (all of them were built when this is asked)."""
        doc = self.doc
        found: list[tuple[Key, Draft]] = []
        found += [(Key(Kind.SWITCH, name=name), sw) for name, sw in doc.switches.items()]
        found += [(Key(Kind.INTERFACE_GROUP, name=name), group) for name, group in doc.groups.items()]
        found += [(Key(Kind.LINK, name=link.key), link) for link in doc.links]
        for tname, tenant in doc.tenants.items():
            found.append((Key(Kind.TENANT, tname), tenant))
            if tenant.router is not None:
                found.append((Key(Kind.LOGICAL_ROUTER, tname), tenant.router))
            for sname, seg in tenant.segments.items():
                found.append((Key(Kind.SEGMENT, tname, sname), seg))
                found += [(Key(Kind.MEMBER, tname, sname, m.key), m) for m in seg.members]
                found += [(Key(Kind.ENDPOINT, tname, sname, eid), ep) for eid, ep in seg.endpoints.items()]
        return found

    def map_problems(self, problems: list[Problem]) -> None:
        index = {str(key): draft for key, draft in self.keyed_drafts()}
        lines = self.doc.lines
        for problem in problems:
            draft = index.get(problem.object)
            line = 1
            if draft is not None:
                line = draft.child_line(problem, self.doc) or draft.line
            text = lines[line - 1]
            self.errors.append(ConfigError(line, indent(text) + 1, str(problem)))


def _address(text: str) -> IPv4Address | str:
    """A dotted-quad IPv4 address as an address object, parsed in C: inet_pton accepts exactly the texts
    ipaddress does (four decimal octets, no leading zeros) at a fifth of the cost, which counts at 100,000
    endpoints. Anything else (IPv6, typos) stays text for the model to parse and to report."""
    try:
        return IPv4Address(inet_pton(AF_INET, text))
    except (OSError, ValueError):
        return text
