"""Every change is a revision with before/after; revert undoes one, restore goes back to one."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.test_running_config import put_config


def test_revisions_record_actor_operation_and_before_after(client: TestClient, seed_text: str) -> None:
    put_config(client, seed_text)
    r = client.put(
        "/v1/tenants/demo.openstack",
        json={"origination": "cli"},
        headers={"X-Podswitch-Actor": "alice"},
    )
    assert r.status_code == 200
    history = client.get("/v1/history").json()
    assert [(h["revision"], h["operation"], h["actor"]) for h in history] == [
        (2, "put", "alice"),
        (1, "replace", "admin"),
    ]
    change = client.get("/v1/history/2").json()["changes"]["items"][0]
    assert change["object"] == "tenant demo.openstack" and change["operation"] == "update"
    assert change["before"]["origination"] == "openstack" and change["after"]["origination"] == "cli"
    assert client.get("/v1/history", params={"before": 2}).json()[0]["revision"] == 1
    assert client.get("/v1/history/99").status_code == 404


def test_revert_undoes_one_revision_as_a_new_one(client: TestClient, seed_text: str) -> None:
    put_config(client, seed_text)
    client.put("/v1/tenants/t2", json={})
    r = client.post("/v1/history/1/revert")
    assert r.status_code == 200 and r.json()["revision"] == 3
    assert client.get("/v1/running-config").text == "tenant t2\n"
    r = client.post("/v1/history/3/revert")  # revert the revert: the seed is back
    assert r.status_code == 200
    assert client.get("/v1/running-config").text.startswith(seed_text)


def test_revert_refuses_when_the_object_changed_again(client: TestClient) -> None:
    client.put("/v1/tenants/t2", json={})
    client.put("/v1/tenants/t2", json={"id": "x"})
    r = client.post("/v1/history/1/revert")
    assert r.status_code == 409 and "was changed again after revision 1" in r.json()["error"]["message"]


def test_restore_brings_back_an_earlier_state(client: TestClient, seed_text: str) -> None:
    put_config(client, seed_text)
    client.delete("/v1/tenants/demo.openstack")
    client.put("/v1/tenants/t2", json={})
    plan = client.post("/v1/history/1/restore", params={"dry_run": "true"}).json()
    assert plan["counts"]["tenant"] == {"created": 1, "updated": 0, "deleted": 1}
    assert len(client.get("/v1/history").json()) == 3  # a plan changes nothing
    r = client.post("/v1/history/1/restore")
    assert r.status_code == 200 and r.json()["revision"] == 4
    assert client.get("/v1/running-config").text == seed_text
    assert client.post("/v1/history/0/restore").json()["revision"] == 5
    assert client.get("/v1/running-config").text == ""
