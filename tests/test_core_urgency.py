"""Most urgent first, defined once (issue 14, item 6): the SQL orderings in
resq.core.urgency equal their Python sort keys on random rows, and every surface (library,
CLI, tenant views) lists CRITICAL before OK whatever the sector."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import resq
from resq.cli import app
from resq.core import urgency

_when = st.integers(0, 10).map(lambda m: datetime(2026, 12, 1) + timedelta(minutes=m))

_item = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["CRITICAL", "WARNING", "OK"]),
        "priority": st.integers(1, 3),
        "days_remaining": st.one_of(st.none(), st.sampled_from([0.0, 0.9, 2.5, 7.0, 30.0])),
        "org_id": st.sampled_from(["HOSP-1", "NGO-1", "PDS-1"]),
        "sku": st.text("ABC", min_size=1, max_size=3),
    }
)
_order = st.fixed_dictionaries(
    {
        "status": st.sampled_from(list(urgency.ORDER_STATUS_ORDER)),
        "priority": st.integers(1, 3),
        "created_at": _when,
        "rank": st.integers(1, 5),
        "po_id": st.text("PO123", min_size=1, max_size=4),
    }
)
_alert = st.fixed_dictionaries(
    {
        "state": st.sampled_from(list(urgency.ALERT_STATE_ORDER)),
        "severity": st.sampled_from(list(urgency.SEVERITY_ORDER)),
        "created_at": _when,
        "alert_id": st.text("AL12", min_size=1, max_size=4),
    }
)


def _sql_order(rows: list[dict], terms: tuple[str, ...]) -> list[dict]:
    conn = duckdb.connect()
    conn.register("candidate_rows", pa.Table.from_pylist(rows))
    order = ", ".join(terms)
    return conn.sql(f"SELECT * FROM candidate_rows ORDER BY {order}").to_arrow_table().to_pylist()


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["items", "orders", "alerts"]),
    data=st.data(),
)
def test_the_sql_ordering_equals_the_python_keys(kind: str, data: st.DataObject) -> None:
    strategy, terms = {
        "items": (_item, urgency.ITEMS),
        "orders": (_order, urgency.ORDERS),
        "alerts": (_alert, urgency.ALERTS),
    }[kind]
    rows = data.draw(st.lists(strategy, min_size=1, max_size=12))
    by_sql = _sql_order(rows, terms)
    by_python = sorted(rows, key=lambda r: urgency.sort_keys(kind, r))
    keys = [urgency.sort_keys(kind, r) for r in by_sql]
    assert keys == [urgency.sort_keys(kind, r) for r in by_python]


def test_status_severity_comes_before_priority() -> None:
    rows = [
        {"status": "OK", "priority": 1, "days_remaining": 40.0, "org_id": "H", "sku": "O"},
        {"status": "CRITICAL", "priority": 2, "days_remaining": 0.9, "org_id": "P", "sku": "R"},
        {"status": "WARNING", "priority": 3, "days_remaining": 5.0, "org_id": "N", "sku": "K"},
    ]
    assert [r["sku"] for r in _sql_order(rows, urgency.ITEMS)] == ["R", "K", "O"]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"duckdb:///{tmp_path_factory.mktemp('urgency') / 'demo.duckdb'}"
    result = CliRunner().invoke(app, ["--db", url, "demo"], env={"RESQ_DB": None})
    assert result.exit_code == 0, result.output
    return url


def _ranked(statuses: list[str]) -> list[int]:
    order = {s: i for i, s in enumerate(urgency.ITEM_STATUS_ORDER)}
    return [order[s] for s in statuses]


def test_cli_status_lists_critical_rice_above_ok_hospital_items(demo_db: str) -> None:
    result = CliRunner().invoke(app, ["--db", demo_db, "--json", "status"], env={"RESQ_DB": None})
    assert result.exit_code == 0
    items = json.loads(result.stdout)["items"]
    ranks = _ranked([i["status"] for i in items])
    assert ranks == sorted(ranks)
    first_ok = next(i for i, item in enumerate(items) if item["status"] == "OK")
    rice = next(i for i, item in enumerate(items) if item["sku"] == "RICE")
    assert items[rice]["status"] == "CRITICAL" and rice < first_ok


def test_orders_and_alerts_put_hospitals_first_on_every_surface(demo_db: str) -> None:
    runner = CliRunner()
    orders = json.loads(
        runner.invoke(app, ["--db", demo_db, "--json", "orders"], env={"RESQ_DB": None}).stdout
    )["orders"]
    assert orders[0]["org_id"].startswith("HOSP"), orders[0]
    assert [o["priority"] for o in orders if o["status"] == "PLACED"] == sorted(
        o["priority"] for o in orders if o["status"] == "PLACED"
    )
    backend = resq.connect(demo_db)
    try:
        read = backend.read("purchase_orders", order_by=urgency.ORDERS).to_pylist()
        assert [o["po_id"] for o in read] == [o["po_id"] for o in orders]
        for org in {o["org_id"] for o in read}:
            tenant = backend.tenant(org).read("stock_analysis", order_by=urgency.ITEMS)
            ranks = _ranked(tenant.column("status").to_pylist())
            assert ranks == sorted(ranks)
        alerts = backend.read("alerts", order_by=urgency.ALERTS).to_pylist()
        assert alerts == sorted(alerts, key=lambda a: urgency.sort_keys("alerts", a))
    finally:
        backend.close()


def test_a_tenant_still_cannot_order_by_arbitrary_sql(demo_db: str) -> None:
    backend = resq.connect(demo_db)
    try:
        with pytest.raises(resq.errors.TenantScopeError):
            backend.tenant("HOSP-BLR-001").read(
                "stock_analysis", order_by=("(SELECT max(sku) FROM inventory_master)",)
            )
    finally:
        backend.close()
