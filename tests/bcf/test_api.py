"""Both BCF-compatible APIs in process (the app under TestClient): who may use them, the consistency hash,
and how each refuses what it cannot take. The upstream clients themselves run in test_upstream_client.py."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from podswitch.api.app import create_app
from podswitch.config import render
from podswitch.store import Store
from tests.bcf import seed
from tests.builders import pod

TOKEN = "bcf-api-token"
NS = "/networkService/v2.0"
HASH = "X-BSN-BVS-HASH-MATCH"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


NEUTRON = {**basic("admin", TOKEN), "Instance-ID": "openstack", "Content-type": "application/json"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(Store.default_url(tmp_path)) as opened:
        yield opened


@pytest.fixture
def app(store: Store) -> FastAPI:
    return create_app(store, TOKEN, bcf_users={"l3plugin": "s3cret"})


@pytest.fixture
def http(app: FastAPI) -> TestClient:
    return TestClient(app)


def create_seed(http: TestClient, headers: dict[str, str] | None = None) -> None:
    h = headers or NEUTRON
    assert http.post(f"{NS}/tenants", headers=h, json={"tenant_id": seed.PROJECT_ID, "tenant_name": "demo"}).is_success
    net = {"network": seed.network()}
    assert http.post(f"{NS}/tenants/{seed.PROJECT_ID}/networks", headers=h, json=net).is_success
    path = f"{NS}/tenants/{seed.PROJECT_ID}/networks/{seed.NETWORK_ID}/ports/{seed.PORT_ID}/attachment"
    assert http.put(path, headers=h, json={"port": seed.port()}).is_success


def intent_text(app: FastAPI) -> str:
    return render(app.state.controller.snapshot().intent)


# ---- who may ---------------------------------------------------------------------------------------------


def test_credentials_as_bcf_takes_them(http: TestClient) -> None:
    caps = f"{NS}/capabilities"
    assert http.get(caps).status_code == 401
    assert http.get(caps, headers=basic("admin", "wrong")).status_code == 403
    assert http.get(caps, headers=basic("admin", TOKEN)).json() == ["consistency"]
    assert http.get(caps, headers=basic("l3plugin", "s3cret")).status_code == 200
    assert http.get(caps, headers={"Cookie": f'session_cookie="{TOKEN}"'}).status_code == 200
    assert http.get(caps, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert http.get(caps, headers={"Cookie": 'session_cookie="forged.1.2.3"'}).status_code == 403


def test_a_session_from_login_until_logout(http: TestClient) -> None:
    assert http.post("/api/v1/auth/login", json={"user": "l3plugin", "password": "no"}).status_code == 401
    token = http.post("/api/v1/auth/login", json={"user": "l3plugin", "password": "s3cret"}).json()["session_cookie"]
    cookie = {"Cookie": f"session_cookie={token}"}
    listing = seed.wire('tenant[name="system"]')
    assert http.get(listing, headers=cookie).json()[0]["name"] == "system"
    selector = '[auth-token="' + token + '"]'
    logout = "/api/v1/data/controller/core/aaa/session" + quote(selector)
    assert http.request("DELETE", logout, content="{}").status_code == 200
    assert http.get(listing, headers=cookie).status_code == 403
    assert http.request("DELETE", logout, content="{}").status_code == 404


def test_a_write_without_credentials_is_refused_before_its_body_is_read(http: TestClient, app: FastAPI) -> None:
    before = intent_text(app)
    for method, path in [("POST", f"{NS}/topology"), ("PUT", seed.wire('tenant[name="x"]'))]:
        answer = http.request(method, path, content=b"\xff not json", headers={"Content-type": "application/json"})
        assert answer.status_code == 401, answer.text
    assert intent_text(app) == before


# ---- networkService ------------------------------------------------------------------------------------


def test_the_seed_through_network_service(http: TestClient, app: FastAPI) -> None:
    create_seed(http)
    assert seed.tenant_block(intent_text(app), seed.TENANT) == seed.seed_block(with_router=False).replace(
        "openstackdev", "openstack"
    )
    path = f"{NS}/tenants/{seed.PROJECT_ID}/networks/{seed.NETWORK_ID}/ports/{seed.PORT_ID}/attachment"
    assert http.get(path, headers=NEUTRON).json()["mac"] == seed.MAC


def test_writes_need_the_instance_id(http: TestClient) -> None:
    headers = {k: v for k, v in NEUTRON.items() if k != "Instance-ID"}
    answer = http.post(f"{NS}/tenants", headers=headers, json={"tenant_id": "p", "tenant_name": "demo"})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "Instance-ID"


def test_a_port_of_an_unknown_network_is_nxvns(http: TestClient, app: FastAPI) -> None:
    create_seed(http)
    before = intent_text(app)
    path = f"{NS}/tenants/{seed.PROJECT_ID}/networks/nope/ports/p2/attachment"
    answer = http.put(path, headers=NEUTRON, json={"port": seed.port("p2")})
    assert answer.status_code == 404 and "NXVNS" in answer.text
    assert intent_text(app) == before


def test_a_port_without_host_or_mac_is_no_endpoint(http: TestClient, app: FastAPI) -> None:
    create_seed(http)
    unbound = {**seed.port(), "binding:host_id": ""}
    path = f"{NS}/tenants/{seed.PROJECT_ID}/networks/{seed.NETWORK_ID}/ports/{seed.PORT_ID}/attachment"
    assert http.put(path, headers=NEUTRON, json={"port": unbound}).is_success
    text = intent_text(app)
    assert seed.PORT_ID not in text and "member interface-group" not in text  # its member left with it


def test_floating_ips_and_security_groups_are_refused_and_switches_answered(http: TestClient, app: FastAPI) -> None:
    create_seed(http)
    before = intent_text(app)
    fip = http.put(f"{NS}/tenants/{seed.PROJECT_ID}/floatingips/f1", headers=NEUTRON, json={"id": "f1"})
    assert fip.status_code == 422 and "NAT" in fip.json()["error"]["message"]
    assert http.delete(f"{NS}/tenants/{seed.PROJECT_ID}/floatingips/f1", headers=NEUTRON).status_code == 404
    assert http.post(f"{NS}/securitygroups", headers=NEUTRON, json={"security-group": {}}).status_code == 422
    assert intent_text(app) == before
    assert http.get(f"{NS}/switches/leaf1", headers=NEUTRON).status_code == 404
    app.state.controller.commit(lambda snap: pod(snap.intent), actor="test", operation="topology")
    assert http.get(f"{NS}/switches/leaf1", headers=NEUTRON).json()["name"] == "leaf1"


def test_routers_of_the_bsn_l3_plugin(http: TestClient, app: FastAPI) -> None:
    create_seed(http)
    routers = f"{NS}/tenants/{seed.PROJECT_ID}/routers"
    body = {"router": {"id": "r1", "name": "r1", "external_gateway_info": {"network_id": "ext"}}}
    assert http.post(routers, headers=NEUTRON, json=body).is_success
    iface = {
        "interface": {
            "id": seed.SUBNET_ID,
            "network": seed.network(),
            "subnet": seed.network()["subnets"][0],
            "ip_address": "10.66.16.1",
        }
    }
    assert http.post(f"{routers}/r1/interfaces", headers=NEUTRON, json=iface).is_success
    assert seed.tenant_block(intent_text(app), seed.TENANT) == seed.seed_block().replace("openstackdev", "openstack")
    assert "interface tenant demo.openstack" in intent_text(app)  # system's side of the link
    assert http.delete(f"{routers}/r1", headers=NEUTRON).is_success
    assert "logical-router" not in seed.tenant_block(intent_text(app), seed.TENANT)
    assert "interface tenant demo.openstack" not in intent_text(app)


# ---- the consistency hash ------------------------------------------------------------------------------


def test_the_consistency_hash_is_kept_in_the_store(http: TestClient, store: Store) -> None:
    first = http.post(f"{NS}/tenants", headers=NEUTRON, json={"tenant_id": seed.PROJECT_ID, "tenant_name": "demo"})
    agreed = first.headers[HASH]
    net = {"network": seed.network()}
    stale = http.post(f"{NS}/tenants/{seed.PROJECT_ID}/networks", headers={**NEUTRON, HASH: "stale"}, json=net)
    assert stale.status_code == 409 and stale.json()["error"]["field"] == HASH
    assert http.get(f"{NS}/health", headers={**NEUTRON, HASH: "stale"}).status_code == 409
    ok = http.post(f"{NS}/tenants/{seed.PROJECT_ID}/networks", headers={**NEUTRON, HASH: agreed}, json=net)
    assert ok.is_success and ok.headers[HASH] != agreed
    agreed = ok.headers[HASH]
    # Another controller on the same database (or this one restarted) holds the same hash.
    other = TestClient(create_app(store, TOKEN))
    assert other.get(f"{NS}/health", headers={**NEUTRON, HASH: agreed}).status_code == 200
    # The full sync a 409 asks for is taken with any hash, and agrees on a new one.
    sync = other.post(f"{NS}/topology", headers={**NEUTRON, HASH: "stale"}, json={"networks": [], "tenants": {}})
    assert sync.is_success and sync.headers[HASH] not in (agreed, "stale")
    assert "demo.openstack" not in render(other.app.state.controller.snapshot().intent)  # type: ignore[attr-defined]


# ---- config tree -----------------------------------------------------------------------------------------


def tree_call(http: TestClient, method: str, path: str, body: Any = None) -> Any:
    return http.request(method, seed.wire(path), headers=NEUTRON, content=json.dumps(body if body is not None else {}))


def test_config_tree_refusals_name_what_is_wrong(http: TestClient, app: FastAPI) -> None:
    create_seed(http)
    before = intent_text(app)
    bad = tree_call(http, "GET", 'tenant[name="x"]/segmnt')
    assert bad.status_code == 404 and bad.json()["error"]["position"] == 18
    unkeyed = tree_call(http, "PUT", 'tenant[origination="openstack"]', {"id": "x"})
    assert unkeyed.status_code == 400
    unknown = tree_call(http, "PUT", f'tenant[name="{seed.TENANT}"]', {"colour": "red"})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "colour"
    wrong = tree_call(
        http,
        "PUT",
        f'tenant[name="{seed.TENANT}"]/logical-router/static-route[dst-ip-subnet="nowhere"]',
        {"next-hop": {"tenant": "system"}},
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "dst-ip-subnet"
    missing = tree_call(http, "DELETE", f'tenant[name="{seed.TENANT}"]/segment[name="nope"]')
    assert missing.status_code == 404
    orphan = tree_call(http, "PUT", 'tenant[name="nope"]/segment[name="s"]', {})
    assert orphan.status_code == 404
    assert tree_call(http, "DELETE", 'tenant[name="system"]').status_code == 409
    assert intent_text(app) == before


def test_config_tree_patch_and_delete(http: TestClient, app: FastAPI) -> None:
    create_seed(http)
    patched = tree_call(
        http, "PATCH", f'tenant[name="{seed.TENANT}"]/segment[name="{seed.NETWORK}"]', {"id": "renumbered"}
    )
    assert patched.is_success
    [segment] = tree_call(http, "GET", f'tenant[name="{seed.TENANT}"]/segment[name="{seed.NETWORK}"]').json()
    assert segment["id"] == "renumbered" and segment["origination"] == "openstack"
    assert tree_call(http, "DELETE", f'tenant[name="{seed.TENANT}"]').is_success
    assert seed.TENANT not in intent_text(app)


def test_a_refused_port_is_logged_for_the_operator(http: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    create_seed(http)
    twin = seed.port("33333333-4444-4555-8666-777777777777", "10.66.16.9")  # the seed port's MAC again
    path = f"{NS}/tenants/{seed.PROJECT_ID}/networks/{seed.NETWORK_ID}/ports/{twin['id']}/attachment"
    with caplog.at_level("WARNING", logger="podswitch.api.bcf.network_service"):
        answer = http.put(path, headers=NEUTRON, json={"port": twin})
    assert answer.status_code == 409 and answer.json()["error"]["field"] == "mac"
    assert any(twin["id"] in r.getMessage() and "already used" in r.getMessage() for r in caplog.records)


def test_a_renamed_project_and_network_move_with_what_they_hold(http: TestClient, app: FastAPI) -> None:
    create_seed(http)
    for method, path, body in seed.l3_create()[2:]:
        assert tree_call(http, method, path, body).is_success
    renamed = http.post(f"{NS}/tenants", headers=NEUTRON, json={"tenant_id": seed.PROJECT_ID, "tenant_name": "prod"})
    assert renamed.is_success, renamed.text
    text = intent_text(app)
    assert "tenant demo.openstack" not in text and "interface tenant prod.openstack" in text  # system's side too
    net = {"network": {**seed.network(), "name": "net_prod"}}
    assert http.put(f"{NS}/tenants/{seed.PROJECT_ID}/networks/{seed.NETWORK_ID}", headers=NEUTRON, json=net).is_success
    expected = (
        seed.seed_block()
        .replace("demo.openstack", "prod.openstack")
        .replace("net_demo", "net_prod")
        .replace("openstackdev", "openstack")
    )
    assert seed.tenant_block(intent_text(app), "prod.openstack") == expected


def test_a_deleted_project_takes_systems_link_to_it(http: TestClient, app: FastAPI) -> None:
    create_seed(http)
    for method, path, body in seed.l3_create()[2:]:
        assert tree_call(http, method, path, body).is_success
    assert http.delete(f"{NS}/tenants/{seed.PROJECT_ID}", headers=NEUTRON).is_success
    text = intent_text(app)
    assert "demo.openstack" not in text
    assert http.delete(f"{NS}/tenants/{seed.PROJECT_ID}", headers=NEUTRON).status_code == 404
