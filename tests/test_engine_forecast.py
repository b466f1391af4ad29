"""engine.forecast and ``resq forecast``: demand learned from stock_history, written to
demand_forecast, and used by stock_analysis (demand_basis) on every backend."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import resq
from resq.backends.warehouse import WarehouseBackend
from resq.cli import app
from resq.core import demand

ORG, SKU = "HOSP-BLR-001", "OXY-CYL"


def _analysis(backend: WarehouseBackend) -> dict[tuple[str, str], dict[str, Any]]:
    backend.refresh_analysis(force=True)
    return {(r["org_id"], r["sku"]): r for r in backend.read("stock_analysis").to_pylist()}


def _history(org: str, sku: str, values: list[float], outs: list[bool] | None = None) -> list[dict]:
    start = date(2030, 1, 1)
    outs = outs or [False] * len(values)
    return [
        {
            "org_id": org,
            "sku": sku,
            "day": start + timedelta(days=i),
            "consumption": v,
            "stock": 0.0 if o else 100.0,
            "stockout": o,
        }
        for i, (v, o) in enumerate(zip(values, outs, strict=True))
    ]


def test_forecast_writes_one_row_per_item_and_the_analysis_uses_it(
    seeded: WarehouseBackend,
) -> None:
    engine = resq.SelfHealingEngine(seeded)
    before = _analysis(seeded)
    assert {r["demand_basis"] for r in before.values()} == {"DAILY_CONSUMPTION"}

    table = engine.forecast()

    rows = {(r["org_id"], r["sku"]): r for r in table.to_pylist()}
    assert set(rows) == set(before)  # one per inventory item
    stored = seeded.read("demand_forecast").to_pylist()
    assert len(stored) == len(rows)
    after = _analysis(seeded)
    for key, row in rows.items():
        assert row["method"] in {"SES", "CROSTON_SBA", "TSB"}, row
        assert row["data_source"] == "SIMULATED"  # the seeded history is simulated
        a = after[key]
        assert a["demand_basis"] == "FORECAST"
        assert a["forecast_daily_demand"] == row["forecast_daily_demand"]
        assert a["data_source"] == "SIMULATED"
        # the multipliers apply to the forecast as they did to the typed consumption
        ratio = before[key]["effective_consumption"] / before[key]["daily_consumption"]
        assert a["effective_consumption"] == pytest.approx(row["forecast_daily_demand"] * ratio)
    # rerunning replaces, never duplicates
    engine.forecast()
    assert seeded.sql("SELECT COUNT(*) FROM demand_forecast").scalar() == len(rows)
    actions = [r["action"] for r in seeded.read("audit_log").to_pylist()]
    assert actions.count("demand.forecast") == 2


def test_the_stored_forecast_is_the_cores_on_the_same_history(seeded: WarehouseBackend) -> None:
    engine = resq.SelfHealingEngine(seeded)
    table = engine.forecast().to_pylist()
    history = seeded.read("stock_history", order_by=("org_id", "sku", "day")).to_pylist()
    for row in table[:4]:
        mine = [h for h in history if (h["org_id"], h["sku"]) == (row["org_id"], row["sku"])]
        y = np.array([h["consumption"] for h in mine])
        out = np.array([h["stockout"] for h in mine])
        f = demand.forecast(y, out)
        assert row["method"] == f.method[0]
        assert row["forecast_daily_demand"] == pytest.approx(float(f.demand[0]), abs=1e-9)
        assert row["stockout_days"] == int(out.sum())
        assert row["adjusted_consumption"] == f.adjusted[0]


def test_too_little_history_keeps_daily_consumption_and_says_why(seeded: WarehouseBackend) -> None:
    seeded.sql("DELETE FROM stock_history WHERE org_id = ? AND sku = ?", [ORG, SKU])
    seeded.load("stock_history", _history(ORG, SKU, [3.0] * 10))
    resq.SelfHealingEngine(seeded).forecast()
    row = seeded.read("demand_forecast", where={"org_id": ORG, "sku": SKU}).to_pylist()[0]
    assert row["method"] is None and row["forecast_daily_demand"] is None
    assert "fewer than 14 days of history" in row["reason"]
    assert row["data_source"] == "REAL"  # this item's history was loaded, not simulated
    a = _analysis(seeded)[(ORG, SKU)]
    assert a["demand_basis"] == "DAILY_CONSUMPTION" and a["forecast_daily_demand"] is None


def test_real_history_gives_a_real_forecast(seeded: WarehouseBackend) -> None:
    seeded.sql("DELETE FROM stock_history WHERE org_id = ? AND sku = ?", [ORG, SKU])
    outs = [False] * 30
    outs[3] = outs[4] = True
    seeded.load("stock_history", _history(ORG, SKU, [5.0, 7.0] * 15, outs))
    resq.SelfHealingEngine(seeded).forecast(org_id=ORG)
    row = seeded.read("demand_forecast", where={"org_id": ORG, "sku": SKU}).to_pylist()[0]
    assert (row["method"], row["demand_class"], row["data_source"]) == ("SES", "SMOOTH", "REAL")
    assert row["stockout_days"] == 2 and row["history_days"] == 30
    consumed = 5.0 * 15 + 7.0 * 15  # C counts what the stock-out days consumed too
    assert row["consumed"] == consumed
    assert row["adjusted_consumption"] == math.ceil(consumed * 30 / 28)
    assert 0 < row["mase"] < 10


def test_a_dry_run_writes_nothing_and_a_scoped_run_only_its_org(
    seeded: WarehouseBackend,
) -> None:
    engine = resq.SelfHealingEngine(seeded)
    assert engine.forecast(dry_run=True).num_rows == 18
    assert seeded.sql("SELECT COUNT(*) FROM demand_forecast").scalar() == 0
    engine.forecast(org_id=ORG)
    orgs = {r["org_id"] for r in seeded.read("demand_forecast").to_pylist()}
    assert orgs == {ORG}


def test_resq_forecast_end_to_end(tmp_path: Path) -> None:
    db = f"duckdb:///{tmp_path}/f.duckdb"
    runner = CliRunner()
    env = {"RESQ_DB": None, "RESQ_ORG": None, "NO_COLOR": "1", "COLUMNS": "200"}
    for args in (["init"], ["seed"]):
        assert runner.invoke(app, ["--db", db, *args], env=env).exit_code == 0
    shown = runner.invoke(app, ["--db", db, "forecast"], env=env)
    assert shown.exit_code == 0, shown.stdout + shown.stderr
    assert "Demand forecasts" in shown.stdout and "SIMULATED" in shown.stdout
    doc = json.loads(runner.invoke(app, ["--db", db, "--json", "forecast"], env=env).stdout)
    assert doc["items"] == 18 and sum(doc["methods"].values()) == 18
    assert {"method", "demand_class", "mase", "data_source"} <= set(doc["forecasts"][0])
    status = json.loads(runner.invoke(app, ["--db", db, "--json", "status"], env=env).stdout)
    rows = status["items"] if isinstance(status, dict) and "items" in status else status
    assert "FORECAST" in json.dumps(rows)
