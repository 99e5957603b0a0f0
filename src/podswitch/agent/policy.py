"""Policy: each router slice's policy lists, compiled by the controller into one nftables table
(`Slice.nftables`), made the slice's `table inet podswitch` in one nf_tables transaction (see `nft`).

The table carries the digest of the text it was made from, so an unchanged ruleset costs one read and no
write. `table_plan` is pure: the wanted text and the digest read in, the write (if any) out."""

from __future__ import annotations

from . import nft
from .kernel import Namespace, where
from .run import Run
from .writes import NftWrite, WritePlan


def table_plan(label: str, netns_name: str | None, ruleset: str | None, current: str | None) -> WritePlan:
    """`current`: the digest the slice's table carries ("" none, None no table)."""
    plan = WritePlan()
    if current != (None if ruleset is None else nft.digest(ruleset)):
        plan.add(
            NftWrite(netns=netns_name, ruleset=ruleset, what=label, record=("changed", f"nftables{where(netns_name)}"))
        )
    return plan


def reconcile(run: Run, spaces: dict[str, Namespace]) -> None:
    """The table of every slice whose namespace is there (`spaces`, by slice name)."""
    for s in run.desired.slices:
        h = spaces.get(s.name)
        if h is None:
            continue
        label = f"slice {s.name} nftables"
        with run.guard(label):
            if s.nftables is not None:
                nft.check(s.nftables)  # a text nft cannot take is reported before anything is read
            run.apply(table_plan(label, h.name, s.nftables, nft.read_digest(h.name)))
