"""Intent -> canonical running-config text.

The text is a pure function of the intent: every collection is printed in a fixed order, so two equal
intents render to the same bytes and a diff of two texts shows only real changes. The layout (two spaces
per level, `!` between blocks) reproduces the controller's own `show running-config`; see
docs/config-language.md.

The text is made of *sections*: the topology (switches, interface-groups, links) and one per printed
tenant. Sections are separated by a `!` line, so `plan` can render just the sections that changed."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address
from socket import AF_INET, inet_ntop

from podswitch.model import SYSTEM, Intent, LogicalRouter, PolicyRule, Protocol, SegmentNode, TenantNode, Topology

SEPARATOR = "!\n"


def render(intent: Intent) -> str:
    """The whole running-config: topology first, then tenants by name. Ends with a newline (or is empty)."""
    return SEPARATOR.join(text for _, text in sections(intent))


def sections(intent: Intent) -> Iterator[tuple[str, str]]:
    """(section name, text) in print order: "topology" if there is any, then "tenant NAME" for every
    tenant that has something to print."""
    topo = render_topology(intent.topology)
    if topo:
        yield "topology", topo
    for name in printed_tenants(intent):
        yield f"tenant {name}", render_tenant(name, intent.tenants[name])


def printed_tenants(intent: Intent) -> list[str]:
    """Tenant names in print order. The always-present `system` tenant is left out until it is configured."""
    return sorted(name for name, node in intent.tenants.items() if name != SYSTEM or node.has_configuration())


def render_topology(topo: Topology) -> str:
    out: list[str] = []
    append = out.append
    for name in sorted(topo.switches):
        sw = topo.switches[name]
        if out:
            append(SEPARATOR)
        append(f"switch {name}\n  fabric-role {sw.role.value}\n")
        if sw.management_address is not None:
            append(f"  management-address {sw.management_address}\n")
    for name in sorted(topo.interface_groups):
        if out:
            append(SEPARATOR)
        append(f"interface-group {name}\n")
        for port in topo.interface_groups[name].members:
            append(f"  member switch {port.switch} interface {port.interface}\n")
    # Links are plain lines: one `!` before the first of them, none between them.
    if topo.links and out:
        append(SEPARATOR)
    for link in sorted(topo.links.values(), key=lambda lk: lk.key):
        append(f"link {link.a.switch} {link.a.interface} {link.b.switch} {link.b.interface}\n")
    return "".join(out)


def render_tenant(name: str, node: TenantNode) -> str:
    out: list[str] = []
    render_tenant_head(out, name, node)
    separate = head_has_children(node)
    segments = node.segments
    for sname in sorted(segments):
        if separate:
            out.append("  !\n")
        separate = True
        render_segment(out, sname, segments[sname])
    return "".join(out)


def head_has_children(node: TenantNode) -> bool:
    """Whether anything is printed between `tenant NAME` and its first segment (which then gets a `!`)."""
    return node.tenant.id is not None or node.tenant.origination is not None or node.router is not None


def render_tenant_head(out: list[str], name: str, node: TenantNode) -> None:
    """`tenant NAME` with its id, origination and logical-router: everything but the segments."""
    append = out.append
    append(f"tenant {name}\n")
    tenant = node.tenant
    plain = False  # a plain line is printed above the router (a `!` goes only before a block)
    if tenant.id is not None:
        append(f"  id {tenant.id}\n")
        plain = True
    if tenant.origination is not None:
        append(f"  origination {tenant.origination}\n")
        plain = True
    if node.router is not None:
        append("  !\n  logical-router\n" if plain else "  logical-router\n")
        _render_router(out, node.router)


def _render_router(out: list[str], router: LogicalRouter) -> None:
    append = out.append
    for route in router.routes:
        append(f"    route {route.prefix} next-hop {route.next_hop}\n")
    for iface in router.interfaces:
        append(f"    interface segment {iface.segment}\n")
        for addr in iface.ip_addresses:
            append(f"      ip address {addr}\n")
    for peer in router.tenant_interfaces:
        append(f"    interface tenant {peer}\n")
    for plist in router.policy_lists:
        append(f"    policy-list {plist.name}\n")
        for rule in plist.rules:
            append(f"      {rule_text(rule)}\n")
    if router.applied_policy_list is not None:
        append(f"    apply policy-list {router.applied_policy_list}\n")


def rule_text(rule: PolicyRule) -> str:
    text = f"{rule.seq} {rule.action.value}"
    if rule.protocol is not Protocol.ANY:
        text += f" proto {rule.protocol.value}"
    text += f" src {rule.src} dst {rule.dst}"
    if rule.src_port is not None:
        text += f" src-port {rule.src_port}"
    if rule.dst_port is not None:
        text += f" dst-port {rule.dst_port}"
    return text


def render_segment(out: list[str], name: str, node: SegmentNode) -> None:
    # Endpoint addresses are formatted by inet_ntop: the same dotted quad as str(), in C rather than in a
    # Python loop, for the 100,000 endpoints of a large config.
    append = out.append
    append(f"  segment {name}\n")
    segment = node.segment
    first = True
    if segment.id is not None:
        append(f"    id {segment.id}\n")
        first = False
    if segment.origination is not None:
        append(f"    origination {segment.origination}\n")
        first = False
    endpoints = node.endpoints
    for eid in sorted(endpoints):
        ep = endpoints[eid]
        append(f"    endpoint {eid}\n" if first else f"    !\n    endpoint {eid}\n")
        first = False
        ap = ep.attachment_point
        if ap is not None:
            append(f"      attachment-point interface-group {ap.interface_group} vlan {ap.vlan}\n")
        for ip in ep.ips:
            append(f"      ip {inet_ntop(AF_INET, ip.packed) if isinstance(ip, IPv4Address) else ip}\n")
        if ep.mac is not None:
            append(f"      mac {ep.mac}\n")
        if ep.origination is not None:
            append(f"      origination {ep.origination}\n")
    members = node.members
    for member in sorted(members.values(), key=lambda m: (m.interface_group, m.vlan)):
        append(
            f"    member interface-group {member.interface_group} vlan {member.vlan}\n"
            if first
            else f"    !\n    member interface-group {member.interface_group} vlan {member.vlan}\n"
        )
        first = False
        if member.origination is not None:
            append(f"      origination {member.origination}\n")
