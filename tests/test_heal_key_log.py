"""DuckDB's heal cycle reads only what changed: the heal key log (docs/heal-cycle.md).

The property: after any sequence of operations (stock changes, demand spikes, weather,
vendors going offline and back, receipts and the other overrides, ad-hoc SQL writes, a
budget, the engine's clock moving on, past a month's end too, organization-scoped and dry
runs, and writes committed in the middle of a cycle), every heal cycle on a database whose
cycles read only the logged items does exactly what the same cycle does on a twin database
whose every cycle reads everything: the same report, the same orders, the same alerts.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import resq
from resq.core.ordering import PlanOptions
from resq.engine import HealReport, SelfHealingEngine
from resq.errors import ResqError

START = datetime(2026, 1, 30, 12, 0, 0)
REPORTED = (
    "dry_run", "refreshed", "candidates", "created", "covered", "pending_vendor",
    "held_for_approval", "capped", "alerts_raised", "notifications_queued", "stale",
    "resourced",
)  # fmt: skip


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded DuckDB file (6 organizations, 3 items each) every example starts from."""
    path = Path(tmp_path_factory.mktemp("heal-keys")) / "template.duckdb"
    backend = resq.connect(f"duckdb:///{path}")
    backend.init()
    SelfHealingEngine(backend, clock=lambda: START).seed()
    backend.close()
    return path


@contextmanager
def copy_of(template: Path, *, restricts: bool) -> Iterator[Any]:
    path = template.with_name(f"copy-{uuid.uuid4().hex}.duckdb")
    shutil.copy(template, path)
    backend: Any = resq.connect(f"duckdb:///{path}")
    backend.full_refresh_share = 1.0  # 18 rows: stay incremental whatever the share
    backend.restricts_heal = restricts
    try:
        yield backend
    finally:
        backend.close()
        path.unlink()


class Twins:
    """The same operations on two copies: ``scoped`` (cycles read the logged items) and
    ``full`` (cycles read everything), each with its own clock."""

    def __init__(self, scoped: Any, full: Any) -> None:
        self.backends = (scoped, full)
        self.now = [START, START]  # each twin's clock, moved on by the same operations
        self.engines = tuple(
            SelfHealingEngine(b, clock=lambda i=i: self.now[i]) for i, b in enumerate(self.backends)
        )
        self.scoped_reads = 0
        real = scoped.heal_scope

        def counting(org_id: str | None = None) -> bool:
            result = bool(real(org_id))
            self.scoped_reads += result
            return result

        scoped.heal_scope = counting
        items = scoped.fetch("SELECT org_id, sku FROM inventory_master ORDER BY ALL").to_pylist()
        self.items = [(r["org_id"], r["sku"]) for r in items]
        self.orgs = sorted({org for org, _ in self.items})
        vendors = scoped.fetch("SELECT vendor_id FROM vendors ORDER BY 1")
        self.vendors = vendors.column(0).to_pylist()
        self.cities = sorted(
            scoped.fetch("SELECT DISTINCT city FROM organizations").column(0).to_pylist()
        )

    def both(self, do: Any) -> None:
        """``do(engine)`` on each twin: both succeed, or both refuse with the same error."""
        outcomes = []
        for engine in self.engines:
            try:
                do(engine)
                outcomes.append(None)
            except ResqError as exc:
                outcomes.append(type(exc).__name__)
        assert len(set(outcomes)) == 1, outcomes

    def open_order(self, index: int) -> str | None:
        rows = self.engines[0].backend.fetch(
            "SELECT po_id FROM purchase_orders WHERE status IN "
            "('PLACED', 'PENDING_APPROVAL', 'PENDING_VENDOR') ORDER BY po_id"
        )
        ids = rows.column(0).to_pylist()
        return ids[index % len(ids)] if ids else None

    def write(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "stock":
            org, sku = self.items[op[1] % len(self.items)]
            self.both(lambda e: e.drop_stock(org, sku, op[2]))
        elif kind == "spike":
            org, sku = self.items[op[1] % len(self.items)]
            self.both(lambda e: e.spike_demand(org, sku, op[2]))
        elif kind == "weather":
            city = self.cities[op[1] % len(self.cities)]
            self.both(lambda e: e.set_weather(city, op[2]))
        elif kind == "vendor":
            vendor = self.vendors[op[1] % len(self.vendors)]
            self.both(lambda e: e.vendor_online(vendor) if op[2] else e.vendor_offline(vendor))
        elif kind == "override":
            po = self.open_order(op[2])
            if po is None:
                return
            if op[1] == "set_quantity":
                self.both(lambda e: e.set_quantity(po, 7.0))
            else:
                self.both(lambda e: getattr(e, op[1])(po))
        elif kind == "sql":
            if op[1] == "cancel":
                po = self.open_order(op[2])
                if po is None:
                    return
                sql = f"UPDATE purchase_orders SET status = 'CANCELLED' WHERE po_id = '{po}'"
            elif op[1] == "stock":
                org, sku = self.items[op[2] % len(self.items)]
                sql = (
                    "UPDATE inventory_master SET current_stock = 0 "
                    f"WHERE org_id = '{org}' AND sku = '{sku}'"
                )
            else:  # an alert made active again behind resq's back
                sql = "UPDATE alerts SET state = 'OPEN' WHERE state = 'RESOLVED'"
            self.both(lambda e: e.backend.sql(sql))
        elif kind == "clock":
            for engine in self.engines:
                i = self.backends.index(engine.backend)
                self.now[i] += timedelta(seconds=op[1])
        elif kind == "budget":
            for engine in self.engines:
                engine.options = PlanOptions(budget=op[1])

    def heal(self, org_index: int | None, dry_run: bool, meanwhile: Any) -> None:
        org = None if org_index is None else self.orgs[org_index % len(self.orgs)]
        reports: list[HealReport] = []
        for engine in self.engines:
            # a write committed after the cycle read its inputs, before it commits
            done: list[bool] = []

            def step(name: str, engine: Any = engine, done: list[bool] = done) -> None:
                if name == "read" and meanwhile is not None and not done:
                    done.append(True)
                    self._one(engine, meanwhile)

            engine.on_step = step
            reports.append(engine.heal(org_id=org, dry_run=dry_run))
            engine.on_step = None
        scoped, full = reports
        assert {k: getattr(scoped, k) for k in REPORTED} == {k: getattr(full, k) for k in REPORTED}
        assert _rows(scoped.orders) == _rows(full.orders)
        assert _rows(scoped.stale_items) == _rows(full.stale_items)
        self.agree()

    def _one(self, engine: Any, op: tuple[Any, ...]) -> None:
        """``op`` on one twin only (the other applies it at the same step of its cycle)."""
        engines, self.engines = self.engines, (engine,)
        try:
            self.write(op)
        finally:
            self.engines = engines

    def agree(self) -> None:
        scoped, full = self.backends
        for table, key in (("purchase_orders", "po_id"), ("alerts", "alert_id")):
            sql = f"SELECT * FROM {table} ORDER BY {key}"
            assert _rows(scoped.fetch(sql).to_pylist()) == _rows(full.fetch(sql).to_pylist()), table
        sql = "SELECT org_id, stakeholder, channel, COUNT(*) AS n FROM notifications GROUP BY ALL"
        assert sorted(map(str, full.fetch(sql).to_pylist())) == sorted(
            map(str, scoped.fetch(sql).to_pylist())
        )


def _rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without the cycle ids (random per cycle, so different on the twins)."""
    return [{k: v for k, v in r.items() if "cycle_id" not in k} for r in rows]


through_resq = st.one_of(
    st.tuples(st.just("stock"), st.integers(0, 17), st.sampled_from([0.0, 1.0, 40.0, 5000.0])),
    st.tuples(st.just("spike"), st.integers(0, 17), st.sampled_from([1.0, 4.0, 20.0])),
    st.tuples(st.just("weather"), st.integers(0, 3), st.sampled_from(["Rain", "Clear", "Haze"])),
    st.tuples(st.just("vendor"), st.integers(0, 5), st.booleans()),
    st.tuples(
        st.just("override"),
        st.sampled_from(["approve", "cancel", "receive", "set_quantity"]),
        st.integers(0, 30),
    ),
)
rarer = st.one_of(
    st.tuples(st.just("sql"), st.sampled_from(["cancel", "stock", "reopen"]), st.integers(0, 30)),
    st.tuples(st.just("clock"), st.sampled_from([5, 90, 900, 3 * 86400])),
    st.tuples(st.just("budget"), st.sampled_from([None, 50.0, 5000.0])),
)
writes = st.one_of(through_resq, through_resq, through_resq, rarer)
heals = st.tuples(
    st.just("heal"),
    st.one_of(st.none(), st.none(), st.integers(0, 5)),  # organization-scoped too
    st.sampled_from([False, False, False, True]),  # dry runs too
    st.one_of(st.none(), st.none(), writes),  # a write committed in the middle of the cycle
)
operations = st.lists(st.one_of(writes, heals), min_size=4, max_size=16)


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
def test_a_scoped_cycle_does_what_a_full_one_does(template: Path, ops: list[Any]) -> None:
    with (
        copy_of(template, restricts=True) as scoped,
        copy_of(template, restricts=False) as full,
    ):
        twins = Twins(scoped, full)
        twins.heal(None, False, None)  # the first cycle: a full pass on both
        for op in ops:
            if op[0] == "heal":
                twins.heal(op[1], op[2], op[3])
            else:
                twins.write(op)
        twins.heal(None, False, None)
        twins.agree()
        event(f"cycles that read only the log: {min(twins.scoped_reads, 4)}+")


def test_a_steady_cycle_reads_only_what_changed(template: Path) -> None:
    """After a first cycle, a stock change makes the next cycle read the log: only the
    changed item and the items earlier cycles left without an order, no mark."""
    with copy_of(template, restricts=True) as backend:
        engine = SelfHealingEngine(backend, clock=lambda: START)
        engine.heal()
        left = backend.fetch("SELECT DISTINCT org_id, sku FROM resq_heal_keys").to_pylist()
        assert all(r["org_id"] is not None for r in left)  # the first cycle took the mark
        ok = backend.fetch(
            "SELECT org_id, sku FROM stock_analysis AS a WHERE status = 'OK' AND NOT EXISTS "
            "(SELECT 1 FROM purchase_orders AS p WHERE p.org_id = a.org_id AND p.sku = a.sku) "
            "ORDER BY ALL LIMIT 1"
        ).to_pylist()[0]
        org, sku = ok["org_id"], ok["sku"]
        engine.drop_stock(org, sku, 0.0)
        backend.refresh_analysis(now=START)
        with backend.transaction():
            assert backend.heal_scope() is True
            keys = backend.fetch("SELECT org_id, sku FROM resq_heal_scope_keys").to_pylist()
        assert {(r["org_id"], r["sku"]) for r in keys} == {(org, sku)} | {
            (r["org_id"], r["sku"]) for r in left
        }
        report = engine.heal()
        assert (org, sku) in {(o["org_id"], o["sku"]) for o in report.orders}
        # consumed: what remains is what this cycle left without an order
        after = backend.fetch("SELECT org_id FROM resq_heal_keys").column(0).to_pylist()
        assert None not in after


def test_ad_hoc_sql_makes_the_next_cycle_read_everything(template: Path) -> None:
    with copy_of(template, restricts=True) as backend:
        engine = SelfHealingEngine(backend, clock=lambda: START)
        engine.heal()
        backend.sql("UPDATE purchase_orders SET status = 'CANCELLED'")
        with backend.transaction():
            assert backend.heal_scope() is False
        engine.heal()
        with backend.transaction():
            assert backend.heal_scope() is True  # that cycle consumed the marks


def test_a_failed_cycle_consumes_nothing(template: Path) -> None:
    with copy_of(template, restricts=True) as backend:
        engine = SelfHealingEngine(backend, clock=lambda: START)
        engine.heal()
        org, sku = (
            backend.fetch("SELECT org_id, sku FROM inventory_master LIMIT 1")
            .to_pylist()[0]
            .values()
        )
        engine.drop_stock(org, sku, 0.0)
        backend.refresh_analysis(now=START)
        before = backend.fetch("SELECT * FROM resq_heal_keys ORDER BY seq").to_pylist()

        def fail(name: str) -> None:
            if name == "committing":
                raise RuntimeError("stopped before the commit")

        engine.on_step = fail
        with pytest.raises(RuntimeError):
            engine.heal()
        assert backend.fetch("SELECT * FROM resq_heal_keys ORDER BY seq").to_pylist() == before
