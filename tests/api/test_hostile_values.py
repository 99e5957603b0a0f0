"""Values that would rewrite the running-config, or that are not what the field says, are refused at the
API with a message naming the value (the model's own checks, tests/model/test_types.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

SEG = "/v1/tenants/demo.openstack/segments/net_demo"
INJECTED = "fe80::5%x\n!\ntenant evil\n  origination pwned"


@pytest.fixture
def segment(client: TestClient) -> TestClient:
    assert client.post("/v1/tenants", json={"name": "demo.openstack"}).status_code == 201
    assert client.put(SEG, json={}).status_code == 201
    return client


@pytest.mark.parametrize(
    ("ips", "message"),
    [
        ([INJECTED], "is not an IP address: a zone id ('%...') is not allowed; a fabric address has no scope"),
        ([True], 'true is not an IP address: write it as a string, like "10.66.16.2"'),
        ([167772161], '167772161 is not an IP address: write it as a string, like "10.66.16.2"'),
    ],
    ids=["zone-id-with-lines", "json-true", "json-number"],
)
def test_an_endpoint_address_that_is_no_address_is_refused(segment: TestClient, ips: list, message: str) -> None:
    answer = segment.put(f"{SEG}/endpoints/e1", json={"ips": ips})
    assert answer.status_code == 422
    assert message in answer.json()["error"]["message"]
    assert "evil" not in segment.get("/v1/running-config").text


def test_gateway_and_route_prefix_with_a_zone_id_are_refused(segment: TestClient) -> None:
    router = {"interfaces": [{"segment": "net_demo", "ip_addresses": ["fe80::1%a\n!\ntenant evil/64"]}]}
    assert segment.put("/v1/tenants/demo.openstack/logical-router", json=router).status_code == 422
    router = {
        "routes": [{"prefix": "fe80::%x y/64", "next_hop": {"tenant": "system"}}],
        "tenant_interfaces": ["system"],
    }
    assert segment.put("/v1/tenants/demo.openstack/logical-router", json=router).status_code == 422
    assert "evil" not in segment.get("/v1/running-config").text
