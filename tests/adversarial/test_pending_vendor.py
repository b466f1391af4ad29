"""An order waiting for a vendor is placed when one comes back: once, audited, explained.

With every vendor of an item offline, a heal cycle raises the order as PENDING_VENDOR (no
vendor). Each later cycle re-sources it with the rule of a new order: while none is online
it keeps waiting (its NO_VENDOR alert escalates); once one is, the same order gets that
vendor and the status a new order would, with an ``order.resourced`` audit event and its
reason updated. Never a second order for the shortfall.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import resq
from resq.alerting.escalation import Escalator
from resq.backends.warehouse import WarehouseBackend, utcnow
from resq.core.alerts import DEFAULT_POLICY
from resq.core.ordering import choose_vendors
from resq.engine import SelfHealingEngine

ORG, OXY, CITY = "HOSP-BLR-001", "OXY-CYL", "Bangalore"


def vendors_of(backend: WarehouseBackend) -> list[str]:
    rows = backend.sql(
        "SELECT DISTINCT vendor_id FROM vendor_catalog WHERE sku = ? AND city = ? "
        "ORDER BY vendor_id",
        [OXY, CITY],
    )
    return [r["vendor_id"] for r in rows]


def oxygen_orders(backend: WarehouseBackend) -> list[dict]:
    return backend.sql(
        "SELECT * FROM purchase_orders WHERE org_id = ? AND sku = ? ORDER BY created_at",
        [ORG, OXY],
    ).to_pylist()


def core_choice(backend: WarehouseBackend) -> str | None:
    """The vendor the core's rule picks for the oxygen item now."""
    (item,) = backend.sql(
        "SELECT i.preferred_vendor, i.category, o.sector FROM inventory_master AS i "
        "JOIN organizations AS o ON o.org_id = i.org_id WHERE i.org_id = ? AND i.sku = ?",
        [ORG, OXY],
    ).to_pylist()
    options = backend.run_file("vendor_options")
    choice = choose_vendors(
        [OXY],
        [CITY],
        [item["preferred_vendor"]],
        options,
        sector=[item["sector"]],
        category=[item["category"]],
        authorization=backend.run_file("vendor_authorization"),
    )
    return choice.vendor_id()[0].as_py()


def test_pending_order_is_placed_once_when_a_vendor_comes_back(seeded: WarehouseBackend) -> None:
    now = utcnow()
    engine = SelfHealingEngine(seeded, clock=lambda: now)
    engine.heal()
    vendors = vendors_of(seeded)
    assert len(vendors) >= 2
    for v in vendors:
        engine.vendor_offline(v)
    engine.drop_stock(ORG, OXY)
    first = engine.heal()
    (order,) = oxygen_orders(seeded)
    assert (order["status"], order["vendor"]) == ("PENDING_VENDOR", None)
    assert first.pending_vendor >= 1
    (no_vendor,) = seeded.sql(
        "SELECT * FROM alerts WHERE po_id = ? AND kind = 'NO_VENDOR'", [order["po_id"]]
    ).to_pylist()

    # still offline: still the one waiting order, and its alert escalates
    still = engine.heal()
    assert still.created == 0 and still.resourced == 0
    assert [o["status"] for o in oxygen_orders(seeded)] == ["PENDING_VENDOR"]
    escalated = Escalator(seeded, DEFAULT_POLICY).run(now=now + timedelta(minutes=16))
    assert no_vendor["alert_id"] in {e["alert_id"] for e in escalated.escalated}

    # a vendor is back: the same order is placed, once
    engine.vendor_online(vendors[-1])
    expected_vendor = core_choice(seeded)
    assert expected_vendor == vendors[-1]
    back = engine.heal(actor="night-shift")
    assert back.created == 0 and back.resourced == 1
    (placed,) = oxygen_orders(seeded)
    assert placed["po_id"] == order["po_id"]
    assert (placed["status"], placed["vendor"]) == ("PLACED", expected_vendor)
    assert placed["quantity"] == order["quantity"]
    assert placed["unit_price"] is not None and placed["unit_price"] > 0
    reason = json.loads(placed["reason"])
    assert reason["vendor"] == expected_vendor
    assert reason["resourced"]["from"] == "PENDING_VENDOR"
    assert reason["resourced"]["to"] == "PLACED"
    assert reason["resourced"]["cycle_id"] == back.cycle_id
    assert {r["vendor"] for r in reason["vendors_rejected"]} == set(vendors[:-1])
    (event,) = seeded.sql(
        "SELECT * FROM audit_log WHERE action = 'order.resourced' AND entity_id = ?",
        [order["po_id"]],
    ).to_pylist()
    assert event["actor"] == "night-shift" and event["org_id"] == ORG
    details = json.loads(event["details"])
    assert (details["from"], details["to"], details["vendor"]) == (
        "PENDING_VENDOR",
        "PLACED",
        expected_vendor,
    )
    resolved = seeded.sql(
        "SELECT state FROM alerts WHERE alert_id = ?", [no_vendor["alert_id"]]
    ).scalar()
    assert resolved == "RESOLVED"

    again = engine.heal()
    assert again.created == 0 and again.resourced == 0
    assert len(oxygen_orders(seeded)) == 1
    assert seeded.verify_audit().ok


# ---------------------------------------------------------------- DuckDB: races and sequences


@pytest.fixture(scope="module")
def pending_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A seeded DuckDB file whose oxygen order waits for a vendor (all of them offline)."""
    path = tmp_path_factory.mktemp("pending") / "template.duckdb"
    backend = resq.connect(f"duckdb:///{path}")
    backend.init()
    engine = SelfHealingEngine(backend)
    engine.seed()
    engine.heal()
    vendors = vendors_of(backend)
    for v in vendors:
        engine.vendor_offline(v)
    engine.drop_stock(ORG, OXY)
    engine.heal()
    assert [o["status"] for o in oxygen_orders(backend)] == ["PENDING_VENDOR"]
    backend.close()
    return path, vendors


def copy_of(template: Path, directory: Path) -> WarehouseBackend:
    path = directory / f"p-{time.monotonic_ns()}.duckdb"
    shutil.copy(template, path)
    return resq.connect(f"duckdb:///{path}")


def test_a_cancel_racing_the_resourcing_wins(
    pending_template: tuple[Path, list[str]], tmp_path: Path
) -> None:
    template, vendors = pending_template
    backend = copy_of(template, tmp_path)
    try:
        engine = SelfHealingEngine(backend)
        engine.vendor_online(vendors[0])
        (order,) = oxygen_orders(backend)
        done: list[str] = []

        def cancel_before_commit(step: str) -> None:
            if step == "committing" and not done:
                done.append(step)
                SelfHealingEngine(backend).cancel(order["po_id"], actor="alice")

        engine.on_step = cancel_before_commit
        report = engine.heal()
        assert report.resourced == 0
        assert oxygen_orders(backend)[0]["status"] == "CANCELLED"
        assert (
            backend.sql("SELECT COUNT(*) FROM audit_log WHERE action = 'order.resourced'").scalar()
            == 0
        )
        engine.on_step = None
        engine.heal()  # the shortfall is open again: one new order, with the vendor
        rows = oxygen_orders(backend)
        assert [r["status"] for r in rows] == ["CANCELLED", "PLACED"]
        assert rows[1]["vendor"] == vendors[0]
    finally:
        backend.close()


@pytest.mark.slow
@settings(max_examples=15)
@given(steps=st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=1, max_size=6))
def test_any_online_offline_sequence_keeps_one_order_placed_once(
    pending_template: tuple[Path, list[str]],
    tmp_path_factory: pytest.TempPathFactory,
    steps: list[list[bool]],
) -> None:
    """Each step sets which vendors are online, then heals. The oxygen shortfall keeps one
    order throughout; it waits (vendor NULL) exactly while no vendor is online, gets the
    core's vendor at the first cycle one is, and is re-sourced once."""
    template, vendors = pending_template
    backend = copy_of(template, tmp_path_factory.mktemp("seq"))
    try:
        engine = SelfHealingEngine(backend)
        placed_vendor = None
        for online in steps:
            for vendor, up in zip(vendors, online, strict=False):
                if up:
                    engine.vendor_online(vendor)
                else:
                    engine.vendor_offline(vendor)
            choice = core_choice(backend)
            report = engine.heal()
            (order,) = oxygen_orders(backend)
            if placed_vendor is None:
                if choice is None:
                    assert (order["status"], order["vendor"]) == ("PENDING_VENDOR", None)
                    assert report.resourced == 0
                else:
                    assert (order["status"], order["vendor"]) == ("PLACED", choice)
                    assert report.resourced == 1
                    placed_vendor = choice
            else:  # placed once: later outages do not touch it
                assert (order["status"], order["vendor"]) == ("PLACED", placed_vendor)
                assert report.resourced == 0
        resourced = backend.sql(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'order.resourced'"
        ).scalar()
        assert resourced == (0 if placed_vendor is None else 1)
        assert backend.verify_audit().ok
    finally:
        backend.close()


# ---------------------------------------------------------------- health


def test_health_shows_how_long_each_pending_order_has_waited(
    pending_template: tuple[Path, list[str]], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from resq.alerting import check_health
    from resq.cli import app

    template, _ = pending_template
    backend = copy_of(template, tmp_path)
    (order,) = oxygen_orders(backend)
    later = order["created_at"] + timedelta(hours=3, minutes=20)
    snap = check_health(backend, now=later)
    assert snap.pending_orders["waiting_for_vendor"] == 1
    assert snap.pending_orders["oldest_wait_s"] == pytest.approx(12000.0)
    assert snap.pending_orders["orders"] == [
        {"po_id": order["po_id"], "org_id": ORG, "sku": OXY, "waited_s": pytest.approx(12000.0)}
    ]
    assert "1 order(s) waiting for a vendor" in snap.report.reasons
    assert (
        f"order {order['po_id']} ({OXY} at {ORG}) has waited 3 h 20 min for a vendor"
        in snap.report.reasons
    )
    assert snap.report.status.value in {"AMBER", "RED"}
    path = backend.path
    backend.close()
    env = {"RESQ_DB": None, "RESQ_ORG": None, "NO_COLOR": "1", "COLUMNS": "250"}
    result = CliRunner().invoke(app, ["--db", f"duckdb:///{path}", "--json", "health"], env=env)
    doc = json.loads(result.stdout)
    assert doc["pending_orders"]["waiting_for_vendor"] == 1
    assert doc["pending_orders"]["orders"][0]["po_id"] == order["po_id"]
    assert doc["pending_orders"]["oldest_wait_s"] > 0
    text = CliRunner().invoke(app, ["--db", f"duckdb:///{path}", "health"], env=env).stdout
    assert f"order {order['po_id']} ({OXY} at {ORG}) has waited" in text


def test_health_names_the_longest_waits_and_counts_the_rest() -> None:
    from resq.core.health import PENDING_SHOWN, HealthInputs, PendingOrder, assess

    waits = tuple(PendingOrder(f"PO-{i}", "ORG", "SKU", 3600.0 * (9 - i)) for i in range(9))
    report = assess(
        HealthInputs(
            vendors_online=1,
            vendors_total=1,
            analysis_age_s=1.0,
            last_cycle_age_s=1.0,
            pending_vendor_orders=12,
            pending_vendor_waits=waits,
        )
    )
    named = [r for r in report.reasons if r.startswith("order PO-")]
    assert named == [
        f"order PO-{i} (SKU at ORG) has waited {9 - i} h 0 min for a vendor"
        for i in range(PENDING_SHOWN)
    ]
    assert f"and {12 - PENDING_SHOWN} more order(s) waiting for a vendor" in report.reasons
    assert report.status.value == "AMBER"
