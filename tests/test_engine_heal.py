"""The heal cycle end to end on the seeded demo network (DESIGN.md, "The heal cycle").

The seeded network's first organization is HOSP-BLR-001 in Bangalore; its first item is
OXY-CYL, which only licensed medical-gas suppliers may supply, so the chaos button (drop
the oxygen to 0) must be healed by exactly one order from MedGas Oxygen (OxyCare Supply is
slower). Its paracetamol (PARA-500) prefers Dunzo, OFFLINE in the simulation: it falls back
to Blinkit.
"""

from __future__ import annotations

import json

from resq.backends.warehouse import WarehouseBackend
from resq.engine import SelfHealingEngine

ORG, OXY = "HOSP-BLR-001", "OXY-CYL"
ALL_VENDORS = (
    "Blinkit",
    "Dunzo",
    "Zepto",
    "Apollo Supply",
    "MedGas Oxygen",
    "OxyCare Supply",
    "Civil Supplies Depot",
    "FCI Depot",
)


def count(backend: WarehouseBackend, table: str, where: str = "TRUE") -> int:
    return int(backend.sql(f"SELECT COUNT(*) FROM {table} WHERE {where}").scalar())


def counts(backend: WarehouseBackend) -> dict[str, int]:
    return {
        t: count(backend, t) for t in ("purchase_orders", "alerts", "audit_log", "notifications")
    }


def orders_for(backend: WarehouseBackend, org: str, sku: str) -> list[dict]:
    return backend.sql(
        "SELECT * FROM purchase_orders WHERE org_id = ? AND sku = ? ORDER BY created_at",
        [org, sku],
    ).to_pylist()


def healed(backend: WarehouseBackend) -> SelfHealingEngine:
    """An engine after a first cycle has ordered everything already short in the seed,
    so later cycles only react to what a test changes."""
    engine = SelfHealingEngine(backend)
    engine.heal()
    return engine


# ---------------------------------------------------------------- the chaos button


def test_chaos_on_oxygen_heals_with_one_licensed_supplier_order(seeded: WarehouseBackend) -> None:
    engine = healed(seeded)
    engine.drop_stock(ORG, OXY, actor="alice")
    report = engine.heal(actor="ops-bot")

    oxy = orders_for(seeded, ORG, OXY)
    assert len(oxy) == 1
    order = oxy[0]
    assert report.created == 1
    assert [o["po_id"] for o in report.orders] == [order["po_id"]]
    assert order["vendor"] == "MedGas Oxygen"
    assert order["status"] == "PLACED"
    assert order["quantity"] > 0 and order["quantity"] == int(order["quantity"])  # cylinders
    assert order["priority"] == 1
    assert order["data_source"] == "SIMULATED"  # derived from simulated inputs

    reason = json.loads(order["reason"])
    assert reason["days_remaining"] == 0
    assert reason["threshold_days"] == 3
    assert reason["vendor"] == "MedGas Oxygen"
    rejected = {r["vendor"]: r["why"] for r in reason["vendors_rejected"]}
    assert rejected == {"OxyCare Supply": "slower than the chosen vendor"}
    # the quantity covers target + lead time of demand, in whole cylinders
    assert order["quantity"] >= reason["quantity_needed"] > order["quantity"] - 1
    assert reason["min_order_qty"] == 10 and reason["pack_size"] == 1


def test_chaos_on_a_quick_commerce_item_falls_back_from_dunzo_to_blinkit(
    seeded: WarehouseBackend,
) -> None:
    engine = healed(seeded)
    engine.drop_stock(ORG, "PARA-500")
    engine.heal()
    (order,) = orders_for(seeded, ORG, "PARA-500")
    assert (order["vendor"], order["status"]) == ("Blinkit", "PLACED")
    rejected = {r["vendor"]: r["why"] for r in json.loads(order["reason"])["vendors_rejected"]}
    assert rejected == {
        "Dunzo": "OFFLINE",  # the preferred vendor
        "Zepto": "dearer than the chosen vendor",
        "Apollo Supply": "slower than the chosen vendor",
    }


def test_chaos_heal_raises_sev1_alert_outbox_and_audit(seeded: WarehouseBackend) -> None:
    engine = healed(seeded)
    seq_before = count(seeded, "audit_log")
    engine.drop_stock(ORG, OXY, actor="alice")
    report = engine.heal(actor="ops-bot")
    po_id = orders_for(seeded, ORG, OXY)[0]["po_id"]

    alerts = seeded.sql("SELECT * FROM alerts WHERE org_id = ? AND sku = ?", [ORG, OXY]).to_pylist()
    assert [(a["kind"], a["severity"], a["state"]) for a in alerts] == [
        ("CRITICAL_STOCK", "SEV1", "OPEN")
    ]
    assert alerts[0]["po_id"] == po_id
    assert alerts[0]["data_source"] == "SIMULATED"
    assert report.alerts_raised == 1

    outbox = seeded.sql(
        "SELECT * FROM notifications WHERE alert_id = ?", [alerts[0]["alert_id"]]
    ).to_pylist()
    assert outbox and all(n["state"] == "PENDING" for n in outbox)
    assert report.notifications_queued == len(outbox)
    # a digest per stakeholder and channel; this cycle's one alert is its first and only
    payload = json.loads(outbox[0]["payload"])
    assert payload["kind"] == "DIGEST" and payload["count"] == 1
    assert payload["severity"] == "SEV1" and payload["alerts"][0]["po_id"] == po_id

    audit = seeded.sql(
        "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq", [seq_before]
    ).to_pylist()
    actions = [(a["action"], a["actor"], a["entity_id"]) for a in audit]
    assert actions[0] == ("chaos.stock", "alice", OXY)
    # one heal.actions event per organization counts the cycle's orders and alerts there
    # and holds their digests (verify recomputes them from the tables)
    assert actions[1:] == [
        ("heal.actions", "ops-bot", report.cycle_id),
        ("heal.cycle", "ops-bot", report.cycle_id),
    ]
    acted = json.loads(audit[1]["details"])
    assert audit[1]["org_id"] == ORG
    assert (acted["orders"], acted["alerts"], acted["content"]) == (1, 1, "c1")
    assert len(acted["orders_sha256"]) == len(acted["alerts_sha256"]) == 64
    assert json.loads(audit[-1]["details"])["created"] == 1
    assert seeded.verify_audit().ok


def test_default_actor_is_the_engine(seeded: WarehouseBackend) -> None:
    engine = SelfHealingEngine(seeded, actor="night-shift")
    engine.heal()
    actors = seeded.sql(
        "SELECT DISTINCT actor FROM audit_log WHERE action IN ('heal.actions', 'heal.cycle')"
    ).to_pylist()
    assert actors == [{"actor": "night-shift"}]


def test_cycle_is_recorded_in_heal_cycles(seeded: WarehouseBackend) -> None:
    report = SelfHealingEngine(seeded).heal()
    rows = seeded.read("heal_cycles").to_pylist()
    assert len(rows) == 1
    assert rows[0]["cycle_id"] == report.cycle_id
    assert rows[0]["state"] == "SUCCEEDED"
    assert rows[0]["created"] == report.created == count(seeded, "purchase_orders") > 0


def test_heal_of_one_org_touches_only_that_org(seeded: WarehouseBackend) -> None:
    engine = SelfHealingEngine(seeded)
    engine.drop_stock(ORG, OXY)
    engine.drop_stock("HOSP-DEL-001", OXY)
    report = engine.heal(org_id=ORG)
    orgs = {r["org_id"] for r in seeded.sql("SELECT org_id FROM purchase_orders")}
    assert orgs == {ORG}
    assert report.created == count(seeded, "purchase_orders") >= 1
    assert engine.heal().created >= 1
    assert len(orders_for(seeded, "HOSP-DEL-001", OXY)) == 1


# ---------------------------------------------------------------- dry run


def test_dry_run_writes_nothing_and_proposes_the_same(seeded: WarehouseBackend) -> None:
    engine = healed(seeded)
    engine.drop_stock(ORG, OXY)
    engine.drop_stock(ORG, "PARA-500")
    before = counts(seeded)

    dry = engine.heal(dry_run=True)
    assert counts(seeded) == before
    assert dry.dry_run and dry.created == 0
    assert engine.heal(dry_run=True).orders == dry.orders  # still nothing written

    real = engine.heal()
    keys = ("po_id", "org_id", "sku", "vendor", "quantity")
    assert sorted(tuple(o[k] for k in keys) for o in dry.orders) == sorted(
        tuple(o[k] for k in keys) for o in real.orders
    )
    assert {(o["org_id"], o["sku"]) for o in dry.orders} == {(ORG, OXY), (ORG, "PARA-500")}
    assert real.created == len(dry.orders) == 2
    keys = ("po_id", "status", "quantity")
    assert [[o[k] for k in keys] for o in dry.orders] == [[o[k] for k in keys] for o in real.orders]


# ---------------------------------------------------------------- no vendor online


def test_all_vendors_offline_keeps_order_pending_and_escalates(
    seeded: WarehouseBackend,
) -> None:
    engine = healed(seeded)
    for vendor in ALL_VENDORS:
        engine.vendor_offline(vendor)
    engine.drop_stock(ORG, OXY)
    engine.drop_stock(ORG, "PARA-500")
    report = engine.heal()

    assert report.created == 2
    assert report.pending_vendor == 2
    for sku in (OXY, "PARA-500"):
        (order,) = orders_for(seeded, ORG, sku)  # kept, never dropped
        assert order["status"] == "PENDING_VENDOR"
        assert order["vendor"] is None
        assert order["quantity"] > 0
        reason = json.loads(order["reason"])
        assert reason["vendor"] is None
        assert {r["why"] for r in reason["vendors_rejected"]} == {"OFFLINE"}

    severities = {
        (a["sku"], a["kind"]): a["severity"]
        for a in seeded.sql("SELECT * FROM alerts WHERE org_id = ?", [ORG])
    }
    # NO_VENDOR is one severity more urgent than the stock alert (SEV1 is the ceiling)
    assert severities[("PARA-500", "CRITICAL_STOCK")] == "SEV2"
    assert severities[("PARA-500", "NO_VENDOR")] == "SEV1"
    assert severities[(OXY, "CRITICAL_STOCK")] == "SEV1"
    assert severities[(OXY, "NO_VENDOR")] == "SEV1"
    health = engine.health()
    assert health.status == "RED"
    assert "no vendor is online" in health.reasons
    assert "2 order(s) waiting for a vendor" in health.reasons


def test_vendor_back_online_places_the_pending_order_without_a_duplicate(
    seeded: WarehouseBackend,
) -> None:
    """Documented behaviour: when a vendor comes back, the next cycle re-sources the
    PENDING_VENDOR order (the same order gets the vendor and is PLACED); a cycle never adds
    a second order for it. Cancelling it then gives exactly one new order, with the vendor."""
    engine = healed(seeded)
    for vendor in ALL_VENDORS:
        engine.vendor_offline(vendor)
    engine.drop_stock(ORG, OXY)
    engine.heal()
    (pending,) = orders_for(seeded, ORG, OXY)
    assert pending["status"] == "PENDING_VENDOR"

    engine.vendor_online("MedGas Oxygen")
    again = engine.heal()
    assert again.created == 0
    assert again.covered >= 1
    assert again.resourced == 1
    assert [o["po_id"] for o in orders_for(seeded, ORG, OXY)] == [pending["po_id"]]
    resourced = orders_for(seeded, ORG, OXY)[0]
    assert (resourced["status"], resourced["vendor"]) == ("PLACED", "MedGas Oxygen")
    assert resourced["quantity"] == pending["quantity"]  # the shortfall's quantity is kept

    engine.cancel(pending["po_id"], actor="alice")
    (fresh,) = [o for o in engine.heal(dry_run=True).orders if o["sku"] == OXY]
    replaced = engine.heal()
    assert replaced.created == 1
    orders = orders_for(seeded, ORG, OXY)
    assert [o["status"] for o in orders] == ["CANCELLED", "PLACED"]
    assert orders[1]["vendor"] == "MedGas Oxygen"
    # sized afresh: with the supplier's lead time, not the pending order's fallback lead time
    assert orders[1]["quantity"] == fresh["quantity"]


# ---------------------------------------------------------------- weather and demand


def test_weather_flood_raises_ngo_threshold_to_five_days(seeded: WarehouseBackend) -> None:
    engine = SelfHealingEngine(seeded)

    def ngo_thresholds(city: str) -> set[float]:
        rows = seeded.sql(
            "SELECT critical_days FROM stock_analysis WHERE sector = 'NGO' AND city = ?", [city]
        )
        return {r["critical_days"] for r in rows}

    engine.set_weather("Bangalore", "Clear")
    assert ngo_thresholds("Bangalore") == {3.0}
    engine.set_weather("Bangalore", "Flood")
    assert ngo_thresholds("Bangalore") == {5.0}
    assert ngo_thresholds("Delhi") == {3.0}  # Haze is not adverse for NGOs
    hospital = seeded.sql(
        "SELECT DISTINCT critical_days FROM stock_analysis WHERE sector = 'HOSPITAL'"
    ).to_pylist()
    assert hospital == [{"critical_days": 3.0}]


def test_spike_demand_creates_an_order(seeded: WarehouseBackend) -> None:
    engine = healed(seeded)
    days = seeded.sql(
        "SELECT days_remaining FROM stock_analysis WHERE org_id = ? AND sku = ?", [ORG, OXY]
    ).scalar()
    assert days > 3
    engine.spike_demand(ORG, OXY, days / 2.0)  # leaves two days of stock
    report = engine.heal()
    assert report.created == 1
    assert orders_for(seeded, ORG, OXY)[0]["vendor"] == "MedGas Oxygen"


def test_sql_candidates_are_the_rows_core_says_need_a_decision(seeded: WarehouseBackend) -> None:
    """sql/candidates.sql selects in the warehouse exactly what resq.core.needs_decision
    selects from the analysed rows (no open orders yet, so none is covered)."""
    from datetime import datetime

    from resq.core import needs_decision

    engine = SelfHealingEngine(seeded)
    engine.drop_stock(ORG, OXY)
    engine.set_weather("Bangalore", "Flood")
    analysis = engine.analyse()
    mask = needs_decision(
        analysis["status"],
        analysis["days_remaining"],
        analysis["lead_time_days"],
        analysis["weather_delay_days"],
        analysis["critical_days"],
    )
    expected = {
        (r["org_id"], r["sku"]) for r, keep in zip(analysis.to_pylist(), mask, strict=True) if keep
    }
    month_start = datetime(2026, 1, 1)
    got = seeded.run_file("candidates", [None, None, month_start]).to_pylist()
    assert {(r["org_id"], r["sku"]) for r in got} == expected
    assert (ORG, OXY) in expected
