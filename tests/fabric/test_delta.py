"""Deltas between a switch's states: applied to the state an agent holds, a delta gives exactly the document
the controller would send in full, over a chain of changes; anything else is refused, never half-applied."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from podswitch.fabric import Compiled, allocate, compile, merged
from podswitch.fabric.compile import BASES
from podswitch.fabric.delta import DeltaMismatch, apply_delta, etag
from podswitch.fabric.state import DesiredState, ValidationError, parse_desired
from podswitch.model import Intent, Key, Kind, delete, put
from tests.builders import DEMO, demo_tenant, endpoint, pod
from tests.strategies import intents

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHANGED = (Kind.ENDPOINT, Kind.MEMBER, Kind.LOGICAL_ROUTER, Kind.SEGMENT, Kind.TENANT)


def _compile(intent: Intent, alloc: dict | None, previous: Compiled | None, revision: int):  # type: ignore[no-untyped-def]
    alloc = merged(alloc or {}, allocate(intent, alloc or {}))
    return compile(intent, alloc, revision, previous), alloc


def held(compiled: Compiled, switch: str) -> DesiredState:
    document = compiled.document(switch)
    assert document is not None
    return parse_desired(document)


def _change(intent: Intent, original: Intent, data: st.DataObject) -> Intent:
    """Delete one object (with what is below it), or put back an endpoint or member of `original`."""
    gone = [
        (k, obj)
        for k, obj in original.objects()
        if k.kind in (Kind.ENDPOINT, Kind.MEMBER)
        and intent.get(k) is None
        and intent.get(Key(Kind.SEGMENT, k.tenant, k.segment)) is not None
    ]
    if gone and data.draw(st.booleans()):
        key, obj = data.draw(st.sampled_from(gone))
        return put(intent, key, obj)
    keys = [k for k, _ in intent.objects() if k.kind in CHANGED and k.tenant != "system"]
    if not keys:
        return intent
    key = data.draw(st.sampled_from(keys))
    tnode = intent.tenants[key.tenant]
    if key.kind == Kind.SEGMENT and tnode.router is not None and tnode.router.interface(key.segment) is not None:
        return intent  # still referenced: not a change the controller would accept
    return delete(intent, key)


@SETTINGS
@given(intents(), st.data())
def test_a_delta_applied_to_any_recent_state_gives_the_full_document(intent: Intent, data: st.DataObject) -> None:
    first, alloc = _compile(intent, None, None, 1)
    chain = [first]
    current = intent
    for revision in range(2, 2 + data.draw(st.integers(1, BASES + 1))):
        current = _change(current, intent, data)
        compiled, alloc = _compile(current, alloc, chain[-1], revision)
        chain.append(compiled)
    last = chain[-1]
    applied = 0
    for switch in last.switches:
        full = held(last, switch)
        assert etag(full.state) == full.etag == last.etag(switch)  # the ETag is the state's own hash
        for back, earlier in enumerate(reversed(chain[:-1]), start=1):
            if switch not in earlier.switches:
                continue
            base = held(earlier, switch)
            delta = last.delta(switch, base.etag)
            if base.etag == full.etag:
                continue  # an agent holding it gets 304, never a delta
            distinct = len({c.etag(switch) for c in chain[-1 - back :]}) - 1  # other states since, one base each
            if delta is None:
                assert distinct > BASES or any(switch not in c.switches for c in chain[-1 - back :])
                continue
            assert apply_delta(base, delta) == full
            applied += 1
            assert last.delta(switch, base.etag) is delta  # once per revision
    event(f"deltas applied: {min(applied, 5)}{'+' if applied >= 5 else ''}")


def test_one_new_endpoint_is_a_small_delta_of_only_what_changed() -> None:
    intent = pod(demo_tenant(), servers={"osvdev0013": "leaf1"})
    before, alloc = _compile(intent, None, None, 1)
    new = endpoint("e3", "osvdev0013", 300, "10.66.16.4", "fa:16:3e:00:00:03")
    after, _ = _compile(put(intent, Key(Kind.ENDPOINT, DEMO, "net_demo", "e3"), new), alloc, before, 2)
    delta = after.delta("leaf1", before.etag("leaf1") or "")
    assert delta is not None
    body = json.loads(delta)
    assert (body["revision"], body["etag"], body["base"]) == (2, after.etag("leaf1"), before.etag("leaf1"))
    sections = body["state"]
    # the new MAC on its bridge, the bridge's remote MACs, the tenant slice's neighbour; nothing else
    assert set(sections) == {"switch", "role", "loopback", "local_macs", "bridges", "slices"}
    [[_, deleted, macs]] = sections["local_macs"]  # the run of the endpoint's bridge, sent again
    assert len(macs) == deleted + 1 and "fa:16:3e:00:00:03" in {m["mac"] for m in macs}
    assert len({m["bridge"] for m in macs}) == 1
    assert [len(h[2]) for h in sections["bridges"]] == [1] and [len(h[2]) for h in sections["slices"]] == [1]
    assert apply_delta(held(before, "leaf1"), delta) == held(after, "leaf1")


def _pair() -> tuple[Compiled, Compiled]:
    intent = pod(demo_tenant(), servers={"osvdev0013": "leaf1"})
    before, alloc = _compile(intent, None, None, 1)
    new = endpoint("e3", "osvdev0013", 300, "10.66.16.4", "fa:16:3e:00:00:03")
    after, _ = _compile(put(intent, Key(Kind.ENDPOINT, DEMO, "net_demo", "e3"), new), alloc, before, 2)
    return before, after


def _edited(delta: bytes, change: Any) -> bytes:
    body = json.loads(delta)
    change(body)
    return orjson.dumps(body)


def test_a_delta_that_does_not_fit_is_refused() -> None:
    before, after = _pair()
    base = held(before, "leaf1")
    delta = after.delta("leaf1", base.etag)
    assert delta is not None
    assert after.delta("leaf1", "not-a-state-it-had") is None
    assert after.delta("leaf1", after.etag("leaf1") or "") is None  # current: 304, not a delta
    with pytest.raises(DeltaMismatch):  # another base
        apply_delta(dataclasses.replace(base, etag="other"), delta)
    with pytest.raises(DeltaMismatch):  # another format
        apply_delta(base, _edited(delta, lambda b: b.update(format=b["format"] + 1)))
    with pytest.raises(DeltaMismatch):  # a hunk outside its list
        apply_delta(base, _edited(delta, lambda b: b["state"]["local_macs"][0].__setitem__(0, 10_000)))
    with pytest.raises(DeltaMismatch):  # a result that is not the state it names
        apply_delta(base, _edited(delta, lambda b: b["state"]["local_macs"][0].__setitem__(1, 1)))
    with pytest.raises(DeltaMismatch):
        apply_delta(base, _edited(delta, lambda b: b["state"].update(loopback="10.9.9.9")))
    with pytest.raises(ValidationError):  # not a delta: unknown field, negative index
        apply_delta(base, _edited(delta, lambda b: b["state"].update(extra=1)))
    with pytest.raises(ValidationError):
        apply_delta(base, _edited(delta, lambda b: b["state"]["local_macs"][0].__setitem__(0, -1)))
    assert apply_delta(base, delta) == held(after, "leaf1")  # and the genuine one still applies
