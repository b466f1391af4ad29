"""Honest labels by part (issue 14, item 3): after a REAL load, orders decided under the
simulated weather and vendor status read "REAL stock · SIMULATED weather, vendor status"
in the CLI table, in ``--json`` (the parts) and on the dashboard; a simulated seed reads
SIMULATED stock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from resq.cli import app

ENV = {"RESQ_DB": None, "RESQ_ORG": None, "RESQ_ACTOR": None, "NO_COLOR": "1", "COLUMNS": "250"}
REAL_ORDER = "REAL stock · SIMULATED weather, vendor status"

runner = CliRunner()


def run(db: str, *args: str) -> Result:
    result = runner.invoke(app, ["--db", db, *args], env=ENV)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result


def as_json(db: str, *args: str) -> Any:
    return json.loads(run(db, "--json", *args).stdout)


def write(path: Path, text: str) -> str:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def real_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A REAL hospital in Bangalore (simulated Rain: one more day of delivery) whose oxygen
    is critical, with a REAL vendor catalog; vendor status is simulated."""
    tmp = tmp_path_factory.mktemp("real")
    db = f"duckdb:///{tmp / 'real.duckdb'}"
    run(db, "init")
    run(
        db,
        "load",
        "organizations",
        write(
            tmp / "orgs.csv",
            "org_id,org_name,sector,city\nHOSP-REAL-1,Real General,HOSPITAL,Bangalore",
        ),
    )
    run(
        db,
        "load",
        "inventory",
        write(
            tmp / "inv.csv",
            "org_id,sku,item_name,category,current_stock,daily_consumption\n"
            "HOSP-REAL-1,OXY-CYL,Oxygen cylinder,OXYGEN,2,10\n"
            "HOSP-REAL-1,GLOVES,Nitrile gloves,OTHER,5000,10",
        ),
    )
    run(db, "load", "vendors", write(tmp / "v.csv", "vendor_id,vendor_name\nBlinkit,Blinkit"))
    run(
        db,
        "load",
        "vendor_catalog",
        write(tmp / "c.csv", "vendor_id,sku,city,price\nBlinkit,OXY-CYL,Bangalore,500"),
    )
    return db


def test_a_real_load_then_heal_labels_orders_by_part(real_db: str) -> None:
    report = as_json(real_db, "heal")
    (order,) = report["orders"]
    assert order["provenance"] == {
        "stock": "REAL",
        "weather": "SIMULATED",  # Bangalore's simulated Rain adds a day of delivery
        "vendor_status": "SIMULATED",
        "demand": "REAL",
    }
    assert order["source_label"] == REAL_ORDER
    assert order["data_source"] == "SIMULATED"  # the overall flag: some part is simulated

    (listed,) = as_json(real_db, "orders")["orders"]
    assert listed["provenance"] == order["provenance"]
    assert listed["source_label"] == REAL_ORDER
    assert REAL_ORDER in run(real_db, "orders").stdout

    alerts = as_json(real_db, "alerts")["alerts"]
    assert alerts and all(a["source_label"] == REAL_ORDER for a in alerts)
    assert REAL_ORDER in run(real_db, "alerts").stdout

    # the stock rows: no vendor was consulted, and the rain changed nothing in the analysis
    items = {i["sku"]: i for i in as_json(real_db, "status")["items"]}
    assert items["GLOVES"]["provenance"] == {"stock": "REAL", "weather": "REAL", "demand": "REAL"}
    assert items["GLOVES"]["source_label"] == "REAL"


def test_the_label_is_shown_whole_at_80_columns(real_db: str) -> None:
    result = runner.invoke(app, ["--db", real_db, "orders"], env={**ENV, "COLUMNS": "80"})
    assert result.exit_code == 0
    out = result.stdout
    lines = out[: out.index("left out")].splitlines()  # the table, up to its caption
    assert all(len(line.rstrip()) <= 80 for line in lines), result.stdout
    assert "…" not in result.stdout  # nothing cut: the label wraps between its words
    # the label's words, in order, in the Source column (wrapped between words if need be)
    start = lines[1].index("Source")
    words = " ".join(ln[start:].strip() for ln in lines[2:]).split()
    assert " ".join(words).startswith(REAL_ORDER), result.stdout


def test_a_simulated_seed_says_simulated_stock(tmp_path: Path) -> None:
    db = f"duckdb:///{tmp_path / 'seed.duckdb'}"
    run(db, "init")
    run(db, "seed")
    run(db, "chaos", "stock", "HOSP-BLR-001", "OXY-CYL", "--to", "0")
    orders = as_json(db, "heal")["orders"]
    assert orders
    for order in orders:
        assert order["provenance"]["stock"] == "SIMULATED"
        assert order["source_label"] == "SIMULATED"
    for item in as_json(db, "status")["items"]:
        assert item["provenance"]["stock"] == "SIMULATED"


@pytest.mark.slow
def test_the_dashboard_shows_the_same_labels(real_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from resq.dashboard import APP, DB_ENV, ORG_ENV

    run(real_db, "heal")
    monkeypatch.setenv(DB_ENV, real_db)
    monkeypatch.delenv(ORG_ENV, raising=False)
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        orders = next(d.value for d in at.dataframe if "PO" in d.value.columns)
        assert set(orders["Source"]) == {REAL_ORDER}
        alerts = next(d.value for d in at.dataframe if "Alert" in d.value.columns)
        assert set(alerts["Source"]) == {REAL_ORDER}
        text = [re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(m.value)) for m in at.markdown]
        assert any(f":orange-badge[:material/science: {REAL_ORDER}]" in t for t in text)
        assert not any("SIMULATED]" in t and "#### Purchase orders" in t for t in text)
    finally:
        st.cache_resource.clear()
