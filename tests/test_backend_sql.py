"""Ad-hoc Snowflake-dialect SQL through ``backend.sql``: the simulation functions, the
Result conversions, bound parameters and the dialect functions that must render."""

from __future__ import annotations

import pyarrow as pa
import pytest

from resq import simulation
from resq.backends.base import Capability, Result
from resq.backends.warehouse import WarehouseBackend
from resq.errors import BackendError

PYTHON_UDF = pytest.mark.notimpl(
    ["snowflake"],
    reason="the fakesnow tier runs no Python UDFs (python=false: fakesnow would 'create' them "
    "and run nothing); tier 1 runs their handlers in Snowpark local testing, tier 3 "
    "snapshots their registration, tier 4 calls them live",
)


@PYTHON_UDF
def test_get_weather_data(backend: WarehouseBackend) -> None:
    assert backend.sql("SELECT GET_WEATHER_DATA('Bangalore')").scalar() == "Rain"
    assert backend.sql("SELECT GET_WEATHER_DATA('Delhi')").scalar() == "Haze"
    assert backend.sql("SELECT GET_WEATHER_DATA(NULL)").scalar() is None


@PYTHON_UDF
def test_get_weather_data_matches_the_simulation_column_wise(backend: WarehouseBackend) -> None:
    cities = ["Bangalore", " delhi ", "Mumbai", "Pune", "Chennai", "x'); DROP TABLE t;--"]
    rows = backend.sql(
        "SELECT c, GET_WEATHER_DATA(c) AS w FROM VALUES "
        + ", ".join("(?)" for _ in cities)
        + " AS v(c)",
        cities,
    ).to_pylist()
    assert {r["c"]: r["w"] for r in rows} == {c: simulation.get_weather_data(c) for c in cities}


@PYTHON_UDF
def test_get_vendor_status(backend: WarehouseBackend) -> None:
    row = backend.sql(
        "SELECT GET_VENDOR_STATUS('Dunzo') AS dunzo, GET_VENDOR_STATUS('Blinkit') AS blinkit"
    ).to_pylist()[0]
    assert row["dunzo"]["status"] == "OFFLINE"
    assert row["dunzo"]["latency_ms"] is None
    assert row["blinkit"]["status"] == "ONLINE"
    assert row["blinkit"]["latency_ms"] == 12
    assert row["dunzo"]["data_source"] == row["blinkit"]["data_source"] == "SIMULATED"


@PYTHON_UDF
def test_get_vendor_status_fields_by_snowflake_path(backend: WarehouseBackend) -> None:
    row = backend.sql(
        "SELECT GET_VENDOR_STATUS('Dunzo'):status::string AS dunzo, "
        "GET_VENDOR_STATUS('Blinkit'):latency_ms::int AS blinkit_ms"
    ).to_pylist()[0]
    assert row == {"dunzo": "OFFLINE", "blinkit_ms": 12}


@PYTHON_UDF
@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM GENERATE_REALISTIC_SIMULATION('HOSP-1', 'OXY-CYL', 30, 7)",
        "SELECT * FROM TABLE(GENERATE_REALISTIC_SIMULATION('HOSP-1', 'OXY-CYL', 30, 7))",
    ],
)
def test_simulation_table_function_equals_the_library(
    backend: WarehouseBackend, query: str
) -> None:
    assert backend.has(Capability.TABLE_FUNCTIONS)
    got = backend.sql(query).to_arrow()
    expected = simulation.generate_realistic_simulation(["HOSP-1"], ["OXY-CYL"], 30, 7)
    assert got.num_rows == 30
    assert set(got.column("data_source").to_pylist()) == {"SIMULATED"}
    got = got.select(expected.column_names)
    for name in expected.column_names:
        assert got.column(name).to_pylist() == expected.column(name).to_pylist(), name


@PYTHON_UDF
def test_simulation_table_function_is_reproducible(backend: WarehouseBackend) -> None:
    q = "SELECT * FROM GENERATE_REALISTIC_SIMULATION('PDS-1', 'RICE', 14, ?) ORDER BY day"
    first = backend.sql(q, [123]).to_pylist()
    assert first == backend.sql(q, [123]).to_pylist()
    assert first != backend.sql(q, [124]).to_pylist()


def test_result_converts_to_pandas_arrow_and_records(seeded: WarehouseBackend) -> None:
    result = seeded.sql("SELECT org_id, sector FROM organizations ORDER BY org_id")
    assert isinstance(result, Result)
    assert result.columns == ["org_id", "sector"]
    assert len(result) == 6
    table = result.to_arrow()
    assert isinstance(table, pa.Table) and table.num_rows == 6
    frame = result.to_pandas()
    assert list(frame.columns) == ["org_id", "sector"]
    assert frame["org_id"].tolist() == table.column("org_id").to_pylist()
    assert list(result) == result.to_pylist() == table.to_pylist()
    assert "6 rows" in repr(result)


def test_scalar_needs_one_value(backend: WarehouseBackend) -> None:
    with pytest.raises(ValueError, match="expected one value"):
        backend.sql("SELECT 1 AS a, 2 AS b").scalar()


def test_bound_parameters(seeded: WarehouseBackend) -> None:
    hostile = "x'); DROP TABLE inventory_master;--"
    assert seeded.sql("SELECT ? + 1 AS x, ? AS y", [41, hostile]).to_pylist() == [
        {"x": 42, "y": hostile}
    ]
    hospitals = seeded.sql(
        "SELECT org_id FROM organizations WHERE sector = ? AND city = ? ORDER BY org_id",
        ["HOSPITAL", "Bangalore"],
    )
    assert hospitals.to_pylist() == [{"org_id": "HOSP-BLR-001"}]
    assert len(seeded.sql("SELECT * FROM organizations WHERE org_id = ?", [hostile])) == 0
    assert seeded.sql("SELECT COUNT(*) FROM inventory_master").scalar() == 18


def test_snowflake_dialect_functions_render(backend: WarehouseBackend) -> None:
    row = backend.sql(
        "SELECT IFF(1 > 0, 'yes', 'no') AS iff, DIV0(1, 0) AS div0_zero, DIV0(6, 3) AS div0, "
        "NVL(NULL, 'x') AS nvl, ZEROIFNULL(NULL) AS zin, "
        "TO_VARCHAR(42) AS txt, ARRAY_SIZE(ARRAY_CONSTRUCT(1, 2, 3)) AS n"
    ).to_pylist()[0]
    assert row == {
        "iff": "yes",
        "div0_zero": 0,
        "div0": 2,
        "nvl": "x",
        "zin": 0,
        "txt": "42",
        "n": 3,
    }


def test_several_statements_return_the_last_result(backend: WarehouseBackend) -> None:
    result = backend.sql("SELECT 1 AS a; SELECT 2 AS b")
    assert result.to_pylist() == [{"b": 2}]


def test_writes_through_sql_mark_the_analysis_stale(seeded: WarehouseBackend) -> None:
    seeded.sql(
        "UPDATE inventory_master SET current_stock = 0 WHERE org_id = ? AND sku = ?",
        ["HOSP-BLR-001", "OXY-CYL"],
    )
    row = seeded.sql(
        "SELECT status, days_remaining FROM stock_analysis WHERE org_id = ? AND sku = ?",
        ["HOSP-BLR-001", "OXY-CYL"],
    ).to_pylist()
    assert row == [{"status": "CRITICAL", "days_remaining": 0.0}]


def test_execute_of_a_query_leaves_the_connection_usable(backend: WarehouseBackend) -> None:
    """``execute`` runs a statement for its effect; one that returns rows does not leave
    them pending for the next statement to trip over (in a transaction or not)."""
    backend.execute("SELECT 1 AS x")
    assert backend.fetch("SELECT 2 AS y").column(0).to_pylist() == [2]
    with backend.transaction():
        backend.execute("SELECT 3 AS x")
        backend.execute("SELECT 4 AS x")
        assert backend.fetch("SELECT 5 AS y").column(0).to_pylist() == [5]
    assert backend.sql("SELECT 6 AS z").scalar() == 6


def test_sql_errors_are_backend_errors(backend: WarehouseBackend) -> None:
    with pytest.raises(BackendError, match="nope"):
        backend.sql("SELECT * FROM nope")
