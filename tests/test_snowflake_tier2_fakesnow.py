"""Tier 2: the Snowflake backend against a fakesnow server on 127.0.0.1, through the real
Snowflake connector (and a real Snowpark session): schema, loads, MERGE, the heal commit,
the audit chain, transactions, staging, and parity with DuckDB.

The whole shared backend suite also runs here (tests/conftest.py FACTORIES["snowflake"]).
fakesnow has no dynamic tables and runs no Python functions, so these backends use
``analysis=view`` and ``python=false`` (tests/snowflake_peer.py): the dynamic table and the
UDFs are covered by tiers 1, 3 and 4, never by a fakesnow "success".
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import resq
import snowflake_peer
from resq.backends.base import Capability
from resq.backends.snowflake import SnowflakeBackend, from_session
from resq.engine import SelfHealingEngine
from resq.errors import BackendError, ConflictError, UnknownBackendError
from snowflake_peer import PEER

T0 = datetime(2030, 3, 2, 9, 30)
ORG, OXY = "HOSP-BLR-001", "OXY-CYL"


def _backend(tmp_path: Path, name: str = "db", **options: Any) -> SnowflakeBackend:
    backend = snowflake_peer.make_backend(tmp_path, name, options)
    assert isinstance(backend, SnowflakeBackend)
    return backend


@pytest.fixture
def snow(tmp_path: Path) -> Any:
    backend = _backend(tmp_path)
    backend.init()
    yield backend
    backend.close()


@pytest.fixture
def seeded_snow(snow: SnowflakeBackend) -> SnowflakeBackend:
    SelfHealingEngine(snow).seed(days=0)
    return snow


def _count(backend: Any, table: str) -> int:
    return int(backend.sql(f"SELECT COUNT(*) FROM {table}").scalar())


# --- the peer and the connection ----------------------------------------------------------


def test_snowflake_tier2_fakesnow_server_is_local_and_the_connector_is_real(
    snow: SnowflakeBackend,
) -> None:
    assert PEER.running
    conn = snow._session().driver.conn  # type: ignore[union-attr]
    assert type(conn).__module__ == "snowflake.connector.connection"
    assert conn.host == "127.0.0.1" and conn.port == PEER.port
    # what this tier cannot do is declared, not pretended
    assert not snow.has(Capability.NATIVE_DYNAMIC_TABLES)
    assert not snow.has(Capability.PYTHON_UDFS)
    assert snow.analysis_state()["kind"] == "VIEW"
    assert not snow.refresh_analysis(force=True).refreshed


def test_snowflake_tier2_fakesnow_server_keeps_answering_after_logging_more_than_a_pipe_holds(
    snow: SnowflakeBackend,
) -> None:
    # The server logs a line for every failed statement. Its log once went to a pipe nobody
    # read: after 64 KB the server blocked on a write, and every later test of a long run
    # failed to connect. Log well past that and the server must still answer.
    start = PEER.log_size()
    failed = 0
    while PEER.log_size() - start < 2 * 65536:
        with pytest.raises(BackendError):
            snow.sql("SELECT * FROM resq_no_such_table_for_the_log")
        failed += 1
        assert failed < 20000, "the server stopped logging failed statements"
    assert snow.sql("SELECT 41 + 1 AS v").scalar() == 42


def test_snowflake_tier2_fakesnow_url_names_database_schema_and_role(tmp_path: Path) -> None:
    db = snowflake_peer.database_for(tmp_path, "url")
    backend = resq.connect(
        f"snowflake://fake@fakesnow/{db}/OPS?warehouse=RESQ_WH&role=RESQ_APP"
        "&analysis=view&python=false",
        **PEER.connect_kwargs(),
    )
    try:
        row = backend.sql("SELECT CURRENT_DATABASE() AS d, CURRENT_SCHEMA() AS s").to_pylist()
        assert row == [{"d": db, "s": "OPS"}]
    finally:
        backend.close()


def test_snowflake_tier2_fakesnow_named_connection_from_connections_toml(
    tmp_path: Path,
) -> None:
    kwargs = PEER.connect_kwargs()
    db = snowflake_peer.database_for(tmp_path, "named")
    (tmp_path / "connections.toml").write_text(
        "[dev]\n"
        'account = "fakesnow"\nuser = "fake"\npassword = "snow"\n'
        f'host = "127.0.0.1"\nport = {kwargs["port"]}\nprotocol = "http"\n'
        f'database = "{db}"\nschema = "PUBLIC"\n'
    )
    (tmp_path / "connections.toml").chmod(0o600)
    backend = resq.connect(
        "snowflake://?connection_name=dev&analysis=view&python=false",
        connections_file_path=tmp_path / "connections.toml",
        session_parameters=kwargs["session_parameters"],
    )
    try:
        assert backend.sql("SELECT CURRENT_DATABASE()").scalar() == db
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("snowflake://u@a/DB?colour=red", "unknown Snowflake URL option"),
        ("snowflake://u@a/DB/S/X", "the path is /DATABASE"),
        ("snowflake://u@a/DB?analysis=table", "analysis must be"),
        ("snowflake://u@a/DB?python=maybe", "python must be"),
        ("snowflake://u@a/DB?target_lag=30", "smallest target lag"),
    ],
)
def test_snowflake_tier2_fakesnow_bad_urls_are_clear_errors(url: str, message: str) -> None:
    with pytest.raises(Exception, match=message):
        resq.connect(url)


def test_snowflake_tier2_fakesnow_without_the_extra_the_error_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "snowflake.connector", None)
    with pytest.raises(BackendError, match=r"pip install 'resq\[snowflake\]'"):
        resq.connect("snowflake://u@a/DB/S")


def test_snowflake_tier2_fakesnow_results_are_normalized(snow: SnowflakeBackend) -> None:
    row = snow.sql(
        "SELECT 1 AS One, 0.5 AS half, 2.0::FLOAT AS f, OBJECT_CONSTRUCT('a', 1, 'b', 'x') AS o, "
        "'2030-01-02'::DATE AS d, '2030-01-02 03:04:05'::TIMESTAMP_NTZ AS ts, TRUE AS b"
    ).to_arrow()
    assert row.column_names == ["one", "half", "f", "o", "d", "ts", "b"]
    assert row.schema.field("one").type == pa.int64()
    assert row.schema.field("half").type == pa.float64()
    assert row.to_pylist() == [
        {
            "one": 1,
            "half": 0.5,
            "f": 2.0,
            "o": {"a": 1, "b": "x"},
            "d": date(2030, 1, 2),
            "ts": datetime(2030, 1, 2, 3, 4, 5),
            "b": True,
        }
    ]


# --- staging and transactions -------------------------------------------------------------


def test_snowflake_tier2_fakesnow_staging_round_trips_every_type(snow: SnowflakeBackend) -> None:
    data = pa.table(
        {
            "s": ["a", None, "x'); DROP TABLE organizations;--"],
            "f": [1.5, float("nan"), None],
            "i": [1, None, 3],
            "b": [True, False, None],
            "ts": pa.array([T0, None, T0], pa.timestamp("us")),
            "d": pa.array([date(2030, 1, 1), None, date(2030, 1, 3)], pa.date32()),
            "r": [{"k": 1, "l": ["a"]}, None, {"k": 2, "l": []}],
        }
    )
    snow.stage("resq_stage_probe", data)
    got = snow.fetch("SELECT s, f, i, b, ts, d, TO_JSON(r) AS r FROM resq_stage_probe").to_pylist()
    expected = data.to_pylist()
    for g, e in zip(sorted(got, key=repr), sorted(expected, key=repr), strict=False):
        assert g["s"] == e["s"] and g["i"] == e["i"] and g["b"] == e["b"]
        assert g["ts"] == e["ts"] and g["d"] == e["d"]
        assert (g["f"] is None) == (e["f"] is None or math.isnan(e["f"]))
        assert (json.loads(g["r"]) if g["r"] else None) == e["r"]
    snow.stage("resq_stage_probe", data.slice(0, 1))  # replaces the rows
    assert snow.fetch("SELECT COUNT(*) FROM resq_stage_probe").column(0)[0].as_py() == 1


def test_snowflake_tier2_fakesnow_a_failed_transaction_writes_nothing(
    seeded_snow: SnowflakeBackend,
) -> None:
    before = _count(seeded_snow, "vendors")
    with pytest.raises(RuntimeError), seeded_snow.transaction():
        seeded_snow.execute("INSERT INTO vendors (vendor_id, data_source) VALUES ('X', 'REAL')")
        seeded_snow.stage("resq_stage_audit", pa.table({"seq": [1]}))
        raise RuntimeError("boom")
    assert _count(seeded_snow, "vendors") == before


def test_snowflake_tier2_fakesnow_ddl_inside_a_transaction_commits_what_came_before(
    snow: SnowflakeBackend,
) -> None:
    """Snowflake's rule: a DDL statement commits the open transaction. resq makes that
    commit explicit, and the statements after the DDL are a new transaction."""
    with pytest.raises(RuntimeError), snow.transaction():
        snow.execute("INSERT INTO vendors (vendor_id, data_source) VALUES ('BEFORE', 'REAL')")
        snow.execute("CREATE TABLE IF NOT EXISTS resq_probe (a INTEGER)")
        snow.execute("INSERT INTO vendors (vendor_id, data_source) VALUES ('AFTER', 'REAL')")
        raise RuntimeError("boom")
    ids = snow.sql("SELECT vendor_id FROM vendors").to_arrow().column(0).to_pylist()
    assert ids == ["BEFORE"]


def test_snowflake_tier2_fakesnow_a_new_stage_after_a_write_asks_for_a_retry(
    snow: SnowflakeBackend,
) -> None:
    def write() -> None:
        with snow.transaction():
            snow.execute("INSERT INTO vendors (vendor_id, data_source) VALUES ('V', 'REAL')")
            snow.stage("resq_stage_brand_new", pa.table({"a": ["x"]}))

    with pytest.raises(ConflictError, match="retry"):
        write()
    assert _count(snow, "vendors") == 0  # rolled back, not committed by a CREATE
    write()  # the table exists now: the retry succeeds
    assert _count(snow, "vendors") == 1


# --- the heal cycle through the real connector ----------------------------------------------


def test_snowflake_tier2_fakesnow_heal_commits_orders_alerts_outbox_and_audit(
    seeded_snow: SnowflakeBackend,
) -> None:
    engine = SelfHealingEngine(seeded_snow)
    engine.drop_stock(ORG, OXY)
    report = engine.heal()
    oxygen = [o for o in report.orders if o["sku"] == OXY and o["org_id"] == ORG]
    # oxygen only from a licensed medical-gas supplier (the faster of the two)
    assert len(oxygen) == 1 and oxygen[0]["vendor"] == "MedGas Oxygen"
    reason = json.loads(oxygen[0]["reason"])
    assert reason["vendor"] == "MedGas Oxygen"
    assert {"vendor": "OxyCare Supply", "why": "slower than the chosen vendor"} in reason[
        "vendors_rejected"
    ]
    assert report.alerts_raised >= 1 and report.notifications_queued >= 1
    assert _count(seeded_snow, "purchase_orders") == report.created
    actions = seeded_snow.sql("SELECT action FROM audit_log").to_arrow().column(0).to_pylist()
    assert "heal.cycle" in actions and "heal.actions" in actions
    assert seeded_snow.verify_audit().ok
    again = engine.heal()  # the keyed MERGE: nothing twice
    assert again.created == 0 and again.covered >= report.created
    assert _count(seeded_snow, "purchase_orders") == report.created


def test_snowflake_tier2_fakesnow_a_failing_heal_commit_writes_nothing(
    seeded_snow: SnowflakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = SelfHealingEngine(seeded_snow)
    engine.drop_stock(ORG, OXY)
    tables = ("purchase_orders", "alerts", "notifications", "audit_log", "heal_cycles")
    before = {t: _count(seeded_snow, t) for t in tables}

    def fail(*args: Any, **kwargs: Any) -> int:
        raise BackendError("the audit log is unavailable")

    monkeypatch.setattr(seeded_snow, "append_audit", fail)
    with pytest.raises(BackendError, match="unavailable"):
        engine.heal()
    monkeypatch.undo()
    assert {t: _count(seeded_snow, t) for t in tables} == before
    assert engine.heal().created >= 1  # and the next cycle completes


def test_snowflake_tier2_fakesnow_tenant_reads_are_scoped(seeded_snow: SnowflakeBackend) -> None:
    engine = SelfHealingEngine(seeded_snow)
    engine.drop_stock(ORG, OXY)
    engine.drop_stock("PDS-DEL-001", "WHEAT")
    engine.heal()
    tenant = seeded_snow.tenant(ORG)
    for table in ("purchase_orders", "alerts", "stock_analysis", "inventory_master"):
        orgs = set(tenant.read(table).column("org_id").to_pylist())
        assert orgs == {ORG}, table
    scoped = tenant.sql("SELECT org_id FROM purchase_orders").to_arrow()
    assert set(scoped.column(0).to_pylist()) == {ORG}


# --- a real Snowpark session ----------------------------------------------------------------


def test_snowflake_tier2_fakesnow_snowpark_session_runs_the_heal_cycle(tmp_path: Path) -> None:
    from snowflake.snowpark import Session

    kwargs = PEER.connect_kwargs()
    db = snowflake_peer.database_for(tmp_path, "snowpark")
    session = Session.builder.configs(
        {**kwargs, "account": "fakesnow", "user": "fake", "database": db, "schema": "PUBLIC"}
    ).create()
    try:
        backend = from_session(session, analysis="view", python=False)
        backend.init()
        engine = SelfHealingEngine(backend)
        engine.seed(n_orgs=3, skus_per_org=2, days=0)
        engine.drop_stock(ORG, OXY)
        report = engine.heal()
        assert report.created >= 1
        assert backend.verify_audit().ok
        backend.close()  # the session stays the caller's
        assert session.sql("SELECT COUNT(*) FROM purchase_orders").collect()[0][0] >= 1
    finally:
        try:
            session.close()
        except Exception:  # fakesnow lacks SYSTEM$CANCEL_ALL_QUERIES, which close calls
            pass


# --- parity with DuckDB -------------------------------------------------------------------


def _network(backend: Any, seed: int) -> dict[str, Any]:
    engine = SelfHealingEngine(backend, clock=lambda: T0)
    engine.seed(n_orgs=9, skus_per_org=3, seed=seed, days=0)
    engine.drop_stock(ORG, OXY)
    engine.drop_stock("PDS-DEL-001", "WHEAT", to=3.0)
    engine.set_weather("Delhi", "Flood")
    engine.spike_demand("NGO-BLR-001", "KIT", 4.0) if _has(backend, "NGO-BLR-001", "KIT") else None
    analysis = backend.read("stock_analysis", order_by=("org_id", "sku")).to_pylist()
    report = engine.heal()
    orders = backend.read("purchase_orders", order_by=("idempotency_key",)).to_pylist()
    alerts = backend.read("alerts", order_by=("dedup_key",)).to_pylist()
    return {"analysis": analysis, "orders": orders, "alerts": alerts, "report": report}


def _has(backend: Any, org: str, sku: str) -> bool:
    return bool(
        backend.sql(
            "SELECT COUNT(*) FROM inventory_master WHERE org_id = ? AND sku = ?", [org, sku]
        ).scalar()
    )


IDS = {"po_id", "cycle_id", "created_at", "updated_at", "alert_id"}


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if key in IDS:
            continue
        if key == "reason" and isinstance(value, str):
            value = json.loads(value)
        out[key] = value
    return out


@pytest.mark.parametrize("seed", [7, 42])
def test_snowflake_tier2_fakesnow_parity_with_duckdb(tmp_path: Path, seed: int) -> None:
    """The same inventories into DuckDB and into Snowflake (fakesnow): identical analysis
    rows and identical orders, ids aside."""
    duck = resq.connect(f"duckdb:///{tmp_path}/parity.duckdb")
    snow = _backend(tmp_path, f"parity{seed}")
    try:
        duck.init()
        snow.init()
        on_duck, on_snow = _network(duck, seed), _network(snow, seed)
    finally:
        duck.close()
        snow.close()
    assert len(on_duck["analysis"]) == len(on_snow["analysis"]) > 0
    for d, s in zip(on_duck["analysis"], on_snow["analysis"], strict=True):
        assert _comparable(d) == _comparable(s), (d["org_id"], d["sku"])
    assert on_duck["report"].created == on_snow["report"].created >= 2
    assert [_comparable(o) for o in on_duck["orders"]] == [
        _comparable(o) for o in on_snow["orders"]
    ]
    assert [o["po_id"] for o in on_duck["orders"]] == [o["po_id"] for o in on_snow["orders"]]
    for d, s in zip(on_duck["alerts"], on_snow["alerts"], strict=True):
        assert _comparable(d) == _comparable(s), d["dedup_key"]


def test_snowflake_tier2_fakesnow_unknown_backend_hint_still_works() -> None:
    with pytest.raises(UnknownBackendError):
        resq.connect("snowflakes://x")
