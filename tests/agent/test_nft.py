"""nft policy table in a router namespace between two hosts:

    psn<pid>-a (10.1.0.2) -- a | router ns (forwarding, table inet podswitch) | b -- psn<pid>-b (10.2.0.2)

Nothing is done in the root namespace: every nft call goes to psn<pid>-r, which the module deletes by
prefix when done, also after failures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator

import pytest

from podswitch.agent import netns, nft

pytestmark = pytest.mark.netns

PREFIX = f"psn{os.getpid()}-"
ROUTER = PREFIX + "r"

# Same shape as fabric.policy.ruleset() output.
DENY_ICMP_FROM_A = """table inet podswitch {
  chain forward {
    type filter hook forward priority 0; policy accept;
    ip saddr 10.1.0.0/24 meta l4proto { icmp, ipv6-icmp } drop comment "pl 10"
  }
}
"""
PERMIT_ICMP = """table inet podswitch {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ip saddr 10.1.0.0/24 meta l4proto { icmp, ipv6-icmp } accept comment "pl 10"
    ip saddr 10.2.0.0/24 meta l4proto { icmp, ipv6-icmp } accept comment "pl 20"
  }
}
"""
BROKEN = PERMIT_ICMP.replace('accept comment "pl 20"', 'acept comment "pl 20"')


def _ns_delete_prefix(prefix: str) -> None:
    from pyroute2 import netns

    for name in netns.listnetns():
        if name.startswith(prefix):
            netns.remove(name)


@pytest.fixture(scope="module")
def router() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root: builds network namespaces and nftables tables in them")
    from pyroute2 import IPRoute, netns

    _ns_delete_prefix(PREFIX)
    try:
        for name in ("r", "a", "b"):
            netns.create(PREFIX + name)
        with IPRoute(netns=ROUTER) as r:
            for side, net in (("a", 1), ("b", 2)):
                r.link("add", ifname=side, kind="veth", peer={"ifname": "eth0", "net_ns_fd": PREFIX + side})
                i = r.link_lookup(ifname=side)[0]
                r.addr("add", index=i, address=f"10.{net}.0.1", prefixlen=24)
                r.link("set", index=i, state="up")
                with IPRoute(netns=PREFIX + side) as h:
                    e = h.link_lookup(ifname="eth0")[0]
                    h.addr("add", index=e, address=f"10.{net}.0.2", prefixlen=24)
                    h.link("set", index=e, state="up")
                    h.route("add", dst="0.0.0.0/0", gateway=f"10.{net}.0.1")
        # plain sh rather than sysctl(8): a fresh CI machine may lack procps
        subprocess.run(
            ["ip", "netns", "exec", ROUTER, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"], check=True
        )
        yield ROUTER
    finally:
        _ns_delete_prefix(PREFIX)


def ping_a_to_b() -> int:
    r = subprocess.run(
        ["ip", "netns", "exec", PREFIX + "a", "ping", "-n", "-q", "-c", "2", "-W", "1", "10.2.0.2"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    m = re.search(r"(\d+) received", r.stdout)
    assert m, r.stdout + r.stderr
    return int(m.group(1))


def table_handle(ns: str) -> int | None:
    """The kernel's handle of our table: a rewrite (delete + create) changes it, a no-op does not."""
    out = json.loads(nft.run(ns, "list tables inet", json_output=True))
    for item in out["nftables"]:
        t = item.get("table")
        if t and t["name"] == nft.TABLE:
            return int(t["handle"])
    return None


def this_thread_netns() -> str:
    return os.readlink("/proc/thread-self/ns/net")


def test_policy_blocks_then_permits(router: str) -> None:
    me = this_thread_netns()
    assert nft.ensure_table(router, None) is False
    assert ping_a_to_b() == 2  # no table: plain forwarding

    assert nft.ensure_table(router, DENY_ICMP_FROM_A) is True
    handle = table_handle(router)
    assert nft.ensure_table(router, DENY_ICMP_FROM_A) is False  # twice = one write
    assert table_handle(router) == handle
    assert ping_a_to_b() == 0

    assert nft.ensure_table(router, PERMIT_ICMP) is True
    assert table_handle(router) != handle
    assert ping_a_to_b() == 2
    assert nft.read_digest(router) == nft._digest(PERMIT_ICMP)
    assert this_thread_netns() == me  # the caller's thread never moved


def test_broken_ruleset_raises_and_keeps_table(router: str) -> None:
    nft.ensure_table(router, PERMIT_ICMP)
    handle = table_handle(router)
    listing = nft.run(router, "list table inet podswitch")
    with pytest.raises(nft.NftError) as e:
        nft.ensure_table(router, BROKEN)
    # nft's own message, pointing at the caller's line 5 (our additions sit on line 1)
    assert "Error: syntax error" in e.value.error and "<ruleset>:5:" in e.value.error
    assert "acept" in str(e.value)
    assert table_handle(router) == handle
    assert nft.run(router, "list table inet podswitch") == listing
    assert ping_a_to_b() == 2


def test_semantic_error_rolls_back_whole_transaction(router: str) -> None:
    """Parsed fine, rejected by the kernel/evaluation (jump to a missing chain): the delete of the old
    table in the same transaction must not have happened either."""
    nft.ensure_table(router, PERMIT_ICMP)
    handle = table_handle(router)
    bad = PERMIT_ICMP.replace('accept comment "pl 20"', "jump nowhere")
    with pytest.raises(nft.NftError) as e:
        nft.ensure_table(router, bad)
    assert "Error" in e.value.error
    assert table_handle(router) == handle
    assert nft.read_digest(router) == nft._digest(PERMIT_ICMP)


def test_removal(router: str) -> None:
    nft.ensure_table(router, DENY_ICMP_FROM_A)
    assert nft.ensure_table(router, None) is True
    assert table_handle(router) is None and nft.read_digest(router) is None
    assert nft.ensure_table(router, None) is False
    assert ping_a_to_b() == 2


def test_foreign_table_without_comment_is_replaced(router: str) -> None:
    nft.run(router, "add table inet podswitch; add chain inet podswitch junk")
    assert nft.read_digest(router) == ""
    assert nft.ensure_table(router, PERMIT_ICMP) is True
    assert "junk" not in nft.run(router, "list table inet podswitch")
    assert nft.ensure_table(router, None) is True


def test_current_namespace_variant(router: str) -> None:
    """netns=None works in the calling thread's namespace (run here from a thread placed in the router ns,
    never from the test's own root namespace)."""
    got = netns.run_in(router, lambda: nft.ensure_table(None, DENY_ICMP_FROM_A))
    assert got is True
    assert nft.read_digest(router) == nft._digest(DENY_ICMP_FROM_A)
    assert netns.run_in(router, lambda: nft.ensure_table(None, None)) is True


def test_concurrent_callers(router: str) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                nft.ensure_table(router, PERMIT_ICMP)
                nft.read_digest(router)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert nft.read_digest(router) == nft._digest(PERMIT_ICMP)
    nft.ensure_table(router, None)


def test_missing_namespace() -> None:
    with pytest.raises(FileNotFoundError):
        nft.ensure_table(PREFIX + "does-not-exist", None)


@pytest.mark.parametrize(
    "text",
    [
        "chain forward { }",
        "table ip podswitch { }",
        "table inet podswitch { chain c { } }\ntable inet other { }",
        "table inet podswitch { chain c { }",
    ],
)
def test_rejects_text_that_is_not_one_podswitch_table(text: str) -> None:
    with pytest.raises(ValueError):
        nft.ensure_table(PREFIX + "never-used", text)


def test_accepts_comments_and_braces_in_strings() -> None:
    nft._check('# by the compiler\ntable inet podswitch {\n  chain c { comment "a } b" }\n}\n# end\n')


def test_replacement_is_atomic_under_traffic(router: str) -> None:
    """A default-drop table rewritten over and over while ping runs: were the chain ever visible before its
    accept rules, replies would be lost."""
    variants = [PERMIT_ICMP, PERMIT_ICMP + "# variant\n"]  # equal rules, different digest: every call writes
    nft.ensure_table(router, variants[0])
    done = threading.Event()
    out: list[str] = []

    def pinger() -> None:
        try:
            r = subprocess.run(
                ["ip", "netns", "exec", PREFIX + "a", "ping", "-n", "-q", "-i", "0.01", "-c", "200", "10.2.0.2"],
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            out.append(r.stdout)
        finally:
            done.set()

    t = threading.Thread(target=pinger)
    t.start()
    writes = 0
    try:
        while not done.is_set():
            assert nft.ensure_table(router, variants[(writes + 1) % 2]) is True
            writes += 1
    finally:
        t.join()
        nft.ensure_table(router, None)
    print(f"{writes} table replacements during the ping")
    assert writes > 10
    assert "200 packets transmitted, 200 received" in out[0], out[0]
