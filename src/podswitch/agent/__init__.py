"""The switch agent: fetch the desired state from the controller, reconcile the kernel, report status.

Modules:
- `main` (the loop and the CLI entry), `client` (controller API with backoff);
- `reconcile`: `Reconciler` / `reconcile()`, which only orders the work of the concerns below;
- one module per concern, each turning desired + observed state into writes: `links` (the switch's links,
  sysctls, addresses, underlay routes), `bridges` (segment bridges, VXLAN devices, FDB), `attachments`
  (VLAN attachments and their tc programs), `slices` (router slice namespaces, neighbours, slice routes),
  `policy` (the slices' nftables); `devices` holds what they share (link attributes, devices of a kind, veth
  pairs);
- `writes`: the one write path, `KernelWrite`s committed by a `Transaction` with a typed outcome each;
  `run`: one reconcile's state (`Run`, `Result`);
- `kernel` (per-namespace handles, ownership marks), `netlink` (fast rtnetlink, one module per message
  family), `netns` (namespaces and sysctls without subprocesses, for the agent and the lab), `vlan_shim`
  (802.1Q push/pop via tc BPF), `bpf` (the eBPF assembler and loader) and `nft` (the slices' nftables table)."""
