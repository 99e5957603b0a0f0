"""What the probe found at the API's edge, as classes: no value a client sends may produce a 5xx (a lone
surrogate in any string field did, and reset the connection); a write without a token is refused before
its body is read (malformed JSON got 422, a 100 MB body was decoded before the 401); bodies are bounded."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from podswitch.api.app import create_app
from podswitch.api.limits import Limits
from podswitch.controller import Controller
from podswitch.store import Store
from tests.api.conftest import AUTH, SEED, TOKEN, serve
from tests.api.test_switches import POD

LONE = "\ud800"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[str]:
    """The controller under uvicorn on 127.0.0.1 (real connections, keep-alive), with the seed and a POD."""
    store = Store.open(Store.default_url(tmp_path))
    Controller(store).replace(POD + "!\n" + SEED.read_text(), actor="test")
    url, stop = serve(store)
    yield url
    stop()
    store.close()


def _strings(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """An instance of an object schema with every string field (and list of strings) set to a lone surrogate."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    out: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf", [prop])
        kinds = {o.get("type") for o in options}
        if "string" in kinds:
            out[name] = LONE
        elif "array" in kinds:
            out[name] = [LONE]
        elif depth < 3 and any("$ref" in o for o in options):
            ref = next(o for o in options if "$ref" in o)
            out[name] = _strings(ref, components, depth + 1)
    return out


def _write_routes(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path with the seed's names filled in, body schema) of every write with a JSON body."""
    names = {
        "{tenant}": "demo.openstack",
        "{segment}": "net_demo",
        "{endpoint}": "e1",
        "{interface_group}": "osvdev0013",
        "{vlan}": "300",
        "{name}": "leaf1",
    }
    routes = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if method in ("put", "post") and content:
                for placeholder, value in names.items():
                    path = path.replace(placeholder, value)
                routes.append((method.upper(), path, content["schema"]))
    return routes


def test_a_lone_surrogate_in_any_string_field_is_a_4xx_and_the_connection_lives_on(live: str) -> None:
    with httpx.Client(base_url=live, headers=AUTH) as http:
        spec = http.get("/openapi.json").json()
        components = spec["components"]["schemas"]
        routes = _write_routes(spec)
        assert len(routes) >= 10  # every object kind, transactions, status reports
        for method, path, schema in routes:
            body = _strings(schema, components)
            # JSON text may carry an escaped lone surrogate; send it as a client library would.
            raw = json.dumps(body, ensure_ascii=True).encode()
            r = http.request(method, path, content=raw, headers={"Content-Type": "application/json"})
            assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text[:300])
            assert r.json()["error"]["message"]
            # the same keep-alive connection answers the next request
            assert http.get("/healthz").status_code == 200
        r = http.post("/v1/transactions", content=json.dumps({"operations": [{"op": LONE}]}).encode())
        assert r.status_code == 422 and "escape" in r.json()["error"]["message"]


def _call(app: FastAPI, method: str, path: str, headers: dict[str, str]) -> tuple[int, int]:
    """Drive the ASGI app directly: (status, how many times it asked for the body)."""
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        return {"type": "http.request", "body": b"{garbage" * 1000, "more_body": asked < 10_000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1234),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(app(scope, receive, send))
    return next(m["status"] for m in sent if m["type"] == "http.response.start"), asked


def test_a_write_without_a_token_is_refused_before_its_body_is_read(tmp_path: Path) -> None:
    app = create_app(Store.open(Store.default_url(tmp_path)), TOKEN)
    big = {"Content-Type": "application/json", "Content-Length": str(100 * 1024 * 1024)}
    for method, path in (
        ("PUT", "/v1/running-config"),
        ("POST", "/v1/transactions"),
        ("PUT", "/v1/tenants/t"),
        ("POST", "/v1/tenants"),
        ("DELETE", "/v1/tenants/t"),
        ("PUT", "/v1/switches/leaf1/status"),
    ):
        assert _call(app, method, path, big) == (401, 0), (method, path)
        assert _call(app, method, path, {**big, "Authorization": "Bearer wrong"}) == (403, 0)
    # malformed JSON without a token: 401, not 422
    r = TestClient(app).post("/v1/tenants", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 401


def test_bodies_are_bounded_per_route_and_the_limits_are_configurable(tmp_path: Path) -> None:
    app = create_app(Store.open(Store.default_url(tmp_path)), TOKEN, limits=Limits(object=2048, bulk=4096))
    client = TestClient(app, headers=AUTH)
    # declared too large: refused from Content-Length, the body never read
    declared = {**AUTH, "Content-Type": "text/plain", "Content-Length": "5000"}
    assert _call(app, "PUT", "/v1/running-config", declared) == (413, 0)
    # streamed without a length: refused once the limit is crossed
    text = "tenant t\n" + "!\n" * 3000

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(text), 512):
            yield text[i : i + 512].encode()

    r = client.put("/v1/running-config", content=chunks(), headers={"Content-Type": "text/plain"})
    assert r.status_code == 413 and "4096" in r.json()["error"]["message"]
    r = client.put("/v1/tenants/t", json={"id": "x" * 3000})
    assert r.status_code == 413
    assert client.put("/v1/running-config", content=b"tenant t\n").status_code == 200  # within the limit
    assert client.get("/v1/tenants/t").status_code == 200
    assert len(client.get("/v1/history").json()) == 1  # the refused ones changed nothing


def test_a_405_allows_exactly_the_methods_the_schema_documents(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    checked = 0
    for template, item in spec["paths"].items():
        path = re.sub(r"\{[^/]+\}", "x1", template)
        documented = {m.upper() for m in item}
        for method in sorted({"GET", "PUT", "POST", "DELETE", "PATCH"} - documented):
            r = client.request(method, path)
            assert r.status_code == 405, (method, path, r.status_code)
            allowed = set(r.headers["allow"].split(", "))
            assert allowed - {"HEAD"} == documented, (method, template, allowed)
            checked += 1
    assert checked > 30
