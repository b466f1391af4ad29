"""The benchmark scripts run at a small size and check their own answers (the figures
they print are not asserted: these machines are noisy)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_core_throughput_columnar_and_loop_agree() -> None:
    proc = run("core_throughput.py", "--items", "4000", "--loop-sample", "1000", "--target", "0")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # exits 1 on any disagreement
    assert "disagreement" not in proc.stdout
    assert "the arithmetic alone" in proc.stdout


def test_heal_cycle_heals_once_and_the_idle_cycle_creates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    proc = run("heal_cycle.py", "--orgs", "12", "--skus", "20", "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figures = json.loads(out.read_text())
    heal = figures["heal"]
    assert heal["first_created"] > 0
    assert heal["orders"] == heal["first_created"]
    assert heal["second_created"] == 0
    assert heal["second_covered"] == heal["first_created"]
    assert heal["audit_ok"] is True
    assert 0 <= heal["planning_s"] <= heal["first_s"]
    assert 0 <= figures["planning_share"] <= 1
    assert figures["baseline"]["orders"] > 0
    # the same-writes floor wrote the first cycle's rows, all of them
    floor = figures["floor"]
    assert floor["rows"] == {
        "analysis": figures["load"]["inventory_rows"],
        "orders": heal["first_created"],
        "alerts": heal["first_alerts"],
        "notifications": heal["first_notifications"],
        "audit": floor["rows"]["audit"],
    }
    assert floor["rows"]["audit"] >= 2  # heal.cycle and at least one heal.actions
    assert floor["floor_s"] > 0 and figures["floor_ratio"] > 0
    assert 0 < figures["peak_rss_mb"] < 100_000


@pytest.mark.slow
def test_cli_latency_measures_every_command_against_the_floor(tmp_path: Path) -> None:
    out = tmp_path / "latency.json"
    proc = run("cli_latency.py", "--runs", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for command in (
        "resq --help",
        "resq status",
        "resq orders",
        "resq alerts",
        "resq heal",
        "resq demo (new file)",
    ):
        assert command in proc.stdout
    assert "floor: python -c 'import duckdb, pyarrow'" in proc.stdout
    figures = json.loads(out.read_text())
    assert figures["floor_s"] > 0
    assert len(figures["commands"]) == 6
    for row in figures["commands"]:
        assert row["median_s"] > 0 and row["ratio"] > 0
        assert row["target"].startswith("<= ")


def test_replay_agrees_with_stockpyl_and_measures_both(tmp_path: Path) -> None:
    out = tmp_path / "replay.json"
    proc = run(
        "replay.py", "--items", "2000", "--days", "40", "--sample", "3", "--resq-days", "5",
        "--target", "0", "--json", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr  # exits 1 on any disagreement
    figures = json.loads(out.read_text())
    assert figures["disagreements"] == 0
    assert figures["items"] == 2000 and figures["orders"] > 0
    assert figures["ratio_per_sku_day"] > 0 and figures["resq_cost_vs_s_S"] > 0
    assert "SKU-days/s" in proc.stdout


@pytest.mark.slow
def test_listing_prints_every_row_once_and_the_exact_count_left_out(tmp_path: Path) -> None:
    out = tmp_path / "listing.json"
    proc = run(
        "listing.py",
        "--items", "3000", "--orders", "700", "--alerts", "600", "--factor", "3",
        "--dir", str(tmp_path), "--json", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr  # exits 1 on a wrong row count
    figures = json.loads(out.read_text())
    assert figures["failures"] == []
    assert len(figures["figures"]) == 18  # 3 commands x 3 ways x 2 sizes
    streamed = {
        (f["command"], f["size"]): f["rows"] for f in figures["figures"] if "--all" in f["command"]
    }
    assert streamed[("resq status --all --jsonl", "large")] == 3000
    assert streamed[("resq orders --all --jsonl", "small")] == 700 // 3
    for f in figures["figures"]:
        assert f["wall_s"] > 0 and 0 < f["peak_mb"] < 100_000
    assert "MB vs small" in proc.stdout


def test_seeding_writes_the_whole_network_and_reports_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "seeding.json"
    proc = run("seeding.py", "--orgs", "6", "--skus", "4", "--days", "3", "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr  # exits 1 on a wrong answer
    assert "answer check  OK" in proc.stdout
    assert "peak memory" in proc.stdout and "VmHWM" in proc.stdout
    figures = json.loads(out.read_text())
    assert figures["rows"]["stock_history"] == 6 * 4 * 3
    assert figures["rows"]["inventory_master"] == 24
    assert figures["problems"] == []
    assert figures["seconds"] > 0 and figures["cpu_s"] > 0
    assert 0 < figures["peak_mb"] < 100_000


def test_forecast_agrees_with_statsforecast_on_its_sample() -> None:
    proc = run(
        "forecast.py", "--items", "2000", "--chunk", "1000", "--loop-sample", "200", "--target", "0"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr  # exits 1 on any disagreement
    assert "disagreement" not in proc.stdout
    assert "agreement on the sample: 200 of 200" in proc.stdout
    assert "items/s" in proc.stdout


def test_heal_cycle_steady_state_and_its_same_writes_floor(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    proc = run(
        "heal_cycle.py", "--orgs", "12", "--skus", "20", "--changed", "0.1", "--json", str(out)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figures = json.loads(out.read_text())
    heal = figures["heal"]
    assert heal["changed_rows"] == 24 and heal["steady_refresh_action"] == "INCREMENTAL"
    assert heal["steady_recomputed"] == heal["changed_rows"]
    assert heal["orders"] == heal["first_created"] + heal["steady_created"]
    assert heal["audit_ok"] is True
    # the steady floor recomputed the changed items and wrote the steady cycle's rows
    steady = figures["floor"]["steady"]
    assert steady["rows"] == {
        "analysis": heal["changed_rows"],
        "orders": heal["steady_created"],
        "alerts": heal["steady_alerts"],
        "notifications": heal["steady_notifications"],
        "audit": steady["rows"]["audit"],
    }
    assert steady["rows"]["audit"] >= (2 if heal["steady_created"] else 0)
    assert steady["floor_s"] > 0 and figures["steady_floor_ratio"] > 0
    assert "ratio steady cycle / steady floor" in proc.stdout
