"""A hostile tenant's SQL never leaves its organization (issue 11, item 1).

``backend.tenant(org).sql(query)`` is offered to someone who must only see their own rows.
A grammar of hostile queries (table functions reading files, catalog and settings
functions, IDENTIFIER and TABLE indirection, quoting and case, schema qualification,
comments, CTE and subquery shadowing, set operations, lateral joins, scalar subqueries,
several statements) runs against a database with a secret file beside it, a marker in
every other organization's rows and a table no tenant may read: no answer may contain
any of them, and every query either returns only the tenant's rows or raises a resq
error. The positive side: ordinary queries (aggregates, joins, CTEs, set operations) give
the same answer as the same query on a database holding only the tenant's rows.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import resq
from resq.backends.warehouse import TENANT_TABLES, WarehouseBackend
from resq.errors import ResqError, TenantScopeError

TENANT = "HOSP-BLR-001"
OTHER_MARKER = "ZZ-OTHER-ORG-MARKER-7f3a"
PRIVATE_MARKER = "ZZ-PRIVATE-TABLE-MARKER-91c2"
FILE_SECRET = "ZZ-FILE-SECRET-5d0e"
SCOPED = sorted(t for t, scope in TENANT_TABLES.items() if scope is not None)


# --- the planted database -------------------------------------------------------------


class Planted:
    """The hostile-test world: a seeded network with markers, secret files, an oracle."""

    def __init__(self, backend: WarehouseBackend, oracle: WarehouseBackend, files: Path) -> None:
        self.backend = backend
        self.oracle = oracle
        self.files = files
        self.csv = str(files / "secret.csv")
        self.parquet = str(files / "secret.parquet")
        self.json = str(files / "secret.json")
        self.text = str(files / "secret.txt")


@pytest.fixture(scope="module")
def planted(make_shared_backend: Any, tmp_path_factory: pytest.TempPathFactory) -> Planted:
    files = tmp_path_factory.mktemp("secrets")
    (files / "secret.csv").write_text(f"secret\n{FILE_SECRET}\n")
    (files / "secret.txt").write_text(FILE_SECRET)
    (files / "secret.json").write_text(json.dumps([{"secret": FILE_SECRET}]))
    pq.write_table(pa.table({"secret": [FILE_SECRET]}), files / "secret.parquet")

    backend = make_shared_backend()
    resq.SelfHealingEngine(backend).seed()
    # Every other organization's rows carry the marker; the tenant's rows never do.
    backend.sql(
        "UPDATE inventory_master SET item_name = item_name || ? WHERE org_id <> ?",
        [OTHER_MARKER, TENANT],
    )
    backend.sql(
        "UPDATE organizations SET org_name = org_name || ? WHERE org_id <> ?",
        [OTHER_MARKER, TENANT],
    )
    # A table that exists in the database but is not on the tenant list.
    backend.sql("CREATE TABLE private_notes (org_id VARCHAR, note VARCHAR)")
    backend.sql("INSERT INTO private_notes VALUES (?, ?)", [TENANT, PRIVATE_MARKER])
    backend.refresh_analysis(force=True)

    # The oracle: the same network holding only the tenant's rows, read as the operator.
    oracle = make_shared_backend()
    resq.SelfHealingEngine(oracle).seed()
    for table in SCOPED:
        if table == "stock_analysis":
            continue  # derived: the refresh below recomputes it from what is left
        oracle.sql(f"DELETE FROM {table} WHERE org_id <> ?", [TENANT])
    oracle.refresh_analysis(force=True)
    return Planted(backend, oracle, files)


def _texts(value: Any) -> list[str]:
    """Every string inside a returned value (structs, lists and JSON text included)."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _texts(v)] + [str(k) for k in value]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _texts(v)]
    if isinstance(value, bytes):
        return [value.decode("utf-8", "replace")]
    return [str(value)]


def _assert_contained(planted: Planted, query: str) -> None:
    """The query raises a resq error, or answers with nothing another organization owns,
    nothing from a file and nothing from a table a tenant may not read."""
    try:
        result = planted.backend.tenant(TENANT).sql(query)
    except ResqError:
        return
    # Anything else escaping (a raw duckdb or connector exception) fails the test as is.
    rows = result.to_pylist()
    for row in rows:
        for text in _texts(row):
            for secret in (OTHER_MARKER, PRIVATE_MARKER, FILE_SECRET):
                assert secret not in text, (query, row)
        for column, value in row.items():
            if column.lower() == "org_id" and value is not None:
                assert value == TENANT, (query, row)


# --- the grammar of hostile queries ----------------------------------------------------


def _case(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.upper(), name.title(), name.swapcase()])


def _tenant_table() -> st.SearchStrategy[str]:
    """A tenant table, spelled every way Snowflake SQL allows: quoted, cased, through
    IDENTIFIER() and TABLE()."""
    name = st.sampled_from(["inventory_master", "organizations", "stock_analysis", "audit_log"])
    return name.flatmap(
        lambda n: st.one_of(
            _case(n),
            st.just(f'"{n.upper()}"'),
            st.just(f"IDENTIFIER('{n}')"),
            st.just(f"IDENTIFIER('\"{n.upper()}\"')"),
            st.just(f"TABLE(IDENTIFIER('{n}'))"),
            st.just(f"TABLE({n})"),
            st.just(f'"{n}"'),
        )
    )


def _forbidden_source(p: Planted) -> st.SearchStrategy[str]:
    """Table expressions a tenant must never read from."""
    hidden = st.sampled_from(
        ["private_notes", "heal_cycles", "audit_head", "resq_schema_version", "watch_lease"]
    ).flatmap(
        lambda n: st.one_of(
            _case(n),
            st.just(f'"{n.upper()}"'),
            st.just(f"IDENTIFIER('{n}')"),
            st.just(f"TABLE(IDENTIFIER('{n}'))"),
        )
    )
    qualified = st.sampled_from(
        [
            "main.inventory_master",
            "memory.main.inventory_master",
            "PUBLIC.inventory_master",
            '"main"."organizations"',
            "IDENTIFIER('main.inventory_master')",
            "information_schema.tables",
            "information_schema.columns",
            "pg_catalog.pg_tables",
            "system.main.duckdb_tables",
        ]
    )
    functions = st.sampled_from(
        [
            f"read_csv('{p.csv}')",
            f"read_csv_auto('{p.csv}')",
            f"TABLE(READ_CSV('{p.csv}', header => false))",
            f"read_parquet('{p.parquet}')",
            f"TABLE(read_parquet('{p.parquet}'))",
            f"read_json('{p.json}')",
            f"read_json_auto('{p.json}')",
            f"read_text('{p.text}')",
            f"read_blob('{p.text}')",
            f"glob('{p.files}/*')",
            f"sniff_csv('{p.csv}')",
            f"parquet_metadata('{p.parquet}')",
            "duckdb_tables()",
            "duckdb_columns()",
            "duckdb_settings()",
            "duckdb_databases()",
            "duckdb_functions()",
            "pragma_table_info('private_notes')",
            "pragma_database_list()",
            "pragma_storage_info('private_notes')",
            "query('SELECT * FROM private_notes')",
            "query_table('private_notes')",
            "TABLE(query_table('inventory_master'))",
            "GENERATE_REALISTIC_SIMULATION('NGO-DEL-001', 'RICE', 3, 1)",
            "TABLE(GENERATE_REALISTIC_SIMULATION('NGO-DEL-001', 'RICE', 3, 1))",
            "TABLE(FLATTEN(input => PARSE_JSON('[1]')))",
            "range(3)",
            "unnest([1, 2])",
        ]
    )
    files = st.sampled_from(
        [
            f"'{p.csv}'",
            f'"{p.csv}"',
            f"IDENTIFIER('{p.csv}')",
            f"TABLE(IDENTIFIER('{p.parquet}'))",
            f"'{p.parquet}'",
        ]
    )
    return st.one_of(hidden, qualified, functions, files)


def _scalar(p: Planted) -> st.SearchStrategy[str]:
    """Expressions in select-list or WHERE position that try to read elsewhere."""
    return st.sampled_from(
        [
            "(SELECT MAX(note) FROM private_notes)",
            "(SELECT MAX(item_name) FROM inventory_master)",
            "(SELECT LISTAGG(org_name, ',') FROM organizations)",
            f"(SELECT MAX(content) FROM read_text('{p.text}'))",
            f"(SELECT COUNT(*) FROM read_csv('{p.csv}'))",
            "current_setting('home_directory')",
            "getenv('HOME')",
            "getvariable('x')",
            "current_database()",
            "version()",
            "nextval('seq')",
            "SYSTEM$WHITELIST()",
            "CURRENT_ROLE()",
            "1",
            "org_id",
        ]
    )


def _comment(body: str, how: str) -> str:
    if how == "block":
        return body.replace(" FROM ", " /* x */ FROM /* ; */ ", 1)
    if how == "line":
        return body + " -- */ ; SELECT * FROM private_notes"
    if how == "nested":
        return "/* ; SELECT * FROM private_notes; */ " + body
    return body


@st.composite
def hostile_queries(draw: st.DrawFn, p: Planted) -> str:
    bad = _forbidden_source(p)
    any_source = st.one_of(_tenant_table(), bad)
    t1 = draw(any_source)
    t2 = draw(any_source)
    shadow = draw(st.sampled_from(["inventory_master", "organizations", "audit_log", "x"]))
    scalar = draw(_scalar(p))
    shape = draw(
        st.sampled_from(
            [
                "SELECT * FROM {t1}",
                "SELECT * FROM {t1} UNION ALL SELECT * FROM {t2}",
                "SELECT * FROM {t1} UNION SELECT * FROM {t2}",
                "SELECT * FROM {t1} INTERSECT SELECT * FROM {t2}",
                "SELECT * FROM {t1} EXCEPT SELECT * FROM {t2}",
                "SELECT * FROM {t1} MINUS SELECT * FROM {t2}",
                "WITH {shadow} AS (SELECT * FROM {t1}) SELECT * FROM {shadow}",
                "WITH {shadow} AS (SELECT * FROM {t1}) SELECT * FROM {t2}",
                "WITH a AS (SELECT * FROM {t1}), {shadow} AS (SELECT * FROM a) "
                "SELECT * FROM {shadow}",
                "SELECT * FROM (WITH {shadow} AS (SELECT * FROM {t1}) SELECT * FROM {shadow}) s",
                "SELECT * FROM (SELECT * FROM {t1}) AS {shadow}",
                "SELECT * FROM {t1} AS {shadow}",
                "SELECT a.*, b.* FROM {t1} a JOIN {t2} b ON TRUE",
                "SELECT * FROM {t1} a, LATERAL (SELECT * FROM {t2}) b",
                "SELECT * FROM {t1} a CROSS JOIN LATERAL (SELECT * FROM {t2}) b",
                "SELECT {scalar} AS v FROM {t1}",
                "SELECT {scalar} AS v",
                "SELECT * FROM {t1} WHERE {scalar} IS NOT NULL",
                "SELECT * FROM {t1} WHERE org_id = 'NGO-DEL-001' OR 1 = 1",
                "SELECT * FROM {t1} WHERE org_id IN (SELECT org_id FROM {t2})",
                "SELECT * FROM {t1} WHERE EXISTS (SELECT 1 FROM {t2})",
                "SELECT (SELECT COUNT(*) FROM {t2}) AS n, * FROM {t1}",
                "SELECT * FROM {t1}; SELECT * FROM {t2}",
                "SELECT 1; DROP TABLE private_notes",
                "SELECT * FROM {t1} ORDER BY {scalar}",
                "SELECT * FROM {t1} QUALIFY ROW_NUMBER() OVER (ORDER BY 1) <= (SELECT COUNT(*) "
                "FROM {t2})",
            ]
        )
    )
    body = shape.format(t1=t1, t2=t2, shadow=shadow, scalar=scalar)
    return _comment(body, draw(st.sampled_from(["none", "block", "line", "nested"])))


# --- the properties --------------------------------------------------------------------


def test_the_planted_world_is_as_described(planted: Planted) -> None:
    """The markers exist where the hostile queries look for them (a check on the check)."""
    b = planted.backend
    leaked = b.sql(
        "SELECT COUNT(*) FROM inventory_master WHERE item_name LIKE ?", [f"%{OTHER_MARKER}"]
    )
    assert leaked.scalar() > 0
    assert b.sql("SELECT note FROM private_notes").scalar() == PRIVATE_MARKER
    own = planted.backend.tenant(TENANT).sql("SELECT item_name FROM inventory_master")
    assert len(own) == 3 and not any(OTHER_MARKER in r["item_name"] for r in own)


@pytest.mark.slow
@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_hostile_query_leaves_the_tenant(planted: Planted, data: st.DataObject) -> None:
    _assert_contained(planted, data.draw(hostile_queries(planted)))


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM TABLE(IDENTIFIER('inventory_master'))",
        "SELECT * FROM IDENTIFIER('\"INVENTORY_MASTER\"')",
        "SELECT * FROM TABLE(inventory_master)",
        "SELECT org_id, org_name FROM TABLE(IDENTIFIER('organizations'))",
    ],
)
def test_indirection_resolves_to_the_scoped_table(planted: Planted, query: str) -> None:
    """IDENTIFIER() and TABLE() reach the tenant table, scoped like a plain name."""
    rows = planted.backend.tenant(TENANT).sql(query).to_pylist()
    assert rows and {r["org_id"] for r in rows} == {TENANT}


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("SELECT * FROM TABLE(READ_CSV('{csv}', header => false))", "READ_CSV"),
        ("SELECT * FROM read_parquet('{parquet}')", "READ_PARQUET"),
        ("SELECT * FROM duckdb_settings()", "duckdb_settings"),
        ("SELECT * FROM '{csv}'", "secret.csv"),
        ("SELECT * FROM private_notes", "private_notes"),
        ("SELECT current_setting('threads') AS s", "current_setting"),
        ("SELECT getenv('HOME') AS s", "getenv"),
        ("SELECT * FROM main.inventory_master", "main.inventory_master"),
    ],
)
def test_refusals_name_what_was_refused(planted: Planted, query: str, named: str) -> None:
    sql = query.format(csv=planted.csv, parquet=planted.parquet)
    with pytest.raises(TenantScopeError) as info:
        planted.backend.tenant(TENANT).sql(sql)
    assert named.lower() in str(info.value).lower()


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1; SELECT 2",
        "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) SELECT * FROM r",
        "SELECT ? AS x",
        "SELECT * FROM inventory_master PIVOT (SUM(current_stock) FOR sku IN ('OXY-CYL'))",
        "SELECT * INTO leak FROM inventory_master",
        "SELECT * FROM inventory_master AT (OFFSET => -60)",
    ],
)
def test_statement_shapes_outside_the_allow_list_are_refused(planted: Planted, query: str) -> None:
    with pytest.raises(ResqError):
        planted.backend.tenant(TENANT).sql(query)


# --- the positive property ---------------------------------------------------------------


@st.composite
def ordinary_queries(draw: st.DrawFn) -> str:
    """Allowed queries over the tenant's tables with deterministic answers."""
    k = draw(st.integers(min_value=0, max_value=400))
    agg = draw(
        st.sampled_from(
            [
                "COUNT(*)",
                "SUM(current_stock)",
                "MIN(daily_consumption)",
                "MAX(current_stock)",
                "ROUND(AVG(current_stock), 3)",
                "COUNT(DISTINCT sku)",
            ]
        )
    )
    shadow = draw(st.sampled_from(["inventory_master", "low", "organizations"]))
    return draw(
        st.sampled_from(
            [
                f"SELECT {agg} AS v FROM inventory_master WHERE current_stock >= {k}",
                f"SELECT sku, {agg} AS v FROM inventory_master GROUP BY sku",
                f"SELECT o.org_name, {agg} AS v FROM inventory_master i JOIN organizations o "
                "ON o.org_id = i.org_id GROUP BY o.org_name",
                f"WITH {shadow} AS (SELECT * FROM inventory_master WHERE current_stock >= {k}) "
                f"SELECT {agg} AS v FROM {shadow}",
                f"SELECT sku FROM inventory_master WHERE current_stock >= {k} "
                "UNION SELECT sku FROM stock_analysis",
                "SELECT sku FROM inventory_master INTERSECT SELECT sku FROM stock_analysis",
                f"SELECT sku FROM inventory_master EXCEPT SELECT sku FROM stock_analysis "
                f"WHERE current_stock < {k}",
                "SELECT status, COUNT(*) AS n FROM stock_analysis GROUP BY status",
                f"SELECT (SELECT {agg} FROM inventory_master) AS v, "
                "(SELECT COUNT(*) FROM organizations) AS n",
                "SELECT COUNT(*) AS n FROM vendor_catalog c JOIN inventory_master i "
                "ON i.sku = c.sku",
                f"SELECT i.sku, a.status FROM inventory_master i JOIN stock_analysis a "
                f"ON a.org_id = i.org_id AND a.sku = i.sku WHERE i.current_stock >= {k}",
                "SELECT sku, ROW_NUMBER() OVER (ORDER BY sku) AS r FROM inventory_master",
                f"SELECT COUNT(*) AS n FROM inventory_master i WHERE EXISTS (SELECT 1 FROM "
                f"stock_analysis a WHERE a.sku = i.sku AND a.current_stock >= {k})",
                "SELECT UPPER(org_name) AS n, COALESCE(city, '-') AS c FROM organizations",
            ]
        )
    )


def _rows(result: Any) -> list[tuple[Any, ...]]:
    def norm(v: Any) -> Any:
        return round(v, 6) if isinstance(v, float) and math.isfinite(v) else v

    return sorted((tuple(norm(v) for v in row.values()) for row in result.to_pylist()), key=repr)


@pytest.mark.slow
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=ordinary_queries())
def test_ordinary_queries_equal_the_query_on_the_tenants_rows(planted: Planted, query: str) -> None:
    mine = planted.backend.tenant(TENANT).sql(query)
    expected = planted.oracle.sql(query)
    assert _rows(mine) == _rows(expected), query
