"""The resq command line, command by command: output, --json shape, exit codes, tenant
scoping with --org, and bad or hostile input (issue 5).

Every test runs the real typer app through CliRunner against a DuckDB file copied from
a template seeded once per module (init + seed, and the same after chaos + heal).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import resq
from resq.backends.warehouse import SCHEMA_VERSION
from resq.cli import app

ORG, OXY = "HOSP-BLR-001", "OXY-CYL"
OTHER_ORG = "PDS-BLR-001"
ALL_VENDORS = (
    "Blinkit",
    "Dunzo",
    "Zepto",
    "Apollo Supply",
    "MedGas Oxygen",
    "OxyCare Supply",
    "Civil Supplies Depot",
    "FCI Depot",
)
ENV = {"RESQ_DB": None, "RESQ_ORG": None, "RESQ_ACTOR": None, "NO_COLOR": None, "COLUMNS": "250"}

runner = CliRunner()


def run(db: str, *args: str, env: dict[str, str | None] | None = None) -> Result:
    return runner.invoke(app, ["--db", db, *args], env={**ENV, **(env or {})})


def ok(db: str, *args: str, **kw: Any) -> Result:
    result = run(db, *args, **kw)
    assert result.exit_code == 0, (args, result.exit_code, result.stdout, result.stderr)
    return result


def as_json(db: str, *args: str, code: int = 0, **kw: Any) -> Any:
    """Run with --json: stdout must be exactly one JSON document."""
    result = runner.invoke(app, ["--db", db, "--json", *args], env={**ENV, **(kw.get("env") or {})})
    assert result.exit_code == code, (args, result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)


def url(path: Path) -> str:
    return f"duckdb:///{path}"


def copy_db(template: Path, target: Path) -> str:
    shutil.copy(template, target)
    wal = template.with_name(template.name + ".wal")
    if wal.exists():
        shutil.copy(wal, target.with_name(target.name + ".wal"))
    return url(target)


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "seeded.duckdb"
    ok(url(path), "init")
    ok(url(path), "seed")
    return path


@pytest.fixture(scope="module")
def healed_template(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "healed.duckdb"
    db = copy_db(seeded_template, path)
    ok(db, "chaos", "stock", ORG, OXY, "--to", "0")
    ok(db, "heal")
    return path


@pytest.fixture
def seeded(seeded_template: Path, tmp_path: Path) -> str:
    return copy_db(seeded_template, tmp_path / "s.duckdb")


@pytest.fixture
def healed(healed_template: Path, tmp_path: Path) -> str:
    return copy_db(healed_template, tmp_path / "h.duckdb")


def library_rows(db: str, table: str, **where: Any) -> list[dict[str, Any]]:
    backend = resq.connect(db)
    try:
        return backend.read(table, where=where or None).to_pylist()
    finally:
        backend.close()


def oxygen_order(db: str) -> dict[str, Any]:
    orders = as_json(db, "orders")["orders"]
    return next(o for o in orders if o["org_id"] == ORG and o["sku"] == OXY)


# ---------------------------------------------------------------------- init / seed


def test_init_creates_the_schema_then_is_idempotent(tmp_path: Path) -> None:
    db = url(tmp_path / "new.duckdb")
    first = ok(db, "init")
    assert f"created schema version {SCHEMA_VERSION}" in first.stdout
    again = as_json(db, "init")
    assert again["schema_version"] == SCHEMA_VERSION
    assert again["previous_version"] == SCHEMA_VERSION
    assert again["upgraded"] is False
    assert "up to date" in ok(db, "init").stdout


def test_commands_before_init_say_to_run_init(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    resq.connect(url(path)).close()  # a DuckDB file without the resq schema
    db = url(path)
    result = run(db, "status")
    assert result.exit_code == 2
    assert "init" in result.stderr and "no resq schema" in result.stderr
    assert "Traceback" not in result.stderr


def test_seed_reports_rows_labelled_simulated(tmp_path: Path) -> None:
    db = url(tmp_path / "seed.duckdb")
    ok(db, "init")
    doc = as_json(db, "seed", "--orgs", "3", "--skus-per-org", "2", "--days", "10")
    assert doc["rows"]["organizations"] == 3
    assert doc["rows"]["inventory_master"] == 6
    assert doc["data_source"] == "SIMULATED"
    assert doc["days"] == 10
    assert doc["rows"]["stock_history"] == 6 * 10  # 10 days for each of the 6 items
    assert set(doc) >= {"rows", "orgs", "skus_per_org", "seed", "days"}
    plain = ok(db, "seed").stdout
    assert "SIMULATED" in plain and "inventory_master" in plain and "stock_history" in plain


def test_seed_rejects_a_network_without_organizations(seeded: str) -> None:
    result = run(seeded, "seed", "--orgs", "0")
    assert result.exit_code == 2
    assert "--orgs" in result.stderr


# ---------------------------------------------------------------------- status


def test_status_shows_every_item_with_its_status_and_source(seeded: str) -> None:
    out = ok(seeded, "status").stdout
    for text in ("Stock analysis", ORG, OXY, "Days left", "SIMULATED", "18 items"):
        assert text in out
    assert "Data source: SIMULATED" in out
    assert "\x1b" not in out, "plain text when piped: no colour codes"


def test_status_json_is_one_document_with_items_and_counts(seeded: str) -> None:
    doc = as_json(seeded, "status")
    assert set(doc) == {"org", "filters", "counts", "sources", "signals", "items", "listing"}
    assert len(doc["items"]) == 18
    assert sum(doc["counts"].values()) == 18
    assert doc["sources"] == ["SIMULATED"]
    item = doc["items"][0]
    assert {"org_id", "sku", "days_remaining", "status", "data_source"} <= set(item)


def test_status_filters_by_sector_and_critical(healed: str) -> None:
    doc = as_json(healed, "status", "--sector", "hospital", "--critical")
    assert doc["items"], "the dropped oxygen is critical"
    assert {i["sector"] for i in doc["items"]} == {"HOSPITAL"}
    assert {i["status"] for i in doc["items"]} == {"CRITICAL"}
    assert (ORG, OXY) in {(i["org_id"], i["sku"]) for i in doc["items"]}
    out = ok(healed, "status", "--sector", "NGO").stdout
    assert "HOSPITAL" not in out and "NGO" in out


def test_status_rejects_an_unknown_sector(seeded: str) -> None:
    result = run(seeded, "status", "--sector", "BAKERY")
    assert result.exit_code == 2


# ---------------------------------------------------------------------- validate / health


def test_validate_passes_the_simulation_checks(seeded: str) -> None:
    out = ok(seeded, "validate").stdout
    assert out.count("PASS") == 4 and "FAIL" not in out
    assert "GET_WEATHER_DATA('Bangalore')" in out and "Rain" in out
    doc = as_json(seeded, "validate")
    assert doc["passed"] is True
    assert [c["result"] for c in doc["checks"]] == ["PASS"] * 4
    assert {"check", "expected", "actual", "result", "data_source"} <= set(doc["checks"][0])


def test_validate_exits_1_when_a_check_fails(seeded: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from resq.engine import Check, SelfHealingEngine

    monkeypatch.setattr(
        SelfHealingEngine,
        "validate",
        lambda self: [Check("GET_WEATHER_DATA('Bangalore')", "Rain", "Clear")],
    )
    result = run(seeded, "validate")
    assert result.exit_code == 1
    assert "FAIL" in result.stdout
    assert as_json(seeded, "validate", code=1)["passed"] is False


def test_health_is_amber_with_reasons_and_red_exits_1(seeded: str) -> None:
    doc = as_json(seeded, "health")
    assert {"status", "reasons"} <= set(doc)
    assert doc["status"] in {"GREEN", "AMBER"}
    assert "Health:" in ok(seeded, "health").stdout
    for vendor in ALL_VENDORS:
        ok(seeded, "chaos", "vendor", vendor, "--offline")
    result = run(seeded, "health")
    assert result.exit_code == 1
    assert "RED" in result.stdout and "no vendor is online" in result.stdout
    assert as_json(seeded, "health", code=1)["status"] == "RED"


# ---------------------------------------------------------------------- chaos


def test_chaos_stock_drops_the_item_and_is_audited_as_chaos(seeded: str) -> None:
    doc = as_json(seeded, "chaos", "stock", ORG, OXY, "--to", "0", "--actor", "tester")
    assert doc["kind"] == "stock"
    assert doc["key"] == {"org_id": ORG, "sku": OXY}
    assert doc["data_source"] == "SIMULATED"
    item = next(
        i for i in as_json(seeded, "status")["items"] if i["sku"] == OXY and i["org_id"] == ORG
    )
    assert item["current_stock"] == 0 and item["status"] == "CRITICAL"
    events = as_json(seeded, "audit")["events"]
    assert events[-1]["action"] == "chaos.stock"
    assert events[-1]["entity_id"] == OXY
    assert events[-1]["actor"] == "tester"


def test_chaos_vendor_weather_and_demand(seeded: str) -> None:
    assert "taken offline" in ok(seeded, "chaos", "vendor", "Blinkit", "--offline").stdout
    assert (
        "back online at 40 ms"
        in ok(seeded, "chaos", "vendor", "Blinkit", "--online", "--latency-ms", "40").stdout
    )
    assert as_json(seeded, "chaos", "weather", "Delhi", "storm")["values"]["condition"] == "Storm"
    doc = as_json(seeded, "chaos", "demand", ORG, OXY, "--factor", "3")
    assert doc["values"]["demand_factor"] == 3.0
    actions = [e["action"] for e in as_json(seeded, "audit")["events"]]
    assert actions[-4:] == ["chaos.vendor", "chaos.vendor", "chaos.weather", "chaos.demand"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("chaos", "vendor", "Blinkit"), "--offline or --online"),
        (("chaos", "vendor", "Nobody", "--offline"), "no vendor 'Nobody'"),
        (("chaos", "weather", "Delhi", "Tornado"), "unknown weather condition"),
        (("chaos", "stock", ORG, "NO-SUCH-SKU"), "no item 'NO-SUCH-SKU'"),
        (("chaos", "demand", ORG, OXY, "--factor", "0"), "factor must be"),
        (("chaos", "stock", ORG, OXY, "--to", "-1"), "--to"),
    ],
)
def test_chaos_bad_input_exits_2_with_one_sentence(
    seeded: str, args: tuple[str, ...], message: str
) -> None:
    result = run(seeded, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------- heal


def test_heal_creates_the_oxygen_order_from_a_licensed_supplier(seeded: str) -> None:
    ok(seeded, "chaos", "stock", ORG, OXY, "--to", "0")
    out = ok(seeded, "heal").stdout
    assert "Orders created" in out and OXY in out and "MedGas Oxygen" in out
    assert "Dunzo (OFFLINE)" in out  # the relief kits' preferred vendor falls back
    order = oxygen_order(seeded)
    assert order["vendor"] == "MedGas Oxygen" and order["status"] == "PLACED"
    assert order["reason"]["days_remaining"] == 0
    assert {"vendor": "OxyCare Supply", "why": "slower than the chosen vendor"} in order["reason"][
        "vendors_rejected"
    ]


def test_heal_json_report_and_no_duplicate_on_rerun(healed: str) -> None:
    doc = as_json(healed, "heal")
    assert {"cycle_id", "created", "covered", "pending_vendor", "orders", "dry_run"} <= set(doc)
    assert doc["created"] == 0, "an open order already covers every shortfall"
    assert doc["covered"] >= 1


def test_heal_dry_run_writes_nothing(seeded: str) -> None:
    ok(seeded, "chaos", "stock", ORG, OXY, "--to", "0")
    doc = as_json(seeded, "heal", "--dry-run")
    assert doc["dry_run"] is True
    assert any(o["sku"] == OXY for o in doc["orders"])
    assert "would be created" in ok(seeded, "heal", "--dry-run").stdout
    assert as_json(seeded, "orders")["orders"] == []


# ---------------------------------------------------------------------- orders


def test_orders_lists_with_reason_and_filters_by_status(healed: str) -> None:
    out = ok(healed, "orders").stdout
    assert "Purchase orders" in out and "PO-" in out
    assert "why PO-" in out and "rule days_remaining <= critical_days" in out
    doc = as_json(healed, "orders", "--status", "placed")
    assert doc["status"] == "PLACED"
    assert doc["orders"] and {o["status"] for o in doc["orders"]} == {"PLACED"}
    assert isinstance(doc["orders"][0]["reason"], dict), "--json shows the reason as an object"
    assert as_json(healed, "orders", "--status", "RECEIVED")["orders"] == []
    assert "no orders" in ok(healed, "orders", "--status", "CANCELLED").stdout


def test_orders_receive_adds_stock_and_is_audited_with_the_actor(healed: str) -> None:
    po = oxygen_order(healed)
    doc = as_json(healed, "orders", "receive", po["po_id"], "--actor", "alice")
    assert doc["order"]["status"] == "RECEIVED"
    assert doc["actor"] == "alice"
    item = next(
        i for i in as_json(healed, "status")["items"] if i["org_id"] == ORG and i["sku"] == OXY
    )
    assert item["current_stock"] == po["quantity"]
    events = as_json(healed, "audit")["events"]
    last = next(e for e in reversed(events) if e["action"] == "order.receive")
    assert (last["action"], last["actor"], last["entity_id"]) == (
        "order.receive",
        "alice",
        po["po_id"],
    )
    # the alerts the receipt ended follow it, each named and by the same actor
    after = events[events.index(last) + 1 :]
    assert after and all((e["action"], e["actor"]) == ("alert.resolved", "alice") for e in after)


def test_orders_set_quantity_and_cancel(healed: str) -> None:
    po = oxygen_order(healed)["po_id"]
    out = ok(healed, "orders", "set-quantity", po, "120", "--actor", "bob").stdout
    assert "120 x OXY-CYL" in out and "by bob" in out
    assert "CANCELLED" in ok(healed, "orders", "cancel", po).stdout
    assert oxygen_order(healed)["status"] == "CANCELLED"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("orders", "approve", "{po}"), "cannot approve"),
        (("orders", "set-quantity", "{po}", "0"), "quantity"),
        (("orders", "receive", "PO-NOPE"), "no purchase order 'PO-NOPE'"),
        (("orders", "--status", "LOST"), "--status"),
    ],
)
def test_orders_bad_overrides_exit_2(healed: str, args: tuple[str, ...], message: str) -> None:
    po = oxygen_order(healed)["po_id"]
    result = run(healed, *(a.format(po=po) for a in args))
    assert result.exit_code == 2
    assert message in result.stderr
    assert oxygen_order(healed)["status"] == "PLACED"


# ---------------------------------------------------------------------- alerts / ack


def test_alerts_and_ack(healed: str) -> None:
    out = ok(healed, "alerts").stdout
    assert "SEV1" in out and "OPEN" in out and ORG in out
    doc = as_json(healed, "alerts", "--severity", "sev1")
    assert doc["alerts"] and {a["severity"] for a in doc["alerts"]} == {"SEV1"}
    alert_id = doc["alerts"][0]["alert_id"]
    acked = as_json(healed, "ack", alert_id, "--actor", "carol")
    assert acked["alert"]["state"] == "ACKED" and acked["alert"]["acked_by"] == "carol"
    assert "ACKED" in ok(healed, "ack", alert_id).stdout, "acknowledging twice is harmless"
    assert alert_id not in {
        a["alert_id"] for a in as_json(healed, "alerts", "--state", "open")["alerts"]
    }
    missing = run(healed, "ack", "AL-NOPE")
    assert missing.exit_code == 2 and "no alert 'AL-NOPE'" in missing.stderr


# ---------------------------------------------------------------------- audit


def test_audit_lists_events_and_verifies(healed: str) -> None:
    out = ok(healed, "audit").stdout
    assert "Audit log" in out and "heal.actions" in out and "chaos.stock" in out
    events = as_json(healed, "audit")["events"]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert isinstance(events[0]["details"], dict)
    limited = as_json(healed, "audit", "--limit", "3")["events"]
    assert [e["seq"] for e in limited] == [e["seq"] for e in events[-3:]]
    assert "intact" in ok(healed, "audit", "--verify").stdout
    check = as_json(healed, "audit", "--verify")
    assert check == {
        "ok": True,
        "checked": len(events),
        "broken_seq": None,
        "problem": None,
        "keyed_from": None,
        "repairs": [],
        "anchored": None,
        "content_checked": check["content_checked"],
    }
    assert check["content_checked"] >= 1  # the heal's order and alert digests were recomputed


# ---------------------------------------------------------------------- tenants


def test_org_scopes_every_read_to_one_tenant(healed: str) -> None:
    scoped = ("--org", ORG)
    items = as_json(healed, *scoped, "status")["items"]
    assert items and {i["org_id"] for i in items} == {ORG}
    orders = as_json(healed, *scoped, "orders")["orders"]
    assert orders and {o["org_id"] for o in orders} == {ORG}
    alerts = as_json(healed, *scoped, "alerts")["alerts"]
    assert alerts and {a["org_id"] for a in alerts} == {ORG}
    events = as_json(healed, *scoped, "audit")["events"]
    assert events and {e["org_id"] for e in events} == {ORG}
    out = ok(healed, *scoped, "status").stdout
    assert OTHER_ORG not in out and "HOSP-DEL-001" not in out
    # the environment variable scopes the same way
    env_items = as_json(healed, "status", env={"RESQ_ORG": ORG})["items"]
    assert {i["org_id"] for i in env_items} == {ORG}


def test_org_cannot_change_another_tenants_order_or_alert(healed: str) -> None:
    po = oxygen_order(healed)["po_id"]
    result = run(healed, "--org", OTHER_ORG, "orders", "cancel", po)
    assert result.exit_code == 2
    assert f"no purchase order {po!r} for organization {OTHER_ORG!r}" in result.stderr
    assert oxygen_order(healed)["status"] == "PLACED"
    alert = as_json(healed, "--org", ORG, "alerts")["alerts"][0]["alert_id"]
    assert run(healed, "--org", OTHER_ORG, "ack", alert).exit_code == 2
    # its own order is fine
    assert as_json(healed, "--org", ORG, "orders", "cancel", po)["order"]["status"] == "CANCELLED"


def test_org_refuses_unknown_tenants_and_shared_writes(healed: str) -> None:
    unknown = run(healed, "--org", "NOPE-001", "status")
    assert unknown.exit_code == 2 and "no organization 'NOPE-001'" in unknown.stderr
    other = run(healed, "--org", ORG, "chaos", "stock", OTHER_ORG, "RICE")
    assert other.exit_code == 2 and "outside the --org scope" in other.stderr
    for args in (("chaos", "vendor", "Blinkit", "--offline"), ("seed",), ("init",)):
        result = run(healed, "--org", ORG, *args)
        assert result.exit_code == 2, args
        assert "shared by every organization" in result.stderr


# ---------------------------------------------------------------------- load / bad input


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_load_valid_file_is_labelled_real(seeded: str, tmp_path: Path) -> None:
    csv = write(
        tmp_path / "inv.csv",
        f"""
        org_id,sku,item_name,current_stock,daily_consumption
        {ORG},GLOVES,Nitrile gloves,500,20
        """,
    )
    doc = as_json(seeded, "load", "inventory", str(csv))
    assert doc == {"table": "inventory_master", "rows": 1, "data_source": "REAL", "file": str(csv)}
    (row,) = library_rows(seeded, "inventory_master", sku="GLOVES")
    assert row["data_source"] == "REAL" and row["current_stock"] == 500
    # its analysis uses simulated weather, so it is shown as SIMULATED (derived data)
    assert any(i["sku"] == "GLOVES" for i in as_json(seeded, "status")["items"])


def test_load_bad_rows_exit_2_listing_row_and_column_and_write_nothing(
    seeded: str, tmp_path: Path
) -> None:
    csv = write(
        tmp_path / "bad.csv",
        f"""
        org_id,sku,item_name,current_stock,daily_consumption
        {ORG},OK-1,Fine,5,1
        {ORG},BAD-1,Negative,-5,1
        {ORG},BAD-2,Not a number,5,lots
        """,
    )
    before = len(as_json(seeded, "status")["items"])
    result = run(seeded, "load", "inventory", str(csv))
    assert result.exit_code == 2
    assert "2 problems, nothing was written" in result.stderr
    assert "row 2, column 'current_stock'" in result.stderr
    assert "row 3, column 'daily_consumption'" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(as_json(seeded, "status")["items"]) == before
    doc = as_json(seeded, "load", "inventory", str(csv), code=2)
    assert doc["ok"] is False and doc["exit_code"] == 2
    assert doc["error"]["type"] == "ValidationError" and len(doc["error"]["issues"]) == 2


@pytest.mark.parametrize(
    ("table", "filename", "message"),
    [
        ("widgets", "x.csv", "unknown table; loadable tables:"),
        ("inventory", "missing.csv", "no such file"),
        ("inventory", "notes.txt.xyz", "unsupported file type"),
    ],
)
def test_load_unknown_table_or_file_exits_2(
    seeded: str, tmp_path: Path, table: str, filename: str, message: str
) -> None:
    path = tmp_path / filename
    if filename != "missing.csv":
        path.write_text("org_id\nX\n", encoding="utf-8")
    result = run(seeded, "load", table, str(path))
    assert result.exit_code == 2
    assert message in result.stderr


def test_hostile_strings_are_bound_and_shown_literally(seeded: str, tmp_path: Path) -> None:
    injection = "x'; DROP TABLE inventory_master; --"
    result = run(seeded, "chaos", "stock", injection, OXY)
    assert result.exit_code == 2 and "no item" in result.stderr
    assert len(as_json(seeded, "status")["items"]) == 18, "the table is still there"
    hostile = "[bold red]boom[/bold red] \x1b[2J"
    json_path = tmp_path / "inv.json"
    json_path.write_text(
        json.dumps(
            [
                {
                    "org_id": ORG,
                    "sku": "EVIL",
                    "item_name": hostile,
                    "current_stock": 1,
                    "daily_consumption": 1,
                }
            ]
        ),
        encoding="utf-8",
    )
    ok(seeded, "load", "inventory", str(json_path))
    out = ok(seeded, "status").stdout
    assert "[bold red]boom[/bold red]" in out, "never parsed as Rich markup"
    assert "\x1b" not in out and "\\x1b[2J" in out, "control characters are escaped"
    items = as_json(seeded, "status")["items"]
    assert any(i["item_name"] == hostile for i in items), "--json keeps the value, escaped"


# ---------------------------------------------------------------------- global behaviour


def test_json_errors_are_one_document_and_messages_go_to_stderr(healed: str) -> None:
    result = runner.invoke(app, ["--db", healed, "--json", "orders", "approve", "PO-NOPE"], env=ENV)
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc == {
        "ok": False,
        "exit_code": 2,
        "error": {
            "type": "NotFoundError",
            "message": "no purchase order 'PO-NOPE'",
            "issues": [],
        },
    }
    assert result.stderr.strip() == "error: no purchase order 'PO-NOPE'"


def test_debug_shows_the_traceback(healed: str) -> None:
    plain = run(healed, "orders", "receive", "PO-NOPE")
    assert "Traceback" not in plain.stderr
    debug = run(healed, "--debug", "orders", "receive", "PO-NOPE")
    assert debug.exit_code == 2
    assert "Traceback" in debug.stderr and "NotFoundError" in debug.stderr


@pytest.mark.parametrize(
    ("db", "message"),
    [("mysql://localhost/x", "no backend for 'mysql'"), ("resq.duckdb", "not a connection URL")],
)
def test_unknown_backend_exits_2(db: str, message: str) -> None:
    result = run(db, "status")
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_locked_database_exits_2_naming_the_cause(seeded: str) -> None:
    path = seeded.removeprefix("duckdb:///")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(30)",
            path,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = run(seeded, "status")
        assert result.exit_code == 2
        assert "locked" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        holder.kill()
        holder.wait()


def test_deploy_is_a_command_not_a_reserved_name() -> None:
    from resq.cli import reserved

    assert "deploy" not in reserved.RESERVED
    result = runner.invoke(app, ["deploy", "snowflake", "--help"], env=ENV)
    assert result.exit_code == 0 and "--dry-run" in result.stdout
    assert "deploy" in runner.invoke(app, ["--help"], env=ENV).stdout


def test_version_and_help() -> None:
    version = runner.invoke(app, ["--version"], env=ENV)
    assert version.exit_code == 0 and version.stdout.strip() == f"resq {resq.__version__}"
    result = runner.invoke(app, ["--help"], env=ENV)
    assert result.exit_code == 0
    for word in ("--db", "--org", "--json", "RESQ_DB", "demo", "heal", "chaos", "Examples"):
        assert word in result.stdout
    bare = runner.invoke(app, [], env=ENV)
    assert bare.exit_code == 2 and "Usage: resq" in bare.stdout, "no command: usage, exit 2"
