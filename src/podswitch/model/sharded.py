"""A read-only mapping split into shards, so that a changed copy costs the shards it changes, not the whole.

The intent's indexes (where each of 100,000 endpoints lives, which segments claim each interface-group and
VLAN) are carried from revision to revision. As plain dicts, every edit that touched one endpoint copied the
whole index: 2 ms at 100,000 endpoints, and a young 100,000-entry dict that each of the garbage collector's
next passes walked again. Split by key hash into `SHARDS` dicts, an edit copies the list of shards and each
shard it changes (a few hundred entries), sharing the rest with the base."""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, Mapping, ValuesView
from typing import TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")

SHARDS = 256
_MASK = SHARDS - 1


class Sharded(Mapping[K, V]):
    """Immutable once built (change a copy through `ShardedDraft`). Equal to any mapping with the same items."""

    __slots__ = ("_len", "_shards")

    def __init__(self, items: Iterable[tuple[K, V]] = ()) -> None:
        shards: list[dict[K, V]] = [{} for _ in range(SHARDS)]
        for key, value in items:
            shards[hash(key) & _MASK][key] = value
        self._shards = shards
        self._len = sum(map(len, shards))

    def __getitem__(self, key: K) -> V:
        return self._shards[hash(key) & _MASK][key]

    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, default: V | D, /) -> V | D: ...
    def get(self, key: K, default: object = None, /) -> object:
        return self._shards[hash(key) & _MASK].get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._shards[hash(key) & _MASK]

    def __iter__(self) -> Iterator[K]:
        for shard in self._shards:
            yield from shard

    def __len__(self) -> int:
        return self._len

    def items(self) -> ItemsView[K, V]:
        return _Items(self)

    def values(self) -> ValuesView[V]:
        return _Values(self)

    def __repr__(self) -> str:
        return f"Sharded({dict(self.items())!r})"


class _Items(ItemsView[K, V]):
    """Items shard by shard (Mapping's would look each key up again)."""

    __slots__ = ("_sharded",)

    def __init__(self, mapping: Sharded[K, V]) -> None:
        super().__init__(mapping)
        self._sharded = mapping

    def __iter__(self) -> Iterator[tuple[K, V]]:
        for shard in self._sharded._shards:
            yield from shard.items()


class _Values(ValuesView[V]):
    __slots__ = ("_sharded",)

    def __init__(self, mapping: Sharded[K, V]) -> None:
        super().__init__(mapping)
        self._sharded: Sharded[object, V] = mapping  # type: ignore[assignment]

    def __iter__(self) -> Iterator[V]:
        for shard in self._sharded._shards:
            yield from shard.values()


class ShardedDraft(Mapping[K, V]):
    """A changed copy of a `Sharded` in the making: each shard is copied on its first change, the others are
    shared with the base. `finish()` gives the copy; the base never changes."""

    __slots__ = ("_base", "_len", "_owned", "_shards")

    def __init__(self, base: Sharded[K, V]) -> None:
        self._base = base
        self._shards: list[dict[K, V]] | None = None  # copied on the first change
        self._owned: set[int] = set()
        self._len = len(base)

    def _read(self, key: object) -> dict[K, V]:
        shards = self._shards if self._shards is not None else self._base._shards
        return shards[hash(key) & _MASK]

    def _write(self, key: K) -> dict[K, V]:
        if self._shards is None:
            self._shards = list(self._base._shards)
        at = hash(key) & _MASK
        if at not in self._owned:
            self._shards[at] = dict(self._shards[at])
            self._owned.add(at)
        return self._shards[at]

    def __getitem__(self, key: K) -> V:
        return self._read(key)[key]

    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, default: V | D, /) -> V | D: ...
    def get(self, key: K, default: object = None, /) -> object:
        return self._read(key).get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._read(key)

    def __iter__(self) -> Iterator[K]:
        for shard in self._shards if self._shards is not None else self._base._shards:
            yield from shard

    def __len__(self) -> int:
        return self._len

    def __setitem__(self, key: K, value: V) -> None:
        shard = self._write(key)
        if key not in shard:
            self._len += 1
        shard[key] = value

    def discard(self, key: K) -> None:
        if key in self._read(key):
            del self._write(key)[key]
            self._len -= 1

    def finish(self) -> Sharded[K, V]:
        if self._shards is None:
            return self._base
        out: Sharded[K, V] = Sharded.__new__(Sharded)
        out._shards = self._shards
        out._len = self._len
        # The copy owns them now: used again, this draft is a draft of the copy.
        self._base, self._shards, self._owned = out, None, set()
        return out
