"""The privilege map: every statement the engine role, its procedures and tasks, and the
app role issue, mapped (with sqlglot) to the privilege it needs, and diffed against what
the account set-up and the plan grant. A finding per privilege missing, and per write
privilege the app role must not have.

Who issues what:

- the engine role runs the plan (so it must own what it grants on), owns every object the
  plan creates (an owner holds every privilege on its object), runs the tasks and the
  alert (``EXECUTE TASK``, ``EXECUTE ALERT``, ``USAGE`` on their warehouse, the
  ``SNOWFLAKE.ALERT_VIEWER`` database role for ``SNOWFLAKE.ALERT.*`` functions) and the
  owner's-rights procedures, which issue the shared SQL of ``sql/*.sql`` and send
  notifications (``USAGE`` on each integration, ``READ`` on a webhook's secret);
- the app role owns the Streamlit app (``READ SESSION``, or CURRENT_USER() is NULL there)
  and issues what a :class:`SnowflakeBackend` with ``writes="procedures"`` sends for the
  dashboard's reads and actions, recorded here through a session that answers nothing.

Privileges follow Snowflake's access control reference (docs.snowflake.com, "Access
control privileges"): SELECT / INSERT / UPDATE / DELETE on a table, USAGE on a function
or procedure, OPERATE to refresh a dynamic table or resume a task, MONITOR to read a
dynamic table's refresh history.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from resq.backends.snowflake.checks import Finding, PlanUnderCheck, check

NAME = "privileges"

WRITES = {"INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "OWNERSHIP", "ALL", "ALL PRIVILEGES"}
TABLE_LIKE = {"TABLE", "DYNAMIC TABLE", "VIEW", "STREAM"}
# Table functions of INFORMATION_SCHEMA and the privilege on the object they report on.
TABLE_FUNCTIONS = {
    "DYNAMIC_TABLE_REFRESH_HISTORY": ("MONITOR", "DYNAMIC TABLE"),
    "TASK_HISTORY": ("MONITOR", "TASK"),
}
# DuckDB's emulated refresh history: on Snowflake the health read of it fails and is
# tolerated (the health report then shows no refreshes), so it is no privilege matter.
EMULATED_ONLY = {"DT_REFRESH_HISTORY"}
APP_PROCEDURES = (
    "RESQ_OVERRIDE_ORDER",
    "RESQ_ACK_ALERT",
    "RESQ_CHAOS",
    "RESQ_HEAL_ORG",
    "RESQ_VERIFY_AUDIT",
)

_IDENT = r"([A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*)*)"
_GRANT = re.compile(
    r"^GRANT\s+(.+?)\s+ON\s+(?:(ACCOUNT)|(DYNAMIC\s+TABLE|TABLE|VIEW|FUNCTION|PROCEDURE|"
    rf"DATABASE|SCHEMA|WAREHOUSE|INTEGRATION|SECRET|STAGE|TASK|ALERT)\s+{_IDENT})"
    rf"(?:\s*\([^)]*\))?\s+TO\s+ROLE\s+{_IDENT}",
    re.IGNORECASE | re.DOTALL,
)
_GRANT_DB_ROLE = re.compile(rf"^GRANT\s+DATABASE\s+ROLE\s+{_IDENT}\s+TO\s+ROLE\s+{_IDENT}", re.I)
_CREATE = re.compile(
    r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:SECURE\s+)?(?:TEMPORARY\s+)?"
    r"(DYNAMIC\s+TABLE|TABLE|VIEW|FUNCTION|PROCEDURE|TASK|ALERT|STREAM|STAGE|SECRET|"
    rf"NOTIFICATION\s+INTEGRATION)\s+(?:IF\s+NOT\s+EXISTS\s+)?{_IDENT}",
    re.IGNORECASE,
)
_POLICY = re.compile(rf"ROW\s+ACCESS\s+POLICY\s+(?:IF\s+NOT\s+EXISTS\s+)?{_IDENT}", re.I)
_WAREHOUSE = re.compile(rf"\bWAREHOUSE\s*=\s*{_IDENT}", re.IGNORECASE)
_RESUME = re.compile(rf"^ALTER\s+(TASK|ALERT)\s+(?:IF\s+EXISTS\s+)?{_IDENT}\s+RESUME", re.I)
_INTEGRATION_CALL = re.compile(r"\bINTEGRATION\s*\(\s*'([^']+)'", re.IGNORECASE)
_WEBHOOK_SECRET = re.compile(rf"\bWEBHOOK_SECRET\s*=\s*{_IDENT}", re.IGNORECASE)


def _n(name: str) -> str:
    return name.split(".")[-1].upper()


def _kind(text: str) -> str:
    kind = re.sub(r"\s+", " ", text.upper())
    return "INTEGRATION" if kind == "NOTIFICATION INTEGRATION" else kind


@dataclass(frozen=True)
class Need:
    role: str
    privilege: str
    kind: str
    name: str
    why: str


@dataclass
class Grants:
    """What the account set-up and the plan give each role."""

    held: set[tuple[str, str, str, str]]  # role, privilege, kind, NAME
    owned: dict[tuple[str, str], str]  # (kind, NAME) -> owner role
    database_roles: set[tuple[str, str]]  # role, DATABASE ROLE

    def has(self, need: Need) -> bool:
        kinds = TABLE_LIKE if need.kind in TABLE_LIKE else {need.kind}
        for kind in kinds:
            if self.owned.get((kind, need.name)) == need.role:
                return True
            if (need.role, need.privilege, kind, need.name) in self.held:
                return True
        return False


def _collect(setup: Iterable[str], steps: Any, engine: str, database: str, schema: str) -> Grants:
    grants = Grants(set(), {}, set())
    for sql in setup:
        _record_grant(grants, sql)
    for step in steps:
        for statement in step.statements:
            sql = statement.sql.strip()
            created = _CREATE.match(sql)
            if created is not None:
                grants.owned[(_kind(created.group(1)), _n(created.group(2)))] = engine
            policy = _POLICY.search(sql)
            if policy is not None and sql.upper().startswith(("CREATE", "EXECUTE IMMEDIATE")):
                grants.owned[("POLICY", _n(policy.group(1)))] = engine
            _record_grant(grants, sql)
    return grants


def _record_grant(grants: Grants, sql: str) -> None:
    role_grant = _GRANT_DB_ROLE.match(sql)
    if role_grant is not None:
        grants.database_roles.add((_n(role_grant.group(2)), role_grant.group(1).upper()))
        return
    match = _GRANT.match(sql)
    if match is None:
        return
    privileges, account, kind, name, role = match.groups()
    kind, name = ("ACCOUNT", "ACCOUNT") if account else (_kind(kind), _n(name))
    for privilege in (p.strip().upper() for p in privileges.split(",")):
        if privilege == "OWNERSHIP":
            grants.owned[(kind, name)] = _n(role)
        else:
            grants.held.add((_n(role), re.sub(r"\s+", " ", privilege), kind, name))


# --------------------------------------------------------------------------- statements


def table_privileges(sql: str) -> list[tuple[str, str, str]]:
    """(privilege, kind, NAME) a statement needs on tables, procedures and functions,
    read with sqlglot: the DML target (INSERT/UPDATE/DELETE/MERGE), SELECT on every other
    table it reads (CTE names excluded), USAGE on a CALLed procedure and on user
    functions.

    >>> table_privileges("UPDATE alerts SET state = 'X' WHERE org_id IN (SELECT org_id FROM t)")
    [('UPDATE', 'TABLE', 'ALERTS'), ('SELECT', 'TABLE', 'T')]
    >>> table_privileges("CALL RESQ_CHAOS(?)")
    [('USAGE', 'PROCEDURE', 'RESQ_CHAOS')]
    """
    call = re.match(rf"^\s*CALL\s+{_IDENT}\s*\(", sql, re.IGNORECASE)
    if call is not None:
        return [("USAGE", "PROCEDURE", _n(call.group(1)))]
    refresh = re.match(rf"^\s*ALTER\s+DYNAMIC\s+TABLE\s+{_IDENT}\s+REFRESH", sql, re.IGNORECASE)
    if refresh is not None:
        return [("OPERATE", "DYNAMIC TABLE", _n(refresh.group(1)))]
    if re.match(r"^\s*(SHOW|DESCRIBE|DESC|EXPLAIN)\b", sql, re.IGNORECASE):
        return []
    try:
        parsed = sqlglot.parse_one(sql, read="snowflake")
    except sqlglot.errors.ParseError:
        return []
    if parsed is None or isinstance(parsed, exp.Command):
        return []
    out: list[tuple[str, str, str]] = []
    target: exp.Expression | None = None
    verbs = {exp.Insert: "INSERT", exp.Update: "UPDATE", exp.Delete: "DELETE", exp.Merge: "MERGE"}
    for cls, verb in verbs.items():
        if isinstance(parsed, cls):
            target = parsed.this
            while target is not None and not isinstance(target, exp.Table):
                target = target.this if isinstance(target.this, exp.Expression) else None
            if target is not None:
                out.append((verb, "TABLE", target.name.upper()))
                if verb == "MERGE":
                    out += [("INSERT", "TABLE", target.name.upper())]
                    out += [("UPDATE", "TABLE", target.name.upper())]
    ctes = {c.alias_or_name.upper() for c in parsed.find_all(exp.CTE)}
    for table in parsed.find_all(exp.Table):
        if table is target or not table.name or table.name.upper() in ctes:
            continue
        if isinstance(table.this, exp.Anonymous) or table.name.upper() == "INFORMATION_SCHEMA":
            continue
        if table.db.upper() == "INFORMATION_SCHEMA" or table.name.upper().startswith("RESQ_STAGE_"):
            continue
        entry = ("SELECT", "TABLE", table.name.upper())
        if entry not in out:
            out.append(entry)
    for func in parsed.find_all(exp.Anonymous):
        name = func.name.upper()
        if name in TABLE_FUNCTIONS:
            privilege, kind = TABLE_FUNCTIONS[name]
            out.append((privilege, kind, "*"))
        elif name.startswith("GET_") or name == "GENERATE_REALISTIC_SIMULATION":
            out.append(("USAGE", "FUNCTION", name))
    return out


class _Recorder:
    """A Snowpark session that records what is sent and answers no rows."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def sql(self, query: str, params: Any = None) -> Any:
        self.sent.append(query)

        class _Result:
            def collect(self) -> list[Any]:
                return []

            def to_arrow(self) -> pa.Table:
                if query.startswith("CALL "):
                    return pa.table({"v": ["{}"]})
                return pa.table({"n": pa.array([], pa.int64())})

        return _Result()


@functools.cache
def app_statements() -> tuple[str, ...]:
    """The statements the dashboard's backend sends for its reads and its actions."""
    from resq import simulation
    from resq.backends.snowflake import from_session
    from resq.backends.snowflake.backend import APP_OPTIONS
    from resq.backends.warehouse import TENANT_TABLES
    from resq.engine import SelfHealingEngine

    session = _Recorder()
    backend = from_session(session, **APP_OPTIONS)
    actions: list[Any] = [lambda t=t: backend.read(t) for t in TENANT_TABLES]
    actions += [
        backend.sector_summary,
        lambda: backend.override_order("PO-1", "approve", actor="x"),
        lambda: backend.ack_alert("AL-1", actor="x"),
        lambda: backend.apply_chaos(simulation.drop_stock("ORG", "SKU", 0.0), actor="x"),
        lambda: backend.heal_in_warehouse(org_id="ORG"),
        lambda: SelfHealingEngine(backend).health(),
        backend.refresh_analysis,  # the app asks for no refresh: heals refresh in the warehouse
    ]
    for action in actions:
        try:
            action()
        except Exception:
            pass  # empty answers may not satisfy a reader; the SQL it sent is what counts
    return tuple(session.sent)


@functools.cache
def engine_statements() -> tuple[str, ...]:
    """The shared SQL the engine and its procedures issue (sql/*.sql, Snowflake dialect)."""
    from resq import sqlfiles
    from resq.backends.snowflake import sqltext

    out: list[str] = []
    for name in sqlfiles.available():
        if name in {"schema", "stock_analysis"}:
            continue
        out += sqltext.split(sqlfiles.sql_text(name))
    from resq.inside import heal, procedures

    out += [procedures.ENTITLED, f"SELECT COUNT(*) FROM {heal.STREAM}"]
    return tuple(out)


# --------------------------------------------------------------------------- needs


def needs(subject: PlanUnderCheck, setup: list[str]) -> Iterator[Need]:
    config = subject.config
    engine, app = config.engine_role.upper(), config.app_role.upper()
    database, schema = config.database.upper(), config.schema.upper()
    for role in (engine, app):
        yield Need(role, "USAGE", "DATABASE", database, "to reach the resq objects")
        yield Need(role, "USAGE", "SCHEMA", schema, "to reach the resq objects")
        yield Need(role, "USAGE", "WAREHOUSE", config.warehouse.upper(), "to run queries")
    yield Need(app, "READ SESSION", "ACCOUNT", "ACCOUNT", "CURRENT_USER() in the Streamlit app")
    yield Need(app, "CREATE STREAMLIT", "SCHEMA", schema, "to publish the dashboard")
    yield Need(app, "CREATE STAGE", "SCHEMA", schema, "to publish the dashboard")
    tasks = []
    for step in subject.steps:
        for statement in step.statements:
            sql = statement.sql.strip()
            upper = sql.upper()
            created = _CREATE.match(sql)
            if created is not None and _kind(created.group(1)) == "TASK":
                tasks.append(_n(created.group(2)))
            if created is not None and _kind(created.group(1)) == "FUNCTION":
                yield Need(
                    app, "USAGE", "FUNCTION", _n(created.group(2)), "app users call it in SQL"
                )
            if created is not None and _kind(created.group(1)) in {
                "DYNAMIC TABLE",
                "TASK",
                "ALERT",
            }:
                for wh in _WAREHOUSE.findall(sql):
                    yield Need(
                        engine, "USAGE", "WAREHOUSE", _n(wh), f"{created.group(2)} runs on it"
                    )
            if created is not None and _kind(created.group(1)) in {"TASK", "ALERT"}:
                for called in re.findall(rf"\bCALL\s+{_IDENT}\s*\(", sql, re.IGNORECASE):
                    if not called.upper().startswith("SYSTEM$"):
                        why = f"{created.group(2)} calls it"
                        yield Need(engine, "USAGE", "PROCEDURE", _n(called), why)
            resumed = _RESUME.match(sql)
            if resumed is not None:
                kind = resumed.group(1).upper()
                yield Need(
                    engine,
                    f"EXECUTE {kind}",
                    "ACCOUNT",
                    "ACCOUNT",
                    f"{resumed.group(2)} runs on a schedule",
                )
            if "SNOWFLAKE.ALERT." in upper:
                yield Need(
                    engine,
                    "DATABASE ROLE",
                    "SNOWFLAKE",
                    "SNOWFLAKE.ALERT_VIEWER",
                    "SNOWFLAKE.ALERT functions",
                )
            for integration in _INTEGRATION_CALL.findall(sql):
                yield Need(engine, "USAGE", "INTEGRATION", integration.upper(), "sends through it")
            grant = _GRANT.match(sql)
            if grant is not None and not grant.group(2):
                yield Need(
                    engine,
                    "OWNERSHIP",
                    _kind(grant.group(3)),
                    _n(grant.group(4)),
                    "grants on it in the plan",
                )
    for sql in setup:
        created = _CREATE.match(sql)
        if created is not None and _kind(created.group(1)) == "INTEGRATION":
            yield Need(
                engine,
                "USAGE",
                "INTEGRATION",
                _n(created.group(2)),
                "sends notifications through it",
            )
            for secret in _WEBHOOK_SECRET.findall(sql):
                yield Need(
                    engine, "READ", "SECRET", _n(secret), f"the webhook of {created.group(2)}"
                )
    for sql in engine_statements():
        for privilege, kind, name in table_privileges(sql):
            if name != "*":
                yield Need(engine, privilege, kind, name, "the engine's SQL (sql/*.sql)")
    for sql in app_statements():
        for privilege, kind, name in table_privileges(sql):
            names = (
                tasks
                if (kind == "TASK" and name == "*")
                else ["STOCK_ANALYSIS"]
                if name == "*"
                else [name]
            )
            for one in names:
                yield Need(
                    app, privilege, kind, one, f"the app issues: {' '.join(sql.split())[:60]}"
                )
    for procedure in APP_PROCEDURES:
        yield Need(app, "USAGE", "PROCEDURE", procedure, "the dashboard's writes")


@check(NAME)
def privileges(subject: PlanUnderCheck) -> Iterator[Finding]:
    from resq.backends.snowflake import plan

    return findings(subject, plan.account_setup(subject.config))


def findings(subject: PlanUnderCheck, setup: list[str]) -> Iterator[Finding]:
    """The privilege map's findings for a plan and an account set-up."""
    config = subject.config
    grants = _collect(
        setup, subject.steps, config.engine_role.upper(), config.database, config.schema
    )
    engine, app = config.engine_role.upper(), config.app_role.upper()
    grants.owned.setdefault(("DATABASE", config.database.upper()), "")
    grants.owned.setdefault(("SCHEMA", config.schema.upper()), "")
    seen: set[tuple[str, str, str, str]] = set()
    for need in needs(subject, setup):
        key = (need.role, need.privilege, need.kind, need.name)
        if key in seen:
            continue
        seen.add(key)
        if need.privilege == "DATABASE ROLE":
            if (need.role, need.name) not in grants.database_roles:
                yield Finding(
                    NAME,
                    need.role,
                    f"lacks the database role {need.name} ({need.why})",
                    f"account set-up: GRANT DATABASE ROLE {need.name} TO ROLE {need.role}",
                )
            continue
        if need.role == app and need.privilege in WRITES - {"OWNERSHIP"}:
            yield Finding(
                NAME,
                f"{need.kind} {need.name}",
                f"the app role issues a {need.privilege} ({need.why})",
                "route the write through an owner's-rights procedure",
            )
            continue
        if grants.has(need):
            continue
        if need.kind in TABLE_LIKE and not any((k, need.name) in grants.owned for k in TABLE_LIKE):
            if need.name in EMULATED_ONLY:
                continue
            yield Finding(
                NAME,
                f"{need.kind} {need.name}",
                f"{need.role} needs {need.privilege} on it ({need.why}), but no step creates it",
                "create it in the plan, or stop reading it on Snowflake",
            )
            continue
        if need.privilege == "OWNERSHIP":
            yield Finding(
                NAME,
                f"{need.kind} {need.name}",
                f"the plan grants on it, but {need.role} (which runs the plan) does not own it",
                "move the grant to the account set-up",
            )
            continue
        on = "ACCOUNT" if need.kind == "ACCOUNT" else f"{need.kind} {need.name}"
        yield Finding(
            NAME,
            f"{need.kind} {need.name}" if need.kind != "ACCOUNT" else need.role,
            f"{need.role} lacks {need.privilege} ({need.why})",
            f"GRANT {need.privilege} ON {on} TO ROLE {need.role}",
        )
    for role, privilege, kind, name in sorted(grants.held):
        if role != app:
            continue
        forbidden = (kind in TABLE_LIKE and privilege in WRITES) or (
            kind == "SCHEMA" and privilege == "CREATE TABLE"
        )
        if forbidden:
            yield Finding(
                NAME,
                f"{kind} {name}",
                f"the app role is granted {privilege}: writes escape tenant isolation",
                "revoke it; the app writes through the owner's-rights procedures",
            )
    for (kind, name), owner in sorted(grants.owned.items()):
        if owner == app and kind in TABLE_LIKE:
            yield Finding(
                NAME,
                f"{kind} {name}",
                "the app role owns it (every privilege)",
                "transfer ownership to the engine role",
            )
    if (engine, "ROLE", app) in {(r, p, k) for r, p, k, _ in grants.held}:
        yield Finding(
            NAME, app, "is granted the engine role", "never grant the engine role to the app role"
        )
