"""The switch agent: fetch the desired state from the controller, reconcile the kernel, report status.

Modules: `reconcile` (diff and apply; `reconcile()` / `Reconciler`), `kernel` (per-namespace handles,
ownership marks), `netlink` (fast rtnetlink reads and batched writes), `netns` (namespaces and sysctls
without subprocesses), `client` (controller API with backoff), `main` (the loop and the CLI entry),
`vlan_shim` (802.1Q via tc BPF) and `nft` (the slices' nftables table)."""
