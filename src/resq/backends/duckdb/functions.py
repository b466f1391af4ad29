"""The simulation as DuckDB SQL functions: GET_WEATHER_DATA, GET_VENDOR_STATUS (vectorized
Arrow UDFs) and the GENERATE_REALISTIC_SIMULATION table macro, all labelled SIMULATED."""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa
from duckdb import sqltypes
from duckdb.func import PythonUDFType

VENDOR_STATUS_TYPE = "STRUCT(status VARCHAR, latency_ms BIGINT, data_source VARCHAR)"
SERIES_TYPE = (
    "STRUCT(day DATE, consumption DOUBLE, stock DOUBLE, stockout BOOLEAN, data_source VARCHAR)[]"
)


# resq.simulation (and the columnar core under it) loads on the first call, not when the
# functions are registered: most commands never call them.


def _weather(cities: pa.Array) -> pa.Array:
    from resq import simulation

    return simulation.get_weather_data_batch(cities)


def _vendor_status(vendors: pa.Array) -> pa.Array:
    from resq import simulation

    return simulation.get_vendor_status_batch(vendors)


def _series(org_id: str, sku: str, days: int, seed: int) -> list[dict[str, object]]:
    from resq import simulation

    table = simulation.generate_realistic_simulation([org_id], [sku], int(days), int(seed))
    return table.select(["day", "consumption", "stock", "stockout", "data_source"]).to_pylist()


def install(conn: duckdb.DuckDBPyConnection) -> None:
    """Register the functions on one connection (DuckDB UDFs are per connection)."""
    varchar = sqltypes.VARCHAR
    for name in ("GET_WEATHER_DATA", "GET_VENDOR_STATUS", "RESQ_SIM_SERIES"):
        try:
            conn.remove_function(name)
        except (duckdb.InvalidInputException, duckdb.CatalogException):
            pass
    conn.create_function("GET_WEATHER_DATA", _weather, [varchar], varchar, type=PythonUDFType.ARROW)
    conn.create_function(
        "GET_VENDOR_STATUS",
        _vendor_status,
        [varchar],
        duckdb.sqltype(VENDOR_STATUS_TYPE),
        type=PythonUDFType.ARROW,
    )
    conn.create_function(
        "RESQ_SIM_SERIES",
        _series,
        [varchar, varchar, sqltypes.BIGINT, sqltypes.BIGINT],
        duckdb.sqltype(SERIES_TYPE),
        type=PythonUDFType.NATIVE,
    )
    conn.execute(
        "CREATE OR REPLACE TEMP MACRO GENERATE_REALISTIC_SIMULATION(org_id, sku, days, seed) AS "
        "TABLE "
        "SELECT org_id AS org_id, sku AS sku, UNNEST(RESQ_SIM_SERIES(org_id, sku, days, seed), "
        "recursive := true)"
    )


__all__ = ["date", "install"]
