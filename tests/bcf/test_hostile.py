"""Hostile input on every BCF route: bytes that are not JSON, JSON of the wrong shape, values of the wrong
type, hostile characters and huge strings, in bodies, paths and headers. No answer may be a 5xx, and a
refused request changes nothing. (The native API is fuzzed from its OpenAPI document by schemathesis; these
routes are outside that document, so they are fuzzed here.)"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podswitch.api.app import create_app
from podswitch.config import render
from podswitch.store import Store
from tests.bcf import seed
from tests.bcf.test_api import NEUTRON, TOKEN, create_seed
from tests.strategies import hostile_values, hostile_variants

_dir = tempfile.TemporaryDirectory(prefix="podswitch-bcf-hostile-")
_store = Store.open(Store.default_url(Path(_dir.name)))
APP = create_app(_store, TOKEN)
HTTP = TestClient(APP, raise_server_exceptions=False)
create_seed(HTTP)

NS = "/networkService/v2.0"
T, N, P = seed.PROJECT_ID, seed.NETWORK_ID, seed.PORT_ID
ROUTES: list[tuple[str, str, Any]] = [
    ("POST", f"{NS}/topology", {"networks": [{**seed.network(), "ports": [seed.port()]}], "tenants": {T: "demo"}}),
    ("POST", f"{NS}/tenants", {"tenant_id": T, "tenant_name": "demo"}),
    ("DELETE", f"{NS}/tenants/{{a}}", None),
    ("POST", f"{NS}/tenants/{T}/networks", {"network": seed.network()}),
    ("PUT", f"{NS}/tenants/{T}/networks/{{a}}", {"network": seed.network()}),
    (
        "PUT",
        f"{NS}/tenants/{T}/networks/{N}/ports/{{a}}/attachment",
        {"port": seed.port(), "attachment": {"id": "d", "mac": seed.MAC}},
    ),
    ("GET", f"{NS}/tenants/{T}/networks/{N}/ports/{{a}}/attachment", None),
    ("POST", f"{NS}/tenants/{T}/routers", {"router": {"id": "r", "external_gateway_info": {"network_id": "x"}}}),
    (
        "POST",
        f"{NS}/tenants/{T}/routers/r/interfaces",
        {"interface": {"network": seed.network(), "subnet": seed.network()["subnets"][0]}},
    ),
    ("PUT", f"{NS}/tenants/{T}/floatingips/{{a}}", {"id": "f"}),
    ("GET", f"{NS}/switches/{{a}}", None),
    ("GET", f"{NS}/health", None),
    ("POST", "/api/v1/auth/login", {"user": "admin", "password": "x"}),
    ("PUT", seed.BASE + "{a}", {"remote-tenant": "system"}),
    ("PATCH", seed.BASE + "{a}", {"id": "x"}),
    ("GET", seed.BASE + "{a}", None),
    ("DELETE", seed.BASE + "{a}", None),
]
TREE_PATHS = [
    f'tenant[name="{seed.TENANT}"]',
    f'tenant[name="{seed.TENANT}"]/logical-router/tenant-interface[remote-tenant="system"]',
    f'tenant[name="{seed.TENANT}"]/segment[name="{seed.NETWORK}"]/member[interface-group="osvdev0013"][vlan="300"]',
    f'tenant[name="{seed.TENANT}"]/logical-router/segment-interface[segment="{seed.NETWORK}"]/ip-subnet[ip-cidr="10.66.16.1/24"]',
]


def _mutate(value: Any) -> st.SearchStrategy[Any]:
    """`value` with one leaf replaced by a hostile value, or the whole of it replaced."""
    if isinstance(value, dict) and value:
        return (
            st.sampled_from(sorted(value)).flatmap(lambda k: _mutate(value[k]).map(lambda v: {**value, k: v}))
            | hostile_values
        )
    if isinstance(value, list) and value:
        return st.integers(0, len(value) - 1).flatmap(
            lambda i: _mutate(value[i]).map(lambda v: [*value[:i], v, *value[i + 1 :]])
        )
    return hostile_variants(value) | hostile_values


huge = st.sampled_from([b"x" * 2_000_000, json.dumps({"network": {"name": "n" * 500_000}}).encode()])
not_json = st.sampled_from([b"{", b"\xff\xfe", b'{"a": NaN}', b'"\\ud800"', b"[" * 10_000, b"{}garbage"]) | st.binary(
    max_size=64
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, bytes, dict[str, str | bytes]]:
    method, template, body = draw(st.sampled_from(ROUTES))
    if template.startswith(seed.BASE):
        path = draw(
            st.sampled_from(TREE_PATHS)
            | st.text(max_size=40)
            | st.sampled_from(TREE_PATHS).map(lambda p: p[: len(p) // 2])
        )
        url = seed.BASE + quote(path, safe="/")
    else:
        url = template.replace(
            "{a}", quote(draw(st.sampled_from([P, N, "leaf1"]) | st.text(min_size=1, max_size=300)), safe="")
        )
    kind = draw(st.integers(0, 3))
    if kind == 0 or body is None:
        raw = json.dumps(draw(_mutate(body if body is not None else {}))).encode()
    elif kind == 1:
        raw = draw(not_json)
    elif kind == 2:
        raw = draw(huge)
    else:
        raw = json.dumps(draw(hostile_values)).encode()
    headers: dict[str, str | bytes] = dict(NEUTRON)
    if draw(st.booleans()):
        headers["Instance-ID"] = draw(
            st.sampled_from(["", "x" * 300, "open stack", b"openstack\xc3\xa9"])
            | st.text(max_size=10).filter(lambda t: t.isascii() and t.isprintable())
        )
    if draw(st.booleans()):
        headers["X-BSN-BVS-HASH-MATCH"] = draw(st.text(max_size=10).filter(str.isprintable).filter(str.isascii))
    return method, url, raw, headers


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(requests())
def test_no_hostile_request_gets_a_5xx_and_a_refused_one_changes_nothing(
    request: tuple[str, str, bytes, dict[str, str | bytes]],
) -> None:
    method, url, raw, headers = request
    before = render(APP.state.controller.snapshot().intent)
    answer = HTTP.request(method, url, content=raw, headers=headers)
    assert answer.status_code < 500, (method, url, raw[:200], answer.text[:500])
    if answer.status_code >= 400:
        assert render(APP.state.controller.snapshot().intent) == before
        assert "error" in answer.json()
