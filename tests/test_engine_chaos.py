"""Chaos is audited as chaos (never as real data), refuses unknown targets without writing,
and the simulation checks pass on a fresh backend."""

from __future__ import annotations

import json

import pytest

from resq.backends.warehouse import WarehouseBackend
from resq.engine import SelfHealingEngine
from resq.errors import NotFoundError

ORG, OXY, PARA = "HOSP-BLR-001", "OXY-CYL", "PARA-500"  # paracetamol prefers Dunzo


def snapshot(backend: WarehouseBackend) -> dict[str, list[dict]]:
    return {
        "inventory": backend.sql(
            "SELECT org_id, sku, current_stock, demand_factor, data_source FROM inventory_master "
            "ORDER BY org_id, sku"
        ).to_pylist(),
        "vendor_status": backend.sql(
            "SELECT vendor_id, status, latency_ms, source FROM vendor_status ORDER BY vendor_id"
        ).to_pylist(),
        "weather": backend.sql("SELECT * FROM city_weather ORDER BY city").to_pylist(),
        "audit": backend.sql("SELECT * FROM audit_log ORDER BY seq").to_pylist(),
    }


def last_audit(backend: WarehouseBackend) -> dict:
    return backend.sql("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1").to_pylist()[0]


CHAOS = {
    "stock": (lambda e: e.drop_stock(ORG, OXY, actor="chaos-monkey"), ORG, OXY),
    "demand": (lambda e: e.spike_demand(ORG, OXY, 3.0, actor="chaos-monkey"), ORG, OXY),
    "vendor": (lambda e: e.vendor_offline("Blinkit", actor="chaos-monkey"), None, "Blinkit"),
    "weather": (lambda e: e.set_weather("Delhi", "Storm", actor="chaos-monkey"), None, "Delhi"),
}


@pytest.mark.parametrize("kind", sorted(CHAOS))
def test_chaos_is_audited_as_simulated_chaos(seeded: WarehouseBackend, kind: str) -> None:
    apply, org, entity = CHAOS[kind]
    event = apply(SelfHealingEngine(seeded))
    assert event.kind == kind
    audit = last_audit(seeded)
    assert audit["action"] == f"chaos.{kind}"
    assert audit["actor"] == "chaos-monkey"
    assert audit["org_id"] == org
    assert audit["entity_id"] == entity
    details = json.loads(audit["details"])
    assert details["data_source"] == "SIMULATED"
    assert "simulated" in details["description"].lower()
    assert seeded.verify_audit().ok


def test_chaos_labels_the_edited_data_simulated(seeded: WarehouseBackend) -> None:
    engine = SelfHealingEngine(seeded)
    seeded.load(
        "inventory_master",
        [
            {
                "org_id": "HOSP-DEL-001",
                "sku": "REAL-ITEM",
                "item_name": "A real item",
                "current_stock": 100.0,
                "daily_consumption": 1.0,
            }
        ],
    )
    engine.drop_stock("HOSP-DEL-001", "REAL-ITEM")
    row = seeded.sql(
        "SELECT current_stock, data_source FROM inventory_master WHERE sku = 'REAL-ITEM'"
    ).to_pylist()[0]
    assert row == {"current_stock": 0.0, "data_source": "SIMULATED"}
    engine.vendor_offline("Zepto")
    engine.set_weather("Delhi", "Flood")
    signals = seeded.sql(
        "SELECT source, data_source FROM vendor_status WHERE vendor_id = 'Zepto' "
        "UNION ALL SELECT source, data_source FROM city_weather WHERE city = 'Delhi'"
    ).to_pylist()
    assert signals == [{"source": "CHAOS", "data_source": "SIMULATED"}] * 2


@pytest.mark.parametrize(
    "apply",
    [
        lambda e: e.drop_stock("NO-SUCH-ORG", OXY),
        lambda e: e.drop_stock(ORG, "NO-SUCH-SKU"),
        lambda e: e.drop_stock("PDS-BLR-001", OXY),  # a real sku, but not at that org
        lambda e: e.spike_demand("NO-SUCH-ORG", OXY, 2.0),
        lambda e: e.spike_demand(ORG, "NO-SUCH-SKU", 2.0),
        lambda e: e.vendor_offline("NoSuchVendor"),
        lambda e: e.vendor_online("NoSuchVendor"),
        lambda e: e.vendor_offline("x'); DROP TABLE vendors;--"),
    ],
    ids=[
        "stock-org",
        "stock-sku",
        "stock-pair",
        "demand-org",
        "demand-sku",
        "offline",
        "online",
        "hostile",
    ],
)
def test_chaos_on_an_unknown_target_raises_and_writes_nothing(
    seeded: WarehouseBackend, apply
) -> None:
    before = snapshot(seeded)
    with pytest.raises(NotFoundError):
        apply(SelfHealingEngine(seeded))
    assert snapshot(seeded) == before
    assert seeded.verify_audit().ok


@pytest.mark.parametrize(
    "apply",
    [
        lambda e: e.drop_stock(ORG, OXY, to=-1),
        lambda e: e.drop_stock(ORG, OXY, to=float("nan")),
        lambda e: e.spike_demand(ORG, OXY, 0),
        lambda e: e.set_weather("Delhi", "Volcano"),
    ],
    ids=["negative-stock", "nan-stock", "zero-factor", "unknown-weather"],
)
def test_invalid_chaos_values_raise_and_write_nothing(seeded: WarehouseBackend, apply) -> None:
    before = snapshot(seeded)
    with pytest.raises(ValueError):
        apply(SelfHealingEngine(seeded))
    assert snapshot(seeded) == before


def test_vendor_offline_then_online_changes_the_choice(seeded: WarehouseBackend) -> None:
    engine = SelfHealingEngine(seeded)
    engine.heal()
    engine.vendor_offline("Blinkit")
    engine.drop_stock(ORG, PARA)
    (order,) = [o for o in engine.heal(dry_run=True).orders if o["sku"] == PARA]
    assert order["vendor"] not in {"Blinkit", "Dunzo", None}
    engine.vendor_online("Blinkit", latency_ms=12)
    (order,) = [o for o in engine.heal(dry_run=True).orders if o["sku"] == PARA]
    assert order["vendor"] == "Blinkit"
    engine.vendor_online("Dunzo", latency_ms=500)  # the preferred vendor is back: it wins
    (order,) = [o for o in engine.heal(dry_run=True).orders if o["sku"] == PARA]
    assert order["vendor"] == "Dunzo"


def test_chaos_survives_a_signal_refresh(seeded: WarehouseBackend) -> None:
    """A cycle re-reads the simulated signals but keeps what chaos set."""
    engine = SelfHealingEngine(seeded)
    engine.vendor_online("Dunzo", latency_ms=5)
    engine.set_weather("Bangalore", "Flood")
    engine.heal()
    status = seeded.sql("SELECT status FROM vendor_status WHERE vendor_id = 'Dunzo'").scalar()
    weather = seeded.sql("SELECT condition FROM city_weather WHERE city = 'Bangalore'").scalar()
    assert (status, weather) == ("ONLINE", "Flood")


# ---------------------------------------------------------------- validate


@pytest.mark.notimpl(
    ["snowflake"], reason="validate calls the Python UDFs, which the fakesnow tier cannot run"
)
def test_validate_passes_four_checks_on_a_fresh_backend(backend: WarehouseBackend) -> None:
    checks = SelfHealingEngine(backend).validate()
    assert [c.as_dict()["result"] for c in checks] == ["PASS"] * 4
    assert [(c.name, c.actual) for c in checks] == [
        ("GET_WEATHER_DATA('Bangalore')", "Rain"),
        ("GET_WEATHER_DATA('Delhi')", "Haze"),
        ("GET_VENDOR_STATUS('Blinkit')", "ONLINE 12 ms"),
        ("GET_VENDOR_STATUS('Dunzo')", "OFFLINE"),
    ]
    assert all(c.data_source == "SIMULATED" for c in checks)


@pytest.mark.notimpl(
    ["snowflake"], reason="validate calls the Python UDFs, which the fakesnow tier cannot run"
)
def test_validate_reads_the_simulation_not_chaos(seeded: WarehouseBackend) -> None:
    """The checks call the SQL functions, so chaos on the tables does not fail them."""
    engine = SelfHealingEngine(seeded)
    engine.vendor_offline("Blinkit")
    assert all(c.passed for c in engine.validate())
