"""What agents see: desired state with ETags, 304s, status reports."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from podswitch.fabric.delta import DELTA_IM, apply_delta
from podswitch.fabric.state import STATUS_HEADER, STATUS_REPORT_HEADER, parse_desired
from tests.api.test_running_config import put_config

POD = """switch leaf1
  fabric-role leaf
!
switch leaf2
  fabric-role leaf
!
switch spine1
  fabric-role spine
!
interface-group osvdev0013
  member switch leaf1 interface swp1
!
interface-group osvdev0014
  member switch leaf2 interface swp1
!
link leaf1 swp49 spine1 swp1
link leaf2 swp49 spine1 swp2
"""


def test_desired_state_etag_changes_only_for_the_switches_that_change(client: TestClient, seed_text: str) -> None:
    put_config(client, POD + "!\n" + seed_text)
    r = client.get("/v1/switches/leaf1/desired-state")
    assert r.status_code == 200
    desired = parse_desired(r.content)
    # The ETag is the state's hash (the body's `etag`, what the agent reports) with the format's own digest.
    assert r.headers["etag"].startswith(f'"{desired.etag}-') and desired.state.switch == "leaf1"
    assert desired.state.slices and desired.state.attachments[0].vlan == 300
    etags = {s: client.get(f"/v1/switches/{s}/desired-state").headers["etag"] for s in ("leaf1", "leaf2", "spine1")}
    r = client.get("/v1/switches/leaf1/desired-state", headers={"If-None-Match": etags["leaf1"]})
    assert r.status_code == 304 and r.content == b""
    # a second endpoint on leaf1: leaf1 changes, leaf2 and the spine do not
    ep = {
        "attachment_point": {"interface_group": "osvdev0013", "vlan": 300},
        "ips": ["10.66.16.3"],
        "mac": "fa:16:3e:00:00:02",
    }
    client.put("/v1/tenants/demo.openstack/segments/net_demo/endpoints/e2", json=ep)
    for switch, etag in etags.items():
        r = client.get(f"/v1/switches/{switch}/desired-state", headers={"If-None-Match": etag})
        assert r.status_code == (200 if switch == "leaf1" else 304), switch
    assert client.get("/v1/switches/nope/desired-state").status_code == 404


def test_status_reports_show_in_sync(client: TestClient, seed_text: str) -> None:
    put_config(client, POD + "!\n" + seed_text)
    etag = parse_desired(client.get("/v1/switches/leaf1/desired-state").content).etag
    assert client.get("/v1/switches/leaf1").json()["in_sync"] is False
    r = client.put("/v1/switches/leaf1/status", json={"applied_revision": 1, "etag": etag, "links": {"swp1": "up"}})
    assert r.status_code == 204
    leaf1 = client.get("/v1/switches/leaf1").json()
    assert leaf1["in_sync"] is True and leaf1["status"]["links"] == {"swp1": "up"} and leaf1["last_seen"]
    assert client.get("/v1/switches/leaf1/status").json()["applied_revision"] == 1
    assert client.put("/v1/switches/nope/status", json={}).status_code == 404


def test_a_status_report_rides_on_the_desired_state_request(client: TestClient, seed_text: str) -> None:
    put_config(client, POD + "!\n" + seed_text)
    r = client.get("/v1/switches/leaf1/desired-state")
    # Every answer says the controller takes reports there, "none" when none came.
    assert r.headers[STATUS_REPORT_HEADER] == "none"
    etag, desired = r.headers["etag"], parse_desired(r.content)
    assert client.get("/v1/switches/leaf1").json()["in_sync"] is False
    report = {"applied_revision": desired.revision, "etag": desired.etag, "links": {"swp1": "up"}, "writes": 7}
    carrying = {"If-None-Match": etag, STATUS_HEADER: json.dumps(report)}
    r = client.get("/v1/switches/leaf1/desired-state", headers=carrying)
    assert r.status_code == 304 and r.headers[STATUS_REPORT_HEADER] == "stored"
    leaf1 = client.get("/v1/switches/leaf1").json()
    assert leaf1["in_sync"] is True and leaf1["last_seen"]
    assert leaf1["status"]["links"] == {"swp1": "up"} and leaf1["status"]["writes"] == 7
    # With a change pending, the report is stored and the new state comes back in the same answer.
    client.put(
        "/v1/tenants/demo.openstack/segments/net_demo/endpoints/e2",
        json={"attachment_point": {"interface_group": "osvdev0013", "vlan": 300}, "mac": "fa:16:3e:00:00:02"},
    )
    r = client.get(
        "/v1/switches/leaf1/desired-state", headers=carrying | {STATUS_HEADER: json.dumps(report | {"writes": 8})}
    )
    assert r.status_code == 200 and r.headers[STATUS_REPORT_HEADER] == "stored"
    assert client.get("/v1/switches/leaf1/status").json()["writes"] == 8
    assert client.get("/v1/switches/leaf1").json()["in_sync"] is False  # it reported the state before this one


def test_a_bad_or_unauthorised_status_report_is_refused_and_changes_nothing(
    client: TestClient, anonymous: TestClient, seed_text: str
) -> None:
    put_config(client, POD + "!\n" + seed_text)
    report = json.dumps({"applied_revision": 1, "writes": 3})
    assert client.get("/v1/switches/leaf1/desired-state", headers={STATUS_HEADER: report}).status_code == 200
    refused = [
        (anonymous, report, 401, "Authorization"),
        (client, json.dumps({"applied_revision": -1}), 422, STATUS_HEADER),
        (client, json.dumps({"writes": "many"}), 422, STATUS_HEADER),
        (client, "{not json", 422, STATUS_HEADER),
    ]
    for who, text, status, field in refused:
        r = who.get("/v1/switches/leaf1/desired-state", headers={STATUS_HEADER: text})
        assert r.status_code == status, (text, r.text)
        assert r.json()["error"]["field"] == field
        if status == 422:
            assert STATUS_HEADER in r.json()["error"]["message"]
    assert client.get("/v1/switches/leaf1/status").json()["writes"] == 3  # the good one, not overwritten
    assert client.get("/v1/switches/nope/desired-state", headers={STATUS_HEADER: report}).status_code == 404
    assert client.get("/v1/switches/nope/status").status_code == 404
    counted = client.get("/metrics").text
    assert 'podswitch_status_reports_total{result="stored",via="poll"}' in counted


def test_health_and_metrics(client: TestClient, seed_text: str) -> None:
    put_config(client, seed_text)
    assert client.get("/healthz").json()["revision"] == 1
    text = client.get("/metrics").text
    assert "podswitch_intent_revision 1.0" in text
    assert 'podswitch_intent_objects{kind="endpoints"} 1.0' in text
    assert "podswitch_unresolved_references 1.0" in text


def test_an_agent_that_asks_for_a_delta_gets_one_it_can_apply(client: TestClient, seed_text: str) -> None:
    put_config(client, POD + "!\n" + seed_text)
    r = client.get("/v1/switches/leaf1/desired-state")
    held, etag = parse_desired(r.content), r.headers["etag"]
    delta_asked = {"If-None-Match": etag, "A-IM": DELTA_IM}
    assert client.get("/v1/switches/leaf1/desired-state", headers=delta_asked).status_code == 304
    ep = {
        "attachment_point": {"interface_group": "osvdev0013", "vlan": 300},
        "ips": ["10.66.16.3"],
        "mac": "fa:16:3e:00:00:02",
    }
    client.put("/v1/tenants/demo.openstack/segments/net_demo/endpoints/e2", json=ep)
    full = client.get("/v1/switches/leaf1/desired-state", headers={"If-None-Match": etag})
    r = client.get("/v1/switches/leaf1/desired-state", headers=delta_asked)
    assert r.status_code == 226 and r.headers["im"] == DELTA_IM and r.headers["delta-base"] == etag
    assert r.headers["etag"] == full.headers["etag"] and len(r.content) < len(full.content)
    assert apply_delta(held, r.content) == parse_desired(full.content)
    # a state the controller does not know, or no A-IM: the whole document
    for headers in ({"If-None-Match": '"unknown"', "A-IM": DELTA_IM}, {"If-None-Match": etag}):
        r = client.get("/v1/switches/leaf1/desired-state", headers=headers)
        assert r.status_code == 200 and r.content == full.content
    # the new state held: 304 with or without A-IM
    current = {"If-None-Match": full.headers["etag"], "A-IM": DELTA_IM}
    assert client.get("/v1/switches/leaf1/desired-state", headers=current).status_code == 304
