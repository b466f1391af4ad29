"""On DuckDB the keys of purchase_orders, alerts and notifications are not enforced (as on
Snowflake): one order per key comes from the keyed MERGE inside the heal commit, which the
heal lock serializes. Forced interleavings of two connections at the lock and at the
MERGE, the same on a database made when the keys were enforced."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import resq
from resq import sqlfiles
from resq.backends.warehouse import WarehouseBackend
from resq.engine import SelfHealingEngine
from resq.errors import ConflictError
from test_engine_exactly_once import _ITEM, ORG, OXY, _staged_orders

KEY = "KEY-RACE"


def _init_as_before(path: Path) -> None:
    """A database whose tables were created when DuckDB enforced these keys."""
    import duckdb

    from resq.backends.duckdb import rewrites

    schema = sqlfiles.sql_text("schema").replace(" NOT ENFORCED", "")
    con = duckdb.connect(str(path))
    for statement in rewrites.parse_snowflake(schema):
        con.execute(rewrites.to_duckdb(statement))
    con.close()


@pytest.fixture(params=["new", "made-with-enforced-keys"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "lock.duckdb"
    if request.param != "new":
        _init_as_before(path)
    with resq.connect(f"duckdb:///{path}") as b:
        b.init()
        b.execute("DELETE FROM inventory_master")
        b.execute(
            "INSERT INTO inventory_master (org_id, sku, item_name, current_stock, "
            "daily_consumption) VALUES (?, ?, 'Oxygen', ?, ?)",
            [ORG, OXY, _ITEM["current_stock"], _ITEM["daily_consumption"]],
        )
    yield path


def enforced(b: WarehouseBackend) -> bool:
    rows = b.sql(
        "SELECT COUNT(*) FROM duckdb_constraints() WHERE table_name = 'purchase_orders' "
        "AND constraint_type = 'PRIMARY KEY'"
    )
    return bool(rows.scalar())


def merge(b: WarehouseBackend) -> None:
    b.stage("resq_stage_orders", _staged_orders([(KEY, 1, 10.0)]))
    b.execute(b._file("merge_orders"))


def orders(b: WarehouseBackend) -> int:
    return int(
        b.sql("SELECT COUNT(*) FROM purchase_orders WHERE idempotency_key = ?", [KEY]).scalar()
    )


def test_a_new_database_enforces_no_key_on_the_heal_tables(tmp_path: Path) -> None:
    with resq.connect(f"duckdb:///{tmp_path}/n.duckdb") as b:
        b.init()
        keyed = b.sql(
            "SELECT table_name FROM duckdb_constraints() WHERE constraint_type IN "
            "('PRIMARY KEY', 'UNIQUE') ORDER BY 1"
        ).to_pylist()
        tables = {r["table_name"] for r in keyed}
        assert not {"purchase_orders", "alerts", "notifications"} & tables
        assert {"inventory_master", "organizations", "audit_log"} <= tables


@pytest.mark.parametrize("first_commits_before_second_starts", [False, True])
def test_two_connections_committing_one_key_make_one_order(
    db: Path, first_commits_before_second_starts: bool
) -> None:
    """Two connections (threads of one process, as DuckDB allows) commit the same key: one
    at a time, at every order of the steps; the second conflicts at the lock while the first
    is open (and its retry finds the order), or reads the first one's order."""
    a = resq.connect(f"duckdb:///{db}")
    b = resq.connect(f"duckdb:///{db}")
    try:
        with a.heal_transaction(holder="A"):
            merge(a)
            if not first_commits_before_second_starts:
                # B while A is open: the lock refuses it before it merges anything
                with pytest.raises(ConflictError), b.heal_transaction(holder="B"):
                    merge(b)  # pragma: no cover - the lock raised first
        with b.heal_transaction(holder="B"):  # B again (its retry), after A committed
            merge(b)
        assert orders(a) == orders(b) == 1
    finally:
        a.close()
        b.close()


def test_the_lock_conflicts_even_when_the_first_commits_in_between(db: Path) -> None:
    """B's snapshot began before A committed (B read something first): its lock update then
    conflicts with A's committed one, so B cannot merge on its older snapshot."""
    a = resq.connect(f"duckdb:///{db}")
    b = resq.connect(f"duckdb:///{db}")
    try:
        with pytest.raises(ConflictError), b.transaction():
            assert orders(b) == 0  # B's snapshot starts here
            with a.heal_transaction(holder="A"):
                merge(a)
            with b.heal_transaction(holder="B"):  # nested: the lock update is B's
                merge(b)  # pragma: no cover
        assert orders(a) == 1
    finally:
        a.close()
        b.close()


def test_without_the_lock_two_commits_of_one_key_make_two_orders(tmp_path: Path) -> None:
    """What the lock prevents, on a database with no enforced key: two overlapping plain
    transactions both insert the key (DuckDB sees no conflict between two inserts)."""
    path = tmp_path / "nolock.duckdb"
    with resq.connect(f"duckdb:///{path}") as setup:
        setup.init()
        setup.execute(
            "INSERT INTO inventory_master (org_id, sku, item_name, current_stock, "
            "daily_consumption) VALUES (?, ?, 'Oxygen', ?, ?)",
            [ORG, OXY, _ITEM["current_stock"], _ITEM["daily_consumption"]],
        )
        assert not enforced(setup)
    a = resq.connect(f"duckdb:///{path}")
    b = resq.connect(f"duckdb:///{path}")
    try:
        with a.transaction():
            merge(a)
            with b.transaction():
                merge(b)
        assert orders(a) == 2
    finally:
        a.close()
        b.close()


def test_threads_racing_full_cycles_order_each_shortfall_once(db: Path) -> None:
    """Full heal cycles in threads, each held at the commit until all have planned, so
    every commit overlaps the others."""
    with resq.connect(f"duckdb:///{db}") as b0:
        b0.execute("DELETE FROM inventory_master")  # the fixture's one item: seed instead
        SelfHealingEngine(b0).seed(n_orgs=6, skus_per_org=3)
        SelfHealingEngine(b0).drop_stock(ORG, OXY)
    backends = [resq.connect(f"duckdb:///{db}") for _ in range(3)]
    barrier = threading.Barrier(len(backends))
    reports, errors = [], []

    class Held(SelfHealingEngine):
        def _step(self, name: str) -> None:
            super()._step(name)
            if name == "committing" and not getattr(self, "_held", False):
                self._held = True  # the first attempt waits; a retry does not
                barrier.wait(timeout=60)

    def run(b: WarehouseBackend) -> None:
        try:
            reports.append(Held(b).heal())
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b,)) for b in backends]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert not errors, errors
        b = backends[0]
        dup = b.sql(
            "SELECT idempotency_key FROM purchase_orders GROUP BY 1 HAVING COUNT(*) > 1"
        ).to_pylist()
        assert dup == []
        dup = b.sql("SELECT dedup_key FROM alerts GROUP BY 1 HAVING COUNT(*) > 1").to_pylist()
        assert dup == []
        dup = b.sql(
            "SELECT delivery_key FROM notifications GROUP BY 1 HAVING COUNT(*) > 1"
        ).to_pylist()
        assert dup == []
        created = sum(r.created for r in reports)
        assert created == int(b.sql("SELECT COUNT(*) FROM purchase_orders").scalar()) >= 1
        assert max(r.attempts for r in reports) >= 2  # the overlap was real: someone retried
        assert b.verify_audit().ok
    finally:
        for b in backends:
            b.close()
