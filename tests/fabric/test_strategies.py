"""The property tests' intents are rich fabrics in most draws, so properties over them exercise the whole
compiler: tenants on leaves, routers with gateways and routes, links to tenant system (system slices) and
applied policy-lists. A strategy that drifted to mostly empty intents would let every property pass."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from podswitch.fabric import allocate, compile, merged
from podswitch.model import SYSTEM, Intent, Role
from tests.strategies import intents

DRAWS = 200
MOST = 0.7


def features(intent: Intent) -> set[str]:
    topo = intent.topology
    leaf_groups = {
        name
        for name, group in topo.interface_groups.items()
        if any(topo.switches[p.switch].role == Role.LEAF for p in group.members)
    }
    found: set[str] = set()
    for tname, tnode in intent.tenants.items():
        for snode in tnode.segments.values():
            claims = [m.interface_group for m in snode.members.values()]
            claims += [e.attachment_point.interface_group for e in snode.endpoints.values() if e.attachment_point]
            if tname != SYSTEM and leaf_groups.intersection(claims):
                found.add("tenant on a leaf")
        router = tnode.router
        if router is None:
            continue
        if any(i.ip_addresses for i in router.interfaces) and router.routes:
            found.add("router with gateways and routes")
        if tname != SYSTEM and SYSTEM in router.tenant_interfaces:
            found.add("interface tenant system")
        applied = router.policy_list(router.applied_policy_list) if router.applied_policy_list else None
        if applied is not None and applied.rules:
            found.add("applied policy-list")
    compiled = compile(intent, merged({}, allocate(intent, {})), 1)
    for switch in compiled.switches:
        state = compiled.state(switch)
        assert state is not None
        if any(s.tenant == SYSTEM for s in state.slices):
            found.add("system slice")
        if any(s.tenant != SYSTEM and s.nftables for s in state.slices):
            found.add("policy in a slice")
    return found


@pytest.mark.slow  # 200 draws, each compiled: left out of mutation runs (`make mutate`)
def test_most_drawn_intents_are_rich_fabrics() -> None:
    seen: Counter[str] = Counter()
    draws = 0

    @settings(
        max_examples=DRAWS,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(intents())
    def draw(intent: Intent) -> None:
        nonlocal draws
        draws += 1
        seen.update(features(intent))

    draw()
    assert draws >= DRAWS * 0.9
    expected = [
        "tenant on a leaf",
        "router with gateways and routes",
        "interface tenant system",
        "system slice",
        "applied policy-list",
        "policy in a slice",
    ]
    shares = {feature: round(seen[feature] / draws, 2) for feature in expected}
    assert all(share >= MOST for share in shares.values()), shares
