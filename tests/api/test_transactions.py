"""POST /v1/transactions: ordered puts and deletes as ONE revision, all or nothing, on SQLite and PostgreSQL.

As the Neutron journal and BCF full syncs will use it: a whole tenant in one request, a refused operation
named by its index and field with nothing changed, safe replays after a lost reply, If-Match."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from podswitch.api.app import create_app
from podswitch.store import Store
from tests.api.conftest import AUTH, TOKEN
from tests.store.conftest import pg_database, store_url  # noqa: F401  (fixtures: SQLite and PostgreSQL)

T = "/tenants/demo.openstack"
S = f"{T}/segments/net_demo"
EP = "0485e7a0-198f-4b88-a877-ca79d3e882bc"

SEED_OPS: list[dict[str, Any]] = [
    {"op": "put", "path": T, "body": {"id": "1a2cf63967ca4f26ae5356bb2e6c818c", "origination": "openstack"}},
    {"op": "put", "path": S, "body": {"id": "5310d836-c170-4fda-882c-8a61324d90c6", "origination": "openstack"}},
    {
        "op": "put",
        "path": f"{T}/logical-router",
        "body": {
            "interfaces": [{"segment": "net_demo", "ip_addresses": ["10.66.16.1/24"]}],
            "tenant_interfaces": ["system"],
            "routes": [{"prefix": "0.0.0.0/0", "next_hop": {"tenant": "system"}}],
        },
    },
    {
        "op": "put",
        "path": f"{S}/endpoints/{EP}",
        "body": {
            "attachment_point": {"interface_group": "osvdev0013", "vlan": 300},
            "ips": ["10.66.16.2"],
            "mac": "fa:16:3e:ef:4f:f4",
            "origination": "openstack",
        },
    },
    {"op": "put", "path": f"{S}/members/osvdev0013/300", "body": {"origination": "openstackdev"}},
]


@pytest.fixture
def api(store_url: str) -> Iterator[TestClient]:  # noqa: F811
    store = Store.open(store_url)
    yield TestClient(create_app(store, TOKEN), headers=AUTH)
    store.close()


def transact(api: TestClient, operations: list[dict[str, Any]], **kwargs: Any) -> Any:
    return api.post("/v1/transactions", json={"operations": operations}, **kwargs)


def state(api: TestClient) -> tuple[str, int]:
    r = api.get("/v1/running-config")
    return r.text, len(api.get("/v1/history", params={"limit": 1000}).json())


def test_a_whole_tenant_is_one_revision_and_reads_like_the_seed(api: TestClient) -> None:
    r = transact(api, SEED_OPS)
    assert r.status_code == 200, r.text
    assert r.json()["revision"] == 1 and r.json()["changed"] is True
    assert r.headers["x-podswitch-revision"] == "1" and r.headers["etag"] == '"1"'
    history = api.get("/v1/history").json()
    assert len(history) == 1 and history[0]["change_count"] == 5 and history[0]["operation"] == "transaction"
    seed = (Path(__file__).parents[2] / "examples" / "seed-running-config.txt").read_text()
    assert api.get("/v1/running-config").text == seed


def test_a_replay_changes_nothing_and_missing_ok_deletes_of_what_is_gone_too(api: TestClient) -> None:
    transact(api, SEED_OPS)
    again = transact(api, SEED_OPS)
    assert again.status_code == 200 and again.json() == {**again.json(), "revision": 1, "changed": False}
    gone = [{"op": "delete", "path": f"{S}/endpoints/nope", "missing_ok": True}]
    assert transact(api, gone).json()["changed"] is False
    strict = transact(api, [*SEED_OPS, {"op": "delete", "path": f"{S}/endpoints/nope"}])
    assert strict.status_code == 404 and strict.json()["error"]["operation"] == 5
    assert len(api.get("/v1/history").json()) == 1


def test_a_refused_operation_is_named_by_index_and_field_and_nothing_changes(api: TestClient) -> None:
    transact(api, SEED_OPS[:3])
    before = state(api)
    ep = {"attachment_point": {"interface_group": "g1", "vlan": 301}, "mac": "fa:16:3e:00:00:01"}
    cases = [
        # a value the model refuses: 422, the field inside the body
        ([{"op": "put", "path": f"{S}/endpoints/e1", "body": {**ep, "ips": ["10.66.16.300"]}}], 422, 0, "body.ips.0"),
        # a path that names nothing
        ([SEED_OPS[0], {"op": "put", "path": f"{S}/nonsense/e1", "body": {}}], 422, 1, "path"),
        # the body repeats what the path names
        ([{"op": "put", "path": f"{S}/endpoints/e1", "body": {**ep, "id": "e1"}}], 422, 0, "body.id"),
        # a rule between objects, found when the result is validated: the address is outside the subnet
        (
            [
                {"op": "put", "path": f"{S}/endpoints/e0", "body": {**ep, "ips": ["10.66.16.9"]}},
                {"op": "put", "path": f"{S}/endpoints/e1", "body": {**ep, "ips": ["10.99.0.9"]}},
            ],
            409,
            1,
            "ips",
        ),
        # a parent that does not exist
        ([{"op": "put", "path": "/tenants/ghost/segments/s", "body": {}}], 404, 0, None),
        # deleting what the router still refers to
        ([{"op": "delete", "path": S}], 409, 0, None),
    ]
    for operations, status, index, field in cases:
        r = transact(api, operations)
        assert r.status_code == status, (operations, r.text)
        error = r.json()["error"]
        assert error["operation"] == index and error["field"] == field, error
        assert error["message"].startswith(f"operation {index}: ")
    assert state(api) == before


def test_later_operations_see_earlier_ones_and_references_are_checked_on_the_result(api: TestClient) -> None:
    transact(api, SEED_OPS)
    # The segment and the router interface on it go together, in either order.
    router = {"tenant_interfaces": ["system"], "routes": [{"prefix": "0.0.0.0/0", "next_hop": {"tenant": "system"}}]}
    r = transact(api, [{"op": "delete", "path": S}, {"op": "put", "path": f"{T}/logical-router", "body": router}])
    assert r.status_code == 200, r.text
    assert "segment net_demo" not in api.get("/v1/running-config").text
    # Create a tenant and move an endpoint id into it in one go.
    moved = [
        {"op": "put", "path": "/tenants/t2", "body": {}},
        {"op": "put", "path": "/tenants/t2/segments/s", "body": {}},
        {"op": "put", "path": f"/tenants/t2/segments/s/endpoints/{EP}", "body": {"ips": ["10.1.1.1"]}},
    ]
    assert transact(api, moved).status_code == 200
    assert api.get(f"/v1/endpoints/{EP}").json()["tenant"] == "t2"


def test_if_match_and_dry_run(api: TestClient) -> None:
    transact(api, SEED_OPS[:1])
    op = [{"op": "put", "path": "/tenants/t2", "body": {"origination": "cli"}}]
    plan = transact(api, op, params={"dry_run": "true"})
    assert plan.status_code == 200 and plan.json()["dry_run"] is True and "+tenant t2" in plan.json()["diff"]
    assert api.get("/v1/tenants/t2").status_code == 404
    stale = transact(api, op, headers={"If-Match": '"0"'})
    assert stale.status_code == 412 and stale.json()["error"]["revision"] == 1
    assert transact(api, op, headers={"If-Match": '"1"'}).json()["revision"] == 2


def test_the_token_is_checked_before_the_body_is_read(api: TestClient) -> None:
    anonymous = TestClient(api.app)
    r = anonymous.post("/v1/transactions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and r.json()["error"]["field"] == "Authorization"
    wrong = anonymous.post("/v1/transactions", content=b"{not json", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert api.post("/v1/transactions", content=b"{not json").status_code == 422
