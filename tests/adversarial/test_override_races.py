"""Overrides racing a heal cycle: a conflicting commit is retried, never surfaced raw.

The race is forced, not hoped for: the override's transaction has started (it has read the
order) when another connection commits a whole audited heal cycle, so the override's audit
append collides with the cycle's ("Duplicate key seq: N"). The override must then run again
on what the cycle left and succeed exactly once. DuckDB only: two writing connections at
once is what this forces, and the Snowflake peer serves one shared engine that stalls under
concurrent writing sessions (see tests/test_engine_exactly_once.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import resq
from resq.alerting.escalation import Escalator
from resq.backends.warehouse import WarehouseBackend
from resq.engine import SelfHealingEngine
from resq.errors import ConflictError

ORG, OXY = "HOSP-BLR-001", "OXY-CYL"


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[WarehouseBackend]:
    backend = resq.connect(f"duckdb:///{tmp_path}/race.duckdb")
    backend.init()
    engine = SelfHealingEngine(backend)
    engine.seed()
    engine.drop_stock(ORG, OXY)
    engine.heal()
    yield backend
    backend.close()


def race_once(backend: WarehouseBackend, rival: Callable[[], Any], times: int = 1) -> list[int]:
    """Make ``backend.order`` (the override's first read, inside its transaction) run
    ``rival`` to completion on another connection, the first ``times`` calls."""
    original = backend.order
    calls: list[int] = []

    def order_then_rival(po_id: str, **kwargs: Any) -> dict[str, Any]:
        row = original(po_id, **kwargs)
        calls.append(1)
        if len(calls) <= times:
            errors: list[BaseException] = []

            def run() -> None:
                try:
                    rival()
                except BaseException as exc:  # re-raised below
                    errors.append(exc)

            thread = threading.Thread(target=run)
            thread.start()
            thread.join(timeout=60)
            assert not errors, errors
        return row

    backend.order = order_then_rival  # type: ignore[method-assign]
    return calls


def rival_heal(backend: WarehouseBackend, sku: str = "PARA-500") -> Callable[[], Any]:
    """A heal cycle that orders (and audits) something, committed on another connection."""

    def heal() -> None:
        engine = SelfHealingEngine(backend)
        engine.drop_stock(ORG, sku, actor="chaos")
        assert engine.heal().created >= 1

    return heal


def the_oxygen_order(backend: WarehouseBackend) -> dict[str, Any]:
    (row,) = backend.sql(
        "SELECT * FROM purchase_orders WHERE org_id = ? AND sku = ? AND status = 'PLACED'",
        [ORG, OXY],
    ).to_pylist()
    return row


@pytest.mark.parametrize("action", ["receive", "cancel", "set_quantity"])
def test_override_racing_a_heal_is_retried_and_applied_once(
    duck: WarehouseBackend, action: str
) -> None:
    order = the_oxygen_order(duck)
    stock_before = duck.sql(
        "SELECT current_stock FROM inventory_master WHERE org_id = ? AND sku = ?", [ORG, OXY]
    ).scalar()
    calls = race_once(duck, rival_heal(duck))
    engine = SelfHealingEngine(duck)
    if action == "set_quantity":
        result = engine.set_quantity(order["po_id"], 7.0, actor="alice")
        assert result["quantity"] == 7.0
    else:
        result = getattr(engine, action)(order["po_id"], actor="alice")
    assert len(calls) >= 2  # the first attempt conflicted, a later one committed
    expected = {"receive": "RECEIVED", "cancel": "CANCELLED", "set_quantity": "PLACED"}
    assert result["status"] == expected[action]
    audited = duck.sql(
        "SELECT actor, details FROM audit_log WHERE action = ? AND entity_id = ?",
        [f"order.{action}", order["po_id"]],
    ).to_pylist()
    assert [a["actor"] for a in audited] == ["alice"]  # applied once
    stock = duck.sql(
        "SELECT current_stock FROM inventory_master WHERE org_id = ? AND sku = ?", [ORG, OXY]
    ).scalar()
    added = order["quantity"] if action == "receive" else 0.0
    assert stock == stock_before + added  # received once, not twice
    if action == "receive":
        assert json.loads(audited[0]["details"])["stock_added"] == order["quantity"]
    # the rival cycle's order is there too, and the chain is whole
    assert duck.sql("SELECT COUNT(*) FROM purchase_orders WHERE sku = 'PARA-500'").scalar() == 1
    assert duck.verify_audit().ok


def test_ack_racing_a_heal_is_retried(duck: WarehouseBackend) -> None:
    (alert,) = duck.sql(
        "SELECT alert_id FROM alerts WHERE org_id = ? AND sku = ? AND state = 'OPEN'",
        [ORG, OXY],
    ).to_pylist()
    calls: list[int] = []
    original = duck.read

    def read_then_rival(table: str, **kwargs: Any) -> Any:
        rows = original(table, **kwargs)
        if table == "alerts" and not calls:
            calls.append(1)
            thread = threading.Thread(target=rival_heal(duck))
            thread.start()
            thread.join(timeout=60)
        return rows

    duck.read = read_then_rival  # type: ignore[method-assign]
    acked = duck.ack_alert(alert["alert_id"], actor="bob")
    assert acked["state"] == "ACKED" and acked["acked_by"] == "bob"
    acks = duck.sql("SELECT COUNT(*) FROM audit_log WHERE action = 'alert.ack'").scalar()
    assert acks == 1
    assert duck.verify_audit().ok
    assert Escalator(duck).run().escalated == []  # acknowledged: nothing escalates


def test_an_override_that_keeps_conflicting_raises_a_conflict_error(
    duck: WarehouseBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bounded: an override that conflicts on every attempt ends with the ConflictError
    (after the retries), and leaves nothing behind."""
    import resq.backends.warehouse as warehouse
    from resq.retrying import conflict_retrying

    monkeypatch.setattr(warehouse, "conflict_retrying", lambda: conflict_retrying(3))
    order = the_oxygen_order(duck)
    levels = iter([11.0, 12.0, 13.0])

    def audited_chaos() -> None:  # any audited write on another connection collides
        SelfHealingEngine(duck).drop_stock(ORG, "PARA-500", next(levels), actor="chaos")

    calls = race_once(duck, audited_chaos, times=3)
    with pytest.raises(ConflictError):
        SelfHealingEngine(duck).cancel(order["po_id"], actor="alice")
    assert len(calls) == 3
    assert the_oxygen_order(duck)["status"] == "PLACED"
    cancels = duck.sql("SELECT COUNT(*) FROM audit_log WHERE action = 'order.cancel'").scalar()
    assert cancels == 0
    assert duck.verify_audit().ok
