"""Seeding never touches REAL rows: it refuses (naming them, writing nothing) unless told
to replace them, and then the replacement is audited with the actor and the keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import resq
from resq.backends.warehouse import WarehouseBackend
from resq.cli import app
from resq.errors import RealDataError

REAL_ORG = {
    "org_id": "HOSP-BLR-001",
    "org_name": "St. Real Hospital",
    "sector": "HOSPITAL",
    "city": "Bangalore",
}
REAL_ITEM = {
    "org_id": "HOSP-BLR-001",
    "sku": "OXY-CYL",
    "item_name": "Oxygen (real count)",
    "category": "OXYGEN",
    "current_stock": 77.0,
    "daily_consumption": 3.0,
}
LOADABLE = ("organizations", "inventory_master", "vendors", "vendor_catalog", "stock_history")


def _contents(backend: WarehouseBackend) -> dict[str, Any]:
    out: dict[str, Any] = {
        t: sorted(
            repr(sorted((k, v) for k, v in r.items() if k != "updated_at"))
            for r in backend.read(t).to_pylist()
        )
        for t in LOADABLE
    }
    out["audit"] = backend.sql("SELECT COUNT(*) AS n, MAX(seq) AS s FROM audit_log").to_pylist()
    return out


def test_seed_refuses_to_replace_real_rows_and_writes_nothing(backend: WarehouseBackend) -> None:
    backend.load("organizations", [REAL_ORG], actor="site-admin")
    backend.load("inventory", [REAL_ITEM], actor="site-admin")
    before = _contents(backend)
    engine = resq.SelfHealingEngine(backend)
    with pytest.raises(RealDataError) as info:
        engine.seed(actor="tester")
    assert info.value.collisions == {
        "organizations": ["HOSP-BLR-001"],
        "inventory_master": ["HOSP-BLR-001/OXY-CYL"],
    }
    message = str(info.value)
    assert "HOSP-BLR-001" in message and "HOSP-BLR-001/OXY-CYL" in message
    assert "nothing was written" in message and "--replace-real" in message
    assert _contents(backend) == before
    real = backend.read("inventory_master").to_pylist()
    assert [(r["sku"], r["current_stock"], r["data_source"]) for r in real] == [
        ("OXY-CYL", 77.0, "REAL")
    ]


def test_seed_with_replace_real_replaces_them_and_audits_which(backend: WarehouseBackend) -> None:
    backend.load("organizations", [REAL_ORG])
    backend.load("inventory", [REAL_ITEM])
    resq.SelfHealingEngine(backend).seed(actor="tester", replace_real=True, days=0)
    org = backend.read("organizations", where={"org_id": "HOSP-BLR-001"}).to_pylist()
    assert org[0]["data_source"] == "SIMULATED"
    events = backend.read("audit_log", where={"action": "seed.replaced_real"}).to_pylist()
    assert {e["entity_id"]: (e["actor"], json.loads(e["details"])["keys"]) for e in events} == {
        "organizations": ("tester", ["HOSP-BLR-001"]),
        "inventory_master": ("tester", ["HOSP-BLR-001/OXY-CYL"]),
    }
    assert backend.verify_audit().ok


def test_reseeding_simulated_rows_needs_no_flag(backend: WarehouseBackend) -> None:
    engine = resq.SelfHealingEngine(backend)
    engine.seed(n_orgs=2, skus_per_org=1, days=2)
    engine.seed(n_orgs=2, skus_per_org=1, days=2)  # only SIMULATED rows collide
    assert not backend.read("audit_log", where={"action": "seed.replaced_real"}).num_rows


@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.sets(st.integers(0, 5), min_size=1, max_size=3), other=st.booleans())
def test_any_real_row_in_the_way_is_named(
    tmp_path_factory: pytest.TempPathFactory, picks: set[int], other: bool
) -> None:
    """Whichever seeded organizations exist as REAL (plus unrelated REAL ones), seeding
    names exactly the colliding ones and leaves every table as it was."""
    from resq import simulation

    path = tmp_path_factory.mktemp("seed") / "s.duckdb"
    backend = resq.connect(f"duckdb:///{path}")
    backend.init()
    orgs = simulation.simulate_network(6, 1, 42, ("Bangalore", "Delhi")).organizations
    ids = orgs["org_id"].to_pylist()
    chosen = sorted(ids[i] for i in picks)
    rows = [{**REAL_ORG, "org_id": i, "sector": i.split("-")[0].replace("HOSP", "HOSPITAL")}
            for i in chosen]  # fmt: skip
    if other:
        rows.append({**REAL_ORG, "org_id": "MY-OWN-CLINIC"})
    backend.load("organizations", rows)
    before = _contents(backend)
    with pytest.raises(RealDataError) as info:
        resq.SelfHealingEngine(backend).seed(n_orgs=6, skus_per_org=1, days=1)
    assert info.value.collisions == {"organizations": chosen}
    assert _contents(backend) == before


def test_cli_seed_refuses_then_replaces_with_the_flag(tmp_path: Path) -> None:
    db = f"duckdb:///{tmp_path / 'site.duckdb'}"
    runner = CliRunner()
    env = {"RESQ_DB": None, "RESQ_ORG": None, "RESQ_ACTOR": None, "COLUMNS": "250"}
    assert runner.invoke(app, ["--db", db, "init"], env=env).exit_code == 0
    orgs = tmp_path / "orgs.csv"
    orgs.write_text(
        "org_id,org_name,sector,city\nHOSP-BLR-001,St. Real Hospital,HOSPITAL,Bangalore\n",
        encoding="utf-8",
    )
    assert (
        runner.invoke(app, ["--db", db, "load", "organizations", str(orgs)], env=env).exit_code == 0
    )
    refused = runner.invoke(app, ["--db", db, "seed"], env=env)
    assert refused.exit_code != 0
    text = refused.stdout + refused.stderr
    assert "HOSP-BLR-001" in text and "REAL" in text and "--replace-real" in text
    backend = resq.connect(db)
    assert backend.read("organizations").to_pylist()[0]["org_name"] == "St. Real Hospital"
    assert backend.read("vendors").num_rows == 0
    backend.close() if hasattr(backend, "close") else None
    replaced = runner.invoke(
        app, ["--db", db, "seed", "--replace-real", "--actor", "ops-lead"], env=env
    )
    assert replaced.exit_code == 0, replaced.stdout + replaced.stderr
    backend = resq.connect(db)
    events = backend.read("audit_log", where={"action": "seed.replaced_real"}).to_pylist()
    assert [(e["actor"], json.loads(e["details"])["keys"]) for e in events] == [
        ("ops-lead", ["HOSP-BLR-001"])
    ]
