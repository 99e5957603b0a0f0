"""Policy lists as nftables rules in a tenant's router slice.

Semantics (documented for operators in docs/data-plane.md): a policy-list applied to a logical router
filters every packet the router forwards — between its segments and to/from tenant `system`. Rules are
evaluated in ascending seq, the first match decides, and a packet no rule matches is dropped. Rules are
stateless, like the ACLs of a hardware router: with asymmetric routing the two directions of a flow are
forwarded by the router slices of different leaves, so each direction must be permitted on its own.
Traffic to the gateway address itself (ping 10.66.16.1) is not forwarded and not filtered."""

from __future__ import annotations

from collections.abc import Callable

from ..model import Action, LogicalRouter, Match, PolicyRule, Protocol

TABLE = "podswitch"


def ruleset(router: LogicalRouter, segment_if: Callable[[str], str | None], system_if: str | None) -> str | None:
    """The `table inet podswitch` text for the router's applied policy-list, or None when none is applied
    (everything is forwarded). `segment_if` maps a segment name to the slice interface facing it."""
    name = router.applied_policy_list
    plist = router.policy_list(name) if name else None
    if plist is None:
        return None
    lines = [
        f"table inet {TABLE} {{",
        "  chain forward {",
        "    type filter hook forward priority 0; policy drop;",
    ]
    for rule in plist.rules:
        expr = _rule(rule, segment_if)
        if expr is not None:
            lines.append(f'    {expr} comment "{plist.name} {rule.seq}"')
    lines += ["  }", "}", ""]
    return "\n".join(lines)


def _side(match: Match, direction: str, segment_if: Callable[[str], str | None]) -> list[str] | None:
    """nft expressions for one side; None when the side can never match (a segment with no router leg)."""
    if match.segment is not None:
        ifname = segment_if(match.segment)
        if ifname is None:
            return None
        return [f'{"iifname" if direction == "src" else "oifname"} "{ifname}"']
    if match.cidr is not None:
        family = "ip" if match.cidr.version == 4 else "ip6"
        field = "saddr" if direction == "src" else "daddr"
        return [f"{family} {field} {match.cidr}"]
    return []


def _rule(rule: PolicyRule, segment_if: Callable[[str], str | None]) -> str | None:
    src = _side(rule.src, "src", segment_if)
    dst = _side(rule.dst, "dst", segment_if)
    if src is None or dst is None:
        return None
    parts = src + dst
    if rule.protocol == Protocol.ICMP:
        parts.append("meta l4proto { icmp, ipv6-icmp }")
    elif rule.protocol != Protocol.ANY:
        parts.append(f"meta l4proto {rule.protocol.value}")
    if rule.src_port is not None:
        parts.append(f"th sport {rule.src_port}")
    if rule.dst_port is not None:
        parts.append(f"th dport {rule.dst_port}")
    parts.append("accept" if rule.action == Action.PERMIT else "drop")
    return " ".join(parts)
