"""The deploy plan: every Snowflake object resq needs, as ordered, named, idempotent steps.

Each step is SQL as written in ``sql/`` (Snowflake dialect), with the installation's
object names. Re-running the plan changes nothing that is already right and never drops
data: tables are ``CREATE ... IF NOT EXISTS``; functions, the procedure and the task
(which hold no data) are replaced; a statement that must not run twice has a guard, a
query that says it is already done (the dynamic table carries a hash of its definition in
its COMMENT; a policy already attached to a table is not attached again).

``resq deploy snowflake`` applies it (or prints it with ``--dry-run``); ``init`` applies
the function and analysis steps.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resq.backends.snowflake import sqltext
from resq.backends.snowflake.sqltext import POLICY, STREAM, check_identifier
from resq.errors import BackendError

if TYPE_CHECKING:
    from resq.backends.snowflake.backend import SnowflakeBackend

FUNCTION_STEPS = ("code", "functions", "procedure")

# Org-scoped tables that are no dynamic table's input: the row access policy is attached on
# their org_id column. The dynamic table's org-scoped inputs (APP_VIEWS) stay engine-only and
# the app reads them through secure views that carry the policy (sql/snowflake/app_views.sql).
POLICY_TABLES = (
    "purchase_orders",
    "audit_log",
    "alerts",
    "notifications",
    "stock_history",
)

CODE_ZIP = "resq.zip"


@dataclass(frozen=True)
class DeployConfig:
    """The object names of one installation (plain identifiers) and the refresh cadence."""

    database: str = sqltext.DEFAULT_NAMES["database"]
    schema: str = sqltext.DEFAULT_NAMES["schema"]
    warehouse: str = sqltext.DEFAULT_NAMES["warehouse"]
    engine_role: str = sqltext.DEFAULT_NAMES["engine_role"]
    app_role: str = sqltext.DEFAULT_NAMES["app_role"]
    code_stage: str = sqltext.DEFAULT_NAMES["code_stage"]
    target_lag: str = "1 minute"
    code_zip: Path = field(default_factory=lambda: Path(CODE_ZIP))

    def __post_init__(self) -> None:
        for key in sqltext.DEFAULT_NAMES:
            check_identifier(getattr(self, key), key.replace("_", " "))
        sqltext.lag_text(sqltext.lag_seconds(self.target_lag))

    def names(self) -> dict[str, str]:
        """Default name (as written in the files) -> this installation's name."""
        return {sqltext.DEFAULT_NAMES[k]: getattr(self, k) for k in sqltext.DEFAULT_NAMES}


@dataclass(frozen=True)
class Statement:
    """One statement, and optionally a guard: a query whose first value is true (or a
    count above 0) when the statement's effect is already in place (then it is skipped)."""

    sql: str
    unless: str | None = None


@dataclass(frozen=True)
class Step:
    name: str
    purpose: str
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class Applied:
    """What applying one statement did."""

    step: str
    sql: str
    ran: bool


# --------------------------------------------------------------------------- building


def build(config: DeployConfig | None = None) -> list[Step]:
    """The whole plan, in order."""
    config = config or DeployConfig()
    names = config.names()

    def file_statements(name: str, extra: dict[str, str] | None = None) -> tuple[Statement, ...]:
        text = sqltext.snowflake_file(name)
        return tuple(
            Statement(sqltext.rename(s, {**names, **(extra or {})})) for s in sqltext.split(text)
        )

    from resq import sqlfiles

    steps = [
        Step(
            "schema",
            "the tables of sql/schema.sql (IF NOT EXISTS: existing data is kept)",
            tuple(Statement(s) for s in sqltext.split(sqlfiles.sql_text("schema"))),
        ),
        Step(
            "support",
            "the entitlement mapping the row access policy reads, and the trigger log",
            file_statements("support"),
        ),
        Step(
            "policy",
            "the row access policy (created once, its body kept up to date)",
            file_statements("policy"),
        ),
        Step(
            "code",
            "the stage holding the resq package, and the package itself",
            (
                Statement(f"CREATE STAGE IF NOT EXISTS {config.code_stage}"),
                Statement(
                    f"PUT 'file://{config.code_zip.as_posix()}' @{config.code_stage} "
                    "AUTO_COMPRESS = FALSE OVERWRITE = TRUE"
                ),
            ),
        ),
        Step(
            "functions",
            "GET_WEATHER_DATA, GET_VENDOR_STATUS and GENERATE_REALISTIC_SIMULATION",
            file_statements("functions"),
        ),
        Step(
            "procedure",
            "RESQ_HEAL, the heal cycle, and the write procedures the app role calls",
            file_statements("procedure"),
        ),
        analysis_step(config, policy=True),
        Step(
            "isolation",
            "the row access policy on every org-scoped table (stock_analysis has it inline)",
            tuple(
                Statement(
                    f"ALTER TABLE {table} ADD ROW ACCESS POLICY {POLICY} ON (org_id)",
                    unless=_policy_guard(config, table),
                )
                for table in POLICY_TABLES
            ),
        ),
        Step(
            "app_views",
            "secure views with the row access policy over the dynamic table's inputs, which "
            "stay engine-only so stock_analysis refreshes incrementally",
            (
                *(
                    Statement(
                        f"ALTER TABLE {table} DROP ROW ACCESS POLICY {POLICY}",
                        unless=_no_policy_guard(config, table),
                    )
                    for table in sqltext.APP_VIEWS
                ),
                *file_statements("app_views"),
            ),
        ),
        Step(
            "trigger",
            "the stream on stock_analysis and the task that calls RESQ_HEAL when it has data",
            file_statements("trigger"),
        ),
    ]
    if sqltext.has_snowflake_file("notifications"):
        steps.append(
            Step(
                "notifications",
                "alert delivery and escalation (sql/snowflake/notifications.sql)",
                file_statements("notifications"),
            )
        )
    steps = [suspend_before_replacing(s) for s in steps]
    grants = file_statements("grants", {"RESQ": config.database, "CORE": config.schema})
    return place_grants(steps, grants)


_CREATES = re.compile(
    r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:SECURE\s+)?(DYNAMIC\s+TABLE|TABLE|VIEW|FUNCTION|"
    r"PROCEDURE)\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_$]*)",
    re.IGNORECASE,
)
_GRANTS_ON = re.compile(
    r"^GRANT\s+.+?\s+ON\s+(?:DYNAMIC\s+TABLE|TABLE|VIEW|FUNCTION|PROCEDURE)\s+"
    r"([A-Za-z_][A-Za-z0-9_$]*)",
    re.IGNORECASE | re.DOTALL,
)


def place_grants(steps: Sequence[Step], grants: Sequence[Statement]) -> list[Step]:
    """``steps`` with each grant of sql/snowflake/grants.sql in a step of its own
    (``<step>.grants``) right after the step that creates its object, so a deploy that
    stops part-way leaves every object it created usable by the app role. A grant on an
    org-scoped table waits for the ``isolation`` step (the table's row access policy):
    the app never reads such a table unfiltered. Grants on the database and schema go
    with the first step."""
    creator: dict[str, str] = {}
    for step in steps:
        for statement in step.statements:
            match = _CREATES.match(statement.sql)
            if match is not None:
                creator.setdefault(match.group(2).upper(), step.name)
    scoped = {t.upper() for t in POLICY_TABLES}
    names = [s.name for s in steps]
    placed: dict[str, list[Statement]] = {}
    for grant in grants:
        match = _GRANTS_ON.match(grant.sql)
        target = names[0]
        if match is not None:
            obj = match.group(1).upper()
            target = (
                "isolation"
                if obj in scoped and "isolation" in names
                else creator.get(obj, names[0])
            )
        placed.setdefault(target, []).append(grant)
    out: list[Step] = []
    for step in steps:
        out.append(step)
        if step.name in placed:
            out.append(
                Step(
                    f"{step.name}.grants",
                    f"what the app role may read and call of what {step.name} installed",
                    tuple(placed[step.name]),
                )
            )
    return out


def analysis_step(config: DeployConfig, *, policy: bool) -> Step:
    """stock_analysis as a dynamic table, replaced only when its definition changed. With
    ``policy`` (a deployed installation) the row access policy is attached as it is
    created and the stream over it is recreated with it."""
    dt = sqltext.dynamic_table_sql(
        warehouse=config.warehouse, target_lag=config.target_lag, policy=POLICY if policy else None
    )
    guard = _comment_guard(config, sqltext.comment_of(dt))
    statements = [Statement(dt, unless=guard)]
    if policy:
        statements.append(
            Statement(
                f"CREATE OR REPLACE STREAM {STREAM} ON DYNAMIC TABLE stock_analysis", unless=guard
            )
        )
    return Step(
        "analysis",
        "stock_analysis, the dynamic table (replaced only when its definition changed; "
        "the stream over it is recreated with it)",
        tuple(statements),
    )


def _comment_guard(config: DeployConfig, comment: str) -> str:
    return (
        "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES "
        f"WHERE TABLE_SCHEMA = '{config.schema.upper()}' AND TABLE_NAME = 'STOCK_ANALYSIS' "
        f"AND COMMENT = '{comment}'"
    )


def _policy_guard(config: DeployConfig, table: str) -> str:
    entity = f"{config.database}.{config.schema}.{table}".upper()
    return (
        "SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.POLICY_REFERENCES("
        f"REF_ENTITY_NAME => '{entity}', REF_ENTITY_DOMAIN => 'table')) "
        "WHERE POLICY_KIND = 'ROW_ACCESS_POLICY'"
    )


def _no_policy_guard(config: DeployConfig, table: str) -> str:
    """True when ``table`` carries no row access policy (an installation deployed before
    the dynamic table's inputs became engine-only had one; it is detached once)."""
    entity = f"{config.database}.{config.schema}.{table}".upper()
    return (
        "SELECT COUNT(*) = 0 FROM TABLE(INFORMATION_SCHEMA.POLICY_REFERENCES("
        f"REF_ENTITY_NAME => '{entity}', REF_ENTITY_DOMAIN => 'table')) "
        "WHERE POLICY_KIND = 'ROW_ACCESS_POLICY'"
    )


# --------------------------------------------------------------------------- tasks

_CREATE_TASK = re.compile(
    r"^CREATE\s+OR\s+REPLACE\s+(TASK|ALERT)\s+([A-Za-z_][A-Za-z0-9_$]*)", re.IGNORECASE
)
_AFTER = re.compile(r"\bAFTER\s+([A-Za-z_][A-Za-z0-9_$]*)", re.IGNORECASE)


def suspend_before_replacing(step: Step) -> Step:
    """``step`` with ``ALTER TASK|ALERT IF EXISTS ... SUSPEND`` before its first
    ``CREATE OR REPLACE TASK|ALERT``, for the root of every task graph (and every alert)
    it replaces. Snowflake refuses to replace or change a task while the root of its graph
    is resumed (docs.snowflake.com, ALTER TASK and DROP TASK: "the root task must be
    suspended"), so a re-deploy suspends, replaces, and resumes (the step's own
    ``RESUME`` statements, children before the root). The first deploy finds nothing to
    suspend (IF EXISTS)."""
    created: list[tuple[str, str, str | None]] = []  # (kind, name, predecessor)
    first = None
    for i, statement in enumerate(step.statements):
        match = _CREATE_TASK.match(statement.sql)
        if match is None:
            continue
        first = i if first is None else first
        after = _AFTER.search(statement.sql) if match.group(1).upper() == "TASK" else None
        created.append((match.group(1).upper(), match.group(2), after and after.group(1)))
    if first is None:
        return step
    parent = {name.upper(): pred for kind, name, pred in created if kind == "TASK" and pred}

    def root(name: str) -> str:
        seen = set()
        while name.upper() in parent and name.upper() not in seen:
            seen.add(name.upper())
            name = parent[name.upper()] or name
        return name

    targets: list[tuple[str, str]] = []
    for kind, name, _ in created:
        target = (kind, root(name) if kind == "TASK" else name)
        if target not in targets:
            targets.append(target)
    suspends = tuple(Statement(f"ALTER {k} IF EXISTS {n} SUSPEND") for k, n in targets)
    statements = step.statements[:first] + suspends + step.statements[first:]
    return replace(step, statements=statements)


# --------------------------------------------------------------------------- account set-up


def account_setup(config: DeployConfig | None = None) -> list[str]:
    """The one-time account set-up (sql/snowflake/account_setup.sql) with this
    installation's names, in the order an administrator runs it. ``resq deploy`` never
    runs it: it needs administrator rights the engine role must not have."""
    config = config or DeployConfig()
    names = {**config.names(), "RESQ": config.database, "CORE": config.schema}
    return [
        sqltext.rename(s, names) for s in sqltext.split(sqltext.snowflake_file("account_setup"))
    ]


def render_account_setup(statements: Sequence[str]) -> str:
    out = [
        "-- resq one-time account set-up: run once, in this order, as an administrator",
        "-- (ACCOUNTADMIN). Edit the notification recipients and the webhook secret first.",
    ]
    out += ["", *(s.rstrip().rstrip(";") + ";" for s in statements)]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- output


def render(steps: Sequence[Step]) -> str:
    """The plan as one SQL script: each step headed by a comment, guards shown as comments."""
    out = [
        "-- resq deploy plan for Snowflake: ordered, idempotent steps (resq deploy snowflake).",
        "-- Guarded statements run only when their guard query returns 0.",
    ]
    for i, step in enumerate(steps, 1):
        out.append("")
        out.append(f"-- step {i}: {step.name}: {step.purpose}")
        for statement in step.statements:
            if statement.unless:
                out.append(f"-- skipped when this returns more than 0: {statement.unless}")
            out.append(statement.sql.rstrip().rstrip(";") + ";")
    return "\n".join(out) + "\n"


def statements(steps: Sequence[Step]) -> list[tuple[str, Statement]]:
    return [(step.name, s) for step in steps for s in step.statements]


# --------------------------------------------------------------------------- applying


def apply(
    backend: SnowflakeBackend,
    steps: Sequence[Step],
    *,
    only: Iterable[str] | None = None,
    build_zip: bool = True,
) -> list[Applied]:
    """Run the plan (or the named steps) on ``backend``, statement by statement, skipping
    statements whose guard says they are done. The code step uploads a freshly built
    resq.zip (``build_zip=False`` sends the PUT as planned, for fakes).

    The first statement that fails stops the deploy: every later step needs the ones
    before it (the order is the dependency order), and each step's grants come right
    after its objects, so what completed is usable as it stands. :class:`DeployFailed`
    then says which step and statement failed, which steps are installed and which are
    not; re-running resumes (completed statements are skipped or replaced harmlessly)."""
    wanted = set(only) if only is not None else None
    chosen = [s for s in steps if wanted is None or s.name in wanted]
    done: list[Applied] = []
    with _code_zip(chosen if build_zip else ()) as zip_path:
        for index, step in enumerate(chosen):
            for statement in step.statements:
                try:
                    if statement.unless and _already(backend, statement.unless):
                        done.append(Applied(step.name, statement.sql, False))
                        continue
                    sql = statement.sql
                    if sql.startswith("PUT ") and zip_path is not None:
                        sql = _put_with(sql, zip_path)
                    backend.execute(sql)
                except Exception as exc:
                    raise DeployFailed(
                        DeployReport(
                            applied=done,
                            installed=[s.name for s in chosen[:index]],
                            failed_step=step.name,
                            failed_sql=statement.sql,
                            error=f"{type(exc).__name__}: {exc}",
                            not_installed=[s.name for s in chosen[index:]],
                        )
                    ) from exc
                done.append(Applied(step.name, statement.sql, True))
    return done


@dataclass(frozen=True)
class DeployReport:
    """What a deploy that stopped did: the steps installed, the one that failed (and the
    statement and error), and the steps not installed (the failed one first)."""

    applied: list[Applied]
    installed: list[str]
    failed_step: str
    failed_sql: str
    error: str
    not_installed: list[str]

    def message(self) -> str:
        ran = sum(1 for a in self.applied if a.step == self.failed_step and a.ran)
        first_line = self.failed_sql.strip().splitlines()[0]
        return (
            f"deploy stopped at step {self.failed_step!r} (after {ran} of its statements "
            f"ran): {first_line!r} failed: {self.error}. "
            f"Installed, with their grants: {', '.join(self.installed) or 'nothing'}. "
            f"Not installed: {', '.join(self.not_installed)}. Fix the cause and run the "
            "deploy again: it resumes, skipping or harmlessly replacing what is in place."
        )


class DeployFailed(BackendError):
    """A deploy stopped at a failed statement; ``report`` says what is and is not installed."""

    def __init__(self, report: DeployReport) -> None:
        super().__init__(report.message())
        self.report = report


def _already(backend: SnowflakeBackend, query: str) -> bool:
    table = backend.fetch(query)
    if not table.num_rows or not table.num_columns:
        return False
    value = table.column(0)[0].as_py()
    return bool(value)


class _code_zip:
    """Build resq.zip into a temporary folder when a step uploads it."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.needed = any(s.sql.startswith("PUT ") for st in steps for s in st.statements)
        self.tmp: Any = None

    def __enter__(self) -> Path | None:
        if not self.needed:
            return None
        import tempfile

        self.tmp = tempfile.TemporaryDirectory(prefix="resq-deploy-")
        return build_code_zip(Path(self.tmp.name) / CODE_ZIP)

    def __exit__(self, *exc: object) -> None:
        if self.tmp is not None:
            self.tmp.cleanup()


def _put_with(sql: str, path: Path) -> str:
    start = sql.index("'file://") + len("'file://")
    end = sql.index("'", start)
    return sql[:start] + path.as_posix() + sql[end:]


def build_code_zip(target: Path) -> Path:
    """The resq package (its Python and its SQL files) as a zip Snowflake imports, with
    fixed timestamps so the same code gives the same bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for relative, path in package_files():
            info = zipfile.ZipInfo(f"{PACKAGE_DIR}/{relative}", date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    return target


# --------------------------------------------------------------------------- project files

APP_NAME = "RESQ_DASHBOARD"
PROJECT_FILES = ("snowflake.yml", "environment.yml", "streamlit_app.py")
PACKAGE_DIR = "resq"
"""The folder of the project that holds the resq package (its Python and its SQL)."""


def snowflake_yml(config: DeployConfig, app_name: str = APP_NAME) -> str:
    """snowflake.yml (definition_version 2) with one streamlit entity: the resq dashboard,
    for ``snow streamlit deploy``. Every artifact is a path relative to the project folder
    and inside it (the Snowflake CLI refuses others): the entry point, environment.yml and
    the resq package copied under ``resq/``."""
    check_identifier(app_name, "app name")
    return (
        "# Written by `resq deploy snowflake`: publish the dashboard with\n"
        "#   snow streamlit deploy --replace\n"
        "definition_version: 2\n"
        "entities:\n"
        "  resq_dashboard:\n"
        "    type: streamlit\n"
        "    identifier:\n"
        f"      name: {app_name}\n"
        f"      database: {config.database}\n"
        f"      schema: {config.schema}\n"
        "    title: ResQ OS\n"
        f"    query_warehouse: {config.warehouse}\n"
        "    stage: RESQ_STREAMLIT\n"
        "    main_file: streamlit_app.py\n"
        "    artifacts:\n"
        "      - streamlit_app.py\n"
        "      - environment.yml\n"
        f"      - {PACKAGE_DIR}/\n"
    )


def environment_yml() -> str:
    """environment.yml: the Snowflake Anaconda packages the dashboard imports
    (``resq.inside.APP_PACKAGES``, in conda's ``name=version`` form)."""
    from resq.inside import APP_PACKAGES

    deps = "".join(f"  - {p.replace('==', '=')}\n" for p in APP_PACKAGES)
    return (
        "# Written by `resq deploy snowflake`: the packages of the Streamlit in Snowflake app.\n"
        "name: sf_env\n"
        "channels:\n"
        "  - snowflake\n"
        f"dependencies:\n{deps}"
    )


def package_files() -> list[tuple[str, Path]]:
    """The resq package as (path inside the package, file): its Python modules and the SQL
    files (from ``resq/sql`` in a wheel, else the checkout's ``sql/``), never bytecode."""
    import resq
    from resq import sqlfiles

    package = Path(resq.__file__).resolve().parent
    sql_dir = Path(str(sqlfiles._sql_dir()))
    entries: list[tuple[str, Path]] = []
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            entries.append((path.relative_to(package).as_posix(), path))
    if not (package / "sql").is_dir():
        for path in sorted(sql_dir.rglob("*.sql")):
            entries.append((f"sql/{path.relative_to(sql_dir).as_posix()}", path))
    return entries


def write_project(config: DeployConfig, folder: Path) -> list[Path]:
    """Write a self-contained Streamlit in Snowflake project into ``folder``: snowflake.yml,
    environment.yml, streamlit_app.py and the resq package (code and SQL) under ``resq/``.
    Returns the top-level paths written. A ``resq/`` already there is replaced, so no stale
    module is published."""
    import shutil

    from resq import inside

    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "snowflake.yml": snowflake_yml(config),
        "environment.yml": environment_yml(),
        "streamlit_app.py": (Path(inside.__file__).parent / "streamlit_app.py").read_text(
            encoding="utf-8"
        ),
    }
    written = []
    for name, text in files.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    target = folder / PACKAGE_DIR
    if target.is_dir():
        shutil.rmtree(target)
    for relative, source in package_files():
        dest = target / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(source.read_bytes())
    written.append(target)
    return written


def with_zip(config: DeployConfig, path: Path) -> DeployConfig:
    return replace(config, code_zip=path)
