"""The audit shows the provenance labels the CLI, ``--json`` and the dashboard show (issue 14,
item 3): each ``heal.actions`` event counts its organization's orders and alerts per label
("REAL stock · SIMULATED weather, vendor status": 1), computed from the same part columns,
shown by ``resq audit`` (table and ``--json``) and the dashboard's audit trail, and
recounted by ``verify``, so editing a part column after the fact is detected."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from resq.backends.warehouse import WarehouseBackend
from resq.cli import app
from resq.core import audit as audit_chain
from resq.core import provenance
from resq.engine import SelfHealingEngine

ENV = {"RESQ_DB": None, "RESQ_ORG": None, "RESQ_ACTOR": None, "NO_COLOR": "1", "COLUMNS": "250"}
REAL_ORDER = "REAL stock · SIMULATED weather, vendor status"
ORG = "HOSP-REAL-1"

runner = CliRunner()


def run(db: str, *args: str, code: int = 0) -> Result:
    result = runner.invoke(app, ["--db", db, *args], env=ENV)
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result


def as_json(db: str, *args: str) -> Any:
    return json.loads(run(db, "--json", *args).stdout)


def write(path: Path, text: str) -> str:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return str(path)


def heal_events(db: str) -> list[dict[str, Any]]:
    events = as_json(db, "audit", "--all")["events"]
    return [e for e in events if e["action"] == "heal.actions"]


def shown_counts(db: str, command: str, key: str, cycle: str) -> dict[str, Counter[str]]:
    """Per organization, how many rows of ``resq orders|alerts --json`` from ``cycle``
    carry each ``source_label`` (what the CLI shows for the same rows)."""
    counts: dict[str, Counter[str]] = {}
    for row in as_json(db, command, "--all")[key]:
        if row.get("cycle_id") in (None, cycle):
            counts.setdefault(row["org_id"], Counter())[row["source_label"]] += 1
    return counts


@pytest.fixture
def real_db(tmp_path: Path) -> str:
    """A REAL hospital in Bangalore (simulated Rain) whose oxygen is critical, with a REAL
    vendor catalog (vendor status is simulated), healed once."""
    db = f"duckdb:///{tmp_path / 'real.duckdb'}"
    run(db, "init")
    run(
        db,
        "load",
        "organizations",
        write(tmp_path / "orgs.csv", f"org_id,org_name,sector,city\n{ORG},Real,HOSPITAL,Bangalore"),
    )
    run(
        db,
        "load",
        "inventory",
        write(
            tmp_path / "inv.csv",
            "org_id,sku,item_name,category,current_stock,daily_consumption\n"
            f"{ORG},OXY-CYL,Oxygen cylinder,OXYGEN,2,10\n"
            f"{ORG},GLOVES,Nitrile gloves,OTHER,5000,10",
        ),
    )
    run(db, "load", "vendors", write(tmp_path / "v.csv", "vendor_id,vendor_name\nBlinkit,Blinkit"))
    run(
        db,
        "load",
        "vendor_catalog",
        write(tmp_path / "c.csv", "vendor_id,sku,city,price\nBlinkit,OXY-CYL,Bangalore,500"),
    )
    run(db, "heal")
    return db


def test_a_real_load_then_heal_shows_the_real_label_in_the_audit(real_db: str) -> None:
    (event,) = heal_events(real_db)
    assert event["org_id"] == ORG
    labels = event["details"]["labels"]
    n_alerts = event["details"]["alerts"]
    assert n_alerts >= 1
    assert labels == {"orders": {REAL_ORDER: 1}, "alerts": {REAL_ORDER: n_alerts}}
    # the same labels the orders and alerts listings show for the same rows
    cycle = event["entity_id"]
    assert shown_counts(real_db, "orders", "orders", cycle) == {ORG: Counter(labels["orders"])}
    assert shown_counts(real_db, "alerts", "alerts", cycle) == {ORG: Counter(labels["alerts"])}
    out = run(real_db, "audit").stdout
    assert f"1 order: 1 {REAL_ORDER}; {n_alerts} alert" in out
    assert f"alert{'s' if n_alerts > 1 else ''}: {n_alerts} {REAL_ORDER}" in out
    assert "verified" in run(real_db, "audit", "--verify").stdout


def test_a_simulated_network_shows_simulated_in_the_audit(tmp_path: Path) -> None:
    db = f"duckdb:///{tmp_path / 'seed.duckdb'}"
    run(db, "init")
    run(db, "seed")
    run(db, "chaos", "stock", "HOSP-BLR-001", "OXY-CYL", "--to", "0")
    run(db, "heal")
    events = heal_events(db)
    assert events and {e["org_id"] for e in events} >= {"HOSP-BLR-001"}
    cycle = events[0]["entity_id"]
    orders = shown_counts(db, "orders", "orders", cycle)
    alerts = shown_counts(db, "alerts", "alerts", cycle)
    for event in events:
        details, org = event["details"], event["org_id"]
        assert details["labels"]["orders"] == dict(orders.get(org, {}))
        assert details["labels"]["alerts"] == dict(alerts.get(org, {}))
        assert set(details["labels"]["orders"]) <= {"SIMULATED"}
        assert sum(details["labels"]["orders"].values()) == details["orders"]
        assert sum(details["labels"]["alerts"].values()) == details["alerts"]
    out = run(db, "audit", "--all").stdout
    assert "heal.actions" in out and "SIMULATED" in out
    assert REAL_ORDER not in out
    assert "verified" in run(db, "audit", "--verify").stdout


PART_EDITS = {
    "order stock_source": "UPDATE purchase_orders SET stock_source = 'SIMULATED' WHERE org_id = ?",
    "order weather_source": "UPDATE purchase_orders SET weather_source = 'REAL' WHERE org_id = ?",
    "alert vendor_status_source": "UPDATE alerts SET vendor_status_source = 'REAL' "
    "WHERE org_id = ?",
}


@pytest.mark.parametrize("edit", sorted(PART_EDITS))
def test_editing_a_part_column_after_the_fact_is_detected(real_db: str, edit: str) -> None:
    """The digest does not cover the part columns; the audited label counts do."""
    import resq

    backend = resq.connect(real_db)
    try:
        backend.execute(PART_EDITS[edit], [ORG])
    finally:
        backend.close()
    result = run(real_db, "audit", "--verify", code=1)
    assert "TAMPERED" in result.stdout and ORG in result.stdout
    assert "provenance labels differ" in result.stdout
    check = as_json_verify(real_db)
    assert check["ok"] is False and "provenance labels" in check["problem"]


def as_json_verify(db: str) -> Any:
    result = runner.invoke(app, ["--db", db, "--json", "audit", "--verify"], env=ENV)
    assert result.exit_code == 1
    return json.loads(result.stdout)


# ---------------------------------------------------------------- on every backend


@pytest.fixture
def healed(seeded: WarehouseBackend) -> WarehouseBackend:
    engine = SelfHealingEngine(seeded)
    engine.drop_stock("HOSP-BLR-001", "OXY-CYL", actor="alice")
    engine.drop_stock("NGO-BLR-001", "KIT-EMR", actor="alice")
    engine.heal()
    return seeded


def _events(backend: WarehouseBackend) -> list[dict[str, Any]]:
    return backend.sql(
        "SELECT seq, org_id, entity_id, details FROM audit_log WHERE action = 'heal.actions' "
        "ORDER BY seq"
    ).to_pylist()


def _content(backend: WarehouseBackend, table: str) -> pa.Table:
    columns = ", ".join(audit_chain.read_columns(table))
    return backend.fetch(
        backend.render(f"SELECT {columns} FROM {table} WHERE cycle_id IS NOT NULL")
    )


def test_the_audited_labels_are_the_rows_labels(healed: WarehouseBackend) -> None:
    """Library: every heal event's counts equal the labels provenance.row_label gives its
    organization's rows, and verify recounts them."""
    events = _events(healed)
    assert events
    for kind, table in (("orders", "purchase_orders"), ("alerts", "alerts")):
        rows = healed.sql(f"SELECT * FROM {table} WHERE cycle_id IS NOT NULL").to_pylist()
        for event in events:
            mine = [r for r in rows if r["org_id"] == event["org_id"]]
            expected = Counter(provenance.row_label(r) for r in mine)
            assert json.loads(event["details"])["labels"][kind] == dict(expected)
    check = healed.verify_audit()
    assert check.ok and check.content_checked == len(events)


def test_events_written_before_labels_still_verify(healed: WarehouseBackend) -> None:
    """An event without ``labels`` (written before they were recorded) is checked on its
    digests alone; the same event with wrong labels is reported."""
    events = _events(healed)
    orders, alerts = _content(healed, "purchase_orders"), _content(healed, "alerts")
    old = []
    for e in events:
        details = json.loads(e["details"])
        del details["labels"]
        old.append(dict(e, details=json.dumps(details)))
    assert audit_chain.check_content(old, orders, alerts).ok
    assert audit_chain.check_content(events, orders, alerts).ok
    wrong = json.loads(events[0]["details"])
    wrong["labels"]["orders"] = {"REAL": wrong["orders"]}
    forged = [dict(events[0], details=json.dumps(wrong)), *events[1:]]
    check = audit_chain.check_content(forged, orders, alerts)
    assert not check.ok and check.broken_seq == events[0]["seq"]
    assert "provenance labels" in str(check.problem)


def test_tampering_with_a_part_column_is_detected(healed: WarehouseBackend) -> None:
    (org,) = {
        r["org_id"]
        for r in healed.sql("SELECT org_id FROM purchase_orders WHERE sku = 'OXY-CYL'").to_pylist()
    }
    healed.execute("UPDATE purchase_orders SET stock_source = 'REAL' WHERE org_id = ?", [org])
    check = healed.verify_audit()
    assert not check.ok and org in str(check.problem)
    assert "provenance labels differ" in str(check.problem)


# ---------------------------------------------------------------- the count, as a class

parts = st.sampled_from([None, "REAL", "SIMULATED"])
rows = st.fixed_dictionaries(
    {
        "org_id": st.sampled_from(["H1", "P|2", "N 3"]),
        "data_source": st.sampled_from(["REAL", "SIMULATED"]),
        **{c: parts for c in provenance.COLUMNS.values()},
    }
)


@settings(max_examples=80, deadline=None)
@given(st.lists(rows, max_size=12))
def test_label_counts_equal_the_row_labels_counted(table_rows: list[dict[str, Any]]) -> None:
    schema = pa.schema(
        [(k, pa.string()) for k in ("org_id", "data_source", *provenance.COLUMNS.values())]
    )
    got = audit_chain.label_counts(pa.Table.from_pylist(table_rows, schema=schema))
    expected: dict[str, Counter[str]] = {}
    for row in table_rows:
        expected.setdefault(row["org_id"], Counter())[str(provenance.row_label(row))] += 1
    assert got == {org: dict(c) for org, c in expected.items()}
    # the event text names every label with its count, whole
    for counts in got.values():
        n = sum(counts.values())
        details = audit_chain.heal_details("CY", (n, "x"), None, {"orders": counts})
        text = str(audit_chain.describe_labels(details))
        assert text.startswith(f"{n} order")
        for label, c in counts.items():
            assert f"{c} {label}" in text
        assert json.loads(details)["labels"] == {"orders": counts, "alerts": {}}


@pytest.mark.slow
def test_the_dashboard_audit_trail_shows_the_labels(
    real_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from resq.dashboard import APP, DB_ENV, ORG_ENV

    expected = {audit_chain.describe_labels(e["details"]) for e in heal_events(real_db)}
    monkeypatch.setenv(DB_ENV, real_db)
    monkeypatch.delenv(ORG_ENV, raising=False)
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        trail = next(d.value for d in at.dataframe if "Provenance" in d.value.columns)
        shown = trail[trail["What"] == "heal.actions"]["Provenance"]
        assert set(shown) == expected
        assert any(t.startswith(f"1 order: 1 {REAL_ORDER}; ") for t in shown), list(shown)
    finally:
        st.cache_resource.clear()
