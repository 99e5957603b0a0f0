"""CRUD of every object kind, as the seed's operators (and Neutron) use it."""

from __future__ import annotations

from fastapi.testclient import TestClient

SEG = "/v1/tenants/demo.openstack/segments/net_demo"
EP = "0485e7a0-198f-4b88-a877-ca79d3e882bc"


def build_seed(client: TestClient) -> None:
    assert (
        client.post(
            "/v1/tenants", json={"name": "demo.openstack", "id": "1a2c", "origination": "openstack"}
        ).status_code
        == 201
    )
    assert client.put(SEG, json={"origination": "openstack"}).status_code == 201
    router = {
        "interfaces": [{"segment": "net_demo", "ip_addresses": ["10.66.16.1/24"]}],
        "tenant_interfaces": ["system"],
        "routes": [{"prefix": "0.0.0.0/0", "next_hop": {"tenant": "system"}}],
    }
    assert client.put("/v1/tenants/demo.openstack/logical-router", json=router).status_code == 201
    ep = {
        "attachment_point": {"interface_group": "osvdev0013", "vlan": 300},
        "ips": ["10.66.16.2"],
        "mac": "fa:16:3e:ef:4f:f4",
        "origination": "openstack",
    }
    assert client.put(f"{SEG}/endpoints/{EP}", json=ep).status_code == 201
    assert client.put(f"{SEG}/members/osvdev0013/300", json={}).status_code == 201


def test_create_the_seed_object_by_object(client: TestClient) -> None:
    build_seed(client)
    text = client.get("/v1/running-config").text
    assert "endpoint 0485e7a0-198f-4b88-a877-ca79d3e882bc" in text and "member interface-group osvdev0013" in text
    assert client.get(f"{SEG}/endpoints/{EP}").json()["ips"] == ["10.66.16.2"]
    assert client.get(f"/v1/endpoints/{EP}").json()["segment"] == "net_demo"
    assert client.get("/v1/endpoints", params={"origination": "openstack"}).json()["total"] == 1
    assert client.get("/v1/endpoints", params={"origination": "nobody"}).json()["total"] == 0
    assert client.get("/v1/unresolved").json()[0]["field"] == "interface-group osvdev0013 vlan 300"


def test_put_is_an_idempotent_upsert(client: TestClient) -> None:
    build_seed(client)
    head = len(client.get("/v1/history").json())
    r = client.put("/v1/tenants/demo.openstack", json={"id": "1a2c", "origination": "openstack"})
    assert r.status_code == 200 and int(r.headers["x-podswitch-revision"]) == head
    assert len(client.get("/v1/history").json()) == head
    assert client.post("/v1/tenants", json={"name": "demo.openstack"}).status_code == 409


def test_bad_input_names_the_field_and_changes_nothing(client: TestClient) -> None:
    build_seed(client)
    before = client.get("/v1/running-config").text
    r = client.put(f"{SEG}/endpoints/e2", json={"attachment_point": {"interface_group": "g", "vlan": 5000}})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "attachment_point.vlan"
    r = client.put(f"{SEG}/endpoints/e2", json={"id": "e3"})  # the path names the endpoint: no id in the body
    assert r.status_code == 422 and r.json()["error"]["field"] == "id"
    r = client.put(f"{SEG}/endpoints/e2", json={"ips": ["10.66.17.1"], "mac": "fa:16:3e:00:00:02"})
    assert r.status_code == 409 and "outside the segment's subnet" in r.json()["error"]["message"]
    assert r.json()["error"]["field"] == "ips"
    assert client.get("/v1/running-config").text == before


def test_delete_refuses_what_is_still_referenced_and_says_by_what(client: TestClient) -> None:
    build_seed(client)
    r = client.delete(SEG)
    assert r.status_code == 409
    assert r.json()["error"]["referenced_by"] == ["tenant demo.openstack logical-router interface segment net_demo"]
    r = client.delete("/v1/tenants/system")
    assert r.status_code == 409
    assert client.delete("/v1/tenants/demo.openstack/logical-router").status_code == 204
    assert client.delete(SEG).status_code == 204
    assert client.get(f"{SEG}/endpoints/{EP}").status_code == 404
    assert client.delete(SEG).status_code == 404
    assert client.delete(SEG, params={"missing_ok": "true"}).status_code == 204


def test_topology_objects_and_their_references(client: TestClient) -> None:
    for name, role in (("spine1", "spine"), ("leaf1", "leaf")):
        assert client.put(f"/v1/switches/{name}", json={"role": role}).status_code == 201
    link = {"a": {"switch": "spine1", "interface": "swp1"}, "b": {"switch": "leaf1", "interface": "swp49"}}
    r = client.post("/v1/links", json=link)
    assert r.status_code == 201 and r.json()["a"]["switch"] == "leaf1"  # canonical order
    key = "leaf1:swp49-spine1:swp1"
    assert client.get(f"/v1/links/{key}").status_code == 200
    group = {"members": [{"switch": "leaf1", "interface": "swp1"}]}
    assert client.put("/v1/interface-groups/osvdev0013", json=group).status_code == 201
    bad = {"members": [{"switch": "spine1", "interface": "swp9"}]}
    r = client.put("/v1/interface-groups/g2", json=bad)
    assert r.status_code == 409 and "servers attach to leaves" in r.json()["error"]["message"]
    r = client.delete("/v1/switches/leaf1")
    assert r.status_code == 409 and f"link {key}" in r.json()["error"]["referenced_by"]
    switches = client.get("/v1/switches").json()
    assert [s["name"] for s in switches["items"]] == ["leaf1", "spine1"]
    assert switches["items"][0]["loopback"] == "10.255.0.2"  # index 2: spine1 was created first
    assert switches["items"][1]["loopback"] is None  # spines are no VTEPs


def test_lists_are_paged(client: TestClient) -> None:
    for i in range(7):
        client.put(f"/v1/tenants/t{i}", json={})
    page = client.get("/v1/tenants", params={"limit": 3, "offset": 3}).json()
    assert page["total"] == 8 and [t["name"] for t in page["items"]] == ["t2", "t3", "t4"]  # after system, t0, t1
    assert client.get("/v1/tenants", params={"limit": 0}).status_code == 422
