"""Bad running-config text: each problem names its line and column and says what to do."""

from __future__ import annotations

import pytest

from podswitch.config import ConfigError, parse
from podswitch.config.parse import MAX_ERRORS
from tests.builders import SEED_PATH

SEED = SEED_PATH.read_text()
PORT = "0485e7a0-198f-4b88-a877-ca79d3e882bc"


def error_of(text: str, *, validate: bool = True) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text, validate=validate)
    return info.value


def where(error: ConfigError) -> tuple[int, int]:
    return (error.line, error.column)


def line_no(text: str, fragment: str, nth: int = 0) -> int:
    """1-based number of the nth line containing fragment."""
    hits = [i for i, line in enumerate(text.split("\n"), 1) if fragment in line]
    return hits[nth]


def column_of(text: str, line: int, fragment: str) -> int:
    return text.split("\n")[line - 1].index(fragment) + 1


def seed_with(old: str, new: str) -> str:
    assert old in SEED
    return SEED.replace(old, new, 1)


# ---- the error itself ----------------------------------------------------------------------------------


def test_error_says_line_column_and_message() -> None:
    error = ConfigError(3, 7, "something is wrong")
    assert str(error) == "3:7: something is wrong"
    assert (error.line, error.column, error.message) == (3, 7, "something is wrong")
    assert error.problems == [error]
    assert isinstance(error, ValueError)


def test_several_problems_are_reported_in_text_order() -> None:
    text = "tenant t\n  segment s\n    endpoint e\n      ip 1.2.3\n      mac zz\n"
    error = error_of(text)
    assert [where(p) for p in error.problems] == [(4, 10), (5, 11)]
    assert error.problems[0] is error
    assert str(error) == "4:10: '1.2.3' is not an IP address"
    assert "'zz' is not a MAC address" in error.problems[1].message


def test_problems_are_capped() -> None:
    text = "".join(f"bogus{i}\n" for i in range(MAX_ERRORS * 3))
    assert len(error_of(text).problems) == MAX_ERRORS


# ---- keywords --------------------------------------------------------------------------------------------


def test_unknown_keyword_says_what_is_allowed_and_suggests() -> None:
    text = seed_with("    origination openstack\n    !\n", "    origin openstack\n    !\n")
    error = error_of(text)
    assert where(error) == (line_no(text, "origin openstack"), 5)
    assert error.message == (
        "unknown keyword 'origin' in a segment; did you mean 'origination'?; "
        "allowed here: id, origination, endpoint, member"
    )


def test_unknown_top_level_keyword() -> None:
    error = error_of("tenat demo\n")
    assert where(error) == (1, 1)
    assert "did you mean 'tenant'?" in error.message
    assert "allowed here: switch, interface-group, link, tenant" in error.message


def test_keyword_in_the_wrong_block_says_where_it_belongs() -> None:
    error = error_of("segment net_demo\n  id 1\n")
    assert where(error) == (1, 1)
    assert "'segment' is not allowed at top level; it belongs in a tenant" in error.message
    assert len(error.problems) == 1  # its children are skipped, not reported again


def test_extra_token_points_at_it() -> None:
    text = seed_with("      mac fa:16:3e:ef:4f:f4\n", "      mac fa:16:3e:ef:4f:f4 extra\n")
    error = error_of(text)
    line = line_no(text, "extra")
    assert where(error) == (line, column_of(text, line, "extra"))
    assert error.message == "unexpected 'extra': expected `mac MAC`"


def test_incomplete_line_points_past_its_end() -> None:
    error = error_of("tenant t\n  logical-router\n    route 0.0.0.0/0\n")
    assert where(error) == (3, len("    route 0.0.0.0/0") + 2)
    assert "expected `route PREFIX next-hop tenant NAME` or `route PREFIX next-hop ip IP`" in error.message


def test_wrong_fixed_word() -> None:
    error = error_of("tenant t\n  segment s\n    member group g vlan 3\n")
    assert where(error) == (3, 12)
    assert "expected 'interface-group' here, got 'group'" in error.message


# ---- values (checked by the model, pointed at by the parser) ---------------------------------------------


def test_vlan_out_of_range_points_at_the_vlan() -> None:
    text = seed_with("osvdev0013 vlan 300\n      ip", "osvdev0013 vlan 5000\n      ip")
    error = error_of(text)
    line = line_no(text, "vlan 5000")
    assert where(error) == (line, column_of(text, line, "5000"))
    assert error.message == "VLAN must be from 1 to 4094, got 5000"


def test_member_vlan_out_of_range() -> None:
    text = seed_with("member interface-group osvdev0013 vlan 300", "member interface-group osvdev0013 vlan 5000")
    error = error_of(text)
    line = line_no(text, "vlan 5000")
    assert where(error) == (line, column_of(text, line, "5000"))


def test_bad_mac_points_at_the_mac() -> None:
    text = seed_with("mac fa:16:3e:ef:4f:f4", "mac fa:16:3e:ef:4f")
    error = error_of(text)
    line = line_no(text, "mac ")
    assert where(error) == (line, column_of(text, line, "fa:16"))
    assert error.message == "'fa:16:3e:ef:4f' is not a MAC address (like fa:16:3e:ef:4f:f4)"


def test_multicast_mac_is_refused() -> None:
    text = seed_with("mac fa:16:3e:ef:4f:f4", "mac 01:00:5e:00:00:01")
    assert "multicast" in error_of(text).message


def test_bad_gateway_cidr_points_at_it() -> None:
    text = seed_with("10.66.16.1/24", "10.66.16.1/33")
    error = error_of(text)
    line = line_no(text, "ip address")
    assert where(error) == (line, column_of(text, line, "10.66.16.1/33"))
    assert "'10.66.16.1/33' is not an address with a prefix length" in error.message


def test_route_prefix_with_host_bits() -> None:
    text = seed_with("route 0.0.0.0/0", "route 10.0.0.1/8")
    error = error_of(text)
    assert where(error) == (line_no(text, "route 10.0.0.1/8"), 11)
    assert error.message == "'10.0.0.1/8' is not a valid prefix: it has host bits set"


def test_bad_endpoint_ip() -> None:
    text = seed_with("ip 10.66.16.2", "ip 10.66.16.256")
    error = error_of(text)
    assert where(error) == (line_no(text, "ip 10.66.16.256"), 10)
    assert error.message == "'10.66.16.256' is not an IP address"


def test_bad_name_points_at_it() -> None:
    error = error_of("tenant -demo\n  id 1\n")
    assert where(error) == (1, 8)
    assert "'-demo' is not a valid name" in error.message


def test_bad_enum_value_quotes_it() -> None:
    error = error_of("switch leaf1\n  fabric-role lief\n")
    assert where(error) == (2, 15)
    assert error.message == "'lief' is not valid here: input should be 'leaf' or 'spine'"


def test_switch_needs_a_role() -> None:
    error = error_of("switch leaf1\n  management-address 192.0.2.1\n")
    assert where(error) == (1, 1)
    assert error.message == "switch leaf1 needs its role: add `fabric-role leaf` or `fabric-role spine`"


# ---- policy rules ------------------------------------------------------------------------------------------


def policy(rule: str) -> str:
    return f"tenant t\n  logical-router\n    policy-list web\n      {rule}\n"


@pytest.mark.parametrize(
    ("rule", "column", "message"),
    [
        ("permit src any dst any", 7, "start with a sequence number"),
        ("10 allow src any dst any", 10, "expected permit or deny after the sequence number"),
        ("10 permit src host dst any", 21, "src is `any`, `segment NAME` or `cidr PREFIX`, got 'host'"),
        ("10 permit src any dst any port 80", 33, "did you mean"),
        ("10 permit proto tcp src any dst any dst-port http", 52, "dst-port is a port number or a range"),
        ("10 permit src any src any", 25, "src is given twice in this rule"),
        ("10 permit proto gre src any dst any", 23, "'gre' is not valid here: input should be"),
        ("10 permit proto tcp src any dst any dst-port 90-80", 52, "port range 90-80 ends before it starts"),
        ("10 permit proto tcp src any dst any dst-port 70000", 52, "port must be from 1 to 65535, got 70000"),
        ("10 permit proto icmp src any dst any dst-port 80", 7, "ports can only be matched with protocol tcp or udp"),
        ("10 permit src cidr 10.0.0.1/8 dst any", 26, "host bits set"),
    ],
)
def test_policy_rule_errors(rule: str, column: int, message: str) -> None:
    error = error_of(policy(rule))
    assert where(error) == (4, column), error
    assert message in error.message


def test_duplicate_rule_seq() -> None:
    text = policy("10 permit src any dst any") + "      10 deny src any dst any\n"
    error = error_of(text)
    assert where(error) == (5, 7)
    assert error.message == "rule 10 is already defined at line 4"


# ---- duplicates ------------------------------------------------------------------------------------------


def test_duplicate_endpoint_in_a_segment_names_the_first() -> None:
    text = seed_with("    !\n    member", f"    !\n    endpoint {PORT}\n    !\n    member")
    error = error_of(text)
    line = line_no(text, f"endpoint {PORT}", 1)
    assert where(error) == (line, 14)
    assert error.message == f"endpoint {PORT} is already defined at line {line_no(text, 'endpoint')}"


def test_duplicate_endpoint_across_segments() -> None:
    text = SEED + f"  !\n  segment other\n    endpoint {PORT}\n"
    error = error_of(text)
    assert error.line == line_no(text, f"endpoint {PORT}", 1)
    assert "unique in the whole fabric" in error.message


def test_duplicate_attribute_names_the_first() -> None:
    text = seed_with(
        "      origination openstack\n    !", "      mac fa:16:3e:ef:4f:f5\n      origination openstack\n    !"
    )
    error = error_of(text)
    assert where(error) == (line_no(text, "mac fa:16:3e:ef:4f:f5"), 7)
    assert error.message == f"mac is already set at line {line_no(text, 'mac fa:16:3e:ef:4f:f4')}; an endpoint has one"


def test_duplicate_tenant_id_line() -> None:
    text = seed_with("  origination openstack\n", "  origination openstack\n  id again\n")
    error = error_of(text)
    assert where(error) == (line_no(text, "id again"), 3)
    assert error.message == "id is already set at line 2; give it once per block"


def test_duplicate_segment_and_tenant() -> None:
    text = SEED + "  !\n  segment net_demo\n"
    error = error_of(text)
    assert where(error) == (line_no(text, "  segment net_demo", 1), 11)
    assert error.message == "segment net_demo is already defined at line 11 in this tenant"
    text = SEED + "!\ntenant demo.openstack\n"
    assert error_of(text).message == "tenant demo.openstack is already defined at line 1"


def test_duplicate_member_after_normalising_the_vlan() -> None:
    text = SEED + "    !\n    member interface-group osvdev0013 vlan 0300\n"
    error = error_of(text)
    assert error.line == line_no(text, "vlan 0300")
    assert error.message == "member interface-group osvdev0013 vlan 300 is already defined at line 21"


def test_duplicate_ip_of_an_endpoint() -> None:
    text = seed_with("      ip 10.66.16.2\n", "      ip 10.66.16.2\n      ip 10.66.16.2\n")
    error = error_of(text)
    assert where(error) == (18, 10)
    assert error.message == "ip 10.66.16.2 is already listed at line 17"


def test_same_link_written_from_either_end() -> None:
    text = (
        "switch leaf1\n  fabric-role leaf\n!\nswitch spine1\n  fabric-role spine\n!\n"
        "link leaf1 swp49 spine1 swp1\nlink spine1 swp1 leaf1 swp49\n"
    )
    error = error_of(text)
    assert where(error) == (8, 6)
    assert error.message == "this link is already defined at line 7"


# ---- indentation -----------------------------------------------------------------------------------------


def test_tab_in_indentation() -> None:
    text = seed_with("      mac", "\t  mac")
    error = error_of(text)
    assert where(error) == (line_no(text, "\t  mac"), 1)
    assert error.message == "tab in indentation: indent with spaces (two per level)"


def test_orphan_indented_first_line() -> None:
    error = error_of("  id 1a2c\ntenant demo\n")
    assert where(error) == (1, 3)
    assert error.message == "this line is indented but has no parent block; top-level lines start in column 1"


def test_line_indented_under_a_plain_line() -> None:
    text = seed_with("      mac fa:16:3e:ef:4f:f4\n", "      mac fa:16:3e:ef:4f:f4\n        ip 10.66.16.3\n")
    error = error_of(text)
    assert where(error) == (line_no(text, "ip 10.66.16.3"), 9)
    assert error.message == (
        f"unexpected indentation: line {line_no(text, 'mac fa')} (`mac fa:16:3e:ef:4f:f4`) "
        "does not open a block, so nothing can be indented under it"
    )


def test_line_indented_under_a_top_level_link() -> None:
    text = (
        "switch leaf1\n  fabric-role leaf\n!\nswitch spine1\n  fabric-role spine\n!\n"
        "link leaf1 swp49 spine1 swp1\n  fabric-role leaf\n"
    )
    error = error_of(text)
    assert where(error) == (8, 3)
    assert "line 7 (`link leaf1 swp49 spine1 swp1`) does not open a block" in error.message


def test_indentation_between_levels() -> None:
    text = seed_with("      mac fa", "     mac fa")
    error = error_of(text)
    assert where(error) == (line_no(text, "mac fa"), 6)
    assert error.message == (
        "indentation matches no enclosing block: this line is indented 5 spaces, "
        "the lines of its block 6 (like line 17)"
    )


def test_rejected_block_skips_its_children() -> None:
    error = error_of("tenant t\n  segment bad!name\n    id 1\n    endpoint e\n      mac zz\n  id 2\n")
    assert [where(p) for p in error.problems] == [(2, 11)]


# ---- rules between objects (model.validate) -------------------------------------------------------------


def test_endpoint_ip_outside_the_router_subnet_points_at_the_endpoint() -> None:
    text = seed_with("ip 10.66.16.2", "ip 10.66.17.2")
    error = error_of(text)
    assert where(error) == (line_no(text, f"endpoint {PORT}"), 5)
    assert error.message == (
        f"tenant demo.openstack segment net_demo endpoint {PORT} ips: 10.66.17.2 is outside "
        "the segment's subnet 10.66.16.0/24"
    )
    parse(text, validate=False)  # the objects themselves are fine


def test_overlapping_router_subnets_point_at_the_interface() -> None:
    text = seed_with(
        "    interface tenant system\n",
        "    interface segment net_b\n      ip address 10.66.16.129/25\n    interface tenant system\n",
    )
    text += "  !\n  segment net_b\n"
    error = error_of(text)
    assert where(error) == (line_no(text, "interface segment net_demo"), 5)
    assert "subnet 10.66.16.0/24 overlaps 10.66.16.128/25 on interface segment net_b" in error.message


def test_route_to_a_tenant_needs_an_interface_to_it() -> None:
    text = seed_with("    interface tenant system\n", "")
    error = error_of(text)
    assert where(error) == (line_no(text, "route 0.0.0.0/0"), 5)
    assert error.message == (
        "tenant demo.openstack logical-router route 0.0.0.0/0: next-hop tenant system needs "
        "'interface tenant system' on this router"
    )


def test_router_interface_on_a_missing_segment() -> None:
    text = seed_with("    interface tenant system\n", "    interface segment nope\n    interface tenant system\n")
    error = error_of(text)
    assert where(error) == (line_no(text, "interface segment nope"), 5)
    assert "segment nope does not exist in tenant demo.openstack" in error.message


def test_next_hop_ip_off_every_subnet() -> None:
    text = seed_with(
        "    route 0.0.0.0/0 next-hop tenant system\n",
        "    route 0.0.0.0/0 next-hop tenant system\n    route 192.168.0.0/16 next-hop ip 10.0.0.1\n",
    )
    error = error_of(text)
    assert where(error) == (line_no(text, "192.168.0.0/16"), 5)
    assert "next-hop 10.0.0.1 is not on a subnet of this router" in error.message


def test_policy_rule_on_a_missing_segment_points_at_the_rule() -> None:
    error = error_of(policy("10 permit src segment nope dst any"))
    assert where(error) == (4, 7)
    assert "segment nope does not exist in tenant t" in error.message


def test_applied_policy_list_must_exist() -> None:
    error = error_of("tenant t\n  logical-router\n    apply policy-list nope\n")
    assert where(error) == (3, 5)
    assert "policy-list nope is not defined" in error.message


def test_clashing_claim_points_at_the_second_member() -> None:
    text = SEED + "!\ntenant other\n  segment s\n    member interface-group osvdev0013 vlan 300\n"
    error = error_of(text)
    assert where(error) == (len(text.split("\n")) - 1, 5)
    assert (
        "interface-group osvdev0013 vlan 300 is already claimed by tenant demo.openstack segment net_demo"
        in error.message
    )


def test_clashing_claim_through_an_endpoint_attachment() -> None:
    text = SEED + (
        "!\ntenant other\n  segment s\n    endpoint e2\n      ip 10.0.0.2\n"
        "      attachment-point interface-group osvdev0013 vlan 300\n"
    )
    error = error_of(text)
    assert where(error) == (len(text.split("\n")) - 1, 7)


def test_link_must_join_a_leaf_and_a_spine() -> None:
    text = "switch a\n  fabric-role leaf\n!\nswitch b\n  fabric-role leaf\n!\nlink a swp1 b swp1\n"
    error = error_of(text)
    assert where(error) == (7, 1)
    assert "a link joins a leaf to a spine" in error.message


def test_interface_group_member_on_a_spine_points_at_the_member() -> None:
    text = "switch a\n  fabric-role spine\n!\ninterface-group g\n  member switch a interface swp1\n"
    error = error_of(text)
    assert where(error) == (5, 3)
    assert "a is a spine; servers attach to leaves" in error.message


def test_tenants_link_only_to_system() -> None:
    text = "tenant a\n!\ntenant b\n  logical-router\n    interface tenant a\n"
    error = error_of(text)
    assert where(error) == (5, 5)
    assert "tenants link only to tenant system" in error.message
