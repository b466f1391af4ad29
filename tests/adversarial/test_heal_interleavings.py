"""Exactly once between a heal cycle and every override, at every step boundary.

A cycle refreshes the analysis, reads its inputs, plans, then commits; another writer may
commit at any of those boundaries (``resq.engine.HEAL_STEPS``). The engine's ``on_step``
hook forces each override (receive, cancel, change quantity, approve, an inventory load, a
chaos stock drop) at each boundary, and the result is held to three invariants:

- never two open orders for one shortfall;
- no order decided on a state that no longer held at the commit (a receipt that closed
  the shortfall, a stock the load or chaos changed): such a decision is skipped as stale;
- nothing lost: whatever still needs an order after the override is ordered by this cycle
  or the next, with the quantity the current state calls for.

The last one is checked differentially: the interleaved run ends, after a second cycle,
with exactly the open orders of a run that applied the override before the cycle.

DuckDB files, copied from one seeded template so each case starts in a second; the shared
backend suite covers the same SQL on the Snowflake peer in tests/adversarial/
test_heal_interleavings_backends.py.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import resq
from resq.backends.warehouse import WarehouseBackend
from resq.core.ordering import needs_decision
from resq.engine import HEAL_STEPS, HealReport, SelfHealingEngine

HOSP, DEL = "HOSP-BLR-001", "HOSP-DEL-001"
OXY, PARA, AMOX = "OXY-CYL", "PARA-500", "AMOX-500"
OPEN = "('PLACED', 'PENDING_APPROVAL', 'PENDING_VENDOR')"


# ---------------------------------------------------------------- the scenario


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The state every case starts from: an open PLACED oxygen order (OXY at HOSP-BLR),
    a PENDING_APPROVAL order held by a budget (PARA at HOSP-BLR), and a fresh shortfall no
    order covers yet (AMOX at HOSP-DEL, stock 10): the cycle under test decides on it."""
    path = tmp_path_factory.mktemp("interleavings") / "template.duckdb"
    backend = resq.connect(f"duckdb:///{path}")
    backend.init()
    engine = SelfHealingEngine(backend)
    engine.seed()
    engine.heal()
    engine.drop_stock(HOSP, OXY)
    engine.heal()
    engine.drop_stock(HOSP, PARA, 10.0)
    SelfHealingEngine(backend, budget=0.01).heal()
    engine.drop_stock(DEL, AMOX, 10.0)
    backend.close()
    return path


def open_copy(template: Path, directory: Path) -> WarehouseBackend:
    path = directory / f"case-{time.monotonic_ns()}.duckdb"
    shutil.copy(template, path)
    return resq.connect(f"duckdb:///{path}")


@pytest.fixture
def fresh(template: Path, tmp_path: Path) -> Iterator[Callable[[], WarehouseBackend]]:
    opened: list[WarehouseBackend] = []

    def make() -> WarehouseBackend:
        opened.append(open_copy(template, tmp_path))
        return opened[-1]

    yield make
    for b in opened:
        b.close()


def open_order(backend: WarehouseBackend, org: str, sku: str) -> dict[str, Any]:
    (row,) = backend.sql(
        f"SELECT * FROM purchase_orders WHERE org_id = ? AND sku = ? AND status IN {OPEN}",
        [org, sku],
    ).to_pylist()
    return row


def load_stock(backend: WarehouseBackend, org: str, sku: str, stock: float) -> None:
    """An inventory load (upsert) that changes one item's stock, as a pipeline would."""
    (row,) = backend.sql(
        "SELECT * FROM inventory_master WHERE org_id = ? AND sku = ?", [org, sku]
    ).to_pylist()
    from resq.core.validation import table_spec

    loadable = {c.name for c in table_spec("inventory_master").columns}
    row = {k: v for k, v in row.items() if k in loadable}
    row["current_stock"] = stock
    backend.load("inventory_master", [row], actor="pipeline")


Override = Callable[[WarehouseBackend], None]

OVERRIDES: dict[str, Override] = {
    "receive": lambda b: SelfHealingEngine(b).receive(open_order(b, HOSP, OXY)["po_id"]),
    "cancel": lambda b: SelfHealingEngine(b).cancel(open_order(b, HOSP, OXY)["po_id"]),
    "set_quantity": lambda b: SelfHealingEngine(b).set_quantity(
        open_order(b, HOSP, OXY)["po_id"], 50.0
    ),
    "approve": lambda b: SelfHealingEngine(b).approve(open_order(b, HOSP, PARA)["po_id"]),
    "load": lambda b: load_stock(b, DEL, AMOX, 25.0),
    "chaos_drop": lambda b: SelfHealingEngine(b).drop_stock(DEL, AMOX, 0.0),
}
"""Each override, applied to the scenario's state."""

TOUCHES = {
    "receive": (HOSP, OXY),
    "cancel": (HOSP, OXY),
    "set_quantity": (HOSP, OXY),
    "approve": (HOSP, PARA),
    "load": (DEL, AMOX),
    "chaos_drop": (DEL, AMOX),
}


def at(step: str, action: Callable[[], Any]) -> Callable[[str], None]:
    """An ``on_step`` hook that runs ``action`` the first time the cycle reaches ``step``."""
    done: list[str] = []

    def hook(name: str) -> None:
        if name == step and not done:
            done.append(name)
            action()

    return hook


# ---------------------------------------------------------------- invariants


def open_orders(backend: WarehouseBackend) -> dict[tuple[str, str], tuple[Any, ...]]:
    rows = backend.sql(
        f"SELECT org_id, sku, idempotency_key, quantity, status, vendor FROM purchase_orders "
        f"WHERE status IN {OPEN}"
    ).to_pylist()
    out: dict[tuple[str, str], tuple[Any, ...]] = {}
    for r in rows:
        key = (r["org_id"], r["sku"])
        assert key not in out, f"two open orders for {key}"
        out[key] = (r["idempotency_key"], r["quantity"], r["status"], r["vendor"])
    return out


def assert_one_open_order_per_shortfall(backend: WarehouseBackend) -> None:
    dup = backend.sql(
        f"SELECT org_id, sku, COUNT(*) AS n FROM purchase_orders WHERE status IN {OPEN} "
        "GROUP BY org_id, sku HAVING COUNT(*) > 1"
    ).to_pylist()
    assert dup == [], dup


def assert_orders_rest_on_current_state(backend: WarehouseBackend, report: HealReport) -> None:
    """Every order the cycle created was decided on the stock the warehouse holds now
    (nothing has written since the cycle): its reason's days remaining are those of a
    freshly refreshed analysis, and the item does need a decision."""
    if not report.orders:
        return
    backend.refresh_analysis(force=True)
    analysis = {(r["org_id"], r["sku"]): r for r in backend.read("stock_analysis").to_pylist()}
    for order in report.orders:
        row = analysis[(order["org_id"], order["sku"])]
        reason = json.loads(order["reason"])
        assert reason["days_remaining"] == pytest.approx(row["days_remaining"]), order
        assert needs_decision(
            [row["status"]],
            [row["days_remaining"]],
            row["lead_time_days"],
            row["weather_delay_days"],
            row["critical_days"],
        )[0], order


def assert_nothing_lost(backend: WarehouseBackend) -> None:
    """No shortfall is left without an open order: a dry run proposes no new order."""
    orders = SelfHealingEngine(backend).heal(dry_run=True).orders
    assert orders == [], [(o["org_id"], o["sku"]) for o in orders]


_REFERENCE: dict[tuple[Path, str], dict] = {}


def sequential_reference(template: Path, directory: Path, override: str) -> dict:
    """The open orders after the override is applied before the cycle, then two cycles
    (computed once per override)."""
    if (template, override) not in _REFERENCE:
        _REFERENCE[(template, override)] = _sequential(template, directory, override)
    return _REFERENCE[(template, override)]


def _sequential(template: Path, directory: Path, override: str) -> dict:
    backend = open_copy(template, directory)
    try:
        OVERRIDES[override](backend)
        engine = SelfHealingEngine(backend)
        engine.heal()
        engine.heal()
        return open_orders(backend)
    finally:
        backend.close()


# ---------------------------------------------------------------- every (override, boundary)


@pytest.mark.parametrize("step", HEAL_STEPS)
@pytest.mark.parametrize("override", sorted(OVERRIDES))
def test_an_override_at_a_step_boundary_never_doubles_loses_or_orders_on_stale_state(
    template: Path, tmp_path: Path, fresh: Callable[[], WarehouseBackend], override: str, step: str
) -> None:
    backend = fresh()
    engine = SelfHealingEngine(backend, on_step=at(step, lambda: OVERRIDES[override](backend)))
    first = engine.heal()
    assert_one_open_order_per_shortfall(backend)
    assert_orders_rest_on_current_state(backend, first)
    # a skipped decision is the item the override touched, never another one
    assert {(s["org_id"], s["sku"]) for s in first.stale_items} <= {TOUCHES[override]}
    if override == "receive":
        # the receipt closed the oxygen shortfall: it is not ordered again
        assert all(o["sku"] != OXY for o in first.orders)
    if override in {"load", "chaos_drop"} and step != "refreshed":
        # AMOX was decided on stock 10, which the override changed before the commit
        assert first.stale_items == [{"org_id": DEL, "sku": AMOX}]
        assert all(o["sku"] != AMOX for o in first.orders)

    engine.on_step = None
    second = engine.heal()
    assert_one_open_order_per_shortfall(backend)
    assert_orders_rest_on_current_state(backend, second)
    assert second.stale == 0
    assert_nothing_lost(backend)
    assert open_orders(backend) == sequential_reference(template, tmp_path, override)
    assert backend.verify_audit().ok


def test_a_stale_decision_raises_no_alert_and_the_next_cycle_raises_the_true_one(
    fresh: Callable[[], WarehouseBackend],
) -> None:
    backend = fresh()
    engine = SelfHealingEngine(backend, on_step=at("planned", lambda: OVERRIDES["load"](backend)))
    first = engine.heal()
    assert first.stale == 1 and first.created == 0
    assert backend.sql("SELECT COUNT(*) FROM alerts WHERE sku = ?", [AMOX]).scalar() == 0
    engine.on_step = None
    second = engine.heal()
    assert [o["sku"] for o in second.orders] == [AMOX]
    (alert,) = backend.sql("SELECT * FROM alerts WHERE sku = ?", [AMOX]).to_pylist()
    assert alert["po_id"] == second.orders[0]["po_id"]
    assert "25.0 days" not in alert["message"]
    cycle = backend.sql(
        "SELECT details FROM audit_log WHERE action = 'heal.cycle' AND entity_id = ?",
        [second.cycle_id],
    ).scalar()
    assert json.loads(cycle)["stale"] == 0


def test_without_the_stale_rule_a_receipt_after_the_refresh_orders_twice(
    fresh: Callable[[], WarehouseBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard is what holds the line: the same interleaving through the unconditional
    MERGE of old places a second oxygen order for a shortfall the receipt closed."""
    backend = fresh()
    unconditional = (
        "MERGE INTO purchase_orders AS t USING resq_stage_orders AS s "
        "ON t.idempotency_key = s.idempotency_key WHEN NOT MATCHED THEN INSERT ("
        "po_id, idempotency_key, org_id, sku, vendor, quantity, unit_price, status, priority, "
        "rank, reason_status, reason_days_remaining, data_source, cycle_id, created_at, "
        "updated_at) VALUES ("
        "'PO-' || UPPER(SUBSTR(SHA2(s.idempotency_key, 256), 1, 20)), s.idempotency_key, "
        "s.org_id, s.sku, s.vendor, s.quantity, s.unit_price, s.order_status, s.priority, "
        "s.rank, s.reason_status, s.reason_days_remaining, s.data_source, s.cycle_id, "
        "s.created_at, s.created_at)"
    )
    original = backend._file

    def old_merge(name: str, index: int = 0) -> str:
        return backend.render(unconditional) if name == "merge_orders" else original(name, index)

    monkeypatch.setattr(backend, "_file", old_merge)

    # A receipt commits, then refreshes the analysis itself; the heal reads its candidates
    # in between (the receipt's refresh has not run yet when the heal reads).
    def receipt_before_its_refresh() -> None:
        with monkeypatch.context() as m:
            m.setattr(backend, "refresh_analysis", lambda *a, **k: None)
            OVERRIDES["receive"](backend)

    engine = SelfHealingEngine(backend, on_step=at("refreshed", receipt_before_its_refresh))
    report = engine.heal()
    assert sorted(o["sku"] for o in report.orders) == [AMOX, OXY]  # the unneeded second


# ---------------------------------------------------------------- any sequence


STEPS = st.sampled_from(HEAL_STEPS)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("heal"), st.none(), st.none()),
        st.tuples(st.just("heal_with"), st.sampled_from(sorted(OVERRIDES)), STEPS),
        st.tuples(
            st.sampled_from(["receive", "cancel", "set_quantity", "approve"]),
            st.integers(0, 20),
            st.none(),
        ),
        st.tuples(st.sampled_from(["drop", "load"]), st.integers(0, 17), st.floats(0, 50)),
    ),
    min_size=1,
    max_size=8,
)


def _items(backend: WarehouseBackend) -> list[tuple[str, str]]:
    rows = backend.sql("SELECT org_id, sku FROM inventory_master ORDER BY org_id, sku")
    return [(r["org_id"], r["sku"]) for r in rows]


def _apply(backend: WarehouseBackend, op: str, pick: Any, value: Any) -> None:
    """A manual override of the pick-th order that allows it, or a stock edit of the
    pick-th item; nothing when there is no such order."""
    engine = SelfHealingEngine(backend)
    if op in {"drop", "load"}:
        org, sku = _items(backend)[pick % 18]
        if op == "drop":
            engine.drop_stock(org, sku, value)
        else:
            load_stock(backend, org, sku, value)
        return
    allowed = {
        "receive": "('PLACED')",
        "cancel": OPEN,
        "set_quantity": OPEN,
        "approve": "('PENDING_APPROVAL')",
    }[op]
    rows = backend.sql(
        f"SELECT po_id FROM purchase_orders WHERE status IN {allowed} ORDER BY po_id"
    ).to_pylist()
    if not rows:
        return
    po = rows[pick % len(rows)]["po_id"]
    if op == "set_quantity":
        engine.set_quantity(po, 1.0 + pick)
    else:
        getattr(engine, op)(po)


@pytest.mark.slow
@settings(max_examples=20)
@given(ops=OPERATIONS)
def test_any_sequence_of_heals_and_overrides_keeps_the_invariants(
    template: Path, tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[Any, ...]]
) -> None:
    backend = open_copy(template, tmp_path_factory.mktemp("seq"))
    try:
        for op, a, b in ops:
            if op in {"heal", "heal_with"}:
                hook = None
                if op == "heal_with":
                    hook = at(b, lambda a=a: OVERRIDES[a](backend) if _can(backend, a) else None)
                report = SelfHealingEngine(backend, on_step=hook).heal()
                assert_one_open_order_per_shortfall(backend)
                assert_orders_rest_on_current_state(backend, report)
            else:
                _apply(backend, op, a, b)
                assert_one_open_order_per_shortfall(backend)
        engine = SelfHealingEngine(backend)
        engine.heal()
        engine.heal()
        assert_one_open_order_per_shortfall(backend)
        assert_nothing_lost(backend)
        assert backend.verify_audit().ok
    finally:
        backend.close()


def _can(backend: WarehouseBackend, override: str) -> bool:
    """Whether the scenario's override still applies (its order may be gone by now)."""
    org, sku = TOUCHES[override]
    if override in {"load", "chaos_drop"}:
        return True
    status = "('PENDING_APPROVAL')" if override == "approve" else "('PLACED')"
    if override in {"cancel", "set_quantity"}:
        status = OPEN
    n = backend.sql(
        f"SELECT COUNT(*) FROM purchase_orders WHERE org_id = ? AND sku = ? AND status IN {status}",
        [org, sku],
    ).scalar()
    return bool(n == 1)


# ---------------------------------------------------------------- a real race


@pytest.mark.slow
def test_300_receipts_against_a_looping_heal_make_no_unneeded_order(tmp_path: Path) -> None:
    """The issue's reproduction, threaded: one thread heals in a loop while another
    receives 300 open orders one by one. A receipt fills an item to its target cover, so
    once everything is quiet an item that is OK has no business with an order the loop
    placed: that would be a second order for a shortfall the receipt closed."""
    backend = resq.connect(f"duckdb:///{tmp_path}/race.duckdb")
    backend.init()
    engine = SelfHealingEngine(backend)
    engine.seed(n_orgs=100, skus_per_org=3, days=0)
    backend.sql("UPDATE inventory_master SET current_stock = 0")
    first = engine.heal()
    placed = backend.sql(
        "SELECT po_id FROM purchase_orders WHERE status = 'PLACED' ORDER BY po_id"
    ).to_pylist()
    assert len(placed) >= 250, first
    stop = threading.Event()
    loop_reports: list[HealReport] = []
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            while not stop.is_set():
                loop_reports.append(SelfHealingEngine(backend).heal())
        except BaseException as exc:  # re-raised in the test thread
            errors.append(exc)

    healer = threading.Thread(target=loop)
    healer.start()
    try:
        for row in placed[:300]:
            engine.receive(row["po_id"], actor="dock")
    finally:
        stop.set()
        healer.join(timeout=120)
    assert not errors, errors
    assert len(loop_reports) >= 2
    assert_one_open_order_per_shortfall(backend)
    backend.refresh_analysis(force=True)
    unneeded = backend.sql(
        f"SELECT p.po_id, p.org_id, p.sku FROM purchase_orders AS p "
        f"JOIN stock_analysis AS a ON a.org_id = p.org_id AND a.sku = p.sku "
        f"WHERE p.status IN {OPEN} AND p.cycle_id <> ? AND a.status = 'OK'",
        [first.cycle_id],
    ).to_pylist()
    print(
        f"\n{len(placed[:300])} receipts, {len(loop_reports)} looping cycles, "
        f"{sum(r.stale for r in loop_reports)} stale decisions skipped, "
        f"{len(unneeded)} unneeded orders"
    )
    assert unneeded == []
    assert backend.verify_audit().ok
    backend.close()


def test_a_receipt_read_before_its_own_refresh_is_caught_by_the_stale_rule(
    fresh: Callable[[], WarehouseBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving above through the real, conditional MERGE: the oxygen decision is
    skipped as stale, and no second oxygen order is placed."""
    backend = fresh()

    def receipt_before_its_refresh() -> None:
        with monkeypatch.context() as m:
            m.setattr(backend, "refresh_analysis", lambda *a, **k: None)
            OVERRIDES["receive"](backend)

    report = SelfHealingEngine(backend, on_step=at("refreshed", receipt_before_its_refresh)).heal()
    assert [o["sku"] for o in report.orders] == [AMOX]
    assert report.stale == 1
