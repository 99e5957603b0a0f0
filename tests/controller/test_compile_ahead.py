"""Compiling ahead: while agents wait, a write's desired state is compiled as it is committed, and that result
is used only for exactly the revision, intent and allocation it was compiled from."""

from __future__ import annotations

from pathlib import Path

from podswitch.controller import Controller, metrics
from podswitch.fabric import compile
from podswitch.model import Key, Kind, put
from tests.api.test_switches import POD
from tests.builders import DEMO, SEED_PATH, endpoint

E9 = Key(Kind.ENDPOINT, DEMO, "net_demo", "e9")


def _controller(tmp_path: Path) -> Controller:
    from podswitch.store import Store

    ctl = Controller(Store.open(Store.default_url(tmp_path)))
    ctl.replace(POD + "!\n" + SEED_PATH.read_text(), actor="test")
    return ctl


def _count(result: str) -> float:
    return metrics.COMPILES.labels(result=result)._value.get()


def _documents(ctl: Controller) -> dict[str, bytes | None]:
    compiled = ctl.compiled()
    return {s: compiled.document(s) for s in compiled.switches}


def _fresh(ctl: Controller) -> dict[str, bytes | None]:
    snap = ctl.snapshot()
    full = compile(snap.intent, snap.allocation, snap.revision)
    return {s: full.document(s) for s in full.switches}


def test_a_write_while_agents_wait_is_compiled_ahead_and_used(tmp_path: Path) -> None:
    ctl = _controller(tmp_path)
    before = ctl.compiled()
    ahead, misses = _count("ahead"), _count("miss")
    new = endpoint("e9", "osvdev0013", 300, "10.66.16.9", "fa:16:3e:00:00:09")
    with ctl.waiting():
        ctl.put_object(E9, new, actor="test")
    assert ctl._cache._worker is not None
    ctl._cache._worker.submit(lambda: None).result(10)  # the compile ahead is done
    after = ctl.compiled()
    assert (_count("ahead"), _count("miss")) == (ahead + 1, misses)
    assert after.revision == ctl.snapshot().revision == before.revision + 1
    assert _documents(ctl) == _fresh(ctl)
    assert {s for s in after.switches if after.etag(s) != before.etag(s)} == {"leaf1"}


def test_nobody_waiting_compiles_nothing_ahead(tmp_path: Path) -> None:
    ctl = _controller(tmp_path)
    ctl.compiled()
    ahead = _count("ahead")
    ctl.put_object(E9, endpoint("e9", "osvdev0013", 300, "10.66.16.9", "fa:16:3e:00:00:09"), actor="test")
    assert ctl._cache._worker is None
    assert _documents(ctl) == _fresh(ctl) and _count("ahead") == ahead


def test_a_result_compiled_ahead_for_another_intent_is_never_used(tmp_path: Path) -> None:
    ctl = _controller(tmp_path)
    ctl.compiled()
    snap = ctl.snapshot()
    # what a write that then failed (or was recomputed on another controller's revision) compiled ahead
    x = endpoint("x", "osvdev0013", 300, "10.66.16.8", "fa:16:3e:00:00:08")
    other = put(snap.intent, Key(Kind.ENDPOINT, DEMO, "net_demo", "x"), x)
    ctl._cache.ahead(other, snap.allocation, snap.revision + 1)
    assert ctl._cache._worker is not None
    ctl._cache._worker.submit(lambda: None).result(10)
    ctl.put_object(E9, endpoint("e9", "osvdev0013", 300, "10.66.16.9", "fa:16:3e:00:00:09"), actor="test")
    assert ctl.snapshot().revision == snap.revision + 1
    ahead = _count("ahead")
    assert _documents(ctl) == _fresh(ctl) and _count("ahead") == ahead
    assert ctl._cache._ahead is None  # dropped, not kept for later
