"""What Neutron objects become (pure): a full sync is exactly the state it describes, and a second one
changes nothing."""

from __future__ import annotations

from podswitch.api.bcf import neutron
from podswitch.config import render
from podswitch.controller.operations import apply_operations
from podswitch.model import Intent, validate
from tests.bcf import seed

ORIGIN = neutron.Origin("openstack", "openstackdev")


def synced(intent: Intent, body: dict[str, object]) -> Intent:
    new = apply_operations(intent, neutron.topology_ops(intent, ORIGIN, body))
    validate(new)
    return new


def test_a_full_sync_of_the_seed_is_the_seed_and_a_second_one_changes_nothing() -> None:
    port = seed.port()
    del port["bound_segment"], port["network"]
    body = {"networks": [{**seed.network(), "ports": [port]}], "tenants": {seed.PROJECT_ID: seed.PROJECT}}
    intent = synced(Intent(), body)
    assert seed.tenant_block(render(intent), seed.TENANT) == seed.seed_block(with_router=False)
    assert neutron.topology_ops(intent, ORIGIN, body) == []
    emptied = synced(intent, {"networks": [], "tenants": {}})
    assert seed.TENANT not in render(emptied)


def test_a_full_sync_leaves_another_neutrons_objects() -> None:
    body = {"networks": [seed.network()], "tenants": {seed.PROJECT_ID: seed.PROJECT}}
    theirs = neutron.Origin("neutron2", "neutron2")
    intent = apply_operations(Intent(), neutron.topology_ops(Intent(), theirs, body))
    intent = synced(intent, body)
    text = render(intent)
    assert "tenant demo.neutron2" in text and "tenant demo.openstack" in text
    assert render(synced(intent, {"networks": [], "tenants": {}})).count("tenant demo.") == 1
