"""The intent as BCF's config tree and back (pure): every tenant survives the round trip, and an edit of the
tree becomes exactly the operations that make the difference."""

from __future__ import annotations

from hypothesis import given, settings

from podswitch.api.bcf import tree
from podswitch.api.bcf.paths import parse
from podswitch.controller.operations import apply_operations
from podswitch.model import Intent, Key, Kind, validate
from tests.builders import DEMO, demo_tenant
from tests.strategies import intents


@settings(max_examples=40, deadline=None)
@given(intents())
def test_every_tenant_reads_back_from_its_tree(intent: Intent) -> None:
    for tnode in intent.tenants.values():
        assert tree.tenant_node(tree.tenant_tree(tnode), tnode) == tnode


@settings(max_examples=40, deadline=None)
@given(intents())
def test_an_unedited_tree_is_no_operation(intent: Intent) -> None:
    trees = tree.trees(intent, parse("tenant")[0])
    after = [tree.tenant_node(t, intent.tenants[t["name"]]) for t in trees]
    assert tree.operations(intent, [t["name"] for t in trees], after) == []


def _edit(intent: Intent, path: str, body: dict[str, object] | None, merge: bool = False) -> Intent:
    elements = parse(path)
    trees = tree.trees(intent, elements[0])
    names = [t["name"] for t in trees]
    if body is None:
        tree.delete(trees, elements)
    else:
        tree.put(trees, elements, body, merge=merge)
    after = [tree.tenant_node(t, intent.tenants.get(t["name"])) for t in trees]
    new = apply_operations(intent, tree.operations(intent, names, after))
    validate(new)
    return new


def test_a_subnet_renamed_by_its_put_replaces_the_gateway() -> None:
    intent = demo_tenant()
    path = (
        f'tenant[name="{DEMO}"]/logical-router/segment-interface[segment="net_demo"]/ip-subnet[ip-cidr="10.66.16.1/24"]'
    )
    new = _edit(intent, path, {"ip-cidr": "10.66.16.254/24"})
    router = new.get(Key(Kind.LOGICAL_ROUTER, DEMO))
    assert [str(a) for a in router.interface("net_demo").ip_addresses] == ["10.66.16.254/24"]  # type: ignore[union-attr]
    assert new.tenants[DEMO].segments == intent.tenants[DEMO].segments


def test_a_put_keeps_children_the_body_does_not_give_and_a_patch_keeps_fields() -> None:
    intent = demo_tenant()
    kept = _edit(intent, f'tenant[name="{DEMO}"]', {"id": "new-id"})
    assert kept.tenants[DEMO].tenant.id == "new-id" and kept.tenants[DEMO].tenant.origination is None
    assert kept.tenants[DEMO].segments == intent.tenants[DEMO].segments
    patched = _edit(intent, f'tenant[name="{DEMO}"]', {"id": "new-id"}, merge=True)
    assert patched.tenants[DEMO].tenant.origination == intent.tenants[DEMO].tenant.origination


def test_delete_removes_the_subtree_and_only_it() -> None:
    intent = demo_tenant()
    new = _edit(intent, f'tenant[name="{DEMO}"]/segment[name="net_demo"]/member[vlan="300"]', None)
    assert new.tenants[DEMO].segments["net_demo"].members == {}
    assert new.tenants[DEMO].segments["net_demo"].endpoints == intent.tenants[DEMO].segments["net_demo"].endpoints
