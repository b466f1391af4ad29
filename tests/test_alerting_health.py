"""Health monitoring (issue 6, health; seed-plan property 14): vendor API status over time,
stock_analysis freshness and refresh failures, time since the last cycle, the outbox; the
rule in resq.core.health, the readings from the warehouse, and `resq health`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import resq
from receivers import copy_db, seeded_template
from resq.alerting import check_health
from resq.backends.warehouse import WarehouseBackend, utcnow
from resq.cli import app
from resq.core.health import Health, HealthInputs, VendorHistory, assess
from resq.simulation import _VENDORS

ENV = {"RESQ_DB": None, "RESQ_ORG": None, "RESQ_CONFIG": None, "COLUMNS": "250"}


def healthy(**changes: object) -> HealthInputs:
    base: dict[str, object] = {
        "vendors_online": 2,
        "vendors_total": 2,
        "analysis_age_s": 10.0,
        "last_cycle_age_s": 10.0,
    }
    return HealthInputs(**{**base, **changes})  # type: ignore[arg-type]


# ---------------------------------------------------------------- the rule


def test_a_vendor_that_was_offline_recently_is_amber_even_if_online_now() -> None:
    history = (VendorHistory("Zepto", "ONLINE", 40, 37, 150.0),)
    report = assess(healthy(vendor_history=history))
    assert report.status == Health.AMBER
    assert report.reasons == ("vendor Zepto was offline in 3 of 40 checks in the last 24 h",)


def test_a_vendor_offline_now_is_counted_once() -> None:
    history = (VendorHistory("Dunzo", "OFFLINE", 40, 0, None),)
    report = assess(healthy(vendors_online=1, vendor_history=history))
    assert report.reasons == ("1 of 2 vendors offline",)


def test_a_slow_vendor_is_amber() -> None:
    history = (VendorHistory("Apollo", "ONLINE", 10, 10, 2500.0),)
    report = assess(healthy(vendor_history=history, window_s=6 * 3600))
    assert report.status == Health.AMBER
    assert report.reasons == (
        "vendor Apollo answers slowly: 2500 ms on average in the last 6 h (budget 2000 ms)",
    )
    assert assess(healthy(vendor_history=history, latency_budget_ms=3000)).status == Health.GREEN


def test_refresh_failures_in_the_window_are_amber() -> None:
    report = assess(healthy(refresh_failures_window=2, window_s=5400))
    assert report.reasons == ("2 stock_analysis refresh failure(s) in the last 90 min",)
    # Consecutive failures already say it; the window does not repeat it.
    both = assess(healthy(refresh_failures=1, refresh_failures_window=2))
    assert both.reasons == ("1 consecutive refresh failure(s)",)


def test_a_stuck_outbox_is_red() -> None:
    report = assess(healthy(outbox_backlog=3, outbox_oldest_s=3700.0))
    assert report.status == Health.RED
    assert report.reasons == (
        "the oldest undelivered notification has waited 3700 s (limit 3600 s)",
        "3 notification(s) waiting in the outbox",
    )
    assert assess(healthy(outbox_backlog=3, outbox_oldest_s=60.0)).status == Health.AMBER


# ---------------------------------------------------------------- the readings


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_template(tmp_path_factory.mktemp("alerting-health"))


@pytest.fixture
def db(template: Path, tmp_path: Path) -> str:
    return copy_db(template, tmp_path / "db.duckdb")


@pytest.fixture
def backend(db: str) -> Iterator[WarehouseBackend]:
    with resq.connect(db) as b:
        yield b


def test_vendor_status_over_time_from_the_log(backend: WarehouseBackend) -> None:
    engine = resq.SelfHealingEngine(backend)
    engine.vendor_offline("Blinkit", actor="chaos")
    engine.heal()  # logs Blinkit OFFLINE
    engine.vendor_online("Blinkit", 12, actor="chaos")
    engine.heal()  # and ONLINE again
    now = utcnow()
    backend.sql(
        "INSERT INTO vendor_status_log VALUES (?, 'Zepto', 'ONLINE', 9000, 'SIMULATED'), "
        "(?, 'Zepto', 'ONLINE', 9000, 'SIMULATED'), (?, 'Zepto', 'OFFLINE', NULL, 'SIMULATED')",
        [now, now, now - timedelta(days=3)],  # the last one is outside the window
    )
    snap = check_health(backend, now=now)
    vendors = {v["vendor_id"]: v for v in snap.vendors}
    blinkit = vendors["Blinkit"]
    assert blinkit["status"] == "ONLINE"
    assert blinkit["checks"] - blinkit["online_checks"] == 1
    assert 0 < blinkit["availability"] < 1
    checks = blinkit["checks"]
    assert f"vendor Blinkit was offline in 1 of {checks} checks in the last 24 h" in (
        snap.report.reasons
    )
    assert vendors["Dunzo"]["availability"] == 0 and vendors["Dunzo"]["status"] == "OFFLINE"
    zepto = vendors["Zepto"]
    assert zepto["checks"] == checks + 2  # the 3-day-old row is not counted
    assert zepto["max_latency_ms"] == 9000
    assert any(r.startswith("vendor Zepto answers slowly") for r in snap.report.reasons)
    assert snap.report.status == Health.AMBER
    # A narrower window forgets what happened before it.
    narrow = check_health(backend, now=now + timedelta(hours=2), window=timedelta(hours=1))
    assert {v["vendor_id"]: v["checks"] for v in narrow.vendors}["Blinkit"] == 0


def test_freshness_refresh_failures_cycles_and_outbox(backend: WarehouseBackend) -> None:
    now = utcnow()
    backend.sql(
        "INSERT INTO dt_refresh_history (name, refresh_start, refresh_end, rows, state, "
        "trigger, error) VALUES ('stock_analysis', ?, ?, NULL, 'FAILED', 'TARGET_LAG', "
        "'disk full')",
        [now - timedelta(minutes=5), now - timedelta(minutes=5)],
    )
    backend.sql(
        "INSERT INTO notifications (notification_id, delivery_key, alert_id, org_id, "
        "stakeholder, channel, tier, payload, state, attempts, created_at, next_attempt_at) "
        "VALUES ('N-x', 'k-x', 'AL-x', 'HOSP-BLR-001', 'ops', 'console', 0, '{}', 'PENDING', "
        "2, ?, ?)",
        [now - timedelta(hours=2), now + timedelta(minutes=1)],
    )
    later = now + timedelta(minutes=30)
    snap = check_health(backend, now=later, cycle_interval_s=60)
    reasons = snap.report.reasons
    assert snap.report.status == Health.RED
    assert "the oldest undelivered notification has waited 9000 s (limit 3600 s)" in reasons
    assert "1 stock_analysis refresh failure(s) in the last 24 h" in reasons
    assert any(r.startswith("stock_analysis is ") for r in reasons)  # 30 min old: stale
    assert any(r.startswith("last heal cycle ") for r in reasons)
    assert snap.analysis["last_error"] == "disk full"
    assert snap.analysis["failed_refreshes_in_window"] == 1
    assert snap.outbox == {
        "pending": 1,
        "due": 1,
        "retrying": 1,
        "failed": 0,
        "sent_window": snap.outbox["sent_window"],
        "oldest_pending_age_s": 9000.0,
    }
    assert snap.cycles["in_window"] >= 1 and snap.cycles["interval_s"] == 60


def test_engine_health_is_the_same_verdict(backend: WarehouseBackend) -> None:
    now = utcnow()
    engine = resq.SelfHealingEngine(backend)
    assert engine.health(now=now) == check_health(backend, now=now).report


# ---------------------------------------------------------------- the command


def test_resq_health_shows_vendors_pipeline_and_outbox(db: str) -> None:
    result = CliRunner().invoke(app, ["--db", db, "health"], env=ENV)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith("Health: AMBER")
    assert f"1 of {len(_VENDORS)} vendors offline" in out
    assert "Vendor APIs (last 24 h)" in out and "Dunzo" in out and "Online checks" in out
    assert "stock_analysis: refreshed" in out
    assert "heal cycles: last success" in out
    assert "outbox: 0 pending (0 due, 0 retrying), 0 failed" in out
    assert "SIMULATED" in out


def test_resq_health_json_and_exit_1_on_failed_deliveries(db: str) -> None:
    runner = CliRunner()
    doc = json.loads(runner.invoke(app, ["--db", db, "--json", "health"], env=ENV).stdout)
    assert {"status", "reasons", "vendors", "analysis", "cycles", "outbox"} <= set(doc)
    assert doc["window_s"] == 86400
    with resq.connect(db) as backend:
        backend.sql("UPDATE notifications SET state = 'FAILED'")
    red = runner.invoke(app, ["--db", db, "--json", "health", "--window", "1"], env=ENV)
    assert red.exit_code == 1
    doc = json.loads(red.stdout)
    assert doc["status"] == "RED" and doc["window_s"] == 3600
    assert doc["outbox"]["failed"] >= 1
    assert any("failed to deliver" in r for r in doc["reasons"])
    human = runner.invoke(app, ["--db", db, "health"], env=ENV)
    assert human.exit_code == 1 and "Health: RED" in human.stdout


def test_resq_health_judges_cycles_against_the_configured_interval(db: str, tmp_path: Path) -> None:
    cfg = tmp_path / "resq.toml"
    cfg.write_text('[watch]\ninterval = "10ms"\n', encoding="utf-8")
    doc = json.loads(
        CliRunner()
        .invoke(app, ["--db", db, "--json", "health", "--config", str(cfg)], env=ENV)
        .stdout
    )
    assert doc["cycles"]["interval_s"] == 0.01  # the template's last cycle is older than 3x
    assert any(r.startswith("last heal cycle") for r in doc["reasons"])
