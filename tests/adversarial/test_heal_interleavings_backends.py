"""The stale-decision rule on every backend: the conditional MERGE is shared Snowflake SQL,
so the interleaving the issue found (a receipt committed after the cycle refreshed its
analysis) is replayed through the shared ``seeded`` fixture. The full matrix of overrides
and step boundaries runs on DuckDB in test_heal_interleavings.py."""

from __future__ import annotations

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
    assert report.stale_items == [{"org_id": ORG, "sku": OXY}]
    engine.on_step = None
    assert engine.heal().created == 0
    statuses = seeded.sql(
        "SELECT status FROM purchase_orders WHERE org_id = ? AND sku = ?", [ORG, OXY]
    ).to_pylist()
    assert statuses == [{"status": "RECEIVED"}]
    assert seeded.verify_audit().ok
