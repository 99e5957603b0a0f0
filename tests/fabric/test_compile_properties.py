"""Properties of the compiler over generated intents: every document satisfies the agent contract, the
output does not depend on the order objects were added, and incremental compilation after any change gives
exactly what a full compilation gives."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podswitch.fabric import allocate, compile, merged
from podswitch.fabric.state import parse_desired, serialize
from podswitch.model import Intent, Key, Kind, build, delete, put
from tests.strategies import intents

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _compile(intent: Intent, alloc: dict | None = None, previous=None):  # type: ignore[no-untyped-def]
    alloc = merged(alloc or {}, allocate(intent, alloc or {}))
    return compile(intent, alloc, 1, previous), alloc


@SETTINGS
@given(intents(), st.randoms(use_true_random=False))
def test_documents_match_the_contract_and_ignore_insertion_order(intent: Intent, rnd: random.Random) -> None:
    compiled, alloc = _compile(intent)
    objects = list(intent.objects())
    rnd.shuffle(objects)
    again = compile(build(objects), alloc, 1)
    for switch in compiled.switches:
        document = compiled.document(switch)
        assert document == again.document(switch)
        desired = parse_desired(document)
        assert serialize(desired) == document  # exactly the contract's objects, nothing more or less
        state = desired.state
        assert desired.etag == compiled.etag(switch) and state.switch == switch
        bridges = {b.vni for b in state.bridges}
        assert all(a.vni in bridges for a in state.attachments)
        assert all(i.bridge in {b.bridge for b in state.bridges} for s in state.slices for i in s.interfaces)
        assert len({(a.port, a.vlan) for a in state.attachments}) == len(state.attachments)


@SETTINGS
@given(intents(), st.data())
def test_incremental_compile_equals_full_compile(intent: Intent, data: st.DataObject) -> None:
    before, alloc = _compile(intent)
    keys = [k for k, _ in intent.objects() if k.kind in (Kind.ENDPOINT, Kind.MEMBER, Kind.LOGICAL_ROUTER, Kind.SEGMENT)]
    if not keys:
        return
    key = data.draw(st.sampled_from(keys))
    if (
        key.kind == Kind.SEGMENT
        and intent.tenants[key.tenant].router is not None
        and intent.tenants[key.tenant].router.interface(key.segment) is not None
    ):
        return  # still referenced: not a change the controller would accept
    changed = delete(intent, key)
    after, alloc2 = _compile(changed, alloc, before)
    full = compile(changed, alloc2, 1)
    assert {s: after.document(s) for s in after.switches} == {s: full.document(s) for s in full.switches}
    # an ETag moves exactly where the document did, and a switch whose ETag held keeps its very entry
    for s in after.switches.keys() & before.switches.keys():
        assert (after.etag(s) == before.etag(s)) == (after.document(s) == before.document(s))
        if after.etag(s) == before.etag(s):
            assert after.switches[s] is before.switches[s]
    # and back: re-adding the object restores the original documents
    restored = put(changed, key, intent.get(key)) if key.kind != Kind.SEGMENT else intent
    back, _ = _compile(restored, alloc2, after)
    if key.kind != Kind.SEGMENT:
        assert {s: back.etag(s) for s in back.switches} == {s: before.etag(s) for s in before.switches}


def test_an_interface_group_on_two_leaves_is_carried_by_both() -> None:
    from podswitch.model import InterfaceGroup, Port, validate
    from tests.builders import DEMO, demo_tenant, pod

    intent = pod(demo_tenant())
    intent = put(
        intent,
        Key(Kind.INTERFACE_GROUP, name="osvdev0013"),
        InterfaceGroup(
            name="osvdev0013", members=[Port(switch="leaf1", interface="swp7"), Port(switch="leaf2", interface="swp7")]
        ),
    )
    validate(intent)
    compiled, alloc = _compile(intent)
    vni = alloc[("segment", f"{DEMO}/net_demo")]
    for leaf in ("leaf1", "leaf2"):
        state = compiled.state(leaf)
        assert [(a.port, a.vlan, a.vni) for a in state.attachments] == [("swp7", 300, vni)]
        assert any(m.mac == "fa:16:3e:ef:4f:f4" and m.dev == "swp7.300" for m in state.local_macs)
    bridge = (
        next(b for b in compiled.state("leaf3").bridges if b.vni == vni) if compiled.state("leaf3").bridges else None
    )
    assert bridge is None  # leaf3 has nothing of the tenant
    remote = next(b for b in compiled.state("leaf1").bridges if b.vni == vni).remote_macs
    assert [(m.mac, m.vtep) for m in remote] == [("fa:16:3e:ef:4f:f4", "10.255.0.1")]  # one VTEP answers
