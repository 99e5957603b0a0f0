"""Child process of test_crash.py: open the store, build one large change (a tenant with `endpoints`
endpoints), say "ready", commit it, say "committed <revision>". The test kills it with SIGKILL somewhere in
the commit.

    python tests/store/crash_writer.py URL ENDPOINTS"""

from __future__ import annotations

import sys

from podswitch.model import Attachment, Change, Endpoint, Key, Kind, Segment, Tenant
from podswitch.store import Store

TENANT = "crash"
PER_SEGMENT = 1000


def large_change(endpoints: int) -> list[Change]:
    changes = [Change(Key(Kind.TENANT, TENANT), None, Tenant(name=TENANT, origination="openstack"))]
    for n in range(endpoints):
        segment = f"net{n // PER_SEGMENT:03d}"
        if n % PER_SEGMENT == 0:
            changes.append(Change(Key(Kind.SEGMENT, TENANT, segment), None, Segment(name=segment)))
        eid = f"crash-{n:06d}"
        host = n % PER_SEGMENT
        endpoint = Endpoint(
            id=eid,
            attachment_point=Attachment(interface_group=f"osvdev{n % 500:04d}", vlan=100 + n // PER_SEGMENT),
            ips=(f"10.{n // PER_SEGMENT}.{host // 250}.{host % 250 + 2}",),
            mac=f"fa:16:3e:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}",
            origination="openstack",
        )
        changes.append(Change(Key(Kind.ENDPOINT, TENANT, segment, eid), None, endpoint))
    return changes


def main() -> None:
    url, endpoints = sys.argv[1], int(sys.argv[2])
    store = Store.open(url)
    head = store.head()
    changes = large_change(endpoints)
    print("ready", len(changes), flush=True)
    info = store.commit(changes, expected_revision=head, actor="crash-writer", operation="replace")
    assert info is not None
    print("committed", info.revision, flush=True)
    store.close()


if __name__ == "__main__":
    main()
