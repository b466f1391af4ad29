"""Tier 1: Snowpark local testing (``Session.builder.config("local_testing", True)``).

The handlers Snowflake runs (resq.inside: the vectorized
GET_WEATHER_DATA and GET_VENDOR_STATUS, the GENERATE_REALISTIC_SIMULATION table function,
the RESQ_HEAL procedure) are registered with Snowpark and called through DataFrames, run
as local Python. What local testing cannot run (SQL text, MERGE) is tier 2; the SQL that
registers them in Snowflake is tier 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from resq import simulation
from resq.inside import functions, heal, series

snowpark = pytest.importorskip("snowflake.snowpark")  # part of the dev extra: never skipped


@pytest.fixture(scope="module")
def session() -> Iterator[Any]:
    from snowflake.snowpark import Session

    s = Session.builder.config("local_testing", True).create()
    yield s
    s.close()


# Snowpark reads a handler's type hints when it has any; these unannotated shells hand each
# call straight to the handler Snowflake runs. Local testing calls a vectorized UDF once per
# row with a plain value: the shell hands it to the handler as a one-row batch.


def _batch(handler, value):  # type: ignore[no-untyped-def]
    import pandas as pd

    if isinstance(value, pd.Series):
        return handler(value)
    return handler(pd.Series([value], dtype=object)).iloc[0]


def _weather(cities):  # type: ignore[no-untyped-def]
    return _batch(functions.weather_series, cities)


def _vendor_status(vendors):  # type: ignore[no-untyped-def]
    return _batch(functions.vendor_status_series, vendors)


class _Series:
    def process(self, org_id, sku, days, seed):  # type: ignore[no-untyped-def]
        yield from series.SimulationSeries().process(org_id, sku, days, seed)


def _heal(session, dry_run, triggered_by):  # type: ignore[no-untyped-def]
    return heal.heal_procedure(session, dry_run, triggered_by)


CITIES = ["Bangalore", "Delhi", None, "Pune", " delhi ", "x'); DROP TABLE t;--"]
VENDORS = ["Blinkit", "Dunzo", None, "Apollo Supply"]


def test_snowflake_tier1_localtest_get_weather_data_vectorized(session: Any) -> None:
    from snowflake.snowpark.functions import call_udf, col
    from snowflake.snowpark.types import PandasSeriesType, StringType

    session.udf.register(
        _weather,
        name="GET_WEATHER_DATA",
        input_types=[PandasSeriesType(StringType())],
        return_type=PandasSeriesType(StringType()),
        replace=True,
    )
    df = session.create_dataframe([[c] for c in CITIES], schema=["CITY"])
    rows = df.select(col("CITY"), call_udf("GET_WEATHER_DATA", col("CITY")).alias("W")).collect()
    got = {r["CITY"]: r["W"] for r in rows}
    assert got == {c: (simulation.get_weather_data(c) if c is not None else None) for c in CITIES}
    assert got["Bangalore"] == "Rain" and got["Delhi"] == "Haze"


def test_snowflake_tier1_localtest_get_vendor_status_vectorized(session: Any) -> None:
    import json

    from snowflake.snowpark.functions import call_udf, col
    from snowflake.snowpark.types import PandasSeriesType, StringType, VariantType

    session.udf.register(
        _vendor_status,
        name="GET_VENDOR_STATUS",
        input_types=[PandasSeriesType(StringType())],
        return_type=PandasSeriesType(VariantType()),
        replace=True,
    )
    df = session.create_dataframe([[v] for v in VENDORS], schema=["VENDOR"])
    rows = df.select(col("VENDOR"), call_udf("GET_VENDOR_STATUS", col("VENDOR")).alias("S"))
    got = {}
    for r in rows.collect():
        value = r["S"]
        got[r["VENDOR"]] = json.loads(value) if isinstance(value, str) else value
    batch = simulation.get_vendor_status_batch(pa.array(VENDORS, pa.string())).to_pylist()
    assert got == dict(zip(VENDORS, batch, strict=True))
    assert got["Blinkit"] == {"status": "ONLINE", "latency_ms": 12, "data_source": "SIMULATED"}
    assert got["Dunzo"]["status"] == "OFFLINE"


def test_snowflake_tier1_localtest_simulation_table_function(session: Any) -> None:
    from snowflake.snowpark.functions import lit
    from snowflake.snowpark.types import (
        BooleanType,
        DateType,
        FloatType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    schema = StructType(
        [
            StructField("ORG_ID", StringType()),
            StructField("SKU", StringType()),
            StructField("DAY", DateType()),
            StructField("CONSUMPTION", FloatType()),
            StructField("STOCK", FloatType()),
            StructField("STOCKOUT", BooleanType()),
            StructField("DATA_SOURCE", StringType()),
        ]
    )
    session.udtf.register(
        _Series,
        output_schema=schema,
        input_types=[StringType(), StringType(), LongType(), LongType()],
        name="GENERATE_REALISTIC_SIMULATION",
        replace=True,
    )
    rows = session.table_function(
        "GENERATE_REALISTIC_SIMULATION", lit("HOSP-1"), lit("OXY-CYL"), lit(30), lit(7)
    ).collect()
    expected = simulation.generate_realistic_simulation(["HOSP-1"], ["OXY-CYL"], 30, 7)
    assert len(rows) == 30
    for name in series.SERIES_COLUMNS:
        assert [r[name.upper()] for r in rows] == expected.column(name).to_pylist(), name
    assert {r["DATA_SOURCE"] for r in rows} == {"SIMULATED"}


def _analysis(session: Any, statuses: list[str]) -> None:
    from snowflake.snowpark.types import StringType, StructField, StructType

    schema = StructType([StructField(n, StringType()) for n in ("ORG_ID", "SKU", "STATUS")])
    rows = [[f"ORG-{i}", f"SKU-{i}", s] for i, s in enumerate(statuses)]
    session.create_dataframe(rows, schema=schema).write.save_as_table(
        "STOCK_ANALYSIS", mode="overwrite"
    )


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["OK", "OK"], False),
        ([], False),
        (["OK", "WARNING"], True),
        (["CRITICAL"], True),
    ],
)
def test_snowflake_tier1_localtest_needs_healing_is_a_dataframe_check(
    session: Any, statuses: list[str], expected: bool
) -> None:
    _analysis(session, statuses)
    assert heal.needs_healing(session) is expected


def test_snowflake_tier1_localtest_heal_procedure_runs_the_engine_when_needed(
    session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a CRITICAL row the procedure hands the session to the engine (which needs SQL,
    so here a stand-in records the hand-over; tier 2 runs the real cycle). Runs before the
    procedure is registered: local testing's registration re-imports modules, after which
    a stand-in patched here would not be seen."""
    _analysis(session, ["OK", "CRITICAL"])
    seen: dict[str, Any] = {}

    class Proposals:
        num_rows = 1

    class FakeEngine:
        def __init__(self, backend: Any, actor: str) -> None:
            seen["backend"], seen["actor"] = backend, actor

        def plan(self) -> tuple[Any, int]:
            return Proposals(), 0

        def heal(self, dry_run: bool = False) -> Any:
            seen["dry_run"] = dry_run
            return type("R", (), {"as_dict": lambda self: {"created": 1}})()

    # by module path: Snowpark's procedure registration may have re-imported the modules
    monkeypatch.setattr("resq.backends.snowflake.from_session", lambda s: ("backend of", s))
    monkeypatch.setattr("resq.engine.SelfHealingEngine", FakeEngine)
    result = heal.heal_procedure(session, True, "DASHBOARD")
    assert result == {"triggered_by": "DASHBOARD", "noop": False, "created": 1}
    assert seen == {
        "backend": ("backend of", session),
        "actor": "resq-procedure:dashboard",
        "dry_run": True,
    }


def test_snowflake_tier1_localtest_heal_procedure_is_a_noop_when_nothing_needs_it(
    session: Any,
) -> None:
    """A spurious trigger: the registered procedure returns at once, writing nothing."""
    import json

    from snowflake.snowpark.types import BooleanType, StringType, VariantType

    session.sproc.register(
        _heal,
        name="RESQ_HEAL",
        input_types=[BooleanType(), StringType()],
        return_type=VariantType(),
        replace=True,
    )
    _analysis(session, ["OK", "OK", "OK"])
    result = session.call("RESQ_HEAL", False, "MANUAL")
    result = json.loads(result) if isinstance(result, str) else result
    assert result["noop"] is True and result["triggered_by"] == "MANUAL"
    assert "CRITICAL" in result["reason"]


def test_snowflake_tier1_localtest_handlers_import_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, resq.inside.functions, resq.inside.series, resq.inside.heal\n"
        "print([m for m in ('pandas', 'snowflake.snowpark', 'snowflake.connector', 'duckdb')"
        " if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
