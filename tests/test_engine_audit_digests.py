"""Audit events carry digests, not copies (issue 13): each heal.actions event holds counts and
a SHA-256 over the canonical content of its organization's orders and alerts from the cycle,
and verify recomputes them from the tables, so editing an order or an alert after the fact
is detected; a legitimate override is not."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import resq
from resq.backends.warehouse import WarehouseBackend
from resq.cli import app
from resq.core import audit as audit_chain
from resq.engine import SelfHealingEngine

ORG, OXY = "HOSP-BLR-001", "OXY-CYL"


@pytest.fixture
def healed(seeded: WarehouseBackend) -> WarehouseBackend:
    engine = SelfHealingEngine(seeded)
    engine.drop_stock(ORG, OXY, actor="alice")
    engine.heal()
    assert seeded.verify_audit().ok
    return seeded


def oxygen_order(backend: WarehouseBackend) -> dict[str, Any]:
    return backend.sql(
        "SELECT * FROM purchase_orders WHERE org_id = ? AND sku = ? ORDER BY created_at DESC",
        [ORG, OXY],
    ).to_pylist()[0]


def heal_event(backend: WarehouseBackend, cycle_id: str, org_id: str) -> dict[str, Any]:
    rows = backend.sql(
        "SELECT details FROM audit_log WHERE action = 'heal.actions' AND entity_id = ? "
        "AND org_id = ?",
        [cycle_id, org_id],
    ).to_pylist()
    assert len(rows) == 1
    return dict(json.loads(rows[0]["details"]))


# ---------------------------------------------------------------- the canonical form


def reference_line(row: dict[str, Any], columns: tuple[str, ...]) -> str:
    """The canonical line written out by hand, row by row (the definition in the docs)."""
    parts = []
    for name in columns:
        value = row[name]
        if value is None:
            parts.append("-")
            continue
        if isinstance(value, datetime):
            text = str((value - datetime(1970, 1, 1)) // timedelta(microseconds=1))
        elif isinstance(value, float):
            text = str(round(value * audit_chain.QUANTITY_SCALE))
        else:
            text = str(value)
        parts.append(f"{len(text)}:{text}")
    return "|".join(parts)


texts = st.none() | st.text(max_size=12)
order_rows = st.fixed_dictionaries(
    {
        "po_id": st.text(min_size=1, max_size=8),
        "idempotency_key": st.text(max_size=10),
        "org_id": st.sampled_from(["H1", "H2", "P|1", "N:1"]),
        "sku": st.text(max_size=6),
        "vendor": texts,
        "quantity": st.floats(0, 1e9, allow_nan=False) | st.integers(0, 10**6).map(float),
        "priority": st.integers(1, 3),
        "rank": st.none() | st.integers(0, 10**6),
        "data_source": st.sampled_from(["REAL", "SIMULATED"]),
        "cycle_id": st.just("CY-1"),
        "created_at": st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1)),
    }
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(order_rows, max_size=8, unique_by=lambda r: r["po_id"]))
def test_the_columnar_digest_equals_the_canonical_definition(rows: list[dict[str, Any]]) -> None:
    """The digest over Arrow columns equals the definition applied row by row: fields
    length-prefixed (so no value forges a boundary), NULL as '-', quantities as millionths,
    timestamps as microseconds, rows sorted by id per organization."""
    schema = pa.schema(
        [
            ("po_id", pa.string()),
            ("idempotency_key", pa.string()),
            ("org_id", pa.string()),
            ("sku", pa.string()),
            ("vendor", pa.string()),
            ("quantity", pa.float64()),
            ("priority", pa.int32()),
            ("rank", pa.int64()),
            ("data_source", pa.string()),
            ("cycle_id", pa.string()),
            ("created_at", pa.timestamp("us")),
        ]
    )
    table = pa.Table.from_pylist(rows, schema=schema)
    got = audit_chain.content_digests(table, audit_chain.ORDER_CONTENT)
    expected: dict[str, tuple[int, str]] = {}
    for org in sorted({r["org_id"] for r in rows}):
        mine = sorted((r for r in rows if r["org_id"] == org), key=lambda r: r["po_id"])
        text = "\n".join(reference_line(r, audit_chain.ORDER_CONTENT) for r in mine)
        expected[org] = (len(mine), hashlib.sha256(text.encode()).hexdigest())
    assert got == expected
    # the same rows as another driver types them (decimal integers, nanoseconds) agree
    wide = table.set_column(
        10, "created_at", table.column("created_at").cast(pa.timestamp("ns"))
    ).set_column(6, "priority", table.column("priority").cast(pa.decimal128(38, 0)))
    assert audit_chain.content_digests(wide, audit_chain.ORDER_CONTENT) == got


def test_a_heal_event_holds_counts_and_digests_not_copies(healed: WarehouseBackend) -> None:
    order = oxygen_order(healed)
    details = heal_event(healed, order["cycle_id"], ORG)
    assert set(details) == {
        "alerts",
        "alerts_sha256",
        "content",
        "cycle_id",
        "labels",
        "orders",
        "orders_sha256",
    }
    assert set(details["labels"]) == {"orders", "alerts"}  # counts per label, not copies
    assert details["orders"] >= 1 and details["alerts"] >= 1
    assert order["po_id"] not in json.dumps(details)  # no copy of the order
    orders = healed.fetch(
        healed.render(audit_chain.content_query("purchase_orders")), [order["cycle_id"]]
    )
    assert audit_chain.content_digests(orders, audit_chain.ORDER_CONTENT)[ORG] == (
        details["orders"],
        details["orders_sha256"],
    )
    check = healed.verify_audit()
    assert check.ok and check.content_checked and check.content_checked >= 1


# ---------------------------------------------------------------- tampering with the tables


EDITS = {
    "order quantity": "UPDATE purchase_orders SET quantity = quantity + 1 WHERE po_id = ?",
    "order vendor": "UPDATE purchase_orders SET vendor = 'Zepto' WHERE po_id = ?",
    "order created_at": "UPDATE purchase_orders SET created_at = created_at + INTERVAL '1 second' "
    "WHERE po_id = ?",
    "alert severity": "UPDATE alerts SET severity = 'SEV4' WHERE po_id = ?",
    "alert message": "UPDATE alerts SET message = 'all fine' WHERE po_id = ?",
    "order deleted": "DELETE FROM purchase_orders WHERE po_id = ?",
    "alert deleted": "DELETE FROM alerts WHERE po_id = ?",
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_editing_an_order_or_alert_after_the_fact_is_detected(
    healed: WarehouseBackend, edit: str
) -> None:
    order = oxygen_order(healed)
    healed.execute(EDITS[edit], [order["po_id"]])
    check = healed.verify_audit()
    assert not check.ok
    assert order["cycle_id"] in str(check.problem) and ORG in str(check.problem)


def test_an_order_added_to_an_audited_cycle_is_detected(healed: WarehouseBackend) -> None:
    order = oxygen_order(healed)
    healed.execute(
        "INSERT INTO purchase_orders (po_id, idempotency_key, org_id, sku, vendor, quantity, "
        "status, priority, rank, reason_status, data_source, cycle_id, created_at, updated_at) "
        "SELECT 'PO-FORGED', 'forged', org_id, sku, vendor, quantity, status, priority, rank, "
        "reason_status, data_source, cycle_id, created_at, updated_at FROM purchase_orders "
        "WHERE po_id = ?",
        [order["po_id"]],
    )
    check = healed.verify_audit()
    assert not check.ok and order["cycle_id"] in str(check.problem)


@pytest.mark.parametrize("override", ["approve", "cancel", "receive", "set_quantity"])
def test_a_legitimate_override_still_verifies(healed: WarehouseBackend, override: str) -> None:
    """Status changes (approve, cancel, receive) and an audited quantity change leave the
    digests intact; an unaudited edit after the audited one is still reported."""
    engine = SelfHealingEngine(healed)
    order = oxygen_order(healed)
    if override == "set_quantity":
        engine.set_quantity(order["po_id"], order["quantity"] + 7, actor="bob")
        engine.set_quantity(order["po_id"], order["quantity"] + 9, actor="bob")
    elif override == "approve":
        healed.execute(
            "UPDATE purchase_orders SET status = 'PENDING_APPROVAL' WHERE po_id = ?",
            [order["po_id"]],
        )
        engine.approve(order["po_id"], actor="bob")
    else:
        getattr(engine, override)(order["po_id"], actor="bob")
    engine.heal()
    assert healed.verify_audit().ok
    healed.execute(
        "UPDATE purchase_orders SET quantity = quantity * 2 WHERE po_id = ?", [order["po_id"]]
    )
    check = healed.verify_audit()
    problem = str(check.problem)
    assert not check.ok
    assert order["po_id"] in problem or (order["cycle_id"] in problem and ORG in problem)


def test_escalation_and_acknowledgement_leave_the_alert_digest_intact(
    healed: WarehouseBackend,
) -> None:
    alert = healed.sql("SELECT alert_id FROM alerts WHERE org_id = ? AND sku = ?", [ORG, OXY])
    healed.ack_alert(alert.to_pylist()[0]["alert_id"], actor="matron")
    healed.execute("UPDATE alerts SET tier = 2, escalated_at = created_at")
    assert healed.verify_audit().ok


# ---------------------------------------------------------------- the command


def test_cli_verify_names_the_cycle_and_organization(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"duckdb:///{tmp_path / 'audit.duckdb'}"
    with resq.connect(db) as backend:
        backend.init()
        engine = SelfHealingEngine(backend)
        engine.seed()
        engine.drop_stock(ORG, OXY, actor="alice")
        engine.heal()
        order = oxygen_order(backend)
    runner = CliRunner()
    ok = runner.invoke(app, ["--db", db, "audit", "--verify"], env={"RESQ_DB": None})
    assert ok.exit_code == 0, ok.output
    with resq.connect(db) as backend:
        backend.execute("UPDATE purchase_orders SET quantity = 1 WHERE po_id = ?", [order["po_id"]])
    bad = runner.invoke(app, ["--db", db, "audit", "--verify"], env={"RESQ_DB": None})
    assert bad.exit_code == 1
    flat = " ".join(bad.output.split())
    assert order["cycle_id"] in flat and ORG in flat and "orders" in flat
    as_json = runner.invoke(app, ["--db", db, "--json", "audit", "--verify"], env={"RESQ_DB": None})
    assert as_json.exit_code == 1
    doc = json.loads(as_json.stdout)
    assert doc["ok"] is False and order["cycle_id"] in doc["problem"]
