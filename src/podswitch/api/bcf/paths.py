"""Paths of the BCF config tree: `tenant[name="demo.openstack"]/logical-router/segment-interface[segment="net_demo"]`.

The tree (`TREE`) says which lists and containers exist, which fields key each list and which fields a
predicate may test; `parse` reads a path against it and `render` writes one back, so that
`parse(render(path)) == path`. Pure: no I/O, no model, no HTTP.

On the wire a path is percent-encoded (the in-house plugin `urllib.quote`s it, keeping `/`), so a value may
hold a `/` (`dst-ip-subnet="0.0.0.0/0"`): steps are split on `/` only outside quotes. Inside a value, `"` and
`\\` are escaped with a backslash. A bad path raises `BadPath` with the (1-based) position of the first
character that is wrong, and whether it is wrong in form (400) or names nothing in the tree (404)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, unquote

# Where the config tree hangs under /api/v1 (the in-house plugin's BASE).
BASE = "data/controller/applications/bcf"


@dataclass(frozen=True)
class Node:
    """A list of entries (with `keys`) or a container (no keys: at most one, e.g. `logical-router`)."""

    name: str
    keys: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()  # what a predicate may test besides the keys (scalars only)
    children: tuple[Node, ...] = ()

    @property
    def is_list(self) -> bool:
        return bool(self.keys)

    def child(self, name: str) -> Node | None:
        for node in self.children:
            if node.name == name:
                return node
        return None

    @property
    def testable(self) -> tuple[str, ...]:
        return self.keys + self.fields


TREE = Node(
    "",
    children=(
        Node(
            "tenant",
            keys=("name",),
            fields=("id", "origination"),
            children=(
                Node(
                    "logical-router",
                    children=(
                        Node("tenant-interface", keys=("remote-tenant",)),
                        Node("static-route", keys=("dst-ip-subnet",)),
                        Node("segment-interface", keys=("segment",), children=(Node("ip-subnet", keys=("ip-cidr",)),)),
                    ),
                ),
                Node(
                    "segment",
                    keys=("name",),
                    fields=("id", "origination"),
                    children=(
                        Node("endpoint", keys=("id",), fields=("mac", "origination")),
                        Node("member", keys=("interface-group", "vlan"), fields=("origination",)),
                    ),
                ),
            ),
        ),
    ),
)


class BadPath(ValueError):
    """A path that is malformed (status 400) or names nothing in the tree (404), at `position` (1-based)."""

    def __init__(self, position: int, message: str, status: int = 400) -> None:
        super().__init__(f"position {position}: {message}")
        self.position = position
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Element:
    """One element of a path: a node's name and the `[field="value"]` predicates on it, in order."""

    name: str
    predicates: tuple[tuple[str, str], ...] = ()
    node: Node = field(default=TREE, compare=False, repr=False)

    def predicate(self, name: str) -> str | None:
        for key, value in self.predicates:
            if key == name:
                return value
        return None

    @property
    def keyed(self) -> bool:
        """Whether the predicates name exactly one entry: every key of the list, nothing else."""
        return not self.node.is_list or sorted(k for k, _ in self.predicates) == sorted(self.node.keys)


def parse(text: str) -> tuple[Element, ...]:
    """The steps of a decoded path (relative to `BASE`), checked against `TREE`."""
    steps: list[Element] = []
    node = TREE
    i, n = 0, len(text)
    if n == 0:
        raise BadPath(1, "the path is empty: start with tenant", 404)
    while True:
        start = i
        while i < n and text[i] not in "[/":
            if text[i] in ']"=':
                raise BadPath(i + 1, f"unexpected '{text[i]}' in an element name")
            i += 1
        name = text[start:i]
        if not name:
            raise BadPath(start + 1, "an element name is missing")
        child = node.child(name)
        if child is None:
            known = ", ".join(c.name for c in node.children) or "nothing"
            where = f"under {node.name}" if node.name else "at the top"
            raise BadPath(start + 1, f"'{name[:64]}' is not in the tree {where} (it has {known})", 404)
        predicates: list[tuple[str, str]] = []
        while i < n and text[i] == "[":
            key, value, i = _predicate(text, i)
            if key[0] not in child.testable:
                testable = ", ".join(child.testable) or "no predicates"
                raise BadPath(key[1] + 1, f"{child.name} has no field '{key[0][:64]}' to select by ({testable})", 404)
            if any(k == key[0] for k, _ in predicates):
                raise BadPath(key[1] + 1, f"'{key[0]}' is selected twice")
            predicates.append((key[0], value))
        steps.append(Element(name, tuple(predicates), child))
        node = child
        if i == n:
            return tuple(steps)
        if text[i] != "/":
            raise BadPath(i + 1, f"expected '/' or '[' after {name}, found '{text[i]}'")
        i += 1
        if i == n:
            raise BadPath(i, "the path ends with '/'")


def _predicate(text: str, i: int) -> tuple[tuple[str, int], str, int]:
    """`[key="value"]` at text[i] == '[': ((key, its offset), value, the offset after `]`)."""
    n = len(text)
    start = i + 1
    j = start
    while j < n and text[j] not in '="[]/':
        j += 1
    key = text[start:j]
    if not key:
        raise BadPath(start + 1, 'a predicate needs a field name: [field="value"]')
    if j >= n or text[j] != "=":
        raise BadPath(j + 1, f"expected '=' after [{key[:64]}")
    j += 1
    if j >= n or text[j] != '"':
        raise BadPath(j + 1, 'a predicate\'s value is quoted: [field="value"]')
    j += 1
    value: list[str] = []
    while True:
        if j >= n:
            raise BadPath(j + 1, "a quoted value is not closed")
        c = text[j]
        if c == "\\":
            if j + 1 >= n or text[j + 1] not in '"\\':
                raise BadPath(j + 1, 'only \\" and \\\\ may be escaped in a value')
            value.append(text[j + 1])
            j += 2
        elif c == '"':
            j += 1
            break
        else:
            value.append(c)
            j += 1
    if j >= n or text[j] != "]":
        raise BadPath(j + 1, "expected ']' after a predicate's value")
    return (key, start), "".join(value), j + 1


def render(steps: tuple[Element, ...]) -> str:
    """The decoded path of `steps` (what `parse` reads back)."""
    parts = []
    for step in steps:
        preds = "".join(f'[{k}="{_escape(v)}"]' for k, v in step.predicates)
        parts.append(step.name + preds)
    return "/".join(parts)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def encode(path: str) -> str:
    """As the in-house plugin sends it: percent-encoded, `/` kept (`urllib.quote`)."""
    return quote(path, safe="/")


def decode(raw: str) -> str:
    return unquote(raw)
