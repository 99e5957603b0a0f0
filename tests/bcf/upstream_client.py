"""Runs under `.venv-neutron/bin/python` (neutron 29 + networking-bigswitch 15.0.2, unmodified): the upstream
`ServerPool` configured as `[RESTPROXY]` in neutron.conf would configure it, driven by a JSON script on stdin.
Prints one JSON line per step: what the upstream call returned or raised.

Script: {"neutron_conf": its text ([RESTPROXY] as docs/bcf-compat.md shows), "keystone_tenants": {project id:
name}, "steps": [step]}; a step is {"call": "rest_create_tenant", "args": [...]} (a method of ServerPool), or
{"topology": DATA} (what `ServerPool.force_topo_sync` posts, sent through `rest_action` as it does), or {"raw":
[method, resource, data, headers]} (`ServerPool.rest_call`). With "topology_function", the pool's
`get_topo_function` returns it, as the mechanism driver's does from Neutron's database.

Keystone stands in as the tenant cache ServerPool fills from it (`keystone_tenants`): `auth_url` points at a
closed loopback port, so each refresh fails and keeps the cache, as it does when Keystone is briefly away."""

from __future__ import annotations

import json
import sys
import tempfile
import traceback
from typing import Any

from oslo_config import cfg


def main() -> None:
    script = json.load(sys.stdin)
    from networking_bigswitch.plugins.bigswitch import config as pl_config
    from networking_bigswitch.plugins.bigswitch import servermanager
    from neutron.conf import common as neutron_config

    # What neutron-server registers before it loads the mechanism driver ([nova] among them).
    neutron_config.register_core_common_config_opts()
    neutron_config.register_nova_opts()
    pl_config.register_config()
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as conf:
        conf.write(script["neutron_conf"])
        conf.flush()
        cfg.CONF(["--config-file", conf.name], project="neutron")
    pool = servermanager.ServerPool()
    pool.keystone_tenants = dict(script.get("keystone_tenants", {}))
    if "topology_function" in script:
        # What the mechanism driver sets (`_get_all_data_auto`: Neutron's DB as a topology body).
        data = script["topology_function"]
        pool.get_topo_function = lambda: data
    out = {"capabilities": sorted(pool.get_capabilities())}
    print(json.dumps(out), flush=True)
    for step in script["steps"]:
        print(json.dumps(run(pool, servermanager, step)), flush=True)


def run(pool: Any, servermanager: Any, step: dict[str, Any]) -> dict[str, Any]:
    try:
        if "call" in step:
            result = getattr(pool, step["call"])(*step.get("args", []))
        elif "topology" in step:
            result = pool.rest_action("POST", servermanager.TOPOLOGY_PATH, step["topology"])
        else:
            method, resource, data, headers = step["raw"]
            result = pool.rest_call(method, resource, data, headers, [])
        if isinstance(result, tuple):
            status, _, body, _ = result
            return {"ok": True, "status": status, "body": body.decode() if isinstance(body, bytes) else body}
        return {"ok": True, "result": result}
    except Exception as exc:  # reported to the test, which decides
        return {
            "ok": False,
            "error": type(exc).__name__,
            "message": str(exc)[:2000],
            "status": getattr(exc, "status", None),
            "trace": traceback.format_exc()[-3000:],
        }


if __name__ == "__main__":
    main()
