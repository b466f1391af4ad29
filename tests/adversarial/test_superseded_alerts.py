"""One shortfall, one active alert: a new episode's alert supersedes the old episode's.

After a cancellation (or a delivery) the item's next shortfall raises a new alert under a
new key. The alert of the closed episode is resolved as superseded in the same cycle,
audited, so escalation pages people about the current shortfall only.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import resq
from resq.alerting.escalation import Escalator
from resq.backends.warehouse import WarehouseBackend, utcnow
from resq.core.alerts import DEFAULT_POLICY
from resq.engine import SelfHealingEngine

ORG, OXY = "HOSP-BLR-001", "OXY-CYL"


def alerts_of(backend: WarehouseBackend, sku: str = OXY) -> list[dict]:
    return backend.sql(
        "SELECT * FROM alerts WHERE org_id = ? AND sku = ? ORDER BY created_at, alert_id",
        [ORG, sku],
    ).to_pylist()


def open_order(backend: WarehouseBackend, sku: str = OXY) -> dict:
    (row,) = backend.sql(
        "SELECT * FROM purchase_orders WHERE org_id = ? AND sku = ? "
        "AND status IN ('PLACED', 'PENDING_APPROVAL', 'PENDING_VENDOR')",
        [ORG, sku],
    ).to_pylist()
    return row


@pytest.mark.parametrize("acked", [False, True], ids=["open", "acked"])
def test_cancel_then_heal_leaves_one_active_alert_and_only_it_escalates(
    seeded: WarehouseBackend, acked: bool
) -> None:
    now = utcnow()
    engine = SelfHealingEngine(seeded, clock=lambda: now)
    engine.drop_stock(ORG, OXY)
    engine.heal()
    (old,) = alerts_of(seeded)
    assert old["state"] == "OPEN"
    if acked:
        engine.backend.ack_alert(old["alert_id"], actor="bob", now=now)
    engine.cancel(open_order(seeded)["po_id"], actor="alice")
    report = engine.heal()
    assert report.created == 1
    rows = {a["alert_id"]: a for a in alerts_of(seeded)}
    assert len(rows) == 2
    (new,) = [a for a in rows.values() if a["alert_id"] != old["alert_id"]]
    assert new["state"] == "OPEN" and new["po_id"] == open_order(seeded)["po_id"]
    assert rows[old["alert_id"]]["state"] == "RESOLVED"
    assert rows[old["alert_id"]]["resolved_at"] == now
    (event,) = seeded.sql(
        "SELECT * FROM audit_log WHERE action = 'alert.resolved' AND entity_id = ?",
        [old["alert_id"]],
    ).to_pylist()
    details = json.loads(event["details"])
    assert details["reason"] == "superseded"
    assert details["superseded_by"] == new["alert_id"]
    assert details["from"] == ("ACKED" if acked else "OPEN")
    assert event["actor"] == engine.actor
    assert seeded.verify_audit().ok

    later = now + timedelta(hours=2)  # past every escalation timeout
    escalated = Escalator(seeded, DEFAULT_POLICY).run(now=later).escalated
    assert [e["alert_id"] for e in escalated if e["alert_id"] in rows] == [new["alert_id"]]
    # a re-run supersedes nothing more
    assert engine.heal().created == 0
    assert [a["state"] for a in alerts_of(seeded)].count("OPEN") == 1


# ---------------------------------------------------------------- any sequence

OPS = st.lists(
    st.sampled_from(["drop", "heal", "cancel", "receive", "ack"]), min_size=1, max_size=10
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded DuckDB file that each example copies (seeding once keeps examples fast)."""
    path = tmp_path_factory.mktemp("alerts") / "seeded.duckdb"
    backend = resq.connect(f"duckdb:///{path}")
    backend.init()
    SelfHealingEngine(backend).seed()
    backend.close()
    return path


@pytest.mark.slow
@settings(max_examples=20)
@given(ops=OPS)
def test_after_any_sequence_each_item_has_alerts_of_one_episode_only(
    template: Path, tmp_path_factory: pytest.TempPathFactory, ops: list[str]
) -> None:
    import shutil

    path = tmp_path_factory.mktemp("ex") / "db.duckdb"
    shutil.copy(template, path)
    backend = resq.connect(f"duckdb:///{path}")
    try:
        engine = SelfHealingEngine(backend)
        for op in ops:
            orders = backend.sql(
                "SELECT po_id, status FROM purchase_orders WHERE org_id = ? AND sku = ? "
                "AND status IN ('PLACED', 'PENDING_APPROVAL', 'PENDING_VENDOR')",
                [ORG, OXY],
            ).to_pylist()
            if op == "drop":
                engine.drop_stock(ORG, OXY)
            elif op == "heal":
                engine.heal()
            elif op == "cancel" and orders:
                engine.cancel(orders[0]["po_id"], actor="alice")
            elif op == "receive" and orders and orders[0]["status"] == "PLACED":
                engine.receive(orders[0]["po_id"], actor="alice")
            elif op == "ack":
                for a in alerts_of(backend):
                    if a["state"] == "OPEN":
                        backend.ack_alert(a["alert_id"], actor="bob")
            if op == "heal":
                active = backend.sql(
                    "SELECT org_id, sku, COUNT(DISTINCT SUBSTR(dedup_key, LENGTH(kind) + 2)) "
                    "AS episodes FROM alerts WHERE state IN ('OPEN', 'ACKED') "
                    "GROUP BY org_id, sku HAVING COUNT(DISTINCT SUBSTR(dedup_key, "
                    "LENGTH(kind) + 2)) > 1"
                ).to_pylist()
                assert active == [], active
        assert backend.verify_audit().ok
    finally:
        backend.close()
