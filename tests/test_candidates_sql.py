"""What a heal cycle reads as its candidates and its covered count (sql/candidates.sql and
sql/covered.sql through SelfHealingEngine.plan), against a Python oracle over the same
tables, on random order histories: every status, orders from before and within the month,
items at every stock level, one organization or all of them.

The candidates are the rows resq.core.needs_decision selects that no open order covers,
each with its shortfall episode (the item's closed orders) and the month's allotment used
(the quantity of its orders created this month, cancelled ones excepted); covered counts
the rows that need a decision and have an open order."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from resq.backends.warehouse import WarehouseBackend
from resq.core import needs_decision
from resq.engine import SelfHealingEngine

NOW = datetime(2026, 3, 15, 12, 0)
MONTH_START = datetime(2026, 3, 1)
STATUSES = ("PLACED", "PENDING_APPROVAL", "PENDING_VENDOR", "RECEIVED", "CANCELLED")
OPEN = {"PLACED", "PENDING_APPROVAL", "PENDING_VENDOR"}

orders_st = st.lists(
    st.tuples(
        st.integers(0, 17),  # which item
        st.sampled_from(STATUSES),
        st.sampled_from([MONTH_START - timedelta(days=3), MONTH_START, NOW]),
        st.sampled_from([1.0, 2.5, 40.0]),
    ),
    max_size=14,
)
stock_st = st.lists(st.tuples(st.integers(0, 17), st.sampled_from([0.0, 3.0, 1e6])), max_size=8)


def oracle(backend: WarehouseBackend, org_id: str | None) -> tuple[dict, int]:
    analysis = backend.fetch("SELECT * FROM stock_analysis ORDER BY org_id, sku")
    mask = needs_decision(
        analysis["status"],
        analysis["days_remaining"],
        analysis["lead_time_days"],
        analysis["weather_delay_days"],
        analysis["critical_days"],
    )
    orders = backend.fetch("SELECT org_id, sku, status, quantity, created_at FROM purchase_orders")
    history: dict[tuple[str, str], list[dict]] = {}
    for o in orders.to_pylist():
        history.setdefault((o["org_id"], o["sku"]), []).append(o)
    candidates, covered = {}, 0
    for row, need in zip(analysis.to_pylist(), mask, strict=True):
        if not need or (org_id is not None and row["org_id"] != org_id):
            continue
        past = history.get((row["org_id"], row["sku"]), [])
        if any(o["status"] in OPEN for o in past):
            covered += 1
            continue
        candidates[(row["org_id"], row["sku"])] = (
            sum(o["status"] in ("RECEIVED", "CANCELLED") for o in past),
            sum(
                o["quantity"]
                for o in past
                if o["status"] != "CANCELLED" and o["created_at"] >= MONTH_START
            ),
        )
    return candidates, covered


@pytest.mark.slow
@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],  # no slow shrinking
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(orders=orders_st, stock=stock_st, one_org=st.booleans())
def test_candidates_and_covered_are_what_the_oracle_reads(
    seeded: WarehouseBackend, orders: list, stock: list, one_org: bool
) -> None:
    items = seeded.sql("SELECT org_id, sku FROM inventory_master ORDER BY org_id, sku").to_pylist()
    seeded.sql("DELETE FROM purchase_orders")
    for i, level in stock:
        seeded.sql(
            "UPDATE inventory_master SET current_stock = ? WHERE org_id = ? AND sku = ?",
            [level, items[i]["org_id"], items[i]["sku"]],
        )
    if orders:  # one statement for them all
        params: list = []
        for n, (i, status, created, quantity) in enumerate(orders):
            params += [f"PO-{n}", f"K-{n}", items[i]["org_id"], items[i]["sku"], quantity]
            params += [status, created, created]
        seeded.sql(
            "INSERT INTO purchase_orders (po_id, idempotency_key, org_id, sku, quantity, "
            "status, priority, data_source, created_at, updated_at) VALUES "
            + ", ".join(["(?, ?, ?, ?, ?, ?, 1, 'SIMULATED', ?, ?)"] * len(orders)),
            params,
        )
    seeded.refresh_analysis(force=True)
    org_id = items[0]["org_id"] if one_org else None
    expected, expected_covered = oracle(seeded, org_id)

    proposals, covered = SelfHealingEngine(seeded).plan(org_id=org_id, now=NOW)
    read = seeded.run_file("candidates", [org_id, org_id, MONTH_START])
    got = {
        (r["org_id"], r["sku"]): (r["episode"], r["allotment_used"])
        for r in read.to_pylist()
        if r["open_orders"] == 0
    }
    assert read.num_rows == len(got)  # one row per item
    assert got.keys() == expected.keys()
    for key, (episode, used) in expected.items():
        assert got[key][0] == episode
        assert abs(got[key][1] - used) < 1e-9
    assert covered == expected_covered
    assert proposals.num_rows <= read.num_rows
