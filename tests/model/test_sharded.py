"""The sharded index behaves as a dict, and a draft never changes its base (nor an earlier finished copy)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from podswitch.model.sharded import SHARDS, Sharded, ShardedDraft

keys = st.text(max_size=4) | st.integers(-1000, 1000)
ops = st.lists(st.tuples(st.booleans(), keys, st.integers()), max_size=60)


@given(st.dictionaries(keys, st.integers(), max_size=80), ops, ops)
def test_drafts_are_dicts_that_share_and_never_change_their_base(
    start: dict[object, int], first: list[tuple[bool, object, int]], second: list[tuple[bool, object, int]]
) -> None:
    base = Sharded(start.items())
    assert base == start and len(base) == len(start) and dict(base) == start
    expected = dict(start)
    draft = ShardedDraft(base)
    for put, key, value in first:
        if put:
            draft[key] = value
            expected[key] = value
        else:
            draft.discard(key)
            expected.pop(key, None)
        assert len(draft) == len(expected)
        assert draft.get(key) == expected.get(key) and (key in draft) == (key in expected)
    one = draft.finish()
    assert one == expected and len(one) == len(expected) and sorted(map(repr, one)) == sorted(map(repr, expected))
    assert base == start  # the base is untouched

    # The same draft used again after finishing, and a draft of the copy: neither changes `one`.
    again = ShardedDraft(one)
    later = dict(expected)
    for put, key, value in second:
        if put:
            draft[key] = value
            again[key] = value
            later[key] = value
        else:
            draft.discard(key)
            again.discard(key)
            later.pop(key, None)
    assert again.finish() == later and draft.finish() == later
    assert one == expected and base == start
    for key, value in expected.items():
        assert one[key] == value and one.get(key, None) == value
    assert sorted(map(repr, one.items())) == sorted(map(repr, expected.items()))
    assert sorted(one.values()) == sorted(expected.values()) and len(one.items()) == len(expected)


def test_a_change_copies_one_shard_and_shares_the_others() -> None:
    base = Sharded((f"endpoint-{i}", i) for i in range(10_000))
    draft = ShardedDraft(base)
    draft["new"] = 1
    copy = draft.finish()
    shared = sum(a is b for a, b in zip(base._shards, copy._shards, strict=True))
    assert shared == SHARDS - 1
    assert ShardedDraft(base).finish() is base  # no change: the very same mapping
