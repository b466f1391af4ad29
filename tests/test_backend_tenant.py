"""Tenant isolation: ``backend.tenant(org)`` sees and changes only that organization's rows,
on every path a tenant is offered (reads, ad-hoc SQL, overrides, alert acks)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import resq
from resq.backends.duckdb.rewrites import SQLTranslationError
from resq.backends.warehouse import TENANT_TABLES, WarehouseBackend
from resq.errors import NotFoundError, TenantScopeError

ORGS = (
    "HOSP-BLR-001",
    "PDS-BLR-001",
    "NGO-BLR-001",
    "HOSP-DEL-001",
    "PDS-DEL-001",
    "NGO-DEL-001",
)
SCOPED = sorted(t for t, scope in TENANT_TABLES.items() if scope is not None)
SHARED = sorted(t for t, scope in TENANT_TABLES.items() if scope is None)

#: Read-only queries a tenant may run; each returns an org_id column.
TENANT_QUERIES = [
    "SELECT * FROM purchase_orders",
    "SELECT org_id, sku FROM inventory_master",
    "SELECT org_id, status FROM stock_analysis WHERE status <> 'OK'",
    "SELECT org_id FROM audit_log",
    "SELECT org_id, severity FROM alerts",
    "SELECT org_id FROM notifications",
    "SELECT * FROM organizations",
    "SELECT p.org_id, o.org_name FROM purchase_orders p JOIN organizations o "
    "ON o.org_id = p.org_id",
    "SELECT a.org_id FROM alerts a LEFT JOIN purchase_orders p ON p.po_id = a.po_id",
    "SELECT i.org_id FROM inventory_master i, audit_log l WHERE l.entity_id = i.sku",
    "WITH open AS (SELECT * FROM purchase_orders WHERE status <> 'CANCELLED') "
    "SELECT org_id FROM open",
    "WITH a AS (SELECT org_id FROM audit_log), b AS (SELECT org_id FROM a) SELECT * FROM b",
    "SELECT org_id FROM (SELECT org_id FROM alerts) AS t",
    "SELECT org_id FROM organizations WHERE org_id IN (SELECT org_id FROM purchase_orders)",
    "SELECT org_id FROM inventory_master i WHERE EXISTS "
    "(SELECT 1 FROM purchase_orders p WHERE p.sku = i.sku)",
    "SELECT org_id FROM purchase_orders UNION ALL SELECT org_id FROM alerts",
    "SELECT org_id, COUNT(*) AS n FROM audit_log GROUP BY org_id",
    'SELECT org_id FROM "PURCHASE_ORDERS"',
    "SELECT org_id FROM Purchase_Orders",
    # CTEs that shadow table names must not unscope the real table anywhere in the query.
    "WITH audit_log AS (SELECT * FROM audit_log) SELECT org_id FROM audit_log",
    "SELECT a.org_id FROM audit_log a, "
    "(WITH audit_log AS (SELECT 1 AS z) SELECT * FROM audit_log) s",
    "WITH x AS (SELECT org_id FROM alerts), alerts AS (SELECT * FROM x) SELECT org_id FROM alerts",
    "SELECT org_id FROM (WITH purchase_orders AS (SELECT org_id FROM alerts) "
    "SELECT org_id FROM purchase_orders) UNION ALL SELECT org_id FROM purchase_orders",
]

WRITES = [
    "INSERT INTO purchase_orders SELECT * FROM purchase_orders",
    "UPDATE inventory_master SET current_stock = 0",
    "DELETE FROM alerts",
    "DROP TABLE inventory_master",
    "CREATE TABLE x AS SELECT * FROM audit_log",
    "TRUNCATE TABLE audit_log",
    "MERGE INTO alerts t USING alerts s ON t.alert_id = s.alert_id "
    "WHEN MATCHED THEN UPDATE SET t.state = 'ACKED'",
    "ALTER TABLE alerts ADD COLUMN x INT",
    "COPY purchase_orders TO 'leak.csv'",
    "SELECT 1; DELETE FROM alerts",
    "ATTACH 'other.duckdb'",
]

FORBIDDEN = [
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM information_schema.columns",
    "SELECT * FROM duckdb_tables()",
    "SELECT * FROM heal_cycles",
    "SELECT * FROM audit_head",
    "SELECT * FROM resq_schema_version",
    "SELECT * FROM dt_refresh_history",
    "SELECT * FROM main.purchase_orders",
    "SELECT * FROM memory.main.alerts",
    "SELECT * FROM read_parquet('x.parquet')",
    "SELECT * FROM read_csv('x.csv')",
    "SELECT * FROM query('SELECT * FROM purchase_orders')",
    "SELECT * FROM GENERATE_REALISTIC_SIMULATION('HOSP-BLR-001', 'OXY-CYL', 3, 1)",
    "SELECT * FROM TABLE(GENERATE_REALISTIC_SIMULATION('HOSP-BLR-001', 'OXY-CYL', 3, 1))",
    "SELECT current_setting('threads')",
    "SELECT pg_sleep(1)",
    "SELECT getvariable('x')",
    "SELECT org_id FROM purchase_orders WHERE org_id = current_setting('x')",
    "SELECT * FROM purchase_orders p JOIN heal_cycles h ON TRUE",
    "SELECT (SELECT COUNT(*) FROM heal_cycles) AS n",
    "WITH c AS (SELECT * FROM heal_cycles) SELECT * FROM c",
    "WITH heal_cycles AS (SELECT * FROM heal_cycles) SELECT * FROM heal_cycles",
]


def _heal(backend: WarehouseBackend) -> WarehouseBackend:
    """The seeded network after a chaos drop at two organizations and one heal cycle:
    orders, alerts, outbox rows and audit events for several organizations."""
    engine = resq.SelfHealingEngine(backend)
    engine.seed()
    engine.drop_stock("HOSP-BLR-001", "OXY-CYL")
    engine.drop_stock("PDS-DEL-001", "WHEAT")
    report = engine.heal()
    assert report.created >= 2 and report.alerts_raised >= 2
    return backend


@pytest.fixture(scope="module")
def healed(make_shared_backend: Any) -> WarehouseBackend:
    """Shared by the module's tests, which only read it or try changes that must be
    refused (each checks that nothing changed)."""
    return _heal(make_shared_backend())


@pytest.fixture
def own_healed(backend: WarehouseBackend) -> WarehouseBackend:
    """A private healed network, for tests whose actions succeed."""
    return _heal(backend)


def _owned(backend: WarehouseBackend, table: str, org: str) -> int:
    return backend.sql(f"SELECT COUNT(*) FROM {table} WHERE org_id = ?", [org]).scalar()


def _state(backend: WarehouseBackend) -> dict[str, Any]:
    """Everything a tenant action could change, for before/after comparisons."""
    return {
        t: sorted(map(repr, backend.sql(f"SELECT * FROM {t}").to_pylist()))
        for t in ("purchase_orders", "alerts", "inventory_master", "notifications", "audit_log")
    }


# --- reads -------------------------------------------------------------------------------


def test_the_fixture_has_rows_of_several_organizations(healed: WarehouseBackend) -> None:
    for table in ("purchase_orders", "alerts", "audit_log", "notifications"):
        orgs = {r["org_id"] for r in healed.sql(f"SELECT DISTINCT org_id FROM {table}")}
        assert len(orgs - {None}) >= 2, table


def test_tenant_reads_return_only_its_rows(healed: WarehouseBackend) -> None:
    for org in ORGS:
        tenant = healed.tenant(org)
        reads = {
            "inventory_master": tenant.inventory(),
            "stock_analysis": tenant.analysis(),
            "purchase_orders": tenant.orders(),
            "alerts": tenant.alerts(),
            "audit_log": tenant.audit(),
        }
        for table in SCOPED:
            reads.setdefault(table, tenant.read(table))
        for table, rows in reads.items():
            assert set(rows.column("org_id").to_pylist()) <= {org}, (org, table)
            assert rows.num_rows == _owned(healed, table, org), (org, table)
        assert tenant.inventory().num_rows == 3
        for table in SHARED:
            everything = healed.sql(f"SELECT COUNT(*) FROM {table}").scalar()
            assert tenant.read(table).num_rows == everything, table


def test_tenant_read_refuses_other_tables(healed: WarehouseBackend) -> None:
    tenant = healed.tenant("HOSP-BLR-001")
    for table in ("heal_cycles", "audit_head", "resq_schema_version", "vendor_status_log"):
        with pytest.raises(TenantScopeError):
            tenant.read(table)


def test_tenant_read_filters_cannot_widen_the_scope(healed: WarehouseBackend) -> None:
    tenant = healed.tenant("HOSP-BLR-001")
    other = tenant.read("purchase_orders", where={"org_id": "PDS-DEL-001"})
    assert other.num_rows == 0


def test_tenant_read_orders_only_by_columns(healed: WarehouseBackend) -> None:
    tenant = healed.tenant("HOSP-BLR-001")
    skus = tenant.read("inventory_master", order_by=("sku DESC",)).column("sku").to_pylist()
    assert skus == sorted(skus, reverse=True)
    for order_by in (
        "(SELECT COUNT(*) FROM heal_cycles)",
        "(SELECT MAX(quantity) FROM purchase_orders WHERE org_id = 'PDS-DEL-001')",
        "sku; DROP TABLE organizations",
    ):
        with pytest.raises(TenantScopeError):
            tenant.read("inventory_master", order_by=(order_by,))


def test_tenant_sql_that_does_not_parse_is_a_clear_error(healed: WarehouseBackend) -> None:
    with pytest.raises(SQLTranslationError, match="not valid Snowflake SQL"):
        healed.tenant("HOSP-BLR-001").sql("SELEC * FROM purchase_orders")


@pytest.mark.parametrize("query", TENANT_QUERIES)
def test_tenant_sql_sees_only_its_rows(healed: WarehouseBackend, query: str) -> None:
    for org in ("HOSP-BLR-001", "PDS-DEL-001", "NGO-BLR-001"):
        rows = healed.tenant(org).sql(query).to_pylist()
        assert {r["org_id"] for r in rows} <= {org}, (org, rows[:3])


def test_tenant_sql_counts_match_the_owned_rows(healed: WarehouseBackend) -> None:
    for org in ORGS:
        tenant = healed.tenant(org)
        for table in SCOPED:
            n = tenant.sql(f"SELECT COUNT(*) FROM {table}").scalar()
            assert n == _owned(healed, table, org), (org, table)
        row = tenant.sql(
            "SELECT (SELECT COUNT(*) FROM purchase_orders) AS orders, "
            "(SELECT COUNT(*) FROM alerts) AS alerts, (SELECT COUNT(*) FROM audit_log) AS audit"
        ).to_pylist()[0]
        assert row == {
            "orders": _owned(healed, "purchase_orders", org),
            "alerts": _owned(healed, "alerts", org),
            "audit": _owned(healed, "audit_log", org),
        }


@pytest.mark.notimpl(
    ["snowflake"], reason="calls GET_WEATHER_DATA, a Python UDF the fakesnow tier cannot run"
)
def test_tenant_sql_may_read_shared_tables_and_signals(healed: WarehouseBackend) -> None:
    tenant = healed.tenant("NGO-DEL-001")
    assert (
        len(tenant.sql("SELECT * FROM vendors"))
        == healed.sql("SELECT COUNT(*) FROM vendors").scalar()
    )
    assert tenant.sql("SELECT GET_WEATHER_DATA('Delhi') AS w").scalar() == "Haze"
    status = tenant.sql("SELECT GET_VENDOR_STATUS('Dunzo'):status::string AS s").scalar()
    assert status == "OFFLINE"


@pytest.mark.parametrize("query", WRITES)
def test_tenant_sql_refuses_writes(healed: WarehouseBackend, query: str) -> None:
    before = _state(healed)
    # Refused as a write, or (ATTACH: not Snowflake SQL) refused as unparsable.
    with pytest.raises((TenantScopeError, SQLTranslationError)):
        healed.tenant("HOSP-BLR-001").sql(query)
    assert _state(healed) == before


@pytest.mark.parametrize("query", FORBIDDEN)
def test_tenant_sql_refuses_other_tables_and_functions(
    healed: WarehouseBackend, query: str
) -> None:
    with pytest.raises(TenantScopeError):
        healed.tenant("HOSP-BLR-001").sql(query)


def test_unknown_tenant_is_not_found(healed: WarehouseBackend) -> None:
    for org in ("NOPE", "hosp-blr-001", "x'); DROP TABLE organizations;--", ""):
        with pytest.raises(NotFoundError):
            healed.tenant(org)
    assert healed.sql("SELECT COUNT(*) FROM organizations").scalar() == 6


@settings(max_examples=40)
@given(org=st.sampled_from(ORGS), query=st.sampled_from(TENANT_QUERIES))
def test_any_tenant_any_query_sees_only_its_rows(
    healed: WarehouseBackend, org: str, query: str
) -> None:
    rows = healed.tenant(org).sql(query).to_pylist()
    assert {r["org_id"] for r in rows} <= {org}


# --- actions -----------------------------------------------------------------------------


def _orders_by_org(backend: WarehouseBackend) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in backend.sql("SELECT * FROM purchase_orders ORDER BY po_id"):
        out.setdefault(row["org_id"], []).append(row)
    return out


def _alerts_by_org(backend: WarehouseBackend) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in backend.sql("SELECT * FROM alerts ORDER BY alert_id"):
        out.setdefault(row["org_id"], []).append(row)
    return out


@pytest.mark.parametrize("action", ["approve", "cancel", "receive", "set_quantity"])
def test_tenant_cannot_override_another_orgs_order(healed: WarehouseBackend, action: str) -> None:
    orders = _orders_by_org(healed)
    victim = orders["PDS-DEL-001"][0]
    before = _state(healed)
    for attacker in ORGS:
        if attacker == victim["org_id"]:
            continue
        with pytest.raises(NotFoundError):
            healed.tenant(attacker).override_order(
                victim["po_id"], action, actor="mallory", quantity=1.0
            )
    assert _state(healed) == before


def test_tenant_cannot_ack_another_orgs_alert(healed: WarehouseBackend) -> None:
    victim = _alerts_by_org(healed)["HOSP-BLR-001"][0]
    before = _state(healed)
    for attacker in ORGS:
        if attacker == victim["org_id"]:
            continue
        with pytest.raises(NotFoundError):
            healed.tenant(attacker).ack_alert(victim["alert_id"], actor="mallory")
    assert _state(healed) == before


def test_tenant_can_act_on_its_own_rows(own_healed: WarehouseBackend) -> None:
    healed = own_healed
    tenant = healed.tenant("HOSP-BLR-001")
    order = tenant.orders().to_pylist()[0]
    changed = tenant.override_order(order["po_id"], "cancel", actor="nurse-asha")
    assert changed["status"] == "CANCELLED"
    alert = tenant.alerts().to_pylist()[0]
    acked = tenant.ack_alert(alert["alert_id"], actor="nurse-asha")
    assert (acked["state"], acked["acked_by"]) == ("ACKED", "nurse-asha")
    audit = tenant.audit().to_pylist()
    assert {("order.cancel", "nurse-asha"), ("alert.ack", "nurse-asha")} <= {
        (r["action"], r["actor"]) for r in audit
    }
    assert all(r["org_id"] == "HOSP-BLR-001" for r in audit)
    assert healed.verify_audit().ok


@settings(max_examples=30)
@given(
    pair=st.permutations(ORGS).map(lambda p: (p[0], p[1])),
    action=st.sampled_from(["approve", "cancel", "receive", "set_quantity", "ack"]),
)
def test_no_tenant_can_touch_another_tenants_rows(
    healed: WarehouseBackend, pair: tuple[str, str], action: str
) -> None:
    attacker, victim = pair
    tenant = healed.tenant(attacker)
    orders = _orders_by_org(healed).get(victim, [])
    alerts = _alerts_by_org(healed).get(victim, [])
    before = _state(healed)
    if action == "ack":
        for alert in alerts:
            with pytest.raises(NotFoundError):
                tenant.ack_alert(alert["alert_id"], actor="mallory")
    else:
        for order in orders:
            with pytest.raises(NotFoundError):
                tenant.override_order(order["po_id"], action, actor="mallory", quantity=2.0)
    assert _state(healed) == before
