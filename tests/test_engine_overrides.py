"""Manual overrides through the engine (approve, cancel, set_quantity, receive), budget
holds, and what invalid requests leave behind: nothing."""

from __future__ import annotations

import json
import math

import pytest

from resq.backends.warehouse import WarehouseBackend
from resq.engine import SelfHealingEngine
from resq.errors import InvalidTransitionError, NotFoundError, ValidationError

ORG, OXY, PARA = "HOSP-BLR-001", "OXY-CYL", "PARA-500"


@pytest.fixture
def oxygen_order(seeded: WarehouseBackend) -> dict:
    """The PLACED order the chaos button leads to."""
    engine = SelfHealingEngine(seeded)
    engine.drop_stock(ORG, OXY)
    engine.heal()
    return order_of(seeded, OXY)


def order_of(backend: WarehouseBackend, sku: str, org: str = ORG) -> dict:
    """The one open order of an item."""
    (row,) = backend.sql(
        "SELECT * FROM purchase_orders WHERE org_id = ? AND sku = ? "
        "AND status NOT IN ('CANCELLED', 'RECEIVED')",
        [org, sku],
    ).to_pylist()
    return row


def state(backend: WarehouseBackend) -> tuple[list[dict], list[dict], list[dict]]:
    """Everything an override may touch."""
    return (
        backend.sql("SELECT * FROM purchase_orders ORDER BY po_id").to_pylist(),
        backend.sql(
            "SELECT org_id, sku, current_stock FROM inventory_master ORDER BY org_id, sku"
        ).to_pylist(),
        backend.sql("SELECT * FROM audit_log ORDER BY seq").to_pylist(),
    )


def last_audit(backend: WarehouseBackend) -> dict:
    return backend.sql("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1").to_pylist()[0]


# ---------------------------------------------------------------- audited with the actor


@pytest.mark.parametrize("action", ["cancel", "set_quantity", "receive"])
def test_override_is_audited_with_the_actor(
    seeded: WarehouseBackend, oxygen_order: dict, action: str
) -> None:
    engine = SelfHealingEngine(seeded)
    po = oxygen_order["po_id"]
    if action == "set_quantity":
        result = engine.set_quantity(po, 150, actor="alice")
        assert result["quantity"] == 150
        assert result["status"] == "PLACED"
    else:
        result = getattr(engine, action)(po, actor="alice")
        assert result["status"] == {"cancel": "CANCELLED", "receive": "RECEIVED"}[action]
    # a receipt that ends the shortfall is followed by the alert.resolved events it causes
    audit = seeded.sql(
        "SELECT * FROM audit_log WHERE action = ? ORDER BY seq DESC LIMIT 1", [f"order.{action}"]
    ).to_pylist()[0]
    assert (audit["action"], audit["actor"], audit["entity_id"], audit["org_id"]) == (
        f"order.{action}",
        "alice",
        po,
        ORG,
    )
    details = json.loads(audit["details"])
    assert details["from"] == "PLACED"
    assert details["to"] == result["status"]
    if action == "set_quantity":
        assert (details["quantity_from"], details["quantity_to"]) == (
            oxygen_order["quantity"],
            150,
        )
    assert seeded.verify_audit().ok


def test_override_actor_defaults_to_the_os_user(
    seeded: WarehouseBackend, oxygen_order: dict
) -> None:
    from resq.backends.warehouse import default_actor

    SelfHealingEngine(seeded).cancel(oxygen_order["po_id"])
    assert last_audit(seeded)["actor"] == default_actor()


# ---------------------------------------------------------------- invalid requests


def test_approving_a_placed_order_is_refused_and_changes_nothing(
    seeded: WarehouseBackend, oxygen_order: dict
) -> None:
    before = state(seeded)
    with pytest.raises(InvalidTransitionError, match="PLACED"):
        SelfHealingEngine(seeded).approve(oxygen_order["po_id"], actor="alice")
    assert state(seeded) == before


def test_receiving_a_cancelled_order_is_refused_and_changes_nothing(
    seeded: WarehouseBackend, oxygen_order: dict
) -> None:
    engine = SelfHealingEngine(seeded)
    engine.cancel(oxygen_order["po_id"], actor="alice")
    before = state(seeded)
    with pytest.raises(InvalidTransitionError, match="CANCELLED"):
        engine.receive(oxygen_order["po_id"], actor="alice")
    for action in ("cancel", "approve"):
        with pytest.raises(InvalidTransitionError):
            getattr(engine, action)(oxygen_order["po_id"], actor="alice")
    with pytest.raises(InvalidTransitionError):
        engine.set_quantity(oxygen_order["po_id"], 5, actor="alice")
    assert state(seeded) == before


def test_receiving_twice_is_refused(seeded: WarehouseBackend, oxygen_order: dict) -> None:
    engine = SelfHealingEngine(seeded)
    engine.receive(oxygen_order["po_id"], actor="alice")
    before = state(seeded)
    with pytest.raises(InvalidTransitionError, match="RECEIVED"):
        engine.receive(oxygen_order["po_id"], actor="alice")
    assert state(seeded) == before


@pytest.mark.parametrize("quantity", [0, -1, -0.5, math.nan, math.inf, -math.inf])
def test_set_quantity_rejects_non_positive_and_non_finite(
    seeded: WarehouseBackend, oxygen_order: dict, quantity: float
) -> None:
    before = state(seeded)
    with pytest.raises(ValidationError, match="quantity"):
        SelfHealingEngine(seeded).set_quantity(oxygen_order["po_id"], quantity, actor="a")
    assert state(seeded) == before


def test_unknown_order_is_not_found(seeded: WarehouseBackend) -> None:
    before = state(seeded)
    with pytest.raises(NotFoundError, match="PO-NOPE"):
        SelfHealingEngine(seeded).cancel("PO-NOPE", actor="alice")
    assert state(seeded) == before


# ---------------------------------------------------------------- receive


def test_receive_adds_the_quantity_and_the_item_recovers(
    seeded: WarehouseBackend, oxygen_order: dict
) -> None:
    engine = SelfHealingEngine(seeded)

    def item() -> dict:
        return seeded.sql(
            "SELECT current_stock, status, days_remaining FROM stock_analysis "
            "WHERE org_id = ? AND sku = ?",
            [ORG, OXY],
        ).to_pylist()[0]

    assert item()["status"] == "CRITICAL"
    engine.receive(oxygen_order["po_id"], actor="receiver")
    stock = seeded.sql(
        "SELECT current_stock FROM inventory_master WHERE org_id = ? AND sku = ?", [ORG, OXY]
    ).scalar()
    assert stock == oxygen_order["quantity"]  # it was 0 after the chaos
    engine.analyse()  # refresh
    after = item()
    assert after["current_stock"] == oxygen_order["quantity"]
    assert after["status"] == "OK"
    assert after["days_remaining"] > 7
    assert engine.heal().created == 0  # recovered: nothing to order


def test_received_quantity_is_the_changed_quantity(
    seeded: WarehouseBackend, oxygen_order: dict
) -> None:
    engine = SelfHealingEngine(seeded)
    engine.set_quantity(oxygen_order["po_id"], 10, actor="alice")
    engine.receive(oxygen_order["po_id"], actor="alice")
    stock = seeded.sql(
        "SELECT current_stock FROM inventory_master WHERE org_id = ? AND sku = ?", [ORG, OXY]
    ).scalar()
    assert stock == 10
    # 10 cylinders is still critical: a new shortfall episode gets one new order
    report = engine.heal()
    assert report.created == 1
    assert order_of(seeded, OXY)["status"] == "PLACED"
    assert order_of(seeded, OXY)["po_id"] != oxygen_order["po_id"]


# ---------------------------------------------------------------- budget cap


def test_budget_cap_holds_non_oxygen_orders_for_approval(seeded: WarehouseBackend) -> None:
    engine = SelfHealingEngine(seeded, budget=1.0)
    engine.drop_stock(ORG, OXY)
    engine.drop_stock(ORG, PARA)
    report = engine.heal()

    assert order_of(seeded, OXY)["status"] == "PLACED"  # oxygen is never held back
    para = order_of(seeded, PARA)
    assert para["status"] == "PENDING_APPROVAL"
    assert "budget" in json.loads(para["reason"])["caps_applied"]
    statuses = seeded.sql(
        "SELECT sku, status FROM purchase_orders WHERE sku <> ?", [OXY]
    ).to_pylist()
    assert statuses and all(s["status"] == "PENDING_APPROVAL" for s in statuses)
    assert report.held_for_approval == len(statuses)

    holds = seeded.sql("SELECT po_id, severity FROM alerts WHERE kind = 'BUDGET_HOLD'").to_pylist()
    assert {h["po_id"] for h in holds} == {
        r["po_id"] for r in seeded.sql("SELECT po_id FROM purchase_orders WHERE sku <> ?", [OXY])
    }
    assert not seeded.sql(
        "SELECT 1 FROM alerts WHERE kind = 'BUDGET_HOLD' AND sku = ?", [OXY]
    ).to_pylist()

    approved = engine.approve(para["po_id"], actor="manager")
    assert approved["status"] == "PLACED"
    audit = last_audit(seeded)
    assert (audit["action"], audit["actor"]) == ("order.approve", "manager")
    assert json.loads(audit["details"]) == {"from": "PENDING_APPROVAL", "to": "PLACED"}
    with pytest.raises(InvalidTransitionError):
        engine.approve(para["po_id"], actor="manager")  # once only


def test_generous_budget_holds_nothing(seeded: WarehouseBackend) -> None:
    engine = SelfHealingEngine(seeded, budget=1e12)
    engine.drop_stock(ORG, PARA)
    report = engine.heal()
    assert report.held_for_approval == 0
    assert order_of(seeded, PARA)["status"] == "PLACED"


def test_held_order_covers_its_shortfall(seeded: WarehouseBackend) -> None:
    engine = SelfHealingEngine(seeded, budget=1.0)
    engine.drop_stock(ORG, PARA)
    engine.heal()
    held = order_of(seeded, PARA)
    again = engine.heal()
    assert again.created == 0
    assert order_of(seeded, PARA)["po_id"] == held["po_id"]
    engine.cancel(held["po_id"], actor="manager")
    assert engine.heal().created == 1  # the next episode is held again, once
    replacement = order_of(seeded, PARA)
    assert replacement["po_id"] != held["po_id"]
    assert replacement["status"] == "PENDING_APPROVAL"
