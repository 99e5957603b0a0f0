"""A STAND-IN for neutron-openvswitch-agent: it reports its state to Neutron over RPC exactly as the real agent
does, and does nothing else.

The real agent cannot run on the test machine (no ovsdb-server, no openvswitch kernel module, no sudo: it
dies at start, see the neutron notes). What ML2's `openvswitch` mechanism driver needs from it to bind a port
is only its entry in Neutron's agents table, alive and with bridge_mappings for the network's physical
network: `neutron.db.agents_db.AgentExtRpcCallback.report_state` writes that entry when an agent calls it
through `neutron.agent.rpc.PluginReportStateAPI` (topic `q-reports-plugin`, served by neutron-rpc-server).
This process makes that same call, with the agent_state dict the real agent builds
(`ovs_neutron_agent.OVSNeutronAgent.__init__`, same keys and constants), every `[AGENT] report_interval`
seconds: start_flag on the first report, resource_versions until one report went through.

It programs no flows and never reports devices up, so bound ports keep Neutron's L2-agent provisioning
block: Neutron leaves them DOWN, as it would with a real agent that has not wired them yet.

Run as: python standin_ovs_agent.py --config-file neutron.conf --config-file agent.ini
(agent.ini: `[DEFAULT] host`, `[ovs] bridge_mappings`, `[AGENT] report_interval`)."""

from __future__ import annotations

import sys
import threading

from neutron.agent import rpc as agent_rpc
from neutron.api.rpc.callbacks import resources
from neutron.common import config as common_config
from neutron.conf.agent import common as agent_config
from neutron.conf.plugins.ml2.drivers import ovs_conf
from neutron_lib import constants as n_const
from neutron_lib import context
from neutron_lib.agent import topics
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import ovs_constants as ovs_const
from oslo_config import cfg
from oslo_log import log as logging

LOG = logging.getLogger("standin_ovs_agent")


def agent_state(bridge_mappings: dict[str, str]) -> dict[str, object]:
    """What OVSNeutronAgent reports (its __init__), for an agent without tunnels, DVR or extensions."""
    return {
        "binary": n_const.AGENT_PROCESS_OVS,
        "host": cfg.CONF.host,
        "topic": n_const.L2_AGENT_TOPIC,
        "configurations": {
            "bridge_mappings": bridge_mappings,
            n_const.RP_BANDWIDTHS: {},
            n_const.RP_INVENTORY_DEFAULTS: {},
            n_const.RP_PP_WITHOUT_DIRECTION: {},
            n_const.RP_PP_WITH_DIRECTION: {},
            n_const.RP_PP_INVENTORY_DEFAULTS: {},
            "resource_provider_hypervisors": {},
            "integration_bridge": cfg.CONF.OVS.integration_bridge,
            "tunnel_types": [],
            "tunneling_ip": None,
            "l2_population": False,
            "arp_responder_enabled": False,
            "enable_distributed_routing": False,
            "log_agent_heartbeats": cfg.CONF.AGENT.log_agent_heartbeats,
            "extensions": [],
            "datapath_type": cfg.CONF.OVS.datapath_type,
            "ovs_capabilities": {"datapath_types": [ovs_const.OVS_DATAPATH_SYSTEM], "iface_types": []},
            "vhostuser_socket_dir": cfg.CONF.OVS.vhostuser_socket_dir,
            portbindings.OVS_HYBRID_PLUG: False,
            "baremetal_smartnic": False,
            "devices": 0,
            "in_distributed_mode": False,
        },
        "resource_versions": resources.LOCAL_RESOURCE_VERSIONS,
        "agent_type": n_const.AGENT_TYPE_OVS,
        "start_flag": True,
    }


def main() -> None:
    common_config.register_common_config_options()
    agent_config.register_agent_state_opts_helper(cfg.CONF)
    ovs_conf.register_ovs_agent_opts(cfg.CONF)
    common_config.init(sys.argv[1:])
    common_config.setup_logging()
    mappings = dict(m.split(":", 1) for m in cfg.CONF.OVS.bridge_mappings)
    state = agent_state(mappings)
    rpc = agent_rpc.PluginReportStateAPI(topics.REPORTS)
    ctx = context.get_admin_context_without_session()
    stop = threading.Event()
    while not stop.is_set():
        try:
            rpc.report_state(ctx, state, True)
            # As the real agent: resource versions only until one report went through; start_flag too
            # (the real one drops it after its first loop iteration).
            state.pop("resource_versions", None)
            state.pop("start_flag", None)
            LOG.info("reported state of %s (bridge_mappings %s)", cfg.CONF.host, mappings)
        except Exception:
            LOG.exception("Failed reporting state!")
        stop.wait(cfg.CONF.AGENT.report_interval)


if __name__ == "__main__":
    main()
