"""The config-tree path parser (pure): what it renders it reads back, on the wire too, and a bad path is
refused naming the position of the first wrong character."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podswitch.api.bcf.paths import TREE, BadPath, Element, Node, decode, encode, parse, render

# The machine is shared: drawing is fast, but not always within hypothesis's patience.
RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALUES = st.text(max_size=20) | st.sampled_from(["0.0.0.0/0", "10.66.16.1/24", 'a"b', "a\\b", "]/[", "demo.openstack"])


@st.composite
def paths(draw: st.DrawFn) -> tuple[Element, ...]:
    """A path down the tree: each element a child of the one before, each with predicates on fields it has."""
    node: Node = TREE
    elements: list[Element] = []
    while node.children and (not elements or draw(st.booleans())):
        node = draw(st.sampled_from(node.children))
        fields = draw(st.lists(st.sampled_from(node.testable), unique=True)) if node.testable else []
        elements.append(Element(node.name, tuple((f, draw(VALUES)) for f in fields), node))
    return tuple(elements)


@RELAXED
@given(paths())
def test_what_is_rendered_parses_back(path: tuple[Element, ...]) -> None:
    assert parse(render(path)) == path


@RELAXED
@given(paths())
def test_percent_encoded_as_the_plugin_sends_it(path: tuple[Element, ...]) -> None:
    assert parse(decode(encode(render(path)))) == path


@RELAXED
@given(paths(), st.data())
def test_a_damaged_path_is_refused_at_a_position_or_still_names_a_path(
    path: tuple[Element, ...], data: st.DataObject
) -> None:
    text = render(path)
    at = data.draw(st.integers(0, len(text)))
    damaged = text[:at] + data.draw(st.sampled_from(['"', "[", "]", "/", "=", "\\", "x"])) + text[at:]
    try:
        parsed = parse(damaged)
    except BadPath as exc:
        assert 1 <= exc.position <= len(damaged) + 1
        assert exc.status in (400, 404)
        assert f"position {exc.position}" in str(exc)
    else:
        assert render(parsed) == damaged or parse(render(parsed)) == parsed


@pytest.mark.parametrize(
    ("path", "position", "status", "says"),
    [
        ("", 1, 404, "empty"),
        ('tenant[name="demo"]/segmnt', 21, 404, "'segmnt' is not in the tree under tenant"),
        ('tenant[name="demo"', 19, 400, "expected ']'"),
        ('tenant[name="demo', 18, 400, "not closed"),
        ('tenant[name=demo"]', 13, 400, "quoted"),
        ('tenant[colour="red"]', 8, 404, "no field 'colour'"),
        ('tenant[name="a"][name="b"]', 18, 400, "selected twice"),
        ('tenant[name="a"]x', 17, 400, "expected '/' or '['"),
        ('tenant[name="a"]/', 17, 400, "ends with '/'"),
        ('tenant[name="a\\x"]', 15, 400, "escaped"),
        ("logical-router", 1, 404, "at the top"),
    ],
)
def test_bad_paths_name_the_position(path: str, position: int, status: int, says: str) -> None:
    with pytest.raises(BadPath) as caught:
        parse(path)
    assert (caught.value.position, caught.value.status) == (position, status)
    assert says in caught.value.message


def test_a_slash_inside_a_value_does_not_split_the_path() -> None:
    [tenant, router, route] = parse('tenant[name="d"]/logical-router/static-route[dst-ip-subnet="0.0.0.0/0"]')
    assert route.predicates == (("dst-ip-subnet", "0.0.0.0/0"),)
    assert (tenant.name, router.name, route.node.keys) == ("tenant", "logical-router", ("dst-ip-subnet",))
