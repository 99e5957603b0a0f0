"""PUT/GET of running-config: the seed round-trips, errors point at line and column, nothing partial."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import AUTH


def put_config(client: TestClient, text: str, **params: str):  # type: ignore[no-untyped-def]
    return client.put(
        "/v1/running-config", content=text.encode(), params=params, headers={"Content-Type": "text/plain", **AUTH}
    )


def test_put_then_get_returns_the_same_text(client: TestClient, seed_text: str) -> None:
    r = put_config(client, seed_text)
    assert r.status_code == 200, r.text
    assert r.json()["revision"] == 1 and r.json()["changed"]
    got = client.get("/v1/running-config")
    assert got.text == seed_text and got.headers["x-podswitch-revision"] == "1"
    assert put_config(client, seed_text).json() == {
        "revision": 1,
        "changed": False,
        "summary": "no change",
        "counts": {},
    }


def test_a_bad_config_is_rejected_with_line_and_column_and_changes_nothing(client: TestClient, seed_text: str) -> None:
    put_config(client, seed_text)
    bad = seed_text.replace("vlan 300\n      ip", "vlan 5000\n      ip") + "tenant second\n  id 2\n"
    r = put_config(client, bad)
    assert r.status_code == 422
    error = r.json()["error"]
    assert (error["line"], error["column"]) == (16, 56) and "4094" in error["message"]
    assert client.get("/v1/running-config").text == seed_text
    assert [h["revision"] for h in client.get("/v1/history").json()] == [1]


def test_cross_object_problems_are_reported_at_their_line(client: TestClient, seed_text: str) -> None:
    bad = seed_text.replace("ip 10.66.16.2", "ip 10.66.99.2")
    r = put_config(client, bad)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["line"] == 15 and "outside" in error["message"]
    assert client.get("/v1/tenants/demo.openstack").status_code == 404


def test_dry_run_plans_and_changes_nothing(client: TestClient, seed_text: str) -> None:
    r = put_config(client, seed_text, dry_run="true")
    assert r.status_code == 200
    plan = r.json()
    assert plan["dry_run"] and not plan["empty"] and plan["counts"]["endpoint"]["created"] == 1
    assert "+tenant demo.openstack" in plan["diff"]
    assert client.get("/v1/history").json() == []
    assert client.get("/v1/running-config").text == ""


def test_replace_removes_what_the_text_no_longer_has(client: TestClient, seed_text: str) -> None:
    put_config(client, seed_text)
    put_config(client, "tenant other\n  origination cli\n")
    assert client.get("/v1/running-config").text == "tenant other\n  origination cli\n"
    changes = client.get("/v1/history/2").json()["changes"]
    assert changes["total"] == 6
    assert {c["operation"] for c in changes["items"]} == {"create", "delete"}


def test_writes_need_the_admin_token(anonymous: TestClient, seed_text: str) -> None:
    r = anonymous.put("/v1/running-config", content=seed_text.encode())
    assert r.status_code == 401 and r.json()["error"]["field"] == "Authorization"
    r = anonymous.put("/v1/running-config", content=seed_text.encode(), headers={"Authorization": "Bearer nope"})
    assert r.status_code == 403
    assert anonymous.get("/v1/running-config").status_code == 200  # reads are open


def test_non_utf8_text_is_a_clear_error(client: TestClient) -> None:
    r = put_config(client, "tenant a\n")
    assert r.status_code == 200
    r = client.put("/v1/running-config", content=b"tenant \xff\n", headers={"Content-Type": "text/plain"})
    assert r.status_code == 422 and "UTF-8" in r.json()["error"]["message"]


def test_if_match_applies_only_onto_the_revision_that_was_read(client: TestClient, seed_text: str) -> None:
    put_config(client, seed_text)
    read = client.get("/v1/running-config")
    assert read.headers["etag"] == '"1"'
    # Someone else writes between our read and our write ...
    other = client.put("/v1/tenants/other", json={}, headers=AUTH)
    assert other.status_code == 201
    edited = read.text.replace("vlan 300", "vlan 301")
    for params in ({}, {"dry_run": "true"}):
        r = client.put(
            "/v1/running-config",
            content=edited.encode(),
            params=params,
            headers={"Content-Type": "text/plain", "If-Match": read.headers["etag"], **AUTH},
        )
        # ... so our replace (which would silently delete tenant other) is refused and changes nothing.
        assert r.status_code == 412, r.text
        error = r.json()["error"]
        assert error["field"] == "If-Match" and (error["expected_revision"], error["revision"]) == (1, 2)
        assert r.headers["etag"] == '"2"'
    assert client.get("/v1/tenants/other").status_code == 200
    assert "vlan 300" in client.get("/v1/running-config").text
    # On the current revision it applies; unquoted and `*` are accepted too.
    current = client.get("/v1/running-config")
    r = client.put(
        "/v1/running-config",
        content=edited.encode(),
        headers={"Content-Type": "text/plain", "If-Match": current.headers["etag"], **AUTH},
    )
    assert r.status_code == 200 and r.json()["revision"] == 3 and r.headers["etag"] == '"3"'
    for tag in ("3", "*"):
        r = client.put(
            "/v1/running-config",
            content=edited.encode(),
            headers={"Content-Type": "text/plain", "If-Match": tag, **AUTH},
        )
        assert r.status_code == 200 and not r.json()["changed"]


def test_a_malformed_if_match_is_a_clear_error(client: TestClient, seed_text: str) -> None:
    for tag in ('W/"1"', '"abc"', '"1", "2"', "-1"):
        r = client.put(
            "/v1/running-config",
            content=seed_text.encode(),
            headers={"Content-Type": "text/plain", "If-Match": tag, **AUTH},
        )
        assert r.status_code == 422 and r.json()["error"]["field"] == "If-Match", (tag, r.text)
    assert client.get("/v1/history").json() == []


def test_an_empty_body_is_refused_not_taken_as_an_empty_intent(client: TestClient, seed_text: str) -> None:
    put_config(client, seed_text)
    for body in (b"", b"  \n"):
        r = client.put("/v1/running-config", content=body, headers={"Content-Type": "text/plain"})
        assert r.status_code == 422 and "send '!'" in r.json()["error"]["message"]
    assert "tenant demo.openstack" in client.get("/v1/running-config").text
    r = client.put("/v1/running-config", content=b"!\n", headers={"Content-Type": "text/plain"})
    assert r.status_code == 200 and client.get("/v1/running-config").text == ""


def test_the_api_reads_text_as_config_check_does(client: TestClient, seed_text: str) -> None:
    """One definition of lines and blanks (config/text.py) for the CLI and the API: the same bytes, the same
    verdict at the same line:column."""
    from podswitch.config import ConfigError, decode, parse

    cases = [
        seed_text.replace("\n  id ", "\r  id ", 1).encode(),  # a lone CR
        seed_text.replace("  origination openstack", "  origination\u00a0openstack", 1).encode(),  # NBSP
        seed_text.replace("net_demo", "net_demo\u3000", 1).encode(),  # ideographic space
        seed_text.encode() + b"tenant \xff\n",  # not UTF-8
    ]
    for raw in cases:
        with pytest.raises(ConfigError) as offline:
            parse(decode(raw))
        r = client.put("/v1/running-config", content=raw, headers={"Content-Type": "text/plain"})
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert (error["line"], error["column"]) == (offline.value.line, offline.value.column)
    crlf = seed_text.replace("\n", "\r\n").encode()  # CR LF line ends are fine for both
    assert client.put("/v1/running-config", content=crlf, headers={"Content-Type": "text/plain"}).status_code == 200
