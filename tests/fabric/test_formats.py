"""Serving older agents (fabric/formats.py): the format-1 document a controller of format 2 serves is exactly
what a controller of format 1 served for the same intent, validators differ per format, and negotiation picks
the newest format the agent reads or refuses an agent older than every format served.

`FormatOne` below is format 1's envelope as it was frozen in the release that served it (state.py at the
commit before format 2); tests/upgrade holds the same against that release's own code."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import Field, TypeAdapter

from podswitch.fabric import Compiled, allocate, compile, formats, merged
from podswitch.fabric.state import (
    FORMAT,
    FORMAT_HEADER,
    READS,
    DesiredState,
    SwitchState,
    Sync,
    contract,
    parse_desired,
    serialize,
)
from podswitch.model import Intent
from tests.builders import demo_tenant, pod
from tests.fabric.test_state import two_leaf_seed
from tests.strategies import intents

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contract(kw_only=True)
class FormatOne:
    """DesiredState of format 1, as the format-1 contract stated it (strict, unknown fields refused)."""

    format: Annotated[int, Field(ge=1)] = 1
    revision: int
    etag: str
    state: SwitchState


FORMAT_ONE = TypeAdapter(FormatOne)


def test_the_table_reaches_format_one() -> None:
    assert FORMAT == 2 and formats.OLDEST == 1 and sorted(READS) == [1, 2]
    assert formats.negotiate(None) == FORMAT  # no header: a person or a tool, who wants the current one


@SETTINGS
@given(intents())
def test_format_one_is_exactly_what_a_format_one_controller_served(intent: Intent) -> None:
    alloc = merged({}, allocate(intent, {}))
    compiled = compile(intent, alloc, 5)
    hints = Sync(long_poll=12.5, resync=90.0)
    for switch in compiled.switches:
        now = compiled.document(switch, hints)
        old = compiled.document(switch, hints, format=1)
        assert now is not None and old is not None
        desired = parse_desired(now)
        assert desired.format == 2 and desired.sync == hints and serialize(desired) == now
        # The format-1 contract reads it, strictly ...
        one = FORMAT_ONE.validate_json(old)
        # ... and it is the format-2 document without the new field, byte for byte as format 1 serialized it.
        assert (one.format, one.revision, one.etag, one.state) == (1, 5, desired.etag, desired.state)
        assert (
            old == serialize(one) == serialize(FormatOne(revision=5, etag=compiled.etag(switch) or "", state=one.state))
        )
        # This release reads it too (sync None: the controller said nothing).
        assert parse_desired(old) == replace(desired, format=1, sync=None)
        # The validator: format 1's is the state's hash, as format-1 controllers served it.
        served = compiled.served(switch, hints, format=1)
        assert served is not None and served.validator() == desired.etag


def test_validators_differ_per_format_and_with_the_hints_never_with_the_revision() -> None:
    intent = pod(demo_tenant(), servers={"osvdev0013": "leaf1", "external": "leaf4"})
    alloc = merged({}, allocate(intent, {}))
    compiled = compile(intent, alloc, 7)
    later = compile(intent, alloc, 8, compiled)
    hints = Sync(long_poll=10.0, resync=60.0)

    def validator(c: Compiled, sync: Sync = Sync(), format: int = FORMAT) -> str:
        served = c.served("leaf1", sync, format)
        assert served is not None
        return served.validator()

    assert validator(compiled) != validator(compiled, format=1)
    assert validator(compiled) != validator(compiled, hints)
    assert validator(compiled, format=1) == validator(compiled, hints, format=1)  # format 1 has no hints
    # Another revision that did not change leaf1: the same validators, so its agents keep their 304s.
    assert validator(compiled) == validator(later) and validator(compiled, hints) == validator(later, hints)
    assert validator(compiled).startswith(f"{compiled.etag('leaf1')}-")


def test_negotiation() -> None:
    assert formats.negotiate(FORMAT) == FORMAT
    assert formats.negotiate(FORMAT + 5) == FORMAT  # an agent newer than its controller gets the newest
    assert formats.negotiate(1) == 1
    # A controller that no longer produces format 1 (its downgrade dropped from the table) refuses it.
    with pytest.raises(formats.Unserved) as refused:
        formats.negotiate(1, downgrades={})
    assert (refused.value.asked, refused.value.oldest, refused.value.newest) == (1, 2, 2)
    assert FORMAT_HEADER in str(refused.value) and "upgrade the agent" in str(refused.value)
    # A table of three formats: 3 -> 2 -> 1.
    three = {3: formats.Step(lambda e: {**e, "format": 2}), 2: formats.DOWNGRADES[2]}
    assert [formats.negotiate(a, three, newest=3) for a in (None, 1, 2, 3, 4)] == [3, 1, 2, 3, 3]
    assert formats.oldest(three, 3) == 1 and formats.oldest({3: three[3]}, 3) == 2


def test_a_downgrade_that_changes_the_state_is_applied_to_the_state_only_when_walked() -> None:
    def without_loopback(state: bytes) -> bytes:
        parsed = orjson.loads(state)
        parsed.pop("loopback")
        return orjson.dumps(parsed)

    table = {2: formats.Step(formats.DOWNGRADES[2].envelope, without_loopback)}
    compiled, _ = two_leaf_seed()
    now = compiled.served("leaf1")
    assert now is not None
    assert formats.changes_state(2, 1, table) and not formats.changes_state(2, 1)
    old = formats.downgrade(now, 1, table)
    body = orjson.loads(old.json())
    assert body["format"] == 1 and "sync" not in body and "loopback" not in body["state"]
    assert formats.downgrade(now, 2, table) == now  # nothing to walk


def test_a_document_is_served_in_the_contracts_field_order() -> None:
    compiled, _ = two_leaf_seed()
    served = compiled.served("leaf2", Sync(long_poll=0.0, resync=5.0))
    assert served is not None
    desired = parse_desired(served.json())
    assert list(orjson.loads(served.json())) == ["format", "revision", "etag", "sync", "state"]
    assert serialize(DesiredState(revision=7, etag=desired.etag, sync=desired.sync, state=desired.state)) == (
        served.json()
    )
