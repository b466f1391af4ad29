"""Lint rules on the Snowflake SQL resq deploys and runs: the plan's statements (with the SQL
embedded in tasks, alerts and policies) and every statement of ``sql/*.sql``.

Each rule reads sqlglot syntax trees, never the text:

- ``division``: a ``/`` whose divisor is neither ``NULLIF(...)`` nor a non-zero literal. SQL
  promises no order of evaluation, so a guard in an ``AND`` or ``IFF`` does not keep a zero
  divisor from being evaluated; ``x / NULLIF(y, 0)`` is NULL, never an error or DIV0's 0.
- ``ntz-ltz``: a ``TIMESTAMP_NTZ`` column (resq stores UTC wall time) compared with a
  ``TIMESTAMP_LTZ`` value (``CURRENT_TIMESTAMP()``, ``SNOWFLAKE.ALERT.SCHEDULED_TIME()``,
  ``LAST_SUCCESSFUL_SCHEDULED_TIME()``) without an explicit conversion: Snowflake then casts
  the LTZ value to the session's time zone, so the comparison is off by the UTC offset.
  Convert with ``CONVERT_TIMEZONE('UTC', x)::TIMESTAMP_NTZ``.
- ``limit-bind``: a bind marker in ``LIMIT``/``OFFSET``, which Snowflake does not accept in
  every context (tasks, alerts, procedures' SQL); render a clamped integer literal.
- ``policy-on-dt-input``: a row access policy that calls a context function
  (``CURRENT_USER()``, ``CURRENT_ROLE()``, ``IS_ROLE_IN_SESSION()``, ...) attached to a base
  table of a dynamic table: it can block INCREMENTAL refresh ("Troubleshoot dynamic table
  permission issues", docs.snowflake.com), and the stream on the dynamic table needs
  incremental refresh ("Create a stream on a dynamic table").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel
from sqlglot.tokens import Token, TokenType

from resq.backends.snowflake.checks import Finding, PlanUnderCheck, check

NAME = "lint"

# Functions that return TIMESTAMP_LTZ (docs.snowflake.com: CURRENT_TIMESTAMP, SCHEDULED_TIME,
# LAST_SUCCESSFUL_SCHEDULED_TIME, LOCALTIMESTAMP, GETDATE).
LTZ_FUNCTIONS = frozenset(
    {
        "CURRENT_TIMESTAMP",
        "LOCALTIMESTAMP",
        "GETDATE",
        "SCHEDULED_TIME",
        "LAST_SUCCESSFUL_SCHEDULED_TIME",
    }
)

# Context functions ("Context functions", docs.snowflake.com) that make a policy depend on
# who runs the query.
CONTEXT_FUNCTIONS = frozenset(
    {
        "CURRENT_USER",
        "CURRENT_ROLE",
        "CURRENT_ROLE_TYPE",
        "CURRENT_AVAILABLE_ROLES",
        "CURRENT_SECONDARY_ROLES",
        "IS_ROLE_IN_SESSION",
        "IS_DATABASE_ROLE_IN_SESSION",
        "INVOKER_ROLE",
        "INVOKER_SHARE",
        "IS_GRANTED_TO_INVOKER_ROLE",
        "CURRENT_ACCOUNT",
        "CURRENT_SESSION",
        "CURRENT_CLIENT",
        "CURRENT_IP_ADDRESS",
    }
)

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


@dataclass(frozen=True)
class Source:
    """One statement to lint: where it comes from, and its text."""

    origin: str  # "plan step <name>" or "sql/<file>.sql"
    sql: str


# --------------------------------------------------------------------------- collecting


def runtime_sources() -> list[Source]:
    """Statements resq builds at run time inside Snowflake (delivery and its streams)."""
    from resq.alerting import delivery, snowflake
    from resq.alerting.channels import SnowflakeChannel

    return [
        Source("resq.alerting.delivery.claim_sql", delivery.claim_sql(100)),
        Source("resq.alerting.channels.SnowflakeChannel", SnowflakeChannel.SEND_JSON),
        Source("resq.alerting.channels.SnowflakeChannel", SnowflakeChannel.send_email_sql(2)),
        *(
            Source("resq.alerting.snowflake.settle_sql", snowflake.settle_sql(stream))
            for stream in (snowflake.ALERT_STREAM, snowflake.OUTBOX_STREAM)
        ),
    ]


def sources(subject: PlanUnderCheck) -> list[Source]:
    """The plan's statements, those of sql/*.sql, and the statements built at run time."""
    from resq import sqlfiles
    from resq.backends.snowflake import sqltext

    out = [Source(f"plan step {s.name}", st.sql) for s in subject.steps for st in s.statements]
    for name in sqlfiles.available():
        for statement in sqltext.split(sqlfiles.sql_text(name)):
            out.append(Source(f"sql/{name}", statement))
    return out + runtime_sources()


@lru_cache(maxsize=1024)
def _tokens(sql: str) -> list[Token]:
    return list(Dialect.get_or_raise("snowflake").tokenize(sql))


@lru_cache(maxsize=1024)
def _parse(sql: str) -> exp.Expr | None:
    """One statement's tree (sqlglot's opaque Command for what it does not know), or None
    for text that is not one SQL statement. Shared: callers must not edit it."""
    log = logging.getLogger("sqlglot")
    level = log.level
    log.setLevel(logging.ERROR)  # "falling back to parsing as a Command" is expected here
    try:
        parsed = [
            s
            for s in sqlglot.parse(sql, read="snowflake", error_level=ErrorLevel.IGNORE)
            if s is not None and not isinstance(s, exp.Semicolon)
        ]
    except Exception:  # text sqlglot cannot tokenize (a Python body) is not SQL to lint
        return None
    finally:
        log.setLevel(level)
    return parsed[0] if len(parsed) == 1 else None


def _parse_condition(sql: str) -> exp.Expr | None:
    select = _parse(f"SELECT {sql}")
    if isinstance(select, exp.Select) and len(select.expressions) == 1:
        return select.expressions[0]
    return None


def _words(tokens: list[Token]) -> list[str]:
    return [t.text.upper() for t in tokens]


def _after(sql: str, tokens: list[Token], index: int) -> str:
    return sql[tokens[index].end + 1 :].strip()


def _balanced(tokens: list[Token], open_index: int) -> int:
    """The index of the token closing the parenthesis at ``open_index``."""
    depth = 0
    for i in range(open_index, len(tokens)):
        if tokens[i].token_type == TokenType.L_PAREN:
            depth += 1
        elif tokens[i].token_type == TokenType.R_PAREN:
            depth -= 1
            if depth == 0:
                return i
    return len(tokens) - 1


def trees(sql: str) -> Iterator[exp.Expr]:
    """The syntax trees of one statement: the statement itself when sqlglot parses it, and
    the SQL embedded in what it keeps opaque (a task's WHEN and body, an alert's condition
    and action, a policy's body, an EXECUTE IMMEDIATE block)."""
    parsed = _parse(sql)
    if parsed is not None and not isinstance(parsed, exp.Command):
        yield parsed
        return
    tokens = _tokens(sql)
    words = _words(tokens)
    if not words:
        return
    if words[:2] == ["EXECUTE", "IMMEDIATE"] and len(tokens) > 2:
        inner = tokens[2].text
        if tokens[2].token_type in (TokenType.RAW_STRING, TokenType.STRING):
            yield from trees(inner)
        return
    if "ALERT" in words[:5] and "IF" in words:
        start = words.index("IF") + 1
        if start < len(tokens) and tokens[start].token_type == TokenType.L_PAREN:
            end = _balanced(tokens, start)
            inside = sql[tokens[start].end + 1 : tokens[end].start]
            tree = _parse(inside.strip())
            if tree is not None:
                yield tree
            if end + 1 < len(tokens) and words[end + 1] == "THEN":
                action = _parse(_after(sql, tokens, end + 1))
                if action is not None:
                    yield action
        return
    if "TASK" in words[:5] and words[0] == "CREATE":
        as_index = next((i for i, t in enumerate(tokens) if t.token_type == TokenType.ALIAS), None)
        if "WHEN" in words:
            w = words.index("WHEN")
            stop = as_index if as_index is not None and as_index > w else len(tokens)
            text = sql[tokens[w].end + 1 : tokens[stop].start if stop < len(tokens) else None]
            condition = _parse_condition(text.strip())
            if condition is not None:
                yield condition
        if as_index is not None:
            body = _parse(_after(sql, tokens, as_index))
            if body is not None:
                yield body
        return
    if "POLICY" in words and any(t.token_type == TokenType.ARROW for t in tokens):
        arrow = next(i for i, t in enumerate(tokens) if t.token_type == TokenType.ARROW)
        body = _parse_condition(_after(sql, tokens, arrow))
        if body is not None:
            yield body


# --------------------------------------------------------------------------- the rules


def _name(node: exp.Expr) -> str:
    if isinstance(node, exp.Dot):
        return _name(node.expression)
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    if isinstance(node, exp.Func):
        return node.sql_name().upper()
    return ""


def _unparen(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _guarded(divisor: exp.Expr) -> bool:
    divisor = _unparen(divisor)
    if isinstance(divisor, exp.Nullif):
        return True
    if isinstance(divisor, exp.Literal) and not divisor.is_string:
        try:
            return float(divisor.this) != 0.0
        except ValueError:
            return False
    return False


def unguarded_divisions(tree: exp.Expr) -> list[exp.Div]:
    """Every ``/`` whose divisor is not NULLIF(...) or a non-zero number."""
    return [d for d in tree.find_all(exp.Div) if not _guarded(d.expression)]


def is_ltz(node: exp.Expr) -> bool:
    """Whether ``node`` is a TIMESTAMP_LTZ (or _TZ) value that no cast made NTZ."""
    node = _unparen(node)
    if isinstance(node, (exp.Cast, exp.TryCast)):
        return not node.to.is_type(exp.DType.TIMESTAMPNTZ, exp.DType.TIMESTAMP, exp.DType.DATE)
    if isinstance(node, exp.ConvertTimezone):
        return node.args.get("source_tz") is None  # the 2-argument form returns TIMESTAMP_TZ
    if isinstance(node, exp.CurrentTimestamp):
        return True
    if _name(node) in LTZ_FUNCTIONS:
        return True
    if isinstance(node, (exp.DateAdd, exp.DateSub, exp.TimestampAdd, exp.TimestampSub)):
        return is_ltz(node.this)
    if isinstance(node, (exp.Add, exp.Sub)):
        return is_ltz(node.this) or is_ltz(node.expression)
    if isinstance(node, (exp.Coalesce, exp.Greatest, exp.Least)):
        return any(is_ltz(e) for e in (node.this, *node.expressions) if e is not None)
    return False


def ntz_ltz_comparisons(tree: exp.Expr, ntz_columns: frozenset[str]) -> list[exp.Expr]:
    """Comparisons of an NTZ column with an unconverted LTZ value."""
    found: list[exp.Expr] = []
    for node in tree.find_all(*_COMPARISONS, exp.Between):
        if isinstance(node, exp.Between):
            sides = [node.this, node.args["low"], node.args["high"]]
        else:
            sides = [node.this, node.expression]
        columns = [s for s in sides if isinstance(_unparen(s), exp.Column)]
        if any(_unparen(c).name.lower() in ntz_columns for c in columns) and any(
            is_ltz(s) for s in sides
        ):
            found.append(node)
    return found


def limit_binds(tree: exp.Expr) -> list[exp.Expr]:
    """LIMIT or OFFSET clauses with a bind marker."""
    return [
        node
        for node in tree.find_all(exp.Limit, exp.Offset)
        if any(True for _ in node.find_all(exp.Placeholder))
    ]


@lru_cache(maxsize=1)
def ntz_columns() -> frozenset[str]:
    """The TIMESTAMP_NTZ columns of sql/schema.sql (every resq timestamp is UTC NTZ)."""
    from resq import sqlfiles

    names: set[str] = set()
    for statement in sqlfiles.statements("schema"):
        for column in statement.find_all(exp.ColumnDef):
            kind = column.args.get("kind")
            if isinstance(kind, exp.DataType) and kind.is_type(
                exp.DType.TIMESTAMPNTZ, exp.DType.TIMESTAMP
            ):
                names.add(column.name.lower())
    return frozenset(names)


@dataclass
class _Policies:
    bodies: dict[str, exp.Expr]  # policy -> its (last) body
    attached: list[tuple[str, str, str]]  # (table, policy, origin)
    dt_inputs: dict[str, set[str]]  # dynamic table -> the tables it reads


def _policies(items: Iterable[Source]) -> _Policies:
    state = _Policies({}, [], {})
    for src in items:
        tokens = _tokens(src.sql)
        words = _words(tokens)
        parsed = _parse(src.sql)
        if isinstance(parsed, exp.Create) and parsed.kind and "DYNAMIC" in src.sql.upper()[:40]:
            table = (
                parsed.this if isinstance(parsed.this, exp.Table) else parsed.this.find(exp.Table)
            )
            query = parsed.expression
            if isinstance(table, exp.Table) and isinstance(query, exp.Query):
                ctes = {c.alias_or_name.lower() for c in query.find_all(exp.CTE)}
                state.dt_inputs[table.name.lower()] = {
                    t.name.lower() for t in query.find_all(exp.Table) if t.name.lower() not in ctes
                }
        if "POLICY" in words and any(t.token_type == TokenType.ARROW for t in tokens):
            p = words.index("POLICY") + 1
            if "IF" in words[p : p + 3]:
                p = words.index("EXISTS", p) + 1
            bodies = list(trees(src.sql))
            if p < len(tokens) and bodies:
                state.bodies[tokens[p].text.upper()] = bodies[-1]
        if words[:1] == ["EXECUTE"]:
            for inner in tokens[2:3]:
                sub = _policies([Source(src.origin, inner.text)])
                state.bodies.update(sub.bodies)
        if words[:2] == ["ALTER", "TABLE"] and "ADD" in words and "POLICY" in words:
            table = tokens[2].text.lower()
            policy = tokens[words.index("POLICY") + 1].text.upper()
            state.attached.append((table, policy, src.origin))
    return state


def context_functions(tree: exp.Expr) -> set[str]:
    found = set()
    for node in tree.walk():
        name = _name(node) if isinstance(node, (exp.Func, exp.Dot)) else ""
        if isinstance(node, exp.CurrentUser):
            name = "CURRENT_USER"
        if name in CONTEXT_FUNCTIONS:
            found.add(name)
    return found


# --------------------------------------------------------------------------- the check


def lint_sources(items: list[Source]) -> list[Finding]:
    """Every finding of every rule on ``items``."""
    findings: list[Finding] = []
    ntz = ntz_columns()
    for src in items:
        for tree in trees(src.sql):
            for div in unguarded_divisions(tree):
                findings.append(
                    Finding(
                        NAME,
                        src.origin,
                        f"unguarded division {div.sql('snowflake')!r}",
                        "divide by NULLIF(divisor, 0): a guard in AND or IFF is not an "
                        "evaluation order",
                    )
                )
            for cmp in ntz_ltz_comparisons(tree, ntz):
                findings.append(
                    Finding(
                        NAME,
                        src.origin,
                        f"TIMESTAMP_NTZ column compared with a TIMESTAMP_LTZ value: "
                        f"{cmp.sql('snowflake')!r}",
                        "convert the LTZ side: CONVERT_TIMEZONE('UTC', x)::TIMESTAMP_NTZ",
                    )
                )
            for limit in limit_binds(tree):
                findings.append(
                    Finding(
                        NAME,
                        src.origin,
                        f"bind marker in {limit.sql('snowflake').strip()!r}",
                        "render a clamped integer literal (LIMIT is not bindable everywhere)",
                    )
                )
    policies = _policies(items)
    inputs = {t: dt for dt, tables in policies.dt_inputs.items() for t in tables}
    for table, policy, origin in policies.attached:
        body = policies.bodies.get(policy)
        called = context_functions(body) if body is not None else set()
        if table in inputs and called:
            findings.append(
                Finding(
                    NAME,
                    f"{origin}: {table}",
                    f"row access policy {policy} calls {', '.join(sorted(called))} and is on "
                    f"{table}, an input of the dynamic table {inputs[table]}: it can block "
                    "INCREMENTAL refresh, which the stream on it needs",
                    "keep the dynamic table's inputs engine-only and attach the policy to "
                    "what the app reads (the dynamic table, secure views)",
                )
            )
    return findings


@check(NAME)
def lint(subject: PlanUnderCheck) -> list[Finding]:
    return lint_sources(sources(subject))
