"""Tenant SQL: one read-only query, checked against an allow-list and scoped to one
organization, on the statement the engine will actually run.

``backend.tenant(org).sql(query)`` takes Snowflake SQL from someone who must only ever see
their own organization's rows. The query is parsed, rendered for the backend's engine
(DuckDB or Snowflake), and the *rendered* text is parsed again: every check below runs on
that second tree, after the rendering has resolved ``TABLE(...)``, ``IDENTIFIER(...)`` and
the dialect's rewrites, so nothing the rendering unwraps can slip past. The statement
that runs is generated from the checked tree, never from the user's text.

The allow-list:

- exactly one ``SELECT`` (set operations, subqueries and CTEs included), nothing else;
  no comments, parameters, session variables, ``INTO``, ``PIVOT`` or recursive CTEs;
- every table is one of :data:`resq.backends.warehouse.TENANT_TABLES`, named by a plain
  identifier (quoting and case do not matter; schema or database qualification is
  refused), or a CTE in scope; org-scoped tables are replaced by
  ``(SELECT * FROM t WHERE org_id = ?)`` with the organization bound as a value;
- no table functions (``read_csv``, ``glob``, ``duckdb_tables()``, the simulation...) and
  no replacement scans (a file name or string as a table is not a tenant table);
- every function is one of :data:`SCALAR_FUNCTIONS`, :data:`AGGREGATE_FUNCTIONS`,
  :data:`WINDOW_FUNCTIONS`, :data:`UDFS` or :data:`ENGINE_FUNCTIONS`: pure functions
  of their arguments;
- every CTE is renamed to a name no table has, so a CTE can never shadow a tenant table
  (nor the scoping subquery's own reference to it) and a query that names a CTE after a
  table still sees only scoped rows.

Anything else raises :class:`resq.errors.TenantScopeError` naming what was refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from resq.errors import TenantScopeError

#: Pure scalar functions a tenant may call (sqlglot expression names, as parsed from the
#: rendered statement). Conditionals and casts are functions to sqlglot, so they are here.
SCALAR_FUNCTIONS: frozenset[str] = frozenset(
    {
        # conditionals, casts and subquery tests
        "Exists",
        "Case",
        "If",
        "Coalesce",
        "Nullif",
        "Greatest",
        "Least",
        "Cast",
        "TryCast",
        # numbers
        "Abs",
        "Ceil",
        "Floor",
        "Round",
        "Trunc",
        "Sqrt",
        "Cbrt",
        "Ln",
        "Log",
        "Exp",
        "Pow",
        "Sign",
        "IsNan",
        "IsInf",
        "SafeDivide",
        # text
        "Upper",
        "Lower",
        "Length",
        "Substring",
        "Concat",
        "ConcatWs",
        "Trim",
        "Left",
        "Right",
        "StrPosition",
        "Pad",
        "Initcap",
        "Replace",
        "Reverse",
        "Repeat",
        "StartsWith",
        "EndsWith",
        "Contains",
        "Split",
        "RegexpLike",
        "RegexpExtract",
        "RegexpReplace",
        "MD5",
        "SHA",
        "SHA2",
        "Levenshtein",
        "Ascii",
        "Chr",
        # dates and times (reading the clock is harmless)
        "CurrentDate",
        "CurrentTimestamp",
        "Date",
        "DateTrunc",
        "TimestampTrunc",
        "DateAdd",
        "DateSub",
        "DateDiff",
        "TimestampAdd",
        "TimestampDiff",
        "TsOrDsAdd",
        "TsOrDsToDate",
        "StrToDate",
        "StrToTime",
        "TimeToStr",
        "ToChar",
        "Extract",
        "Year",
        "Quarter",
        "Month",
        "Week",
        "Day",
        "DayOfWeek",
        "DayOfMonth",
        "DayOfYear",
        "Hour",
        "Minute",
        "Second",
        "LastDay",
        # semi-structured values (VARIANT paths render as JSON extraction)
        "JSONExtract",
        "JSONExtractScalar",
        "ParseJSON",
        "JSONObject",
        "Array",
        "ArraySize",
        "Struct",
        "StructExtract",
    }
)

#: Aggregate functions a tenant may call.
AGGREGATE_FUNCTIONS: frozenset[str] = frozenset(
    {
        "Count",
        "CountIf",
        "Sum",
        "Avg",
        "Min",
        "Max",
        "Median",
        "Stddev",
        "StddevPop",
        "StddevSamp",
        "Variance",
        "VariancePop",
        "ApproxDistinct",
        "ArrayAgg",
        "GroupConcat",
        "LogicalAnd",
        "LogicalOr",
        "AnyValue",
        "ArgMax",
        "ArgMin",
        "PercentileCont",
        "PercentileDisc",
    }
)

#: Window functions a tenant may call (over its own scoped rows).
WINDOW_FUNCTIONS: frozenset[str] = frozenset(
    {
        "RowNumber",
        "Rank",
        "DenseRank",
        "Lag",
        "Lead",
        "FirstValue",
        "LastValue",
        "Ntile",
        "PercentRank",
        "CumeDist",
    }
)

#: resq's own scalar functions (the deterministic, labelled simulation), by SQL name.
UDFS: frozenset[str] = frozenset({"GET_WEATHER_DATA", "GET_VENDOR_STATUS"})

#: Pure engine functions sqlglot does not model, by SQL name, that rendering produces
#: (OBJECT_CONSTRUCT becomes JSON_MERGE_PATCH over JSON_OBJECT on DuckDB).
ENGINE_FUNCTIONS: frozenset[str] = frozenset({"JSON_MERGE_PATCH", "TO_JSON"})

#: Expressions that are never part of a tenant query.
_REFUSED: tuple[tuple[type[exp.Expr], str], ...] = (
    (exp.Placeholder, "bound parameters"),
    (exp.Parameter, "parameters"),
    (exp.SessionParameter, "session variables"),
    (exp.Into, "SELECT ... INTO"),
    (exp.Pivot, "PIVOT / UNPIVOT"),
    (exp.Command, "commands"),
    (exp.Lock, "locking clauses"),
)

#: CTEs are renamed to this prefix plus a number; no tenant table starts with it.
CTE_PREFIX = "resq_tenant_cte_"


@dataclass(frozen=True)
class ScopedQuery:
    """The statement to run (in the backend's dialect), its bound values, the tables read."""

    sql: str
    params: list[str]
    tables: frozenset[str]


def scope_query(
    query: str,
    org_id: str,
    *,
    dialect: str,
    render: Callable[[exp.Expr], str],
    tables: Mapping[str, str | None],
) -> ScopedQuery:
    """Check ``query`` (Snowflake SQL) against the allow-list and scope it to ``org_id``.

    ``render`` turns a Snowflake expression into the engine's SQL (``backend.render``);
    ``tables`` maps each table a tenant may read to its scoping column (None: shared).
    """
    from resq.sqlfiles import parse_snowflake

    statements = parse_snowflake(query)  # unparsable SQL: SQLTranslationError
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise TenantScopeError("a tenant may only run one read-only query (SELECT)")
    statement = _without_comments(statements[0])
    _refuse_statement_kinds(statement)
    rendered = render(statement)
    try:
        again = sqlglot.parse(rendered, read=dialect)
    except SqlglotError as exc:
        raise TenantScopeError(f"the query could not be checked for tenant scope: {exc}") from None
    if len(again) != 1 or not isinstance(again[0], (exp.Select, exp.SetOperation)):
        raise TenantScopeError("a tenant may only run one read-only query (SELECT)")
    tree = _without_comments(again[0])
    _refuse_statement_kinds(tree)
    _check_functions(tree)
    read = _scope_tables(tree, dialect, tables)
    try:
        sql = tree.sql(dialect=dialect)
    except SqlglotError as exc:
        raise TenantScopeError(f"the query could not be rendered for tenant scope: {exc}") from None
    n = sum(1 for _ in tree.find_all(exp.Placeholder))
    return ScopedQuery(sql, [org_id] * n, frozenset(read))


def allowed_function(func: exp.Func) -> bool:
    """Whether a tenant may call ``func`` (an expression of the rendered statement)."""
    if isinstance(func, exp.Anonymous):
        return func.name.upper() in UDFS or func.name.upper() in ENGINE_FUNCTIONS
    if isinstance(func, (exp.Binary, exp.Connector, exp.Unary, exp.Predicate)):
        return True  # an operator sqlglot models as a function (AND, OR, ^, @>): pure
    name = type(func).__name__
    return name in SCALAR_FUNCTIONS or name in AGGREGATE_FUNCTIONS or name in WINDOW_FUNCTIONS


def _function_name(func: exp.Func) -> str:
    if isinstance(func, exp.Anonymous):
        return func.name
    try:
        return func.sql_name()
    except (NotImplementedError, AttributeError):  # pragma: no cover - defensive
        return type(func).__name__.upper()


def _without_comments(tree: exp.Expr) -> exp.Expr:
    """A copy of ``tree`` without comments: they carry no meaning, and comment text is the
    classic way to make two parsers disagree on where a statement ends."""
    tree = tree.copy()
    for node in tree.walk():
        node.comments = None
    return tree


def _refuse_statement_kinds(tree: exp.Expr) -> None:
    for node in tree.walk():
        if isinstance(node, (exp.DML, exp.DDL)) or (
            isinstance(node, exp.Expression)
            and type(node).__name__ in {"Copy", "Attach", "Detach", "Pragma", "Set", "Use"}
        ):
            raise TenantScopeError("a tenant may only run one read-only query (SELECT)")
        for kind, what in _REFUSED:
            if isinstance(node, kind):
                raise TenantScopeError(f"{what} are not available to a tenant")
        if isinstance(node, exp.With) and node.args.get("recursive"):
            raise TenantScopeError("recursive CTEs (WITH RECURSIVE) are not available to a tenant")


def _check_functions(tree: exp.Expr) -> None:
    for func in tree.find_all(exp.Func):
        if isinstance(func, exp.TableFromRows) or _is_table_source(func):
            continue  # checked as a table source
        if not allowed_function(func):
            raise TenantScopeError(
                f"function {_function_name(func)!r} is not available to a tenant (only pure "
                "scalar, aggregate and window functions are; see docs/backends.md)"
            )


def _is_table_source(node: exp.Expr) -> bool:
    """A function in table position (``FROM f(...)``): a table function."""
    return isinstance(node.parent, (exp.Table, exp.TableFromRows)) and node.arg_key == "this"


def _resolve_table(table: exp.Expr, dialect: str) -> exp.Table:
    """The plain table a source names, after ``TABLE(...)`` and ``IDENTIFIER('...')``;
    anything that is not a plain table (a table function, a file, a string) is refused."""
    source = table
    if isinstance(source, exp.TableFromRows):
        inner = source.this
        if isinstance(inner, exp.Column) and not inner.table:
            inner = exp.Table(this=inner.this.copy())
        elif isinstance(inner, exp.DynamicIdentifier):
            inner = exp.Table(this=inner.copy())
        if not isinstance(inner, exp.Table):
            raise TenantScopeError(
                f"table function {_source_text(inner, dialect)!r} is not available to a tenant"
            )
        inner.set("alias", source.args.get("alias"))
        source = inner
    assert isinstance(source, exp.Table)
    this = source.this
    if isinstance(this, exp.DynamicIdentifier):
        if not isinstance(this.this, exp.Literal) or not this.this.is_string:
            raise TenantScopeError("IDENTIFIER() of anything but a literal is not available")
        try:
            named = exp.to_table(this.this.name, dialect=dialect)
        except SqlglotError:
            raise TenantScopeError(
                f"IDENTIFIER({this.this.name!r}) does not name a table a tenant may read"
            ) from None
        named.set("alias", source.args.get("alias"))
        for key in ("db", "catalog"):
            if source.args.get(key):
                named.set(key, source.args[key])
        source = named
        this = source.this
    if not isinstance(this, exp.Identifier):
        raise TenantScopeError(
            f"table function {_source_text(this, dialect)!r} is not available to a tenant"
        )
    extra = [k for k, v in source.args.items() if v and k not in {"this", "alias", "db", "catalog"}]
    if extra:
        raise TenantScopeError(
            f"{', '.join(sorted(extra))} on table {source.name!r} is not available to a tenant"
        )
    return source


def _source_text(node: exp.Expr | None, dialect: str) -> str:
    if isinstance(node, exp.Func):
        return _function_name(node)
    return node.sql(dialect=dialect) if node is not None else "?"


def _cte_target(table: exp.Table) -> exp.CTE | None:
    """The CTE ``table`` refers to in its scope: one defined in an enclosing WITH, and,
    from inside a CTE's own body, only one defined before it. Anything else is a real
    table (scoped or refused), so a CTE that shadows a table name elsewhere in the query,
    or refers to its own name, can never unscope the real table."""
    if table.args.get("db") or table.args.get("catalog"):
        return None
    name = table.name.lower()
    node: exp.Expr = table
    while node.parent is not None:
        parent = node.parent
        if isinstance(parent, exp.With):
            index = next(i for i, c in enumerate(parent.expressions) if c is node)
            for cte in reversed(parent.expressions[:index]):
                if cte.alias_or_name.lower() == name:
                    return cte
            if parent.parent is None:
                return None
            node = parent.parent  # the query that owns this WITH: its later CTEs are not visible
            continue
        if isinstance(parent, exp.Query):
            with_ = parent.args.get("with_") or parent.args.get("with")
            if isinstance(with_, exp.With) and node is not with_:
                for cte in with_.expressions:
                    if cte.alias_or_name.lower() == name:
                        return cte
        node = parent
    return None


def _scope_tables(tree: exp.Expr, dialect: str, tables: Mapping[str, str | None]) -> set[str]:
    """Rename every CTE, and replace every org-scoped table by its scoped subquery."""
    for with_ in tree.find_all(exp.With):
        names = [c.alias_or_name.lower() for c in with_.expressions]
        if len(names) != len(set(names)):
            raise TenantScopeError("a WITH clause defines the same CTE name twice")
    sources: list[exp.Expr] = [
        node
        for node in tree.walk()
        if isinstance(node, exp.TableFromRows)
        or (isinstance(node, exp.Table) and not isinstance(node.parent, exp.TableFromRows))
    ]
    targets: list[tuple[exp.Expr, exp.Table, exp.CTE | None]] = []
    for source in sources:
        table = _resolve_table(source, dialect)
        targets.append((source, table, _cte_target(table)))
    new_names: dict[int, str] = {}
    for i, defined in enumerate(tree.find_all(exp.CTE)):
        new_names[id(defined)] = f"{CTE_PREFIX}{i + 1}"
    read: set[str] = set()
    for source, table, target in targets:
        if target is not None:
            alias = table.args.get("alias") or exp.TableAlias(
                this=exp.to_identifier(target.alias_or_name)
            )
            source.replace(exp.Table(this=exp.to_identifier(new_names[id(target)]), alias=alias))
            continue
        name = table.name.lower()
        if table.args.get("db") or table.args.get("catalog") or name not in tables:
            raise TenantScopeError(
                f"table {table.sql(dialect=dialect)!r} is not available to a tenant"
            )
        read.add(name)
        alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(table.name))
        real = exp.Table(this=exp.to_identifier(name))
        scope = tables[name]
        if scope is None:  # shared reference data: the table itself, by its own name
            _replace(source, exp.Table(this=real.this, alias=alias))
            continue
        sub = exp.select("*").from_(real).where(exp.column(scope).eq(exp.Placeholder()))
        _replace(source, exp.Subquery(this=sub, alias=alias))
    for defined in list(tree.find_all(exp.CTE)):
        old = defined.args.get("alias")
        columns = old.args.get("columns") if isinstance(old, exp.TableAlias) else None
        defined.set(
            "alias",
            exp.TableAlias(this=exp.to_identifier(new_names[id(defined)]), columns=columns),
        )
    return read


def _replace(old: exp.Expr, new: exp.Expr) -> None:
    if old.parent is None:  # pragma: no cover - a statement is never a bare table
        raise TenantScopeError("a tenant query must select from a table")
    old.replace(new)


__all__ = [
    "AGGREGATE_FUNCTIONS",
    "ENGINE_FUNCTIONS",
    "SCALAR_FUNCTIONS",
    "UDFS",
    "WINDOW_FUNCTIONS",
    "ScopedQuery",
    "allowed_function",
    "scope_query",
]
