"""Compile the sized-for intent on 64 leaves, then one endpoint change. Baseline for the change: a full
compile of the changed intent (what a non-incremental compiler would do)."""

from __future__ import annotations

from benchmarks.common import Result, emit, large_text, timed
from podswitch.config import parse
from podswitch.fabric import allocate, compile, merged
from podswitch.model import Attachment, Endpoint, Key, Kind, put


def main() -> None:
    intent = parse(large_text(), validate=False)
    alloc = merged({}, allocate(intent, {}))
    full_s, compiled = timed(lambda: compile(intent, alloc, 1))
    tname = "tenant0500.openstack"
    segment = intent.tenants[tname].segments["net_05"]
    first = next(iter(segment.endpoints.values()))
    assert first.attachment_point is not None
    new = Endpoint(
        id="bench-new-endpoint",
        attachment_point=Attachment(
            interface_group=first.attachment_point.interface_group, vlan=first.attachment_point.vlan
        ),
        ips=[f"{first.ips[0]}".rsplit(".", 1)[0] + ".200"],
        mac="fa:16:3e:fe:ed:01",
    )
    changed = put(intent, Key(Kind.ENDPOINT, tname, "net_05", new.id), new)
    one_s, after = timed(lambda: compile(changed, alloc, 2, compiled), repeat=5)
    fresh_s, fresh = timed(lambda: compile(changed, alloc, 2))
    moved = sum(compiled.etag(s) != after.etag(s) for s in after.switches)
    assert all(after.document(s) == fresh.document(s) for s in after.switches), "incremental != full"
    size = sum(len(compiled.document(s) or b"") for s in compiled.switches) / 1e6
    emit(
        Result(
            f"compile: 100k endpoints, 64 leaves ({size:.0f} MB of desired state)",
            full_s,
            "s",
            "<= 5 s",
            ok=full_s <= 5.0,
        )
    )
    emit(
        Result(
            f"compile: one endpoint changed ({moved} of {len(after.switches)} switches change)",
            one_s * 1000,
            "ms",
            "<= 50 ms",
            "full recompile",
            fresh_s * 1000,
            one_s <= 0.05,
        )
    )


if __name__ == "__main__":
    main()
