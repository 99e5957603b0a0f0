"""Small numbers the data plane needs and the intent doesn't carry: a VNI per segment, an index per switch,
link and tenant (for loopbacks, /31s and slice names). Allocation is stable: what exists keeps its number,
new objects take the lowest free one, numbers of deleted objects are released. The store persists the
result in the same transaction as the intent change, so every controller agrees on it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..model import Intent

AllocKey = tuple[str, str]  # (kind, key)

SWITCH = "switch"
LINK = "link"
TENANT = "tenant"
SEGMENT = "segment"

# First and last usable value per kind. VNIs below 10000 are reserved for fabric-internal networks.
RANGES: dict[str, tuple[int, int]] = {
    SWITCH: (1, 32767),
    LINK: (0, 32767),
    TENANT: (1, 16383),  # each takes a /31 of 169.254.0.0/17
    SEGMENT: (10000, 16777214),
}


def segment_key(tenant: str, segment: str) -> str:
    return f"{tenant}/{segment}"


def wanted(intent: Intent) -> dict[str, set[str]]:
    """Every key that needs a number, by kind."""
    topo = intent.topology
    return {
        SWITCH: set(topo.switches),
        LINK: set(topo.links),
        TENANT: set(intent.tenants),
        SEGMENT: {segment_key(t, s) for t, node in intent.tenants.items() for s in node.segments},
    }


def allocate(intent: Intent, previous: Mapping[AllocKey, int]) -> dict[AllocKey, int | None]:
    """The changes to `previous` that make it cover exactly `intent`: new keys get numbers, released keys
    map to None. Raises ValueError when a range is exhausted."""
    delta: dict[AllocKey, int | None] = {}
    need = wanted(intent)
    by_kind: dict[str, dict[str, int]] = {kind: {} for kind in RANGES}
    for (kind, key), value in previous.items():
        if kind in by_kind:
            by_kind[kind][key] = value
    for kind, keys in need.items():
        have = by_kind[kind]
        for key in have.keys() - keys:
            delta[(kind, key)] = None
        missing = sorted(keys - have.keys())
        if not missing:
            continue
        used = {v for k, v in have.items() if k in keys}
        for key, value in zip(missing, _free(used, *RANGES[kind], len(missing)), strict=True):
            delta[(kind, key)] = value
    return delta


def _free(used: set[int], first: int, last: int, count: int) -> Iterable[int]:
    found = 0
    value = first
    while found < count:
        if value > last:
            raise ValueError(f"no free number left in {first}..{last}")
        if value not in used:
            found += 1
            yield value
        value += 1


def merged(previous: Mapping[AllocKey, int], delta: Mapping[AllocKey, int | None]) -> dict[AllocKey, int]:
    result = dict(previous)
    for key, value in delta.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result
