"""The command line end to end through a temporary database (issue 5): init, seed, load a
budget cap, chaos, heal, approve the held order, verify the audit log, then tamper with
it through raw SQL and watch `audit --verify` fail; and `resq demo`, the main job.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

import resq
from resq.backends.warehouse import SCHEMA_VERSION
from resq.cli import app

ORG, OXY = "HOSP-BLR-001", "OXY-CYL"
PDS = "PDS-BLR-001"
ENV = {"RESQ_DB": None, "RESQ_ORG": None, "RESQ_ACTOR": None, "NO_COLOR": "1", "COLUMNS": "250"}

runner = CliRunner()


def run(db: str, *args: str) -> Result:
    return runner.invoke(app, ["--db", db, *args], env=ENV)


def ok(db: str, *args: str) -> Result:
    result = run(db, *args)
    assert result.exit_code == 0, (args, result.exit_code, result.stdout, result.stderr)
    return result


def as_json(db: str, *args: str, code: int = 0) -> Any:
    result = runner.invoke(app, ["--db", db, "--json", *args], env=ENV)
    assert result.exit_code == code, (args, result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)


def cap_pds_budget(db: str, path: Path) -> Path:
    """A CSV of the organizations with a tiny budget for one PDS shop, so its rice order
    is held for approval."""
    backend = resq.connect(db)
    try:
        rows = backend.read("organizations", order_by=("org_id",)).to_pylist()
    finally:
        backend.close()
    columns = [
        "org_id",
        "org_name",
        "sector",
        "city",
        "phh_persons",
        "aay_households",
        "budget_cap",
    ]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            out = {c: row.get(c) for c in columns}
            out["budget_cap"] = 1000 if row["org_id"] == PDS else None
            writer.writerow(out)
    return path


def test_end_to_end_init_seed_chaos_heal_approve_verify_then_tamper(tmp_path: Path) -> None:
    db = f"duckdb:///{tmp_path}/e2e.duckdb"
    ok(db, "init")
    ok(db, "seed")
    loaded = as_json(db, "load", "organizations", str(cap_pds_budget(db, tmp_path / "orgs.csv")))
    assert loaded["rows"] == 6 and loaded["data_source"] == "REAL"
    assert as_json(db, "validate")["passed"] is True
    ok(db, "chaos", "stock", ORG, OXY, "--to", "0", "--actor", "chaos-monkey")

    report = as_json(db, "heal")
    assert report["created"] >= 2
    assert report["held_for_approval"] == 1
    oxygen = next(o for o in report["orders"] if o["org_id"] == ORG and o["sku"] == OXY)
    assert oxygen["vendor"] == "MedGas Oxygen" and oxygen["status"] == "PLACED"
    held = as_json(db, "orders", "--status", "PENDING_APPROVAL")["orders"]
    assert [(o["org_id"], o["sku"]) for o in held] == [(PDS, "RICE")]
    assert "budget" in held[0]["reason"]["caps_applied"]

    approved = as_json(db, "orders", "approve", held[0]["po_id"], "--actor", "alice")
    assert approved["order"]["status"] == "PLACED"
    out = ok(db, "audit").stdout
    assert "order.approve" in out and "alice" in out
    assert "intact" in ok(db, "audit", "--verify").stdout
    assert as_json(db, "audit", "--verify")["ok"] is True

    backend = resq.connect(db)
    try:
        backend.sql("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
    finally:
        backend.close()
    tampered = run(db, "audit", "--verify")
    assert tampered.exit_code == 1
    assert "TAMPERED" in tampered.stdout and "event 3" in tampered.stdout
    check = as_json(db, "audit", "--verify", code=1)
    assert check["ok"] is False and check["broken_seq"] == 3


def test_demo_is_the_main_job_readable_at_a_glance(tmp_path: Path) -> None:
    db = f"duckdb:///{tmp_path}/demo.duckdb"
    out = ok(db, "demo").stdout
    for text in (
        "SIMULATED",
        "Bangalore",
        "Delhi",
        "HOSPITAL",
        "PDS",
        "NGO",
        "Validation checks",
        "PASS",
        "Chaos button: HOSP-BLR-001 / OXY-CYL",
        "OK -> CRITICAL",
        "x OXY-CYL from MedGas Oxygen",
        "Vendor rejected  OxyCare Supply: slower than the chosen vendor",
        "Sourcing: PDS rice from an authorized depot (PDS-BLR-001 / RICE)",
        "x RICE from Civil Supplies Depot",
        "Vendor rejected  FCI Depot: slower than the chosen vendor",
        "in packs of 50, vendor minimum 500",
        "Sourcing: the preferred vendor is offline",
        "Vendor rejected  Dunzo: OFFLINE (the preferred vendor)",
        "Fallback         preferred vendor Dunzo -> Blinkit",
        "Days remaining",
        "Audit trail",
        "chaos.stock",
        "heal.actions",
        "Verified",
        "Alerts",
        "SEV1",
    ):
        assert text in out, text
    assert "FAIL" not in out
    # every order of the heal table carries its provenance label (the demo is simulated)
    heal_table = out.split("Orders created, in priority order", 1)[1].split("\n\n", 1)[0]
    order_lines = [line for line in heal_table.splitlines() if "PO-" in line]
    assert order_lines and all(line.rstrip().endswith("SIMULATED") for line in order_lines)
    # a second run on the same database keeps the data and shows the covering order
    doc = as_json(db, "demo")
    assert doc["init"]["previous_version"] == SCHEMA_VERSION
    assert doc["heal"]["created"] == 0 and doc["heal"]["covered"] >= 1
    assert doc["order"]["vendor"] == "MedGas Oxygen" and doc["preferred_vendor"] is None
    stories = {s["sku"]: s for s in doc["sourcing"]}
    assert stories["RICE"]["order"]["vendor"] == "Civil Supplies Depot"
    (fallback,) = [s for s in doc["sourcing"] if s["sku"] != "RICE"]
    assert fallback["preferred_vendor"] == "Dunzo" and fallback["order"]["vendor"] == "Blinkit"
    assert doc["stock_after"]["status"] == "CRITICAL"
    assert doc["audit_verify"]["ok"] is True
    assert {"organizations", "vendors", "checks", "chaos", "alerts", "health"} <= set(doc)
    # orders and alerts in the JSON as every listing shows them: parts and label
    for row in [*doc["heal"]["orders"], *doc["alerts"]]:
        assert row["source_label"] == "SIMULATED", row
        assert row["provenance"]["stock"] == "SIMULATED", row
