"""Snowflake SQL as text: split files into statements exactly as written, rename the
placeholder object names, and build the stock_analysis statements from sql/stock_analysis.sql.

Statements are sent as written (no transpiling). Object names that an installation may
choose (warehouse, roles, stage, database, schema) are written with their defaults in the
files and renamed token by token, never by pasting user text into SQL: a new name must be
a plain identifier.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel
from sqlglot.tokens import TokenType

from resq import sqlfiles
from resq.errors import ResqError

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")

DEFAULT_NAMES = {
    "database": "RESQ",
    "schema": "CORE",
    "warehouse": "RESQ_WH",
    "engine_role": "RESQ_ENGINE",
    "app_role": "RESQ_APP",
    "code_stage": "RESQ_CODE",
}
"""The names written in sql/snowflake/*.sql (and sql/stock_analysis.sql's RESQ_WH)."""

POLICY = "RESQ_TENANT_POLICY"
STREAM = "STOCK_ANALYSIS_CHANGES"
TASK = "RESQ_HEAL_ON_CHANGE"

# The dynamic table's org-scoped inputs, and the secure view the app reads each through.
APP_VIEWS = {
    "organizations": "app_organizations",
    "inventory_master": "app_inventory_master",
    "demand_forecast": "app_demand_forecast",
}


def check_identifier(value: str, what: str) -> str:
    """``value`` if it is a plain Snowflake identifier (letters, digits, _ and $)."""
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise ResqError(
            f"{what} must be a plain Snowflake identifier (a letter or _, then letters, "
            f"digits, _ or $), got {value!r}"
        )
    return value


def snowflake_file(name: str) -> str:
    """The text of ``sql/snowflake/<name>.sql``."""
    path = sqlfiles._sql_dir() / "snowflake" / f"{name}.sql"  # a folder or inside resq.zip
    if not path.is_file():
        raise sqlfiles.UnknownSQLFileError(f"no SQL file sql/snowflake/{name}.sql")
    return path.read_text(encoding="utf-8")


def has_snowflake_file(name: str) -> bool:
    return (sqlfiles._sql_dir() / "snowflake" / f"{name}.sql").is_file()


def split(text: str) -> list[str]:
    """The statements of a SQL file as written, split at top-level semicolons by sqlglot's
    Snowflake tokenizer (strings and ``$$`` bodies stay whole), leading comments dropped.

    >>> split("-- a\\nSELECT 1;\\nSELECT ';' AS s; -- done")
    ['SELECT 1', "SELECT ';' AS s"]
    """
    out, start = [], 0
    for token in Dialect.get_or_raise("snowflake").tokenize(text):
        if token.token_type == TokenType.SEMICOLON:
            out.append(_strip_comments(text[start : token.start]))
            start = token.end + 1
    out.append(_strip_comments(text[start:]))
    return [s for s in out if s]


def _strip_comments(chunk: str) -> str:
    lines = chunk.strip().splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines).strip()


def rename(sql: str, names: dict[str, str]) -> str:
    """``sql`` with the default object names (keys, case-insensitive) replaced by new ones:
    identifier tokens, a string that is exactly a name (``IS_ROLE_IN_SESSION('RESQ_ENGINE')``)
    and a stage path (``'@RESQ_CODE/resq.zip'``). Other text is untouched.

    >>> rename("USE WAREHOUSE resq_wh; SELECT 'resq_wh_x', '@RESQ_CODE/a.zip'",
    ...        {"RESQ_WH": "WH2", "RESQ_CODE": "CODE2"})
    "USE WAREHOUSE WH2; SELECT 'resq_wh_x', '@CODE2/a.zip'"
    """
    upper = {k.upper(): check_identifier(v, k) for k, v in names.items()}
    edits: list[tuple[int, int, str]] = []
    for token in Dialect.get_or_raise("snowflake").tokenize(sql):
        text = sql[token.start : token.end + 1]
        if token.token_type == TokenType.VAR and text.upper() in upper:
            edits.append((token.start, token.end + 1, upper[text.upper()]))
        elif token.token_type == TokenType.STRING:
            inner = text[1:-1]
            if inner.upper() in upper:
                edits.append((token.start + 1, token.end, upper[inner.upper()]))
            elif inner.startswith("@") and "/" in inner:
                stage, rest = inner[1:].split("/", 1)
                if stage.upper() in upper:
                    edits.append((token.start + 1, token.end, f"@{upper[stage.upper()]}/{rest}"))
    for start, end, new in sorted(edits, reverse=True):
        sql = sql[:start] + new + sql[end:]
    return sql


def parses(sql: str) -> exp.Expr:
    """Parse one statement as Snowflake with errors raised (a syntax check)."""
    parsed = [
        s
        for s in sqlglot.parse(sql, read="snowflake", error_level=ErrorLevel.RAISE)
        if s is not None and not isinstance(s, exp.Semicolon)
    ]
    if len(parsed) != 1:
        raise ResqError(f"expected one statement, got {len(parsed)}: {sql[:80]!r}")
    return parsed[0]


# --------------------------------------------------------------------------- stock_analysis


@dataclass(frozen=True)
class AnalysisDefinition:
    """sql/stock_analysis.sql taken apart: its properties and its query, as written."""

    name: str
    target_lag: str
    refresh_mode: str | None
    query: str  # the text after AS, exactly as written


def analysis_definition() -> AnalysisDefinition:
    text = split(sqlfiles.sql_text("stock_analysis"))
    if len(text) != 1:
        raise ResqError("sql/stock_analysis.sql must hold exactly one statement")
    statement = text[0]
    parsed = parses(statement)
    if not isinstance(parsed, exp.Create) or not isinstance(parsed.expression, exp.Query):
        raise ResqError("sql/stock_analysis.sql must be CREATE ... DYNAMIC TABLE ... AS <query>")
    props = {
        p.name.upper(): p.args["value"].name
        for p in parsed.args["properties"].expressions
        if isinstance(p, exp.Property) and p.args.get("value") is not None
    }
    # The query starts after the first top-level AS keyword of the header.
    tokens = Dialect.get_or_raise("snowflake").tokenize(statement)
    as_token = next(t for t in tokens if t.token_type == TokenType.ALIAS)
    query = statement[as_token.end + 1 :].strip()
    table = parsed.this if isinstance(parsed.this, exp.Table) else parsed.this.this
    return AnalysisDefinition(
        name=table.name,
        target_lag=props.get("TARGET_LAG", "1 minute"),
        refresh_mode=props.get("REFRESH_MODE"),
        query=query,
    )


_LAG = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(second|minute|hour|day)s?\s*$", re.IGNORECASE)
_UNIT = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


def lag_seconds(text: str) -> float:
    """Seconds in a TARGET_LAG such as '1 minute' or '5 minutes'."""
    match = _LAG.match(text)
    if match is None:
        raise ResqError(f"target lag {text!r} is not '<number> seconds|minutes|hours|days'")
    return float(match.group(1)) * _UNIT[match.group(2).lower()]


def lag_text(seconds: float) -> str:
    """A TARGET_LAG value for a number of seconds (Snowflake's minimum is one minute)."""
    if seconds < 60:
        raise ResqError(f"Snowflake's smallest target lag is 1 minute, got {seconds:g} s")
    if seconds % 3600 == 0:
        n = int(seconds // 3600)
        return f"{n} hour" if n == 1 else f"{n} hours"
    if seconds % 60 == 0:
        n = int(seconds // 60)
        return f"{n} minute" if n == 1 else f"{n} minutes"
    return f"{int(seconds)} seconds"


def dynamic_table_sql(
    *, warehouse: str, target_lag: str | None = None, policy: str | None = POLICY
) -> str:
    """The CREATE OR REPLACE DYNAMIC TABLE that deploys stock_analysis: the query of
    sql/stock_analysis.sql as written, its refresh mode, the chosen warehouse and lag, a
    COMMENT carrying a hash of the definition (so a re-deploy can tell it is already
    right), COPY GRANTS, and the row access policy attached as it is created."""
    d = analysis_definition()
    lag = (target_lag or d.target_lag).replace("'", "")
    header = [
        f"CREATE OR REPLACE DYNAMIC TABLE {d.name}",
        f"    TARGET_LAG = '{lag}'",
        f"    WAREHOUSE = {check_identifier(warehouse, 'warehouse')}",
    ]
    if d.refresh_mode:
        header.append(f"    REFRESH_MODE = {d.refresh_mode}")
    tail = ["    COPY GRANTS"]
    if policy:
        tail.append(f"    WITH ROW ACCESS POLICY {check_identifier(policy, 'policy')} ON (org_id)")
    body = "\n".join([*header, *tail, "AS", d.query])
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    comment = f"    COMMENT = '{definition_comment(digest)}'"
    sql = "\n".join([*header, comment, *tail, "AS", d.query])
    _check_same_query(sql, d.query)
    return sql


def definition_comment(digest: str) -> str:
    return f"resq stock_analysis definition {digest}"


def comment_of(sql: str) -> str:
    """The COMMENT value a dynamic_table_sql statement sets."""
    match = re.search(r"COMMENT = '([^']*)'", sql)
    if match is None:
        raise ResqError("the statement has no COMMENT")
    return match.group(1)


def view_sql() -> str:
    """stock_analysis as a plain view of the same query: always current, nothing to refresh
    (for Snowflake-protocol peers without dynamic tables, such as the fakesnow test tier)."""
    d = analysis_definition()
    sql = f"CREATE OR REPLACE VIEW {d.name} AS\n{d.query}"
    _check_same_query(sql, d.query)
    return sql


def _check_same_query(sql: str, query: str) -> None:
    built = parses(sql)
    original = parses(query)
    if built.expression != original:
        raise ResqError("the stock_analysis statement does not carry the query as written")
