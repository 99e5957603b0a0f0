"""SQLite's page cache is per connection and lives as long as the pooled connection: a large one on every
connection made a controller's memory grow with every large read and never shrink. Only a write transaction
gets the large cache, and gives its memory back when it ends."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from podswitch.model import SYSTEM, Change, Key, Kind, Tenant
from podswitch.store import Store
from podswitch.store.engine import SQLITE_CACHE_KIB, SQLITE_WRITE_CACHE_KIB


def test_only_a_write_has_the_large_page_cache_and_gives_it_back(tmp_path: Path) -> None:
    store = Store.open(Store.default_url(tmp_path))
    seen_in_write: list[int] = []
    with store.writer() as writer:
        seen_in_write.append(writer._conn.exec_driver_sql("PRAGMA cache_size").scalar_one())
        writer.commit([Change(Key(Kind.TENANT, "t"), None, Tenant(name="t"))], actor="test", operation="put")
    assert seen_in_write == [-SQLITE_WRITE_CACHE_KIB]
    store.commit(
        [Change(Key(Kind.TENANT, SYSTEM), Tenant(name=SYSTEM), Tenant(name=SYSTEM, origination="x"))],
        expected_revision=1,
        actor="test",
        operation="put",
    )
    # Every connection the pool hands out afterwards has the small cache.
    engine = store._engine
    with ExitStack() as stack:
        conns = [stack.enter_context(engine.connect()) for _ in range(engine.pool.size())]
        sizes = {conn.exec_driver_sql("PRAGMA cache_size").scalar_one() for conn in conns}
    assert sizes == {-SQLITE_CACHE_KIB}
    store.close()
