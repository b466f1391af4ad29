"""The stale-decision rule on every backend: the conditional MERGE is shared Snowflake SQL,
so the interleaving the issue found (a receipt committed after the cycle refreshed its
analysis) is replayed through the shared ``seeded`` fixture. The full matrix of overrides
and step boundaries runs on DuckDB in test_heal_interleavings.py."""

from __future__ import annotations

import json

from resq.backends.warehouse import WarehouseBackend
from resq.engine import SelfHealingEngine

ORG, OXY = "HOSP-BLR-001", "OXY-CYL"


def test_a_receipt_after_the_refresh_is_not_ordered_again(seeded: WarehouseBackend) -> None:
    engine = SelfHealingEngine(seeded)
    engine.heal()
    engine.drop_stock(ORG, OXY)
    engine.heal()
    (order,) = seeded.sql(
        "SELECT po_id FROM purchase_orders WHERE org_id = ? AND sku = ? AND status = 'PLACED'",
        [ORG, OXY],
    ).to_pylist()
    done: list[str] = []

    def receive_after_refresh(step: str) -> None:
        if step == "refreshed" and not done:
            done.append(step)
            SelfHealingEngine(seeded).receive(order["po_id"], actor="dock")

    engine.on_step = receive_after_refresh
    report = engine.heal()
    assert done == ["refreshed"]
    assert all(o["sku"] != OXY for o in report.orders)
    # skipped as stale where the analysis still showed the old stock (DuckDB's
    # materialized table); a backend whose analysis already shows the receipt has nothing
    # to skip
    assert report.stale_items in ([], [{"org_id": ORG, "sku": OXY}])
    engine.on_step = None
    assert engine.heal().created == 0
    statuses = seeded.sql(
        "SELECT status FROM purchase_orders WHERE org_id = ? AND sku = ?", [ORG, OXY]
    ).to_pylist()
    assert statuses == [{"status": "RECEIVED"}]
    assert seeded.verify_audit().ok

    # a chaos edit after the cycle planned: the MERGE itself must find the stock changed
    engine.drop_stock("HOSP-DEL-001", "AMOX-500", 10.0)
    done.clear()

    def chaos_after_plan(step: str) -> None:
        if step == "planned" and not done:
            done.append(step)
            SelfHealingEngine(seeded).drop_stock("HOSP-DEL-001", "AMOX-500", 0.0)

    engine.on_step = chaos_after_plan
    skipped = engine.heal()
    assert done == ["planned"]
    assert skipped.stale_items == [{"org_id": "HOSP-DEL-001", "sku": "AMOX-500"}]
    assert all(o["sku"] != "AMOX-500" for o in skipped.orders)
    engine.on_step = None
    (placed,) = [o for o in engine.heal().orders if o["sku"] == "AMOX-500"]
    assert json.loads(placed["reason"])["days_remaining"] == 0.0  # decided on stock 0
    assert engine.heal().created == 0
