"""The journal, laid out as networking-odl's (one module per job): `record` (what precommits call),
`rows` (its table), `dependencies` (which rows may go now), `lease` (one sender across processes),
`send` (a batch as one transaction), `worker` (the thread and its periodic tasks), `consistency` (the
check that repairs drift), `port_status` (provisioning blocks from the fabric's applied state)."""
