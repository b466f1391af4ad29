"""``resq replay`` end to end through the typer app: tables per sector, one JSON document,
chaos files, and clear errors that change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from resq import replay as rp
from resq.cli import app

ENV = {"RESQ_DB": None, "RESQ_ORG": None, "RESQ_ACTOR": None, "NO_COLOR": None, "COLUMNS": "250"}
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), env=ENV)


def test_tables_per_sector_for_each_policy():
    result = invoke("replay", "--days", "20", "-p", "resq", "-p", "seed-rule")
    assert result.exit_code == 0, result.stdout + result.stderr
    out = result.stdout
    for title in ("HOSPITAL (6 items)", "PDS (6 items)", "NGO (6 items)", "All sectors"):
        assert title in out
    assert out.count("seed-rule") == 4 and "Fill rate" in out
    assert "SIMULATED" in out


def test_json_is_the_library_summary(tmp_path: Path):
    chaos = tmp_path / "chaos.json"
    chaos.write_text(json.dumps({"vendor_offline": [{"vendor": "Blinkit", "from": 1, "to": 5}]}))
    result = invoke("--json", "replay", "--days", "15", "-p", "resq", "--chaos", str(chaos))
    assert result.exit_code == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    expected = rp.replay(
        rp.simulated_network(), ["resq"], 15, chaos=rp.ChaosSchedule.load(chaos)
    ).as_dict()
    assert doc["by_sector"] == json.loads(json.dumps(expected["by_sector"]))
    assert doc["chaos"]["vendor_offline"] == [{"vendor": "Blinkit", "from": 1, "to": 5}]
    assert doc["network"] == "simulated" and doc["items"] == 18


def test_from_db_replays_the_network_in_the_database(tmp_path: Path):
    db = f"duckdb:///{tmp_path / 'r.duckdb'}"
    for step in (["init"], ["seed", "--orgs", "3", "--skus-per-org", "2", "--days", "0"]):
        done = runner.invoke(app, ["--db", db, *step], env=ENV)
        assert done.exit_code == 0, done.stdout + done.stderr
    result = runner.invoke(app, ["--db", db, "--json", "replay", "--from-db", "--days", "5",
                                 "-p", "s-S"], env=ENV)  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["network"] == "database" and doc["items"] == 6
    assert doc["demand"] == "simulated"


def test_history_replays_the_recorded_consumption(tmp_path: Path):
    db = f"duckdb:///{tmp_path / 'h.duckdb'}"
    for step in (["init"], ["seed", "--orgs", "3", "--skus-per-org", "2", "--days", "12"]):
        done = runner.invoke(app, ["--db", db, *step], env=ENV)
        assert done.exit_code == 0, done.stdout + done.stderr
    result = runner.invoke(app, ["--db", db, "--json", "replay", "--from-db", "--history",
                                 "-p", "s-S"], env=ENV)  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["demand"] == "stock_history" and doc["days"] == 12
    import resq

    backend = resq.connect(db)
    try:
        history = backend.read("stock_history")
        net = rp.from_backend(backend)
    finally:
        backend.close()
    demand, days = rp.history_demand(history, net)
    assert demand.shape == (6, 12) and len(days) == 12
    recorded = sum(history["consumption"].to_pylist())
    assert abs(doc["by_policy"][0]["demanded"] - recorded) < 1e-6 * max(recorded, 1)
    no_db = invoke("replay", "--history")
    assert no_db.exit_code == 2 and "--from-db" in no_db.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "nope"], "unknown policy 'nope'"),
        (["-p", "resq", "-p", "resq"], "once"),
        (["--days", "0"], "--days"),
        (["--chaos", "missing.yaml"], "cannot read chaos file"),
    ],
)
def test_bad_input_is_one_clear_error(args, message):
    result = invoke("replay", *args)
    assert result.exit_code == 2
    assert message in result.stderr + result.stdout


def test_a_bad_chaos_file_names_the_entry(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("weather:\n  - {city: Bangalore, condition: Snow, from: 1, to: 3}\n")
    result = invoke("replay", "--chaos", str(bad))
    assert result.exit_code == 2
    assert "chaos.weather[1].condition" in result.stderr
