"""DuckDB refreshes ``stock_analysis`` incrementally: only the items whose inputs changed
are recomputed. The property: after any sequence of changes through resq (inventory
updates and new items, weather, vendor status, sector config, organizations, forecasts,
receipts, ad-hoc SQL), an incremental refresh leaves exactly what a full refresh computes.
Also: a change committed while a refresh runs is kept for the next one, and a refresh that
fails mid-way changes nothing (its log rows stay)."""

from __future__ import annotations

import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import resq
from resq import simulation
from resq.engine import SelfHealingEngine
from resq.errors import BackendError

ORGS = [
    "HOSP-BLR-001",
    "HOSP-DEL-001",
    "PDS-BLR-001",
    "PDS-DEL-001",
    "NGO-BLR-001",
    "NGO-DEL-001",
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded, refreshed DuckDB file each example starts from (a copy of it)."""
    path = Path(tmp_path_factory.mktemp("incremental")) / "template.duckdb"
    backend = resq.connect(f"duckdb:///{path}")
    backend.init()
    SelfHealingEngine(backend).seed()
    backend.refresh_analysis()
    backend.close()
    return path


@contextmanager
def copy_of(template: Path) -> Iterator[Any]:
    path = template.with_name(f"copy-{uuid.uuid4().hex}.duckdb")
    shutil.copy(template, path)
    backend: Any = resq.connect(f"duckdb:///{path}")
    backend.full_refresh_share = 1.0  # 18 rows: stay incremental whatever the share
    try:
        yield backend
    finally:
        backend.close()
        path.unlink()


@pytest.fixture
def db(template: Path) -> Iterator[Any]:
    with copy_of(template) as backend:
        yield backend


def _rows(backend: Any, sql: str) -> list[tuple[Any, ...]]:
    rows = backend.fetch(sql).to_pylist()
    return sorted((tuple(r.values()) for r in rows), key=repr)


def _agrees_with_full(backend: Any) -> None:
    """stock_analysis as refreshed holds exactly the rows its query computes now."""
    stored = _rows(backend, "SELECT * FROM stock_analysis")
    full = _rows(backend, f"SELECT * FROM ({backend._analysis_query()})")
    assert stored == full


# --- the changes ------------------------------------------------------------------------


def _items(backend: Any) -> list[tuple[str, str]]:
    return [(r["org_id"], r["sku"]) for r in backend.read("inventory_master").to_pylist()]


@st.composite
def changes(draw: st.DrawFn) -> tuple[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "stock",
                "new_item",
                "weather",
                "vendor",
                "sector",
                "org",
                "new_org",
                "forecast",
                "receive",
                "chaos_stock",
                "spike",
                "sql",
            ]
        )
    )
    return kind, draw(st.randoms(use_true_random=False))


def _apply(backend: Any, kind: str, rnd: Any) -> bool:
    """Apply one change; True when it is one resq logs by key (so the refresh is
    incremental), False when it changes everything (ad-hoc SQL, a forecast of every item:
    a full refresh)."""
    items = _items(backend)
    org, sku = rnd.choice(items)
    if kind == "stock":
        picked = rnd.sample(items, k=min(len(items), rnd.randint(1, 4)))
        backend.load(
            "inventory",
            [
                {
                    "org_id": o,
                    "sku": s,
                    "item_name": f"item {s}",
                    "current_stock": rnd.uniform(0, 300),
                    "daily_consumption": rnd.choice([0.0, rnd.uniform(0.1, 50)]),
                    "lead_time_days": rnd.choice([1.0, 3.0]),
                }
                for o, s in picked
            ],
        )
    elif kind == "new_item":
        backend.load(
            "inventory",
            [
                {
                    "org_id": rnd.choice(_orgs(backend)),
                    "sku": f"NEW-{rnd.randint(0, 10**9)}",
                    "item_name": "new item",
                    "category": rnd.choice(["OXYGEN", "RICE", "KIT", "OTHER"]),
                    "current_stock": rnd.uniform(0, 50),
                    "daily_consumption": rnd.uniform(0, 10),
                }
            ],
        )
    elif kind == "weather":
        city = rnd.choice(["Bangalore", "Delhi", "Mumbai"])
        condition = rnd.choice(["Clear", "Rain", "Haze", "Storm", "Flood"])
        backend.apply_chaos(simulation.set_weather(city, condition), actor="property")
    elif kind == "vendor":
        backend.apply_chaos(simulation.vendor_offline(rnd.choice(["Blinkit", "Dunzo"])), actor="p")
    elif kind == "sector":
        rows = backend.read("sector_config").to_pylist()
        row = rnd.choice(rows)
        row.pop("updated_at", None)
        row["critical_days"] = float(rnd.randint(1, 5))
        row["warning_days"] = row["critical_days"] + rnd.randint(0, 5)
        row["adverse_demand_multiplier"] = rnd.choice([1.0, 1.5])
        backend.load("sector_config", [row])
    elif kind in {"org", "new_org"}:
        rows = backend.read("organizations").to_pylist()
        row = rnd.choice(rows)
        row.pop("updated_at", None)
        if kind == "new_org":
            row["org_id"] = f"ORG-{rnd.randint(0, 10**9)}"
        row["city"] = rnd.choice(["Bangalore", "Delhi", "Mumbai", f"Town{rnd.randint(0, 9)}"])
        row["sector"] = rnd.choice(["HOSPITAL", "PDS", "NGO"])
        row["disaster_zone"] = rnd.random() < 0.3
        backend.load("organizations", [row])
    elif kind == "forecast":  # of one organization: its items; of all: everything
        scope = rnd.choice([None, org])
        SelfHealingEngine(backend).forecast(org_id=scope)
        return scope is not None
    elif kind == "receive":
        SelfHealingEngine(backend).heal()
        placed = backend.fetch(
            "SELECT po_id FROM purchase_orders WHERE status = 'PLACED' ORDER BY po_id"
        ).to_pylist()
        if placed:
            backend.override_order(rnd.choice(placed)["po_id"], "receive", actor="property")
    elif kind == "chaos_stock":
        backend.apply_chaos(simulation.drop_stock(org, sku), actor="property")
    elif kind == "spike":
        backend.apply_chaos(simulation.spike_demand(org, sku, rnd.uniform(1, 4)), actor="p")
    else:  # ad-hoc SQL: no keys to tell, so everything is recomputed
        backend.sql(
            "UPDATE inventory_master SET current_stock = current_stock / 2 "
            "WHERE org_id = ? AND sku = ?",
            [org, sku],
        )
        return False
    return True


def _orgs(backend: Any) -> list[str]:
    return [r["org_id"] for r in backend.read("organizations").to_pylist()]


def _kinds(batch: list[tuple[str, Any]]) -> list[str]:
    return [kind for kind, _ in batch]


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.lists(changes(), min_size=1, max_size=3), min_size=1, max_size=3))
@pytest.mark.slow
def test_incremental_equals_full_on_random_changes(
    template: Path, steps: list[list[tuple[str, Any]]]
) -> None:
    with copy_of(template) as backend:
        for batch in steps:
            keyed = [_apply(backend, kind, rnd) for kind, rnd in batch]
            since = [k for i, k in enumerate(keyed) if "receive" not in _kinds(batch[i:])]
            result = backend.refresh_analysis()
            if result.refreshed:  # a receipt's heal refreshes; a vendor change is no input
                expected = "INCREMENTAL" if all(since) else "FULL"
                assert result.action in {expected, "NO_DATA"}
            assert backend.analysis_state()["pending_changes"] == 0
            _agrees_with_full(backend)


# --- at every step boundary -------------------------------------------------------------


def test_a_change_committed_during_a_refresh_waits_for_the_next(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer commits (data and its log row) after the refresh's snapshot was taken:
    the refresh neither sees nor consumes it, and the next refresh recomputes that item."""
    backend: Any = db
    backend.refresh_analysis(force=True)
    org, sku = _items(backend)[0]
    backend.apply_chaos(simulation.drop_stock(*_items(backend)[1]), actor="t")  # logged
    real_execute = backend.execute
    done = threading.Event()

    def write_meanwhile(sql: str, params: Any = None) -> None:
        real_execute(sql, params)
        if sql.startswith("DELETE FROM stock_analysis AS a USING") and not done.is_set():
            done.set()
            other = threading.Thread(
                target=backend.apply_chaos,
                args=(simulation.drop_stock(org, sku),),
                kwargs={"actor": "meanwhile"},
            )
            other.start()  # another connection (its own thread's), committing now
            other.join()

    monkeypatch.setattr(backend, "execute", write_meanwhile)
    first = backend.refresh_analysis()
    monkeypatch.undo()
    assert done.is_set() and first.action == "INCREMENTAL"
    assert backend.analysis_state()["pending_changes"] == 1
    stock = f"SELECT current_stock FROM stock_analysis WHERE org_id = '{org}' AND sku = '{sku}'"
    assert backend.fetch(stock).column(0)[0].as_py() > 0  # not seen yet
    second = backend.refresh_analysis()
    assert second.action == "INCREMENTAL" and second.changed_rows == 1
    assert backend.fetch(stock).column(0)[0].as_py() == 0.0
    _agrees_with_full(backend)


def _log_item(backend: Any, org: str, sku: str) -> None:
    """Log an item as changed, as resq's writers do (the test's stand-in for a writer
    that removes an item and names it)."""
    backend.execute(
        "INSERT INTO resq_dt_changes (changed_at, scope, org_id, sku) VALUES (now(), 'ITEM', ?, ?)",
        [org, sku],
    )


def _every_kind_of_write(backend: Any) -> tuple[str, str]:
    """Changes of every kind an incremental refresh recomputes: an item whose stock
    changed, a new item and a keyed item that is gone. Returns the gone item."""
    items = _items(backend)
    backend.apply_chaos(simulation.drop_stock(*items[2]), actor="t")
    backend.load(
        "inventory",
        [
            {
                "org_id": items[0][0],
                "sku": "NEW-1",
                "item_name": "new",
                "current_stock": 1.0,
                "daily_consumption": 1.0,
            }
        ],
    )
    gone = items[3]
    backend.execute("DELETE FROM inventory_master WHERE org_id = ? AND sku = ?", list(gone))
    _log_item(backend, *gone)
    return gone


def test_a_keyed_item_that_is_gone_leaves_the_analysis(db: Any) -> None:
    backend: Any = db
    backend.refresh_analysis(force=True)
    org, sku = _every_kind_of_write(backend)
    result = backend.refresh_analysis()
    assert result.action == "INCREMENTAL" and result.changed_rows == 3
    left = "SELECT COUNT(*) FROM stock_analysis WHERE org_id = ? AND sku = ?"
    assert backend.fetch(left, [org, sku]).column(0)[0].as_py() == 0
    _agrees_with_full(backend)


@pytest.mark.parametrize(
    "failing",
    [
        "CREATE OR REPLACE TEMP TABLE resq_dt_keys",
        "DELETE FROM stock_analysis",
        "INSERT INTO stock_analysis",
        "DELETE FROM resq_dt_changes",
        "UPDATE resq_dt_state",
        "INSERT INTO dt_refresh_history",
    ],
)
def test_a_refresh_failing_at_any_write_changes_nothing(
    db: Any, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """Whichever of the incremental refresh's writes fails, the transaction rolls back:
    stock_analysis keeps its rows and the log its changes, and the next refresh catches up."""
    backend: Any = db
    backend.refresh_analysis(force=True)
    before = _rows(backend, "SELECT * FROM stock_analysis")
    _every_kind_of_write(backend)
    pending = backend.analysis_state()["pending_changes"]
    real_execute = backend.execute
    seen: list[str] = []

    def fail_at(sql: str, params: Any = None) -> None:
        if sql.startswith(failing):
            seen.append(sql)
            real_execute(sql, params)  # the write happens, then the statement "fails"
            raise BackendError(f"injected failure after {failing}")
        real_execute(sql, params)

    monkeypatch.setattr(backend, "execute", fail_at)
    with pytest.raises(BackendError, match="injected failure"):
        backend.refresh_analysis()
    monkeypatch.undo()
    assert seen, f"the refresh never ran {failing!r}"
    assert _rows(backend, "SELECT * FROM stock_analysis") == before
    assert backend.analysis_state()["pending_changes"] == pending
    assert backend.refresh_analysis().action == "INCREMENTAL"
    _agrees_with_full(backend)


def test_a_write_that_bypasses_resq_is_seen_by_the_next_full_refresh(
    db: Any,
) -> None:
    """A raw write logs nothing: a target-lag refresh with nothing logged, and any forced
    refresh, recompute every row, so it is not missed for long (docs/heal-cycle.md)."""
    from datetime import timedelta

    from resq.backends.warehouse import utcnow

    backend: Any = db
    backend.refresh_analysis(force=True)
    backend.execute("UPDATE inventory_master SET current_stock = current_stock + 1")
    late = backend.refresh_analysis(now=utcnow() + timedelta(seconds=backend.target_lag_s + 1))
    assert (late.reason, late.action) == ("TARGET_LAG", "FULL")
    _agrees_with_full(backend)
    assert backend.refresh_analysis(force=True, full=False).action == "NO_DATA"
    assert backend.refresh_analysis(force=True).action == "FULL"


def test_history_says_how_each_refresh_ran(db: Any) -> None:
    backend: Any = db
    backend.refresh_analysis(force=True)
    org, sku = _items(backend)[3]
    backend.apply_chaos(simulation.drop_stock(org, sku), actor="t")
    backend.refresh_analysis()
    newest, previous = backend.refresh_history().to_pylist()[:2]
    assert (newest["refresh_action"], newest["changed_rows"], newest["trigger"]) == (
        "INCREMENTAL",
        1,
        "CHANGES",
    )
    assert previous["refresh_action"] == "FULL" and previous["changed_rows"] == previous["rows"]


def test_the_heal_cycle_page_runs() -> None:
    """docs/heal-cycle.md's ```python exec blocks run, in order, in one namespace."""
    page = (Path(__file__).parent.parent / "docs" / "heal-cycle.md").read_text()
    blocks = re.findall(r"```python exec\n(.*?)```", page, flags=re.S)
    assert blocks
    namespace: dict[str, Any] = {}
    for i, body in enumerate(blocks):
        exec(compile(body, f"docs/heal-cycle.md (python exec block {i})", "exec"), namespace)
    assert namespace["result"].action == "FULL"


def test_a_read_only_connection_reads_an_old_analysis_without_refreshing(template: Path) -> None:
    """A read-only connection cannot write a refresh: past its target lag it reads the rows
    as last refreshed instead of failing."""
    with copy_of(template) as writer:
        path = writer.path
        expected = _rows(writer, "SELECT * FROM stock_analysis")
        writer.close()
        reader: Any = resq.connect(f"duckdb:///{path}?read_only=true&target_lag=0")
        try:
            got = reader.read("stock_analysis").to_pylist()
            assert sorted((tuple(r.values()) for r in got), key=repr) == expected
        finally:
            reader.close()
