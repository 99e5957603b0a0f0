"""The lab: an emulated POD in network namespaces, driven by the intent like a real one.

`layout` (pure) says which switches, links and servers the POD has and how endpoints are realised; `build`
creates namespaces, cables, servers (802.1Q trunks with `agent.vlan_shim`) and endpoints with pyroute2;
`supervisor` is the long-running process that writes the lab's topology through the API, builds, runs one
agent per switch and follows the intent; `control` starts, waits for and tears down a lab (`podswitch lab`,
`podswitch run`); `state` is the state file that `lab status` and `lab exec` read; `agent.netns` makes named
namespaces without forking. Every namespace name starts with the lab's prefix (`psw-`), so `lab down`
finds everything by it, also after a crash. The root namespace is never given a link, address or route."""
