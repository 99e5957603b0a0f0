"""Contract tests: the UNMODIFIED networking-bigswitch 15.0.2 client (`ServerPool` and its `rest_*` calls, run by
the Neutron venv's python) and the in-house L3 plugin's config-tree calls (replayed with httpx), against real
`podswitch serve` processes over real HTTP. What they write must print as the seed's running-config block."""

from __future__ import annotations

import json
from typing import Any

import httpx

from podswitch.client import Client
from podswitch.model import Endpoint, Key, Kind, Tenant
from tests.bcf import seed
from tests.bcf.conftest import INSTANCE, MEMBERS_AS_IN_THE_SEED, TOKEN, Controller, free_port, neutron_conf, upstream


def script(servers: list[str], steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "neutron_conf": neutron_conf(servers),
        "keystone_tenants": {seed.PROJECT_ID: seed.PROJECT},
        "steps": steps,
        **extra,
    }


def call(name: str, *args: Any) -> dict[str, Any]:
    return {"call": name, "args": list(args)}


CREATE_SEED = [
    call("rest_create_tenant", seed.PROJECT_ID),
    call("rest_create_network", seed.PROJECT_ID, seed.network()),
    call("rest_create_port", seed.PROJECT_ID, seed.NETWORK_ID, seed.port()),
]


def succeeded(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps' results, each checked to have succeeded (the first line is the capabilities)."""
    steps = results[1:]
    for index, result in enumerate(steps):
        assert result["ok"], f"step {index}: {result}"
    return steps


def replay(ctl: Controller, calls: list[tuple[str, str, Any]]) -> list[Any]:
    """The in-house plugin's session and calls, as it makes them: log in, then each call with the session
    cookie, a JSON body on every verb, the path percent-encoded; any non-2xx is its failure."""
    answers = []
    with httpx.Client(base_url=ctl.url, timeout=30) as http:
        login = http.post("/api/v1/auth/login", json={"user": "admin", "password": TOKEN})
        assert login.status_code == 200, login.text
        cookie = {"Cookie": f"session_cookie={login.json()['session_cookie']}", "Content-type": "application/json"}
        for method, path, body in calls:
            answer = http.request(method, seed.wire(path), headers=cookie, content=json.dumps(body))
            assert answer.is_success, f"{method} {path}: {answer.status_code} {answer.text}"
            answers.append(answer.json())
    return answers


def test_the_upstream_client_and_the_l3_plugin_build_the_seed_block(controller: Controller) -> None:
    # The first controller listed is down: ServerPool fails over to the second on every call.
    servers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{controller.port}"]
    results = upstream(script(servers, CREATE_SEED))
    assert results[0] == {"capabilities": ["consistency"]}
    assert all(step["result"] is None for step in succeeded(results))
    assert seed.tenant_block(controller.running_config(), seed.TENANT) == seed.seed_block(with_router=False)

    answers = replay(controller, seed.l3_create())
    [tenant] = answers[0]  # the plugin reads its tenants with their nested objects
    assert (tenant["name"], tenant["origination"], tenant["id"]) == (seed.TENANT, INSTANCE, seed.PROJECT_ID)
    assert "logical-router" not in tenant  # "not configured yet" to the plugin
    assert answers[1] == []
    assert seed.tenant_block(controller.running_config(), seed.TENANT) == seed.seed_block()

    # Read back as the plugin's synchronizer reads a configured tenant.
    [tenant] = replay(controller, seed.l3_create()[:1])[0]
    router = tenant["logical-router"]
    assert router["tenant-interface"] == [{"remote-tenant": "system"}]
    assert router["segment-interface"] == [{"segment": seed.NETWORK, "ip-subnet": [{"ip-cidr": "10.66.16.1/24"}]}]
    [system_side] = replay(controller, seed.l3_create()[1:2])
    assert system_side == [{"remote-tenant": seed.TENANT}]


def test_the_l3_plugins_delete_sequence_leaves_the_tenant_without_router(controller: Controller) -> None:
    succeeded(upstream(script([f"127.0.0.1:{controller.port}"], CREATE_SEED)))
    replay(controller, seed.l3_create())
    answers = replay(controller, seed.l3_delete())
    assert answers[2] == []  # no segment-interface left: the plugin goes on to remove the links
    text = controller.running_config()
    assert seed.tenant_block(text, seed.TENANT) == seed.seed_block(with_router=False).replace(
        "  origination openstack\n  !\n  segment", "  origination openstack\n  !\n  logical-router\n  !\n  segment"
    )
    assert "interface tenant demo.openstack" not in text


def test_deleting_port_network_and_project_through_the_client(controller: Controller) -> None:
    servers = [f"127.0.0.1:{controller.port}"]
    second = seed.port("11111111-2222-4333-8444-555555555555", "10.66.16.3", "fa:16:3e:00:00:03")
    steps = [
        *CREATE_SEED,
        call("rest_create_port", seed.PROJECT_ID, seed.NETWORK_ID, second),
        call("rest_delete_port", seed.PROJECT_ID, seed.NETWORK_ID, seed.PORT_ID),
        call("rest_get_port", seed.PROJECT_ID, seed.NETWORK_ID, seed.PORT_ID),
        call("rest_get_port", seed.PROJECT_ID, seed.NETWORK_ID, second["id"]),
    ]
    results = succeeded(upstream(script(servers, steps)))
    assert results[5]["result"] is None  # gone: 404, which rest_get_port takes for "no such port"
    assert results[6]["result"]["mac"] == "fa:16:3e:00:00:03"
    block = seed.tenant_block(controller.running_config(), seed.TENANT)
    assert seed.PORT_ID not in block
    assert "member interface-group osvdev0013 vlan 300" in block  # the second port still uses it

    results = succeeded(
        upstream(
            script(
                servers,
                [
                    call("rest_delete_port", seed.PROJECT_ID, seed.NETWORK_ID, second["id"]),
                    call("rest_delete_network", seed.PROJECT_ID, seed.NETWORK_ID),
                    call("rest_delete_tenant", seed.PROJECT_ID),
                    call("rest_delete_tenant", seed.PROJECT_ID),  # gone already: 404, ignored by the client
                ],
            )
        )
    )
    assert "demo.openstack" not in controller.running_config()


def test_a_port_on_an_unknown_network_makes_the_client_resync(controller: Controller) -> None:
    topology = {"networks": [], "tenants": {seed.PROJECT_ID: seed.PROJECT}}
    steps = [
        call("rest_create_tenant", seed.PROJECT_ID),
        call("rest_create_port", seed.PROJECT_ID, "no-such-net", seed.port()),
    ]
    results = upstream(script([f"127.0.0.1:{controller.port}"], steps, topology_function=topology))
    assert results[1]["ok"]
    failed = results[2]
    assert not failed["ok"]
    # podswitch answered 404 NXVNS, so the client went for a full sync (force_topo_sync). On neutron 29 the
    # client's own consistency DB cannot take the sync lock (it uses oslo.db's EngineFacade, removed in
    # oslo.db 15): that failure is the client's, after podswitch asked it to resync.
    assert "force_topo_sync" in failed["trace"]
    assert seed.PORT_ID not in controller.running_config()


def test_topology_sync_replaces_what_this_neutron_wrote_and_nothing_else(controller: Controller) -> None:
    servers = [f"127.0.0.1:{controller.port}"]
    succeeded(upstream(script(servers, CREATE_SEED)))
    # Beside it: an operator's endpoint in the same segment, and another Neutron's tenant.
    with Client(controller.url, token=TOKEN) as native:
        native.put_object(
            Key(Kind.ENDPOINT, seed.TENANT, seed.NETWORK, "by-hand"),
            Endpoint(id="by-hand", mac="fa:16:3e:aa:aa:aa", origination="operator"),
        )
        native.put_object(Key(Kind.TENANT, "other.neutron2"), Tenant(name="other.neutron2", origination="neutron2"))
    new_net = seed.network("net_new", "7e57ab1e-0000-4000-8000-000000000001", vlan=301)
    new_port = seed.port(
        "22222222-3333-4444-8555-666666666666", "10.66.16.7", "fa:16:3e:00:00:07", "osvdev0014", new_net
    )
    del new_port["bound_segment"], new_port["network"]  # a full sync's ports carry neither
    topology = {"networks": [{**new_net, "ports": [new_port]}], "tenants": {seed.PROJECT_ID: seed.PROJECT}}
    results = succeeded(upstream(script(servers, [{"topology": topology}])))
    assert results[0]["status"] == 200
    text = controller.running_config()
    block = seed.tenant_block(text, seed.TENANT)
    assert "segment net_demo\n" in block  # the operator's endpoint keeps its segment...
    assert seed.PORT_ID not in block and "endpoint by-hand" in block  # ...but not Neutron's old port
    assert "member interface-group osvdev0013" not in block
    assert "segment net_new" in block and "member interface-group osvdev0014 vlan 301" in block
    assert "attachment-point interface-group osvdev0014 vlan 301" in block
    assert "tenant other.neutron2" in text


def test_failover_between_two_controllers_on_one_database(data_dir: Any) -> None:
    first = Controller(free_port(), data_dir).start(**MEMBERS_AS_IN_THE_SEED)
    second = Controller(free_port(), data_dir).start(**MEMBERS_AS_IN_THE_SEED)
    try:
        servers = [f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"]
        succeeded(upstream(script(servers, CREATE_SEED[:2])))
        first.stop()  # the one ServerPool uses; the port goes to the other, which sees the network
        succeeded(upstream(script(servers, CREATE_SEED[2:])))
        assert seed.tenant_block(second.running_config(), seed.TENANT) == seed.seed_block(with_router=False)
    finally:
        first.stop()
        second.stop()


def test_a_stale_consistency_hash_through_the_clients_own_transport(controller: Controller) -> None:
    # networking-bigswitch <= 14 sent its stored hash on every call; 15's rest_call still takes the header.
    stale = {"X-BSN-BVS-HASH-MATCH": "a-hash-from-before"}
    topology = {"networks": [seed.network()], "tenants": {seed.PROJECT_ID: seed.PROJECT}}
    steps = [
        {"raw": ["GET", "/health", "", dict(stale)]},
        {"raw": ["POST", f"/tenants/{seed.PROJECT_ID}/networks", {"network": seed.network()}, dict(stale)]},
        {"raw": ["POST", "/topology", topology, dict(stale)]},  # the full sync a 409 asks for is taken
    ]
    health, write, sync = succeeded(upstream(script([f"127.0.0.1:{controller.port}"], steps)))
    assert (health["status"], write["status"], sync["status"]) == (409, 409, 200)
    assert "segment net_demo" in seed.tenant_block(controller.running_config(), seed.TENANT)
