"""The Snowflake -> DuckDB renderer: pinned output, DuckDB semantics, and every sql/ file runs.

The pins are exact strings: sqlglot is pinned to one minor (pyproject), and a new sqlglot that
renders differently must be looked at, not absorbed.
"""

from __future__ import annotations

import doctest
import functools
import math
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from resq import sqlfiles
from resq.backends.duckdb import rewrites
from resq.backends.duckdb.rewrites import (
    REWRITES,
    SQLTranslationError,
    dynamic_table_parts,
    is_dynamic_table,
    parse_target_lag,
    to_duckdb,
)
from resq.core.ordering import po_id
from resq.errors import ResqError
from strategies import hostile_ids

PINNED: list[tuple[str, str, str]] = [
    # -- our rewrites
    (
        "merge-set-qualified",
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET t.v = s.v,"
        " t.n = t.n + 1 WHEN NOT MATCHED THEN INSERT (id, v, n) VALUES (s.id, s.v, 0)",
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v,"
        " n = t.n + 1 WHEN NOT MATCHED THEN INSERT (id, v, n) VALUES (s.id, s.v, 0)",
    ),
    (
        "merge-set-aliased",
        "MERGE INTO purchase_orders AS t USING (SELECT ? AS k, ? AS q) AS s"
        " ON t.idempotency_key = s.k WHEN MATCHED AND t.status = 'PLACED'"
        " THEN UPDATE SET t.quantity = s.q",
        "MERGE INTO purchase_orders AS t USING (SELECT ? AS k, ? AS q) AS s"
        " ON t.idempotency_key = s.k WHEN MATCHED AND t.status = 'PLACED'"
        " THEN UPDATE SET quantity = s.q",
    ),
    (
        "update-set-qualified",
        "UPDATE inventory_master AS i SET i.current_stock = i.current_stock + ? WHERE i.org_id = ?",
        "UPDATE inventory_master AS i SET current_stock = i.current_stock + ? WHERE i.org_id = ?",
    ),
    (
        "dynamic-table",
        "CREATE OR REPLACE DYNAMIC TABLE stock_analysis TARGET_LAG = '1 minute'"
        " WAREHOUSE = RESQ_WH REFRESH_MODE = INCREMENTAL AS SELECT org_id FROM inventory_master",
        "CREATE OR REPLACE TABLE stock_analysis AS SELECT org_id FROM inventory_master",
    ),
    (
        "dynamic-table-downstream",
        "CREATE DYNAMIC TABLE IF NOT EXISTS d TARGET_LAG = DOWNSTREAM WAREHOUSE = w"
        " INITIALIZE = ON_CREATE AS SELECT 1 AS a",
        "CREATE TABLE IF NOT EXISTS d AS SELECT 1 AS a",
    ),
    (
        "float-types-are-double",
        "CREATE TABLE t (a FLOAT, b REAL, c FLOAT4, d FLOAT8, e DOUBLE, f DOUBLE PRECISION,"
        " g NUMBER(10, 2))",
        "CREATE TABLE t (a DOUBLE, b DOUBLE, c DOUBLE, d DOUBLE, e DOUBLE, f DOUBLE,"
        " g DECIMAL(10, 2))",
    ),
    (
        "float-casts-are-double",
        "SELECT x::REAL, CAST(x AS FLOAT4), TRY_CAST(x AS FLOAT), TO_DOUBLE(x) FROM t",
        "SELECT CAST(x AS DOUBLE), CAST(x AS DOUBLE), TRY_CAST(x AS DOUBLE), CAST(x AS DOUBLE)"
        " FROM t",
    ),
    (
        "variant-path-as-text",
        "SELECT reason:vendor::string AS vendor, reason:rejected[0].why::varchar,"
        " reason:days::float FROM purchase_orders",
        "SELECT reason ->> '$.vendor' AS vendor, reason ->> '$.rejected[0].why',"
        " CAST(reason -> '$.days' AS DOUBLE) FROM purchase_orders",
    ),
    (
        "object-construct",
        "SELECT OBJECT_CONSTRUCT('sku', sku, 'days', d), OBJECT_CONSTRUCT('z', 1, k, v) FROM t",
        "SELECT JSON_MERGE_PATCH('{}', JSON_OBJECT('days', d, 'sku', sku)),"
        " JSON_MERGE_PATCH('{}', JSON_OBJECT('z', 1, k, v)) FROM t",
    ),
    (
        "table-function",
        "SELECT * FROM TABLE(GENERATE_REALISTIC_SIMULATION(42, 'ORG1', 30)) AS sim",
        "SELECT * FROM GENERATE_REALISTIC_SIMULATION(42, 'ORG1', 30) AS sim",
    ),
    # -- plain sqlglot gets these right; pinned so an upgrade that changes them is noticed
    (
        "div0",
        "SELECT DIV0(a, b), DIV0NULL(a, b) FROM t",
        "SELECT CASE WHEN b = 0 AND NOT a IS NULL THEN 0 ELSE a / b END,"
        " CASE WHEN b = 0 OR b IS NULL THEN 0 ELSE a / b END FROM t",
    ),
    (
        "iff-count-if-nvl",
        "SELECT IFF(a > 0, a, NULL), COUNT_IF(a > 1), NVL(a, 0) FROM t GROUP BY a",
        "SELECT CASE WHEN a > 0 THEN a ELSE NULL END, COUNT_IF((a > 1) IS TRUE), COALESCE(a, 0)"
        " FROM t GROUP BY a",
    ),
    (
        "greatest-null-semantics",
        "SELECT GREATEST(a, b) FROM t",
        "SELECT CASE WHEN a IS NULL OR b IS NULL THEN NULL ELSE GREATEST(a, b) END FROM t",
    ),
    (
        "ddl-defaults-constraints",
        "CREATE TABLE IF NOT EXISTS t (id VARCHAR NOT NULL PRIMARY KEY, k VARCHAR NOT NULL"
        " UNIQUE, ok BOOLEAN NOT NULL DEFAULT FALSE, n INTEGER DEFAULT 0, at TIMESTAMP_NTZ)",
        "CREATE TABLE IF NOT EXISTS t (id TEXT NOT NULL PRIMARY KEY, k TEXT NOT NULL UNIQUE,"
        " ok BOOLEAN NOT NULL DEFAULT FALSE, n INT DEFAULT 0, at TIMESTAMP)",
    ),
    (
        "qmark-and-current-timestamp",
        "INSERT INTO t (a, b, c) VALUES (?, ?, CURRENT_TIMESTAMP())",
        "INSERT INTO t (a, b, c) VALUES (?, ?, CURRENT_TIMESTAMP)",
    ),
    (
        "numeric-binds",
        "SELECT * FROM t WHERE a = :1 AND b = :2",
        "SELECT * FROM t WHERE a = $1 AND b = $2",
    ),
    (
        "udf-names-kept",
        "SELECT GET_WEATHER_DATA('Bangalore'), get_vendor_status('Dunzo')",
        "SELECT GET_WEATHER_DATA('Bangalore'), GET_VENDOR_STATUS('Dunzo')",
    ),
    (
        "parse-json-to-json",
        "SELECT PARSE_JSON(r), TO_JSON(PARSE_JSON(r)) FROM t",
        "SELECT JSON(r), CAST(TO_JSON(JSON(r)) AS TEXT) FROM t",
    ),
    ("array-index-0-based", "SELECT ARRAY_CONSTRUCT(10, 20)[0]", "SELECT [10, 20][1]"),
    (
        "desc-nulls-first",
        "SELECT a FROM t ORDER BY a DESC",
        "SELECT a FROM t ORDER BY a DESC NULLS FIRST",
    ),
]


@pytest.mark.parametrize(
    ("snowflake", "expected"), [p[1:] for p in PINNED], ids=[p[0] for p in PINNED]
)
def test_pinned_duckdb_sql(snowflake: str, expected: str) -> None:
    assert to_duckdb(snowflake) == expected
    assert to_duckdb(rewrites._parse_one(snowflake)) == expected


def test_doctests_of_rewrites_pass() -> None:
    result = doctest.testmod(rewrites, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted >= len(REWRITES) + 3


@pytest.mark.parametrize("rewrite", REWRITES, ids=lambda r: r.__name__)
def test_each_rewrite_documents_its_snowflake_page_and_an_example(rewrite: object) -> None:
    doc = getattr(rewrite, "__doc__", None) or ""
    assert "https://docs.snowflake.com/en/" in doc
    assert ">>> _show(" + getattr(rewrite, "__name__", "?") in doc


PURITY_SQL = [p[1] for p in PINNED if p[0] != "array-index-0-based"]


@pytest.mark.parametrize("rewrite", REWRITES, ids=lambda r: r.__name__)
def test_rewrites_never_change_their_input(rewrite: rewrites.Rewrite) -> None:
    for sql in PURITY_SQL + [s.sql(dialect="snowflake") for s in _all_file_statements()]:
        tree = rewrites._parse_one(sql)
        before = tree.sql(dialect="snowflake")
        rewrite(tree)
        assert tree.sql(dialect="snowflake") == before


# -- DuckDB semantics of the rewritten SQL -----------------------------------------------


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def run(
    con: duckdb.DuckDBPyConnection, snowflake: str, params: list[object] | None = None
) -> list[Any]:
    return con.execute(to_duckdb(snowflake), params or []).fetchall()


def test_qualified_merge_updates_and_inserts(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE t (id INT PRIMARY KEY, v DOUBLE, n INT)")
    con.execute("CREATE TABLE s (id INT, v DOUBLE)")
    con.execute("INSERT INTO t VALUES (1, 1.0, 0); INSERT INTO s VALUES (1, 2.5), (2, 3.5)")
    run(con, PINNED[0][1])
    assert con.execute("SELECT * FROM t ORDER BY id").fetchall() == [(1, 2.5, 1), (2, 3.5, 0)]
    run(con, "UPDATE t AS x SET x.v = x.v * 2 WHERE x.id = ?", [2])
    assert con.execute("SELECT v FROM t WHERE id = 2").fetchone() == (7.0,)


def test_div0_returns_zero_only_for_a_zero_divisor(con: duckdb.DuckDBPyConnection) -> None:
    rows = run(
        con,
        "SELECT DIV0(a, b) FROM (SELECT * FROM (VALUES (6.0, 3.0), (1.0, 0.0), (NULL, 0.0),"
        " (1.0, NULL)) AS v(a, b)) AS x",
    )
    assert rows == [(2.0,), (0.0,), (None,), (None,)]


def test_greatest_is_null_when_any_argument_is_null(con: duckdb.DuckDBPyConnection) -> None:
    assert run(con, "SELECT GREATEST(1.0, NULL), GREATEST(1.0, 2.0)") == [(None, 2.0)]


def test_variant_path_as_text_has_no_json_quotes(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE po (reason VARCHAR)")
    con.execute(
        """INSERT INTO po VALUES ('{"vendor": "Blinkit", "days": 2.5,"""
        """ "rejected": [{"vendor": "Dunzo", "why": "OFFLINE"}]}')"""
    )
    rows = run(
        con,
        "SELECT reason:vendor::string, reason:rejected[0].why::string, reason:days::float,"
        " reason:missing::string FROM po",
    )
    assert rows == [("Blinkit", "OFFLINE", 2.5, None)]


def test_object_construct_is_json_without_null_values(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE r (reason VARCHAR)")
    run(
        con,
        "INSERT INTO r SELECT OBJECT_CONSTRUCT('sku', 'O2', 'days', 1.5, 'vendor', NULL, k, 2)"
        " FROM (SELECT 'tier' AS k) AS x",
    )
    assert con.execute("SELECT reason FROM r").fetchall() == [('{"sku":"O2","days":1.5,"tier":2}',)]
    assert run(con, "SELECT TO_JSON(OBJECT_CONSTRUCT('b', 1, 'a', NULL, 'c', 'x'))") == [
        ('{"b":1,"c":"x"}',)
    ]
    assert run(con, "SELECT TO_JSON(OBJECT_CONSTRUCT('b', 1, 'a', 2))") == [('{"a":2,"b":1}',)]
    assert run(con, "SELECT OBJECT_CONSTRUCT('a', 1):a::int") == [(1,)]


def test_table_function_call_runs(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE MACRO gen(n) AS TABLE SELECT * FROM range(n)")
    assert run(con, "SELECT COUNT(*) FROM TABLE(GEN(4)) AS g") == [(4,)]


def test_simulation_udfs_are_called_by_name(con: duckdb.DuckDBPyConnection) -> None:
    def get_weather_data(city: str) -> str:
        return "Rain" if city == "Bangalore" else "Clear"

    con.create_function("GET_WEATHER_DATA", get_weather_data)
    assert run(con, "SELECT get_weather_data('Bangalore'), GET_WEATHER_DATA('Pune')") == [
        ("Rain", "Clear")
    ]


def test_qmark_parameters_survive(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE t (a VARCHAR, b DOUBLE, c TIMESTAMP)")
    run(con, "INSERT INTO t (a, b, c) VALUES (?, ?, CURRENT_TIMESTAMP())", ["x", 0.5])
    assert con.execute("SELECT a, b, c IS NOT NULL FROM t").fetchall() == [("x", 0.5, True)]


# -- refusals and errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT UNIFORM(1, 10, RANDOM(42))", r"RANDOM\(42\)"),
        ("SELECT RANDOM(7)", r"RANDOM\(7\)"),
        ("SELECT UNIFORM(1, 10, 42)", r"UNIFORM\(1, 10, 42\)"),
        ("SELECT HASH(org_id, sku) FROM t", r"HASH\(org_id, sku\).*SHA2"),
        ("SELEC 1", r"not valid Snowflake SQL: .* line 1, column 7"),
        ("SELECT 1; SELECT 2", "expected one SQL statement, got 2"),
        ("   ", "expected one SQL statement, got 0"),
        ("CREATE TABLE t (a INT AUTOINCREMENT)", "cannot render for DuckDB: .*AUTOINCREMENT"),
        ("CREATE TABLE t (a INT) COMMENT = 'x'", "cannot render for DuckDB"),
    ],
)
def test_untranslatable_sql_is_a_clear_error(sql: str, message: str) -> None:
    with pytest.raises(SQLTranslationError, match=message) as raised:
        to_duckdb(sql)
    assert isinstance(raised.value, ResqError)


def test_parse_snowflake_skips_empty_and_comment_only_statements() -> None:
    parsed = rewrites.parse_snowflake("; ;SELECT 1;\n-- one\nSELECT ?; /* end */\n-- trailing\n")
    assert [to_duckdb(s) for s in parsed] == ["SELECT 1", "/* one */ SELECT ?"]
    with pytest.raises(SQLTranslationError, match="line 2, column 8"):
        rewrites.parse_snowflake("SELECT 1;\nSELECT (;")


def test_unseeded_random_is_allowed(con: duckdb.DuckDBPyConnection) -> None:
    ((value,),) = run(con, "SELECT UNIFORM(1, 10, RANDOM())")
    assert 1 <= value <= 10


# -- dynamic tables ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lag", "seconds"),
    [
        ("1 minute", 60.0),
        ("5 minutes", 300.0),
        ("1 hour", 3600.0),
        ("2 Hours", 7200.0),
        ("30 seconds", 30.0),
        ("1 day", 86400.0),
        (" 1.5 minutes ", 90.0),
        ("DOWNSTREAM", None),
        ("downstream", None),
    ],
)
def test_parse_target_lag(lag: str, seconds: float | None) -> None:
    assert parse_target_lag(lag) == seconds


@pytest.mark.parametrize("lag", ["soon", "5", "minutes", "-1 minute", "1 week"])
def test_bad_target_lag_is_an_error(lag: str) -> None:
    with pytest.raises(SQLTranslationError, match="TARGET_LAG"):
        parse_target_lag(lag)


def test_dynamic_table_parts_of_stock_analysis() -> None:
    (statement,) = [s for s in _all_file_statements() if is_dynamic_table(s)]
    parts = dynamic_table_parts(statement)
    assert parts.name == "stock_analysis"
    assert parts.target_lag == "1 minute"
    assert parts.target_lag_seconds == 60.0
    assert isinstance(parts.query, exp.Select)
    assert "days_remaining" in parts.query.named_selects
    parts.query.set("expressions", [exp.column("changed")])
    assert "days_remaining" in dynamic_table_parts(statement).query.named_selects


def test_dynamic_table_parts_downstream_qualified_and_errors() -> None:
    parts = dynamic_table_parts(
        "CREATE DYNAMIC TABLE db.sch.d TARGET_LAG = DOWNSTREAM WAREHOUSE = w"
        " AS SELECT a FROM t UNION ALL SELECT a FROM u"
    )
    assert (parts.name, parts.target_lag, parts.target_lag_seconds) == ("d", "DOWNSTREAM", None)
    assert parts.table.sql(dialect="duckdb") == "db.sch.d"
    assert to_duckdb(parts.query) == "SELECT a FROM t UNION ALL SELECT a FROM u"
    with pytest.raises(SQLTranslationError, match="not a CREATE DYNAMIC TABLE"):
        dynamic_table_parts("CREATE TABLE t AS SELECT 1 AS a")
    with pytest.raises(SQLTranslationError, match="TARGET_LAG"):
        dynamic_table_parts("CREATE DYNAMIC TABLE d WAREHOUSE = w AS SELECT 1 AS a")
    assert not is_dynamic_table(rewrites._parse_one("SELECT 1"))


# -- every statement of every sql/ file runs on DuckDB -----------------------------------


def _ordered_files() -> list[str]:
    """schema.sql first, then files holding dynamic tables, then the rest (queries, MERGEs)."""
    names = sqlfiles.available()
    dynamic = [n for n in names if any(is_dynamic_table(s) for s in sqlfiles.statements(n))]
    rest = [n for n in names if n != "schema.sql" and n not in dynamic]
    return ["schema.sql", *dynamic, *rest]


def _all_file_statements() -> list[exp.Expr]:
    return [s for name in _ordered_files() for s in sqlfiles.statements(name)]


def _column_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
        [table],
    ).fetchall()
    return dict(rows)


STAGE_PREFIX = "resq_stage_"


def _create_stage_tables(con: duckdb.DuckDBPyConnection, statement: exp.Expr) -> None:
    """Create the `resq_stage_*` tables a statement reads (the backend fills them from Arrow).

    A staged column takes the type of the column it is compared with, or of the MERGE target
    column it is inserted into; one that feeds an expression (a CAST to ARRAY) is JSON;
    anything else VARCHAR. Any other missing table is a real error and is left to fail.
    """
    tables = {t.alias_or_name: t.name for t in statement.find_all(exp.Table)}
    known = {alias: _column_types(con, name) for alias, name in tables.items()}
    target = statement.this.alias_or_name if isinstance(statement, exp.Merge) else None
    pending: dict[str, dict[str, str]] = {}  # a stage read under several aliases: one table
    for alias, name in tables.items():
        if not name.startswith(STAGE_PREFIX) or known[alias]:
            continue
        types = pending.setdefault(name, {})
        for eq in statement.find_all(exp.EQ):
            ends = (eq.this, eq.expression)
            for mine, other in (ends, ends[::-1]):
                if (
                    isinstance(mine, exp.Column)
                    and mine.table == alias
                    and isinstance(other, exp.Column)
                    and other.name in known.get(other.table, {})
                ):
                    types.setdefault(mine.name, known[other.table][other.name])
        for insert in statement.find_all(exp.Insert) if target else ():
            names = [c.name for c in insert.this.expressions]
            for column, value in zip(names, insert.expression.expressions, strict=True):
                for ref in value.find_all(exp.Column):
                    if ref.table == alias:
                        kind = known[target][column] if value is ref else "JSON"
                        types.setdefault(ref.name, kind)
        for ref in statement.find_all(exp.Column):
            if ref.table == alias:
                types.setdefault(ref.name, "VARCHAR")
    for name, types in pending.items():
        assert types, f"cannot tell the columns of {name}: qualify them with its alias"
        columns = ", ".join(f"{column} {kind}" for column, kind in types.items())
        con.execute(f"CREATE TEMP TABLE {name} ({columns})")


@pytest.fixture
def warehouse() -> duckdb.DuckDBPyConnection:
    """A DuckDB database holding every table and dynamic table of sql/."""
    con = duckdb.connect()
    for statement in sqlfiles.statements("schema"):
        con.execute(to_duckdb(statement))
    for statement in _all_file_statements():
        if is_dynamic_table(statement):
            parts = dynamic_table_parts(statement)
            con.execute(f"CREATE TABLE {parts.name} AS {to_duckdb(parts.query)}")
    return con


def test_every_statement_of_every_file_runs_on_duckdb() -> None:
    con = duckdb.connect()
    ran: list[str] = []
    for name in _ordered_files():
        for statement in sqlfiles.statements(name):
            if is_dynamic_table(statement):
                parts = dynamic_table_parts(statement)
                con.execute(f"CREATE TABLE {parts.name} AS {to_duckdb(parts.query)}")
                # The whole statement renders too (as CREATE OR REPLACE TABLE ... AS ...).
                con.execute(to_duckdb(statement))
            else:
                _create_stage_tables(con, statement)
                placeholders = list(statement.find_all(exp.Placeholder))
                assert all(p.this is None for p in placeholders), f"{name}: use ? placeholders"
                con.execute(to_duckdb(statement), [None] * len(placeholders))
            ran.append(name)
    assert set(ran) == set(sqlfiles.available())


def test_float_columns_are_64_bit_doubles(warehouse: duckdb.DuckDBPyConnection) -> None:
    types = _column_types(warehouse, "sector_config")
    assert types["critical_days"] == "DOUBLE"
    assert types["adverse_demand_multiplier"] == "DOUBLE"
    every = warehouse.execute(
        "SELECT DISTINCT data_type FROM information_schema.columns"
    ).fetchall()
    assert ("FLOAT",) not in every and ("REAL",) not in every
    assert _column_types(warehouse, "stock_analysis")["days_remaining"] == "DOUBLE"


def test_float_values_round_trip_exactly(warehouse: duckdb.DuckDBPyConnection) -> None:
    third = 1 / 3
    run(
        warehouse,
        "INSERT INTO sector_config (sector, critical_days, warning_days, target_days, priority)"
        " VALUES (?, ?, CAST(1 AS FLOAT) / 3, CAST(1 AS REAL) / 3, 1)",
        ["TEST", third],
    )
    row = warehouse.execute(
        "SELECT critical_days, warning_days, target_days FROM sector_config WHERE sector = 'TEST'"
    ).fetchone()
    assert row == (third, third, third)
    assert all(type(v) is float for v in row)


SEED = [
    "INSERT INTO sector_config (sector, critical_days, warning_days, target_days, priority)"
    " VALUES ('HOSPITAL', 3, 7, 14, 1)",
    "INSERT INTO organizations (org_id, org_name, sector, city) VALUES"
    " ('H1', 'City Hospital', 'HOSPITAL', 'Pune')",
    "INSERT INTO inventory_master (org_id, sku, item_name, current_stock, daily_consumption)"
    " VALUES ('H1', 'O2', 'Oxygen', 10, 5), ('H1', 'IDLE', 'Idle', 10, 0),"
    " ('H1', 'OUT', 'Out', 0, 2), ('H1', 'THIRD', 'Third', 1, 3), ('H1', 'WARN', 'Warn', 12, 2),"
    " ('H1', 'OK', 'Ok', 100, 1)",
]


def test_stock_analysis_days_and_status_on_duckdb(warehouse: duckdb.DuckDBPyConnection) -> None:
    for sql in SEED:
        run(warehouse, sql)
    (statement,) = [s for s in _all_file_statements() if is_dynamic_table(s)]
    query = to_duckdb(dynamic_table_parts(statement).query)
    rows = warehouse.execute(
        f"SELECT sku, days_remaining, status FROM ({query}) ORDER BY sku"
    ).fetchall()
    got = {sku: (days, status) for sku, days, status in rows}
    assert got == {
        "IDLE": (None, "OK"),  # zero consumption never runs out
        "O2": (2.0, "CRITICAL"),
        "OK": (100.0, "OK"),
        "OUT": (0.0, "CRITICAL"),  # zero stock, positive consumption: 0 days
        "THIRD": (1 / 3, "CRITICAL"),
        "WARN": (6.0, "WARNING"),
    }
    assert not any(isinstance(d, float) and math.isnan(d) for d, _ in got.values())


def test_keyed_merge_inserts_one_order_per_key(warehouse: duckdb.DuckDBPyConnection) -> None:
    (merge,) = sqlfiles.statements("merge_orders")
    _create_stage_tables(warehouse, merge)
    staged = _column_types(warehouse, "resq_stage_orders")
    values = {
        "idempotency_key": "K1",
        "org_id": "H1",
        "sku": "O2",
        "quantity": 10.0,
        "order_status": "PLACED",
        "priority": 1,
        "rank": 1,
        "reason_vendor": "Blinkit",
        "reason_days_remaining": 0.0,
        "data_source": "SIMULATED",
        "created_at": "2025-01-01 00:00:00",
        # the state the decision rests on, which the MERGE re-checks against the inventory
        "current_stock": 0.0,
        "daily_consumption": 1.0,
        "episode": 0,
    }
    warehouse.execute(
        "INSERT INTO inventory_master (org_id, sku, item_name, current_stock, daily_consumption)"
        " VALUES ('H1', 'O2', 'Oxygen', 0.0, 1.0)"
    )
    names = [n for n in staged if n in values]
    warehouse.execute(
        f"INSERT INTO resq_stage_orders ({', '.join(names)})"
        f" VALUES ({', '.join('?' for _ in names)})",
        [values[n] for n in names],
    )
    for _ in range(2):
        warehouse.execute(to_duckdb(merge))
    rows = warehouse.execute(
        "SELECT po_id, quantity, reason_vendor, reason_days_remaining, reason_rejected_vendors"
        " FROM purchase_orders"
    ).fetchall()
    # the warehouse derives the order id from the key, as resq.core.ordering.po_id does;
    # the reason is written as its typed columns
    assert rows == [(po_id("K1"), 10.0, "Blinkit", 0.0, None)]


# -- TO_JSON of nested objects: STRUCT serialization is the JSON_OBJECT text --------------

# keys written in sorted order, as resq's SQL writes them: JSON_OBJECT keeps the written
# order, the STRUCT rendering sorts (as Snowflake shows an OBJECT's keys)
_DIGEST_LIKE = (
    "SELECT g, TO_JSON(OBJECT_CONSTRUCT_KEEP_NULL("
    "'count', COUNT(*), 'first', MAX(s), "
    "'items', ARRAY_AGG(OBJECT_CONSTRUCT_KEEP_NULL('f', f, 'n', n, 'o', "
    "OBJECT_CONSTRUCT_KEEP_NULL('a', f, 'z', s), 's', s)) WITHIN GROUP (ORDER BY k), "
    "'kind', 'DIGEST', 'tier', 0)) AS payload "
    "FROM t GROUP BY g ORDER BY g"
)


def _without(rewrite: rewrites.Rewrite, sql: str) -> str:
    tree = rewrites._parse_one(sql)
    for r in REWRITES:
        if r is not rewrite:
            tree = r(tree)
    return tree.sql(dialect="duckdb")


@functools.cache
def _digest_renderings() -> tuple[str, str]:
    return to_duckdb(_DIGEST_LIKE), _without(rewrites.serialized_objects_as_structs, _DIGEST_LIKE)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.one_of(st.none(), hostile_ids, st.text(max_size=20)),
            st.one_of(
                st.none(),
                st.floats(allow_nan=False, allow_infinity=False),
                st.sampled_from([0.0, -0.0, 0.1, 1e-300, 5e-324, 1e300, 123456789.123]),
            ),
            st.one_of(st.none(), st.integers(-(2**62), 2**62)),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_nested_objects_serialize_to_the_same_text_as_json_objects(
    rows: list[tuple[int, str | None, float | None, int | None]],
) -> None:
    """`serialized_objects_as_structs` changes how the digest is built, never its text:
    for any values (hostile strings, NULLs, floats of every size, big integers) the STRUCT
    rendering gives byte for byte what the JSON_OBJECT rendering gives."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (k INTEGER, g INTEGER, s VARCHAR, f DOUBLE, n BIGINT)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [(i, *r) for i, r in enumerate(rows)])
    fast, reference = _digest_renderings()
    assert "JSON_OBJECT" not in fast  # the rewrite applied to every object
    assert "JSON_OBJECT" in reference
    assert con.execute(fast).fetchall() == con.execute(reference).fetchall()


def test_objects_with_computed_keys_or_outside_to_json_stay_json_objects() -> None:
    sql = (
        "SELECT TO_JSON(OBJECT_CONSTRUCT_KEEP_NULL(k, 1)), OBJECT_CONSTRUCT_KEEP_NULL('a', 1), "
        "TO_JSON(OBJECT_CONSTRUCT('a', NULL)) FROM t"
    )
    assert to_duckdb(sql) == _without(rewrites.serialized_objects_as_structs, sql)


def test_struct_rendering_sorts_keys_as_snowflake_shows_them() -> None:
    sql = "SELECT TO_JSON(OBJECT_CONSTRUCT_KEEP_NULL('b', 1, 'a', NULL))"
    assert duckdb.connect().execute(to_duckdb(sql)).fetchall() == [('{"a":null,"b":1}',)]
