"""The lab end to end: a controller, the seed's demo tenant, `podswitch lab up`, and real pings between
namespaces through the emulated fabric. Endpoints added or removed through the API appear or vanish;
`lab down` leaves nothing behind, also after the supervisor was killed."""

from __future__ import annotations

import os
import re
import signal

import pytest

from podswitch.agent import netns
from podswitch.lab import statefile as lab_state

from .conftest import SEED_CONFIG, Lab, start_lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.slow]

TENANT, SEGMENT = "demo.openstack", "net_demo"
SEED_EP = "0485e7a0-198f-4b88-a877-ca79d3e882bc"
NEW_EP = "5e6a1c2d-0000-4000-8000-00000000a001"


def _endpoint(group: str, ip: str, mac: str) -> dict[str, object]:
    """The body of PUT .../endpoints/ID (the path names the endpoint)."""
    return {
        "attachment_point": {"interface_group": group, "vlan": 300},
        "ips": [ip],
        "mac": mac,
        "origination": "openstack",
    }


def test_seed_endpoint_pings_its_gateway_and_endpoints_come_and_go(lab_factory) -> None:  # type: ignore[no-untyped-def]
    lab: Lab = lab_factory(SEED_CONFIG)
    state = lab.state()
    assert sorted(state.switches) == ["leaf1", "leaf2", "leaf3", "leaf4", "spine1", "spine2"]
    assert set(state.servers) == {"osvdev0013", "external"}
    assert state.servers["external"]["leaf"] == "leaf4"  # the border leaf
    assert state.endpoints[SEED_EP]["netns"] == f"{lab.prefix}ep-0485e7a0"
    # The lab wrote its whole topology (6 switches, 8 links, 2 interface-groups) as ONE transaction.
    topology = [r for r in lab.api.get("/v1/history").json() if r["actor"] == "podswitch-lab"]
    assert len(topology) == 1, topology
    assert topology[0]["operation"] == "transaction" and topology[0]["change_count"] == 16

    # The issue's own words: `lab exec <endpoint prefix> -- ping -c 3 10.66.16.1`, exit code passed through.
    ping = lab.cli("lab", "exec", "0485e7a0", "--", "ping", "-c", "3", "-W", "2", "10.66.16.1")
    assert ping.returncode == 0, ping.stdout + ping.stderr + lab.diagnostics()
    assert " 0% packet loss" in ping.stdout
    unreachable = lab.cli("lab", "exec", "0485", "--", "ping", "-c", "1", "-W", "1", "10.66.17.99")
    assert unreachable.returncode != 0

    # A new endpoint on another compute node: the lab adds the server (to the topology first), then the
    # endpoint's namespace, and it reaches the seed endpoint across the fabric.
    resp = lab.api.put(
        f"/v1/tenants/{TENANT}/segments/{SEGMENT}/endpoints/{NEW_EP}",
        json=_endpoint("osvdev0042", "10.66.16.3", "fa:16:3e:00:a0:01"),
    )
    assert resp.status_code == 201, resp.text
    new_ns = f"{lab.prefix}ep-5e6a1c2d"
    assert lab.wait_endpoint(NEW_EP) == new_ns
    assert "osvdev0042" in lab.api.get("/v1/interface-groups/osvdev0042").json()["name"]
    lab.wait_ping("5e6a", "10.66.16.2")
    assert lab.ping("5e6a", "10.66.16.1")
    assert lab.ping(SEED_EP[:8], "10.66.16.3")
    eth0 = lab.exec("5e6a", "ip", "-br", "link", "show", "eth0").stdout
    assert "fa:16:3e:00:a0:01" in eth0

    # Deleted through the API: the namespace goes.
    resp = lab.api.delete(f"/v1/tenants/{TENANT}/segments/{SEGMENT}/endpoints/{NEW_EP}")
    assert resp.status_code == 204
    lab.wait_gone(NEW_EP)
    assert not netns.exists(new_ns)

    # One more on the seed's own server (its handles were opened before the agents started), then the
    # whole intent replaced by text without topology: the lab writes its topology back, the endpoints the
    # text does not have vanish, and the seed endpoint still reaches its gateway.
    resp = lab.api.put(
        f"/v1/tenants/{TENANT}/segments/{SEGMENT}/endpoints/{NEW_EP}",
        json=_endpoint("osvdev0013", "10.66.16.4", "fa:16:3e:00:a0:02"),
    )
    assert resp.status_code == 201, resp.text
    assert lab.wait_endpoint(NEW_EP) == new_ns
    lab.wait_ping("5e6a", "10.66.16.2")
    # The agents, holding their states, got these changes as deltas (A-IM -> 226) and programmed them.
    deltas = re.search(
        r'^podswitch_desired_state_requests_total\{answer="226"\} (\S+)$', lab.api.get("/metrics").text, re.M
    )
    assert deltas is not None and float(deltas.group(1)) > 0
    lab.apply(SEED_CONFIG, keep_topology=False)
    lab.wait_gone(NEW_EP)
    lab.wait_synced()
    groups = [g["name"] for g in lab.api.get("/v1/interface-groups").json()["items"]]
    assert groups == ["external", "osvdev0013"]  # osvdev0042 had nothing left on it: not written back
    assert lab.ping(SEED_EP[:8], "10.66.16.1")

    # `lab down` (the fixture's teardown) must leave no namespace with the prefix; check it here too.
    proc = lab.cli("lab", "down", "--prefix", lab.prefix)
    assert proc.returncode == 0, proc.stderr
    assert netns.names(lab.prefix) == []
    assert lab_state.load(lab.lab_dir) is None


def test_status_and_exec_errors(lab_factory) -> None:  # type: ignore[no-untyped-def]
    lab: Lab = lab_factory(SEED_CONFIG, leaves=2)
    status = lab.cli("lab", "status")
    assert status.returncode == 0, status.stderr
    for word in ("leaf1", "spine2", "in sync", "osvdev0013", "external", f"{lab.prefix}ep-0485e7a0"):
        assert word in status.stdout
    unknown = lab.cli("lab", "exec", "nosuchthing", "--", "true")
    assert unknown.returncode == 2 and "no switch, server or endpoint" in unknown.stderr
    # an exit code is passed through as it is
    rc = lab.cli("lab", "exec", "leaf1", "--", "sh", "-c", "exit 7")
    assert rc.returncode == 7
    # a switch namespace is the agent's: it has the fabric ports the lab cabled
    links = lab.exec("leaf1", "ip", "-br", "link").stdout
    assert "swp49" in links and "swp50" in links


def test_down_after_the_supervisor_was_killed_removes_everything(controller) -> None:  # type: ignore[no-untyped-def]
    lab = start_lab(controller, SEED_CONFIG, leaves=2)
    try:
        state = lab.state()
        agents = [sw["agent_pid"] for sw in state.switches.values()]
        assert state.supervisor_pid is not None
        os.kill(state.supervisor_pid, signal.SIGKILL)
        # Agents die with their supervisor (PR_SET_PDEATHSIG), they are not left polling.
        wait_for(lambda: not any(_running(p) for p in agents), 30, what="agents to exit")
        (lab.lab_dir / lab_state.STATE_FILE).unlink()  # worse: the state file is gone too
        proc = lab.cli("lab", "down", "--prefix", lab.prefix)
        assert proc.returncode == 0, proc.stderr
        assert netns.names(lab.prefix) == []
    finally:
        lab.down()
        lab.api.close()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_demo_config_reaches_the_outside_world(seed_lab: Lab) -> None:
    """What `make run` promises: the seed endpoint pings its gateway and the outside world (endpoint
    `world` behind tenant system, on the border leaf), and the world pings back."""
    assert seed_lab.state().servers["external"]["leaf"] == "leaf4"
    assert seed_lab.ping("0485e7a0", "10.66.16.1")
    assert seed_lab.ping("0485e7a0", "192.0.2.2")
    assert seed_lab.ping("world", "10.66.16.2")
    # `external` is the server namespace of interface-group external: a trunk carrying VLAN 100
    links = seed_lab.exec("external", "ip", "-br", "link").stdout
    assert "br100" in links and "eth0.100" in links
