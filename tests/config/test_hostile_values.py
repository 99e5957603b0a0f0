"""Whatever value the model accepts, in any field of any object, renders to running-config text that reads
back as the same intent. The values are drawn adversarially (arbitrary unicode, blanks and line ends of
every kind, `!`, zone ids, JSON booleans and numbers, well-formed values with such characters spliced in):
the model refuses them, or they are exactly one token of the text."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from podswitch.config import parse, render
from podswitch.model import Intent, IntentError, Key, Model, NotFound, put, validate
from tests.builders import FULL_CONFIG, slug
from tests.strategies import hostile_text, hostile_variants, intents

FULL = parse(FULL_CONFIG)
HOSTILE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Path = tuple[Any, ...]


def leaves(value: Any, path: Path = ()) -> list[Path]:
    """Every place in a JSON dump a value can be put: each scalar, each list item, one past each list's end."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in leaves(item, (*path, key))]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in leaves(item, (*path, i))] + [(*path, len(value))]
    return [path]


def replaced(value: Any, path: Path, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    items = list(value)
    if head == len(items):
        items.append(new)
    else:
        items[head] = replaced(items[head], rest, new)
    return items


def at(value: Any, path: Path) -> Any:
    """The value at a place (a list's end: the list itself, empty or not)."""
    for step in path:
        if isinstance(value, list) and step == len(value):
            return "an item" if value else []
        value = value[step]
    return value


def objects(intent: Intent) -> dict[Key, Model]:
    return dict(intent.objects())


def check_round_trip(intent: Intent) -> None:
    """The text of an intent the model holds reads back as that intent: always without the rules between
    objects, and with them when the intent keeps them."""
    text = render(intent)
    assert objects(parse(text, validate=False)) == objects(intent), text
    try:
        validate(intent)
    except IntentError:
        return
    assert objects(parse(text)) == objects(intent), text
    assert render(parse(text)) == text


def hostile_put(intent: Intent, data: st.DataObject, key: Key | None = None, path: Path | None = None) -> Intent | None:
    """The intent with one object (at `key`, else any) changed at one place (`path`, else any) or two of its
    JSON to hostile values; None when the model refuses the object or the change."""
    if key is None:
        key = data.draw(st.sampled_from([k for k, _ in intent.objects()]), label="object")
    obj = intent.get(key)
    assert obj is not None
    dumped = obj.model_dump(mode="json")
    for _ in range(1 if path is not None else data.draw(st.integers(1, 2), label="places")):
        if path is None:
            places = leaves(dumped)
            if not places:
                return None
            path = data.draw(st.sampled_from(places), label="place")
        current = at(dumped, path)
        if current == "an item":  # one past the end of a list: a variant of its last item
            current = at(dumped, path[:-1])[-1]
        dumped = replaced(dumped, path, data.draw(hostile_variants(current), label="value"))
        path = None
    try:
        new = type(obj).model_validate(dumped)
    except ValidationError:
        return None
    try:
        return put(intent, Key.of(key.kind, new, key.tenant, key.segment), new)
    except (IntentError, NotFound):
        return None


def _places() -> list[tuple[Key, Path]]:
    """One place of each kind: (object, path in its JSON) for every field of every kind of object in
    FULL_CONFIG, list items and one-past-the-end of lists included."""
    found: dict[tuple[str, Path], tuple[Key, Path]] = {}
    for key, obj in FULL.objects():
        dumped = obj.model_dump(mode="json")
        for path in leaves(dumped):
            shape = (type(obj).__name__, tuple("*" if isinstance(step, int) else step for step in path))
            if shape not in found or at(dumped, path) not in (None, "an item", []):
                found[shape] = (key, path)  # the last place that holds a value: its variants are closest
    return sorted(found.values(), key=str)


@pytest.mark.parametrize(("key", "path"), _places(), ids=slug)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_field_of_every_object_takes_only_values_that_round_trip(
    key: Key, path: Path, data: st.DataObject
) -> None:
    intent = hostile_put(FULL, data, key, path)
    if intent is not None:
        check_round_trip(intent)


@HOSTILE
@given(st.data())
def test_hostile_values_anywhere(data: st.DataObject) -> None:
    intent = hostile_put(FULL, data)
    if intent is not None:
        check_round_trip(intent)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(intents(), st.data())
def test_hostile_values_in_generated_intents(intent: Intent, data: st.DataObject) -> None:
    changed = hostile_put(intent, data)
    if changed is not None:
        check_round_trip(changed)


# ---- what the property found, kept as examples --------------------------------------------------------------


def test_the_full_config_sets_every_field_of_every_object() -> None:
    # So the property above reaches every field: each field of each kind of object (nested ones included)
    # holds a value in at least one object of FULL_CONFIG, and each list holds at least one item somewhere.
    shapes: set[tuple[str, Path]] = set()
    set_somewhere: set[tuple[str, Path]] = set()
    for _, obj in FULL.objects():
        dumped = obj.model_dump(mode="json")
        for path in leaves(dumped):
            shape = (type(obj).__name__, tuple("*" if isinstance(step, int) else step for step in path))
            shapes.add(shape)
            value = at(dumped, path)
            if value is not None and value != []:
                set_somewhere.add(shape)
    # (a nested object left out somewhere, like a rule's src_port, counts as set when another rule has one)
    unset = {
        (kind, path)
        for kind, path in shapes - set_somewhere
        if not any(k == kind and p[: len(path)] == path for k, p in set_somewhere)
    }
    assert unset == set()
    assert len({kind for kind, _ in shapes}) == 8  # every kind of object


@given(hostile_text)
@settings(max_examples=200, deadline=None)
def test_a_tenant_id_or_origination_is_one_token(value: str) -> None:
    from podswitch.model import Kind, Tenant

    try:
        tenant = Tenant(name="t", id=value, origination=value)
    except ValidationError:
        return
    check_round_trip(put(Intent(), Key(Kind.TENANT, "t"), tenant))


def test_tokens_starting_with_an_exclamation_mark_are_values_not_comments() -> None:
    text = "tenant t\n  id !\n  origination !fabric\n"
    intent = parse(text)
    assert (intent.tenants["t"].tenant.id, intent.tenants["t"].tenant.origination) == ("!", "!fabric")
    assert render(intent) == text
