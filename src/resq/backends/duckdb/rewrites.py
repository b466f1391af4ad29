"""Render Snowflake-dialect SQL for DuckDB: parse, apply small pure rewrites, generate.

sqlglot's Snowflake -> DuckDB transpiling is right for most of what resq writes (IFF,
COUNT_IF, DIV0, GREATEST/LEAST NULL semantics, TIMESTAMP_NTZ, CURRENT_TIMESTAMP(), `?`
placeholders, 0-based array indexes). Each function in `REWRITES` fixes one thing it gets
wrong or cannot express; anything sqlglot knows it cannot render raises
`SQLTranslationError` instead of being dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from resq.sqlfiles import SQLTranslationError, parse_snowflake

__all__ = [
    "REWRITES",
    "DynamicTableDef",
    "Rewrite",
    "SQLTranslationError",
    "dynamic_table_parts",
    "dynamic_table_to_table",
    "float_is_double",
    "is_dynamic_table",
    "object_construct_to_json",
    "parse_snowflake",
    "parse_target_lag",
    "reject_engine_specific_hash",
    "reject_seeded_random",
    "restrict_to_keys",
    "serialized_objects_as_structs",
    "to_duckdb",
    "unenforced_keys_dropped",
    "unqualify_set_targets",
    "unwrap_table_function",
    "variant_path_as_text",
]


Rewrite = Callable[[exp.Expr], exp.Expr]
"""A pure rewrite: takes a Snowflake syntax tree, returns a new one (never edits its input)."""


def _show(rewrite: Rewrite, sql: str) -> None:
    """Print `sql` (Snowflake) after `rewrite` alone, as DuckDB: the doctests' helper."""
    print(rewrite(sqlglot.parse_one(sql, read="snowflake")).sql(dialect="duckdb"))


# --- the rewrites -----------------------------------------------------------------------


def dynamic_table_to_table(expression: exp.Expr) -> exp.Expr:
    """Render `CREATE DYNAMIC TABLE ... AS q` as a plain `CREATE TABLE ... AS q`.

    DuckDB has no dynamic tables: the backend materializes the query and keeps the refresh
    bookkeeping itself (see `dynamic_table_parts`). Dropped here: DYNAMIC, TARGET_LAG,
    WAREHOUSE, REFRESH_MODE, INITIALIZE.
    https://docs.snowflake.com/en/sql-reference/sql/create-dynamic-table

    >>> _show(dynamic_table_to_table, "CREATE OR REPLACE DYNAMIC TABLE d TARGET_LAG = '1 minute'"
    ...       " WAREHOUSE = wh REFRESH_MODE = INCREMENTAL AS SELECT a FROM t")
    CREATE OR REPLACE TABLE d AS SELECT a FROM t
    """
    if not is_dynamic_table(expression):
        return expression
    create = expression.copy()
    properties = create.args["properties"]
    kept = [p for p in properties.expressions if not _is_dynamic_table_property(p)]
    if kept:
        properties.set("expressions", kept)
    else:
        create.set("properties", None)
    return create


def _not_enforced(node: exp.Expr) -> bool:
    return any(
        str(getattr(o, "name", o)).upper() == "NOT ENFORCED" for o in node.args.get("options") or ()
    )


def unenforced_keys_dropped(expression: exp.Expr) -> exp.Expr:
    """Drop PRIMARY KEY and UNIQUE constraints declared `NOT ENFORCED` from `CREATE TABLE`.

    Snowflake enforces neither on standard tables (`NOT ENFORCED` is its default, written
    out where resq relies on something else, such as a keyed MERGE); DuckDB has no
    unenforced constraint, and enforcing one costs an index maintained on every insert and
    written at every commit. The column keeps NOT NULL.
    https://docs.snowflake.com/en/sql-reference/constraints-properties

    >>> _show(unenforced_keys_dropped, "CREATE TABLE t (id VARCHAR NOT NULL PRIMARY KEY "
    ...       "NOT ENFORCED, k VARCHAR UNIQUE, PRIMARY KEY (k) NOT ENFORCED)")
    CREATE TABLE t (id TEXT NOT NULL, k TEXT UNIQUE)
    """
    if not isinstance(expression, exp.Create) or not isinstance(expression.this, exp.Schema):
        return expression
    keys = (exp.PrimaryKeyColumnConstraint, exp.UniqueColumnConstraint)
    if not any(
        isinstance(n, (*keys, exp.PrimaryKey)) and _not_enforced(n) for n in expression.this.walk()
    ):
        return expression
    create = expression.copy()
    schema = create.this
    kept = []
    for item in schema.expressions:
        if isinstance(item, exp.PrimaryKey) and _not_enforced(item):
            continue
        if isinstance(item, exp.ColumnDef):
            constraints = [
                c
                for c in item.args.get("constraints") or ()
                if not (isinstance(c.kind, keys) and _not_enforced(c.kind))
            ]
            item.set("constraints", constraints)
        kept.append(item)
    schema.set("expressions", kept)
    return create


def unqualify_set_targets(expression: exp.Expr) -> exp.Expr:
    """Strip the table qualifier from `UPDATE SET` targets, in MERGE and in UPDATE.

    Snowflake accepts `WHEN MATCHED THEN UPDATE SET t.col = ...`; DuckDB rejects it
    ("Qualified column names in UPDATE .. SET not supported"). A SET target can only be
    a column of the target table, so dropping the qualifier keeps the meaning.
    https://docs.snowflake.com/en/sql-reference/sql/merge

    >>> _show(unqualify_set_targets, "MERGE INTO t USING s ON t.id = s.id"
    ...       " WHEN MATCHED THEN UPDATE SET t.v = s.v")
    MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v
    """

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Update):
            for assignment in node.expressions:
                target = assignment.this if isinstance(assignment, exp.EQ) else None
                if isinstance(target, exp.Column) and target.table:
                    assignment.set("this", exp.Column(this=target.this.copy()))
        return node

    return expression.transform(fix)


def float_is_double(expression: exp.Expr) -> exp.Expr:
    """Render every Snowflake floating-point type as DuckDB DOUBLE.

    In Snowflake FLOAT, FLOAT4, FLOAT8, REAL, DOUBLE are all 64-bit; in DuckDB FLOAT,
    FLOAT4 and REAL are 32-bit. sqlglot already maps FLOAT to DOUBLE but renders REAL and
    FLOAT4 as DuckDB REAL, which would silently lose precision.
    https://docs.snowflake.com/en/sql-reference/data-types-numeric#float-float4-float8

    >>> _show(float_is_double, "CREATE TABLE t (a FLOAT, b REAL, c FLOAT4, d FLOAT8)")
    CREATE TABLE t (a DOUBLE, b DOUBLE, c DOUBLE, d DOUBLE)
    >>> _show(float_is_double, "SELECT x::REAL")
    SELECT CAST(x AS DOUBLE)
    """

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.FLOAT:
            return exp.DataType.build("DOUBLE")
        return node

    return expression.transform(fix)


_TEXT_TYPES = {
    exp.DataType.Type.TEXT,
    exp.DataType.Type.VARCHAR,
    exp.DataType.Type.CHAR,
    exp.DataType.Type.NVARCHAR,
    exp.DataType.Type.NCHAR,
}


def variant_path_as_text(expression: exp.Expr) -> exp.Expr:
    """Render `v:path::string` as DuckDB `v ->> '$.path'`, the value without JSON quotes.

    sqlglot renders `CAST(v -> '$.path' AS TEXT)`, which in DuckDB keeps the JSON quotes
    (`"Blinkit"`); Snowflake's cast of a VARIANT string gives `Blinkit`. Limits: only
    `:`-paths cast to a string type are fixed; compare a path with a string only after
    such a cast, and `v['key']` bracket access is not translated.
    https://docs.snowflake.com/en/user-guide/querying-semistructured

    >>> _show(variant_path_as_text, "SELECT reason:vendor::string, reason:days::float FROM po")
    SELECT reason ->> '$.vendor', CAST(reason -> '$.days' AS DOUBLE) FROM po
    """

    def fix(node: exp.Expr) -> exp.Expr:
        if (
            isinstance(node, exp.Cast)
            and isinstance(node.this, exp.JSONExtract)
            and node.to.this in _TEXT_TYPES
        ):
            path = node.this
            return exp.JSONExtractScalar(this=path.this, expression=path.expression)
        return node

    return expression.transform(fix)


def object_construct_to_json(expression: exp.Expr) -> exp.Expr:
    """Render `OBJECT_CONSTRUCT(k, v, ...)` as a DuckDB JSON object without NULL values.

    sqlglot renders a DuckDB STRUCT literal, which differs three ways: it is stored in a
    VARCHAR column as `{'a': 1}` (not JSON), a column used as a key becomes a literal
    field name, and NULL values are kept where Snowflake omits the pair.
    `JSON_MERGE_PATCH('{}', ...)` drops the NULL members. Literal keys are sorted: Snowflake
    does not keep the argument order (it shows keys sorted), so neither may callers.
    Limits: JSON nulls inside VARIANT values are dropped too (Snowflake keeps them); a NULL
    key is an error on DuckDB; `OBJECT_CONSTRUCT(*)` is not translated.
    https://docs.snowflake.com/en/sql-reference/functions/object_construct

    >>> _show(object_construct_to_json, "SELECT OBJECT_CONSTRUCT('sku', sku, 'days', d) FROM t")
    SELECT JSON_MERGE_PATCH('{}', JSON_OBJECT('days', d, 'sku', sku)) FROM t
    """

    def fix(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Struct) or not all(
            isinstance(e, exp.PropertyEQ) for e in node.expressions
        ):
            return node
        pairs = [
            exp.JSONKeyValue(
                this=exp.Literal.string(e.this.name)
                if isinstance(e.this, exp.Identifier)
                else e.this,
                expression=e.expression,
            )
            for e in node.expressions
        ]
        if all(p.this.is_string for p in pairs):
            pairs.sort(key=lambda p: p.this.name)
        return exp.Anonymous(
            this="JSON_MERGE_PATCH",
            expressions=[exp.Literal.string("{}"), exp.JSONObject(expressions=pairs)],
        )

    return expression.transform(fix)


def serialized_objects_as_structs(expression: exp.Expr) -> exp.Expr:
    """Render `TO_JSON(OBJECT_CONSTRUCT_KEEP_NULL(...))` as `TO_JSON` of a DuckDB STRUCT.

    sqlglot renders each OBJECT_CONSTRUCT_KEEP_NULL as `JSON_OBJECT`, a JSON text: an
    object nested in another one, or collected by ARRAY_AGG, is then parsed again by every
    enclosing `JSON_OBJECT` and serialized again by `TO_JSON` (a digest of 100,000 alerts
    parses each of them twice, and holds the copies). A STRUCT is serialized once, by the
    outermost `TO_JSON`, to the same text: NULL members kept (as KEEP_NULL keeps them),
    keys sorted (as Snowflake shows them), the same number formatting. Applies to the
    objects directly under `TO_JSON`, nested as member values or as the argument of
    `ARRAY_AGG` (which needs no NULL filter then: a STRUCT literal is never NULL), and only
    when every key is a string literal; other objects stay `JSON_OBJECT`.
    https://docs.snowflake.com/en/sql-reference/functions/object_construct_keep_null

    >>> _show(serialized_objects_as_structs, "SELECT TO_JSON(OBJECT_CONSTRUCT_KEEP_NULL("
    ...       "'n', COUNT(*), 'a', ARRAY_AGG(OBJECT_CONSTRUCT_KEEP_NULL('id', id, 'd', d)))) "
    ...       "FROM t")
    SELECT CAST(TO_JSON({'a': ARRAY_AGG({'d': d, 'id': id}), 'n': COUNT(*)}) AS TEXT) FROM t
    """

    def as_struct(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.WithinGroup) and isinstance(node.this, exp.ArrayAgg):
            agg = as_struct(node.this)
            if agg is node.this:
                return node
            ordered = node.copy()
            ordered.set("this", agg)
            return ordered
        if isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.JSONObject):
            inner = as_struct(node.this)
            if inner is node.this:
                return node
            agg = node.copy()
            agg.set("this", inner)
            agg.set("nulls_excluded", None)
            return agg
        if not isinstance(node, exp.JSONObject) or node.args.get("null_handling"):
            return node
        pairs = node.expressions
        if not pairs or not all(
            isinstance(p, exp.JSONKeyValue) and p.this.is_string for p in pairs
        ):
            return node
        members = [
            exp.PropertyEQ(
                this=exp.to_identifier(p.this.name, quoted=True),
                expression=as_struct(p.expression).copy(),
            )
            for p in sorted(pairs, key=lambda p: p.this.name)
        ]
        return exp.Struct(expressions=members)

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.JSONFormat) and isinstance(node.this, exp.JSONObject):
            struct = as_struct(node.this)
            if struct is not node.this:
                out = node.copy()
                out.set("this", struct)
                return out
        return node

    return expression.transform(fix)


def unwrap_table_function(expression: exp.Expr) -> exp.Expr:
    """Render `FROM TABLE(f(...))` as DuckDB `FROM f(...)`.

    Snowflake calls a table function through `TABLE(...)`; DuckDB has no such wrapper and
    rejects it, and sqlglot keeps it. Used for the simulation table function.
    https://docs.snowflake.com/en/sql-reference/functions-table

    >>> _show(unwrap_table_function, "SELECT * FROM TABLE(GENERATE_SIMULATION(42, 30)) AS s")
    SELECT * FROM GENERATE_SIMULATION(42, 30) AS s
    """

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.TableFromRows):
            return exp.Table(this=node.this, alias=node.args.get("alias"))
        return node

    return expression.transform(fix)


def reject_seeded_random(expression: exp.Expr) -> exp.Expr:
    """Refuse `RANDOM(seed)` and `UNIFORM(lo, hi, <constant>)`: DuckDB cannot honour seeds.

    sqlglot drops the seed of RANDOM (a different value on every run) and turns a constant
    UNIFORM generator into a DuckDB HASH (reproducible, but not Snowflake's numbers).
    Reproducible randomness belongs in `resq.simulation`, which is identical on every
    backend. Unseeded `RANDOM()` / `UNIFORM(lo, hi, RANDOM())` pass.
    https://docs.snowflake.com/en/sql-reference/functions/random

    >>> _show(reject_seeded_random, "SELECT UNIFORM(1, 10, RANDOM(42))")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    resq.sqlfiles.SQLTranslationError: RANDOM(42) ...
    """
    for node in expression.find_all(exp.Rand, exp.Uniform):
        if isinstance(node, exp.Rand) and node.this is not None:
            seeded = f"RANDOM({node.this.sql(dialect='snowflake')})"
        elif isinstance(node, exp.Uniform) and not isinstance(node.args.get("gen"), exp.Rand):
            seeded = node.sql(dialect="snowflake")
        else:
            continue
        raise SQLTranslationError(
            f"{seeded} gives different numbers on DuckDB than on Snowflake (the seed cannot "
            "be honoured); use resq.simulation for reproducible random data"
        )
    return expression


def reject_engine_specific_hash(expression: exp.Expr) -> exp.Expr:
    """Refuse `HASH(...)`: Snowflake and DuckDB compute different values for it.

    Use `SHA2(x, 256)` or `MD5(x)`, which give the same hex digest on both engines.
    https://docs.snowflake.com/en/sql-reference/functions/hash

    >>> _show(reject_engine_specific_hash, "SELECT SHA2(a, 256) FROM t")
    SELECT SHA256(a) FROM t
    >>> _show(reject_engine_specific_hash, "SELECT HASH(a) FROM t")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    resq.sqlfiles.SQLTranslationError: HASH(a) ...
    """
    for node in expression.find_all(exp.Anonymous):
        if node.name.upper() == "HASH":
            raise SQLTranslationError(
                f"{node.sql(dialect='snowflake')} gives different values on DuckDB than on "
                "Snowflake; use SHA2(x, 256) or MD5(x), which agree"
            )
    return expression


REWRITES: tuple[Rewrite, ...] = (
    reject_seeded_random,
    reject_engine_specific_hash,
    dynamic_table_to_table,
    unenforced_keys_dropped,
    unqualify_set_targets,
    float_is_double,
    variant_path_as_text,
    object_construct_to_json,
    serialized_objects_as_structs,
    unwrap_table_function,
)
"""Applied in order by `to_duckdb`; each is pure (returns a new tree, never edits its input)."""


# --- rendering --------------------------------------------------------------------------


def to_duckdb(sql: str | exp.Expr) -> str:
    """One Snowflake statement (text or parsed) rendered as DuckDB SQL, through `REWRITES`.

    Raises `SQLTranslationError` when the text does not parse as one statement or holds
    something DuckDB cannot do with the same meaning.

    >>> to_duckdb("SELECT IFF(qty > 0, qty, NULL) FROM inventory_master WHERE org_id = ?")
    'SELECT CASE WHEN qty > 0 THEN qty ELSE NULL END FROM inventory_master WHERE org_id = ?'
    """
    if isinstance(sql, str):
        return _render_text(sql)
    return _render(sql)


@lru_cache(maxsize=1024)
def _render_text(sql: str) -> str:
    return _render(_parse_one(sql))


def _parse_one(sql: str) -> exp.Expr:
    parsed = parse_snowflake(sql)
    if len(parsed) != 1:
        raise SQLTranslationError(f"expected one SQL statement, got {len(parsed)}")
    return parsed[0]


def _render(expression: exp.Expr) -> str:
    for rewrite in REWRITES:
        expression = rewrite(expression)
    try:
        return expression.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as e:
        raise SQLTranslationError(f"cannot render for DuckDB: {e}") from e


# --- dynamic tables ---------------------------------------------------------------------

_DYNAMIC_TABLE_PROPERTIES = {"TARGET_LAG", "WAREHOUSE", "REFRESH_MODE", "INITIALIZE"}
_LAG = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(second|minute|hour|day)s?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


def _is_dynamic_table_property(prop: exp.Expr) -> bool:
    return isinstance(prop, exp.DynamicProperty) or (
        isinstance(prop, exp.Property) and prop.name.upper() in _DYNAMIC_TABLE_PROPERTIES
    )


@dataclass(frozen=True)
class DynamicTableDef:
    """A Snowflake dynamic table: its name, target lag and defining query (Snowflake AST).

    `name` is the unqualified table name and `table` the name as written (maybe qualified).
    `target_lag_seconds` is None for `TARGET_LAG = DOWNSTREAM` (refresh only when a
    dependent table needs it).
    """

    name: str
    table: exp.Table
    target_lag: str
    target_lag_seconds: float | None
    query: exp.Query


def is_dynamic_table(expression: exp.Expr) -> bool:
    """True for a `CREATE [OR REPLACE] DYNAMIC TABLE` statement."""
    properties = expression.args.get("properties") if isinstance(expression, exp.Create) else None
    return properties is not None and any(
        isinstance(p, exp.DynamicProperty) for p in properties.expressions
    )


def parse_target_lag(text: str) -> float | None:
    """Seconds in a Snowflake TARGET_LAG ('1 minute', '5 minutes', '2 hours'); DOWNSTREAM is None.

    https://docs.snowflake.com/en/sql-reference/sql/create-dynamic-table#required-parameters

    >>> parse_target_lag("5 minutes"), parse_target_lag("1 hour"), parse_target_lag("DOWNSTREAM")
    (300.0, 3600.0, None)
    """
    if text.strip().upper() == "DOWNSTREAM":
        return None
    match = _LAG.match(text)
    if match is None:
        raise SQLTranslationError(
            f"TARGET_LAG {text!r} is not '<number> seconds|minutes|hours|days' or DOWNSTREAM"
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]


def dynamic_table_parts(sql: str | exp.Expr) -> DynamicTableDef:
    """Name, target lag and query of a `CREATE DYNAMIC TABLE` statement (text or parsed).

    sqlglot keeps TARGET_LAG as a property of the Create, so no text matching is needed.
    The query is a Snowflake-dialect copy: render it with `to_duckdb` to materialize it.

    >>> d = dynamic_table_parts("CREATE DYNAMIC TABLE s TARGET_LAG = '1 minute' WAREHOUSE = w"
    ...                         " AS SELECT a FROM t")
    >>> d.name, d.target_lag_seconds, to_duckdb(d.query)
    ('s', 60.0, 'SELECT a FROM t')
    """
    expression = _parse_one(sql) if isinstance(sql, str) else sql
    if not is_dynamic_table(expression):
        raise SQLTranslationError("not a CREATE DYNAMIC TABLE statement")
    lag = next(
        (
            p.args["value"]
            for p in expression.args["properties"].expressions
            if isinstance(p, exp.Property) and p.name.upper() == "TARGET_LAG"
        ),
        None,
    )
    if lag is None:
        raise SQLTranslationError("a dynamic table needs a TARGET_LAG")
    query = expression.expression
    if not isinstance(query, exp.Query):
        raise SQLTranslationError("a dynamic table needs an AS <query>")
    lag_text = lag.name
    named = expression.this  # the table, or a Schema (table plus column list) around it
    table = named if isinstance(named, exp.Table) else named.this
    return DynamicTableDef(
        name=table.name,
        table=table.copy(),
        target_lag=lag_text,
        target_lag_seconds=parse_target_lag(lag_text),
        query=query.copy(),
    )


def restrict_to_keys(
    query: exp.Expr, keys: str, tables: tuple[str, ...], columns: tuple[str, ...]
) -> exp.Expr:
    """The query reading, from each of ``tables``, only the rows whose ``columns`` are a row
    of the table ``keys``: every scan of such a table becomes a join with ``keys`` under the
    same alias. The names are resq's own (never a user's string).

    This is how DuckDB refreshes `stock_analysis` incrementally: the dynamic table's own
    query, restricted to the items whose inputs changed, so only they are recomputed.

    >>> q = sqlglot.parse_one("SELECT i.a FROM inv AS i", read="snowflake")
    >>> print(restrict_to_keys(q, "ks", ("inv",), ("id",)).sql(dialect="duckdb"))
    SELECT i.a FROM (SELECT t.* FROM inv AS t JOIN ks AS k ON t.id = k.id) AS i
    """
    wanted = {t.lower() for t in tables}
    on = " AND ".join(f"t.{c} = k.{c}" for c in columns)

    def fix(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Table) or node.name.lower() not in wanted or node.db:
            return node
        alias = node.alias_or_name
        scan = sqlglot.parse_one(
            f"SELECT * FROM (SELECT t.* FROM {node.name} AS t JOIN {keys} AS k ON {on}) AS {alias}",
            read="snowflake",
        )
        return scan.args["from_"].this

    return query.transform(fix)
