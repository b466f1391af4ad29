"""Defence in depth on DuckDB: the connection that runs tenant SQL refuses on its own.

The allow-list in resq.backends.tenant_sql is the first line. The DuckDB backend runs the
checked statement on a cursor of its own after DuckDB's parser agrees it is one SELECT
over tenant tables without table functions, and ``external_access=false`` turns off
files, network and extensions for the whole database with its configuration locked.
These tests hand SQL straight to that second line, as if the first had a hole.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import resq
from resq.backends.duckdb.backend import DuckDBBackend
from resq.errors import BackendError, ResqError, TenantScopeError, UnknownBackendError


@pytest.fixture
def duck(tmp_path: Path) -> DuckDBBackend:
    backend = resq.connect(f"duckdb:///{tmp_path}/tenant.duckdb")
    assert isinstance(backend, DuckDBBackend)
    backend.init()
    resq.SelfHealingEngine(backend).seed()
    backend.sql("CREATE TABLE private_notes (note VARCHAR)")
    return backend


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM '{secret}'",
        "SELECT * FROM glob('*')",
        "SELECT * FROM duckdb_settings()",
        "SELECT * FROM private_notes",
        "SELECT * FROM main.inventory_master",
        "SELECT (SELECT COUNT(*) FROM private_notes) AS n",
        "WITH x AS (SELECT * FROM read_text('{secret}')) SELECT * FROM x",
        "SELECT 1; SELECT 2",
        "COPY inventory_master TO '{secret}.out'",
        "ATTACH '{secret}.db' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "PRAGMA database_list",
        "SET threads = 1",
        "SHOW TABLES",
        "DESCRIBE inventory_master",
        "SUMMARIZE inventory_master",
        "CALL pragma_version()",
    ],
)
def test_the_tenant_connection_refuses_what_the_allow_list_would(
    duck: DuckDBBackend, tmp_path: Path, sql: str
) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("s\nSECRET\n")
    with pytest.raises(TenantScopeError):
        duck.fetch_tenant(sql.format(secret=secret), [])
    assert not (tmp_path / "secret.csv.out").exists()
    assert not (tmp_path / "secret.csv.db").exists()


def test_the_tenant_connection_runs_a_scoped_select(duck: DuckDBBackend) -> None:
    rows = duck.fetch_tenant(
        "SELECT org_id FROM (SELECT * FROM inventory_master WHERE org_id = ?) AS i",
        ["HOSP-BLR-001"],
    )
    assert set(rows.column("org_id").to_pylist()) == {"HOSP-BLR-001"}


def test_functions_the_rendering_produces_are_allowed(duck: DuckDBBackend) -> None:
    """OBJECT_CONSTRUCT renders as JSON_MERGE_PATCH over JSON_OBJECT on DuckDB: both pure."""
    tenant = duck.tenant("HOSP-BLR-001")
    rows = tenant.sql(
        "SELECT sku, OBJECT_CONSTRUCT('org', org_id) AS o, LISTAGG(sku, ',') OVER () AS l "
        "FROM inventory_master"
    ).to_pylist()
    assert len(rows) == 3 and all("HOSP-BLR-001" in str(r["o"]) for r in rows)


def test_the_tenant_connection_has_no_python_replacement_scans(duck: DuckDBBackend) -> None:
    import pyarrow as pa

    leaked_rows = pa.table({"org_id": ["PDS-DEL-001"]})  # noqa: F841 - a replacement scan target
    with pytest.raises(ResqError):
        duck.fetch_tenant("SELECT * FROM leaked_rows", [])


def test_engine_errors_are_resq_errors(duck: DuckDBBackend) -> None:
    tenant = duck.tenant("HOSP-BLR-001")
    for query in (
        "SELECT no_such_column FROM inventory_master",
        "SELECT CAST(sku AS INTEGER) FROM inventory_master",
        "SELECT 1 / 0 AS x FROM inventory_master WHERE current_stock < 'x'",
    ):
        with pytest.raises(BackendError):
            tenant.sql(query)


def test_external_access_off_locks_the_whole_database(tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("s\nSECRET\n")
    backend = resq.connect(f"duckdb:///{tmp_path}/locked.duckdb?external_access=false")
    try:
        backend.init()
        engine = resq.SelfHealingEngine(backend)
        engine.seed()
        engine.drop_stock("HOSP-BLR-001", "OXY-CYL")
        assert engine.heal().created >= 1  # resq itself needs no external access
        tenant = backend.tenant("HOSP-BLR-001")
        assert tenant.sql("SELECT COUNT(*) AS n FROM inventory_master").scalar() == 3
        assert tenant.sql("SELECT GET_WEATHER_DATA('Delhi') AS w").scalar() == "Haze"
        # Even the operator's own SQL cannot read files or undo the setting.
        with pytest.raises(BackendError, match="disabled by configuration"):
            backend.sql(f"SELECT * FROM read_csv('{secret}')")
        with pytest.raises(BackendError, match="locked"):
            backend.execute("SET enable_external_access = true")
        with pytest.raises(BackendError):
            backend.execute(f"COPY inventory_master TO '{tmp_path}/out.csv'")
        assert not (tmp_path / "out.csv").exists()
    finally:
        backend.close()


def test_external_access_option_is_checked(tmp_path: Path) -> None:
    with pytest.raises(UnknownBackendError, match="external_access"):
        resq.connect(f"duckdb:///{tmp_path}/x.duckdb?external_access=maybe")
