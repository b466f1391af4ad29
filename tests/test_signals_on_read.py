"""Every read shows current signals (issue 14, item 4): right after a load, the analysis
already uses the city's weather, and `resq status` says how old the signals are."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import resq
from resq.cli import app


def _load_delhi_hospital(url: str, tmp_path: Path) -> None:
    orgs = tmp_path / "orgs.csv"
    orgs.write_text("org_id,org_name,sector,city\nHOSP-X-001,X General,HOSPITAL,Delhi\n")
    inventory = tmp_path / "inventory.csv"
    inventory.write_text(
        "org_id,sku,item_name,category,current_stock,daily_consumption,unit,lead_time_days\n"
        "HOSP-X-001,OXY-CYL,Oxygen,OXYGEN,35,10,cylinder,2\n"
    )
    backend = resq.connect(url)
    try:
        backend.init()
        backend.load("organizations", orgs)
        backend.load("inventory", inventory)
    finally:
        backend.close()


def test_the_first_read_after_a_load_uses_the_citys_weather(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'signals.duckdb'}"
    _load_delhi_hospital(url, tmp_path)
    backend = resq.connect(url)
    try:
        (row,) = backend.read("stock_analysis").to_pylist()
        (weather,) = backend.read("city_weather").to_pylist()
        signals = backend.signals_as_of()
    finally:
        backend.close()
    assert weather["city"] == "Delhi" and weather["condition"] == "Haze"
    # 35 cylinders at 10 a day is 3.5 days (WARNING) in clear air; haze raises
    # respiratory demand, which makes it CRITICAL before any heal has run.
    assert row["status"] == "CRITICAL", row
    assert signals["weather_at"] is not None


def test_status_says_how_old_the_signals_are(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'signals.duckdb'}"
    _load_delhi_hospital(url, tmp_path)
    runner = CliRunner()
    text = runner.invoke(app, ["--db", url, "status"], env={"RESQ_DB": None, "COLUMNS": "200"})
    assert text.exit_code == 0, text.output
    assert "Signals: weather 20" in text.stdout and " UTC" in text.stdout
    doc = json.loads(
        runner.invoke(app, ["--db", url, "--json", "status"], env={"RESQ_DB": None}).stdout
    )
    assert doc["signals"]["weather_at"].endswith("+00:00")
    assert doc["signals"]["vendor_status_at"] is None  # no vendors loaded: said, not hidden
