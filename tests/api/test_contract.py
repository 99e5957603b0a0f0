"""The OpenAPI document says exactly what the server takes (issue "Hardening", item 8), as classes of what
schemathesis found with all its checks on: what the document admits is taken (or refused only for the state
it meets), what it does not admit is refused with a 4xx naming the field, and both sides read one
definition (`model/types.py`, `api/bodies.py`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jsonschema_rs
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings

from podswitch.api.bodies import PATH_PATTERN, body
from podswitch.model import Intent, Kind
from podswitch.model.paths import body_of, key_of, path_of
from tests.api.conftest import AUTH, SEED
from tests.api.test_switches import POD
from tests.builders import slug
from tests.strategies import FORMATS, intents

TEXT = {"Content-Type": "text/plain", **AUTH}
DEMO = "/v1/tenants/demo.openstack"


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    assert client.put("/v1/running-config", content=(POD + "!\n" + SEED.read_text()).encode(), headers=TEXT).is_success
    return client


def _error(answer: Any) -> dict[str, Any]:
    error: dict[str, Any] = answer.json()["error"]
    return error


# ---- query parameters and methods the document does not give --------------------------------------------


def test_a_misspelt_dry_run_is_refused_not_a_replacement_of_everything(seeded: TestClient) -> None:
    answer = seeded.put("/v1/running-config?dry-run=true", content=b"!\n", headers=TEXT)
    assert answer.status_code == 422
    error = _error(answer)
    assert error["field"] == "dry-run" and "takes dry_run" in error["message"], error
    assert seeded.get(DEMO).status_code == 200  # nothing was replaced


@pytest.mark.parametrize(
    ("method", "path", "parameter"),
    [
        ("GET", "/v1/tenants?limit=5&sort=name", "sort"),
        ("DELETE", f"{DEMO}?missing_ok=true&force=1", "force"),
        ("PUT", f"{DEMO}?dry_run=true", "dry_run"),
        ("GET", "/v1/running-config?x=", "x"),
    ],
    ids=slug,
)
def test_every_route_refuses_query_parameters_it_does_not_take(
    seeded: TestClient, method: str, path: str, parameter: str
) -> None:
    answer = seeded.request(method, path, json={} if method == "PUT" else None)
    assert answer.status_code == 422 and _error(answer)["field"] == parameter, answer.text
    assert seeded.get(DEMO).status_code == 200


def test_a_method_a_path_does_not_have_is_405_token_or_not(anonymous: TestClient) -> None:
    for method, path, allow in (
        ("PUT", "/healthz", "GET, HEAD"),
        ("POST", "/v1/tenants/demo", "DELETE, GET, HEAD, PUT"),
        ("DELETE", "/v1/running-config", "GET, HEAD, PUT"),
    ):
        answer = anonymous.request(method, path, content=b"{not json")
        assert answer.status_code == 405 and answer.headers["allow"] == allow, (method, path, answer.text)
    assert anonymous.delete("/v1/nowhere").status_code == 404
    # a write the path has still needs the token, before its body is read
    assert anonymous.put("/v1/tenants/demo", content=b"{not json").status_code == 401


# ---- headers and path values -------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ['3"', '"3', '""', "\u00a03", "\x1c3", "3 3", '"1", "2"'], ids=slug)
def test_if_match_is_one_revision_with_balanced_quotes(seeded: TestClient, tag: str) -> None:
    # Python's str.strip() would also take NBSP and \x1c-\x1f, \x85 as blanks; HTTP (and the pattern) not.
    header = tag.encode("latin-1")
    answer = seeded.put("/v1/running-config", content=b"!\n", headers={**TEXT, "If-Match": header})
    assert answer.status_code == 422 and _error(answer)["field"] == "If-Match", answer.text
    assert seeded.get(DEMO).status_code == 200


@pytest.mark.parametrize("tag", [' "1" ', "\t1\t", "1", "*"], ids=slug)
def test_if_match_may_have_http_blanks_around_it(seeded: TestClient, tag: str) -> None:
    answer = seeded.put("/v1/running-config?dry_run=true", content=b"!\n", headers={**TEXT, "If-Match": tag})
    assert answer.status_code == 200, answer.text


def test_the_if_match_header_is_text_in_the_document_never_null(app: FastAPI) -> None:
    for path, method in (("/v1/running-config", "put"), ("/v1/transactions", "post")):
        (header,) = [p for p in app.openapi()["paths"][path][method]["parameters"] if p["in"] == "header"]
        assert header["schema"]["type"] == "string" and "anyOf" not in header["schema"], header


@pytest.mark.parametrize(
    "path",
    [
        "/v1/switches/%60%C3%B5",
        "/v1/links/leaf1-spine1",
        "/v1/links/leaf1:swp1-spine1:swp%201",
        "/v1/interface-groups/a%20b",
        "/v1/tenants/-x/logical-router",
    ],
    ids=slug,
)
def test_a_path_value_that_is_no_name_is_refused_even_with_missing_ok(seeded: TestClient, path: str) -> None:
    answer = seeded.delete(path, params={"missing_ok": "true"})
    assert answer.status_code == 422, answer.text
    assert seeded.get(path).status_code == 422


# ---- what an agent reports ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "field"),
    [
        ({"writes": True}, "writes"),
        ({"writes": "5"}, "writes"),
        ({"writes": 2**53}, "writes"),
        ({"writes": -1}, "writes"),
        ({"applied_revision": 2**64}, "applied_revision"),
        ({"applied_revision": 1.5}, "applied_revision"),
        ({"reconciled_at": 1714564800}, "reconciled_at"),
        ({"reconciled_at": "2024-05-01"}, "reconciled_at"),
        ({"reconciled_at": "2024-05-01T12:00:00"}, "reconciled_at"),
        ({"reconciled_at": "2024-05-01 12:00:00Z"}, "reconciled_at"),
        ({"reconciled_at": "2024-06-30T23:59:60Z"}, "reconciled_at"),
    ],
    ids=slug,
)
def test_agent_status_numbers_and_times_are_what_the_document_says(
    seeded: TestClient, status: dict[str, Any], field: str
) -> None:
    answer = seeded.put("/v1/switches/leaf1/status", json=status)
    assert answer.status_code == 422 and _error(answer)["field"] == field, answer.text


def test_agent_status_takes_json_integers_and_rfc3339_times(seeded: TestClient) -> None:
    status = {"writes": 5.0, "applied_revision": 2**53 - 1, "reconciled_at": "2024-05-01t12:00:00.123+02:00"}
    assert seeded.put("/v1/switches/leaf1/status", json=status).status_code == 204
    shown = seeded.get("/v1/switches/leaf1/status").json()
    assert shown["writes"] == 5 and shown["applied_revision"] == 2**53 - 1
    assert shown["reconciled_at"].startswith("2024-05-01T12:00:00.123")


def test_a_status_stored_before_the_bounds_is_still_shown(app: FastAPI, seeded: TestClient) -> None:
    # what an older controller took and stored: a negative revision, a time without an offset
    old = {"applied_revision": -1, "writes": 3, "reconciled_at": "2024-05-01T12:00:00", "errors": []}
    app.state.controller.report_status("leaf1", {"status": old, "seen": datetime.now(UTC).isoformat()})
    assert seeded.get("/v1/switches/leaf1/status").json()["applied_revision"] == -1
    assert seeded.get("/v1/switches").status_code == 200


# ---- transactions --------------------------------------------------------------------------------------------


def _put(path: str, body: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    return {"op": "put", "path": path, "body": body or {}, **more}


@pytest.mark.parametrize(
    "path",
    [" /tenants/t1", "tenants/t1", "/tenants/%74%31", "/tenants/t 1", "/tenants/t1 ", "/v2/tenants/t1", "/links/x"],
    ids=slug,
)
def test_a_transaction_path_is_an_objects_own_path_exactly(seeded: TestClient, path: str) -> None:
    for operation in (_put(path), {"op": "delete", "path": path, "missing_ok": True}):
        answer = seeded.post("/v1/transactions", json={"operations": [operation]})
        assert answer.status_code == 422, answer.text
        assert (_error(answer)["operation"], _error(answer)["field"]) == (0, "path"), answer.text


def test_transaction_paths_may_start_with_v1_and_a_vlan_with_zeros(seeded: TestClient) -> None:
    member = "/v1/tenants/demo.openstack/segments/net_demo/members/osvdev0014/0301"
    answer = seeded.post("/v1/transactions", json={"operations": [_put("/v1/tenants/t1"), _put(member)]})
    assert answer.status_code == 200, answer.text
    assert seeded.get(f"{DEMO}/segments/net_demo/members/osvdev0014/301").status_code == 200


@pytest.mark.parametrize(
    ("operation", "field"),
    [
        (_put("/tenants/t1", create_only=1), "operations.0.create_only"),
        (_put("/tenants/t1", create_only="true"), "operations.0.create_only"),
        ({"op": "delete", "path": "/tenants/t1", "missing_ok": "yes"}, "operations.0.missing_ok"),
    ],
    ids=slug,
)
def test_transaction_flags_are_json_booleans(seeded: TestClient, operation: dict[str, Any], field: str) -> None:
    answer = seeded.post("/v1/transactions", json={"operations": [operation]})
    assert answer.status_code == 422 and _error(answer)["field"] == field, answer.text


def _document_validator(app: FastAPI, name: str) -> jsonschema_rs.Validator:
    document = app.openapi()
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema_rs.validator_for(schema, validate_formats=True, formats={n: f.check for n, f in FORMATS.items()})


def test_each_transaction_operation_is_a_put_of_one_kind_or_a_delete(app: FastAPI) -> None:
    items = app.openapi()["components"]["schemas"]["TransactionIn"]["properties"]["operations"]["items"]
    assert len(items["oneOf"]) == len(Kind) + 1
    validator = _document_validator(app, "TransactionIn")
    ok = [
        _put("/switches/leaf9", {"role": "leaf"}),
        _put("/v1/tenants/t1/segments/s1/members/g/300", {"origination": "x"}),
        _put("/tenants/t1/logical-router"),
        {"op": "delete", "path": "/links/leaf1:swp1-spine1:swp1", "missing_ok": True},
    ]
    assert validator.is_valid({"operations": ok})
    for wrong in (
        _put("/switches/leaf9", {"name": "leaf9", "role": "leaf"}),  # the path names it
        _put("/switches/leaf9"),  # a switch needs its role
        _put("/tenants/t1", {"role": "leaf"}),  # another kind's body
        _put("/tenants/t1/segments/s1/members/g/4095"),
        _put("/interface-groups/g1", {"members": []}),
        {"op": "delete", "path": "/tenants/t 1"},
        _put("/tenants/t1", create_only=1),
    ):
        assert not validator.is_valid({"operations": [wrong]}), wrong


def test_the_document_admits_every_object_as_the_client_sends_it(app: FastAPI) -> None:
    # What podswitch.client sends for each object of a valid intent: its path (of its own kind's pattern
    # only, naming it again) and its body, valid under that kind's put-operation.
    validator = _document_validator(app, "TransactionIn")
    patterns = {kind: jsonschema_rs.validator_for({"pattern": p}) for kind, p in PATH_PATTERN.items()}

    @settings(max_examples=25, deadline=None)
    @given(intents())
    def check(intent: Intent) -> None:
        operations = []
        for key, obj in intent.objects():
            path = path_of(key)
            assert [kind for kind, pattern in patterns.items() if pattern.is_valid(path)] == [key.kind], path
            assert key_of(path) == key
            operations.append(_put(path, body_of(key, obj)))
        assert not operations or validator.is_valid({"operations": operations}), operations

    check()


def test_a_put_body_of_each_kind_is_its_path_body(app: FastAPI) -> None:
    components = app.openapi()["components"]["schemas"]
    for kind in Kind:
        name = body(kind).__name__
        put = components[f"Put{name.removesuffix('Body')}"]
        assert put["properties"]["body"] == {"$ref": f"#/components/schemas/{name}"}
        assert put["properties"]["path"]["pattern"] == PATH_PATTERN[kind]


# ---- the running-config body -------------------------------------------------------------------------------


def test_the_running_config_body_is_text_of_its_format_not_empty_or_blank(app: FastAPI, client: TestClient) -> None:
    content = app.openapi()["paths"]["/v1/running-config"]["put"]["requestBody"]["content"]
    schema = content["text/plain"]["schema"]
    assert schema["format"] == "running-config" and schema["minLength"] == 1
    checker = jsonschema_rs.validator_for(
        schema, validate_formats=True, formats={"running-config": FORMATS["running-config"].check}
    )
    seed = SEED.read_text()
    for text, admitted in ((seed, True), ("!", True), ("", False), (" \t\r\n", False), ("tenant", False)):
        assert checker.is_valid(text) == admitted, text
        answer = client.put("/v1/running-config?dry_run=true", content=text.encode(), headers=TEXT)
        assert (answer.status_code == 200) == admitted, (text, answer.text)


# ---- a route's next-hop --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "next_hop"),
    [
        ("10.1.0.0/16", "10.66.16.254"),
        ("2001:db8::/32", "10.66.16.254"),
        ("10.1.0.0/16", "2001:db8::1"),
        ("::/0", "::ffff:10.66.16.254"),
    ],
    ids=slug,
)
def test_a_next_hop_of_another_ip_version_is_refused_as_the_document_says(
    app: FastAPI, seeded: TestClient, prefix: str, next_hop: str
) -> None:
    router = seeded.get(f"{DEMO}/logical-router").json()
    router["routes"] = [*router["routes"], {"prefix": prefix, "next_hop": {"ip": next_hop}}]
    admitted = _document_validator(app, "LogicalRouter").is_valid(router)
    assert admitted == ((":" in prefix) == (":" in next_hop))
    # admitted: the server takes it, or refuses it for the state it meets (not on a subnet of the router)
    answer = seeded.put(f"{DEMO}/logical-router", json=router)
    assert (answer.status_code != 422) == admitted, answer.text


def test_errors_are_documented_as_json_on_every_route_text_ones_included(app: FastAPI) -> None:
    # A route answering text (running-config) would otherwise have its 422s documented as text/plain.
    document = app.openapi()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    assert set(response.get("content", {})) <= {"application/json"}, (method, path, status)
    answer = TestClient(app).get("/v1/running-config?wait=-1", headers={"If-None-Match": '"1"'})
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/json"
    documented = document["paths"]["/v1/running-config"]["get"]["responses"]["422"]["content"]
    assert list(documented) == ["application/json"]
