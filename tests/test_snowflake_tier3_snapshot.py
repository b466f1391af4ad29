"""Tier 3, exact-SQL snapshots: what no local tool can run (the dynamic table, UDF and
procedure registration, the row access policy, the stream, the task, the grants).

Each snapshot in tests/snapshots/snowflake/ is the exact SQL the deploy plan sends; every
statement also parses with sqlglot's Snowflake dialect with errors raised. A change to the
plan is a change to a snapshot, reviewed as such: regenerate them with
``RESQ_UPDATE_SNAPSHOTS=1 pytest tests/test_snowflake_tier3_snapshot.py``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from resq.backends.snowflake import plan, sqltext

SNAPSHOTS = Path(__file__).parent / "snapshots" / "snowflake"
CONFIG = plan.DeployConfig(code_zip=Path("/opt/resq-deploy/resq.zip"))
UPDATE = os.environ.get("RESQ_UPDATE_SNAPSHOTS") == "1"


def _steps() -> dict[str, plan.Step]:
    return {s.name: s for s in plan.build(CONFIG)}


def _snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.sql"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot {path}: run with RESQ_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed"


def _parse(sql: str) -> exp.Expr:
    parsed = [
        s
        for s in sqlglot.parse(sql, read="snowflake", error_level=ErrorLevel.RAISE)
        if s is not None and not isinstance(s, exp.Semicolon)
    ]
    assert len(parsed) == 1, sql
    return parsed[0]


SNAPSHOT_STEPS = {
    "dynamic_table": ["analysis"],
    "functions": ["code", "functions"],
    "procedure": ["procedure"],
    "row_access_policy": ["support", "policy", "isolation"],
    "stream_and_task": ["trigger"],
    "grants": [
        "schema.grants",
        "functions.grants",
        "procedure.grants",
        "analysis.grants",
        "isolation.grants",
    ],
}


@pytest.mark.parametrize("name", sorted(SNAPSHOT_STEPS))
def test_snowflake_tier3_snapshot_of_each_object(name: str) -> None:
    steps = _steps()
    text = plan.render([steps[s] for s in SNAPSHOT_STEPS[name]])
    _snapshot(name, text)
    for step in SNAPSHOT_STEPS[name]:
        for statement in steps[step].statements:
            _parse(statement.sql)
            if statement.unless:
                assert isinstance(_parse(statement.unless), exp.Select)


def test_snowflake_tier3_snapshot_of_the_whole_plan() -> None:
    steps = plan.build(CONFIG)
    _snapshot("plan", plan.render(steps))
    assert [s.name for s in steps if not s.name.endswith(".grants")][:10] == [
        "schema",
        "support",
        "policy",
        "code",
        "functions",
        "procedure",
        "analysis",
        "isolation",
        "app_views",
        "trigger",
    ]
    for _, statement in plan.statements(steps):
        _parse(statement.sql)


def test_snowflake_tier3_snapshot_the_plan_includes_alert_delivery_when_present() -> None:
    names = [s.name for s in plan.build(CONFIG)]
    assert ("notifications" in names) == sqltext.has_snowflake_file("notifications")
    if "notifications" in names:
        assert names.index("notifications") > names.index("trigger")


def test_snowflake_tier3_snapshot_grants_follow_their_objects() -> None:
    """Each grant runs right after the step that creates its object, so a deploy that stops
    part-way leaves what it created usable; a grant on an org-scoped table only after its
    row access policy is attached, so the app never reads it unfiltered."""
    steps = plan.build(CONFIG)
    names = [s.name for s in steps]
    for i, step in enumerate(steps):
        if not step.name.endswith(".grants"):
            continue
        assert names[i - 1] == step.name.removesuffix(".grants")
        for statement in step.statements:
            target = re.search(r" ON (?:DYNAMIC )?TABLE (\w+)", statement.sql)
            if target and target.group(1) in plan.POLICY_TABLES:
                assert step.name == "isolation.grants", statement.sql
    assert "grants" not in names


# --- the dynamic table ----------------------------------------------------------------


def test_snowflake_tier3_snapshot_dynamic_table_carries_the_file_query_as_written() -> None:
    from resq import sqlfiles

    dt = _steps()["analysis"].statements[0].sql
    definition = sqltext.analysis_definition()
    assert dt.endswith(definition.query)
    assert "TARGET_LAG = '1 minute'" in dt and "REFRESH_MODE = INCREMENTAL" in dt
    assert "WITH ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id)" in dt
    original = sqlfiles.statements("stock_analysis")[0].expression
    assert _parse(dt).expression == original


# Documented blockers of INCREMENTAL refresh (docs.snowflake.com, "Supported queries for
# dynamic tables"): non-deterministic functions, subqueries outside FROM, LATERAL joins,
# window functions, set operations other than UNION ALL, LIMIT/ORDER BY, user functions.
NON_DETERMINISTIC = {
    "CURRENT_TIMESTAMP",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "CURRENTTIMESTAMP",
    "CURRENTDATE",
    "CURRENTTIME",
    "SYSDATE",
    "GETDATE",
    "LOCALTIMESTAMP",
    "RANDOM",
    "RAND",
    "UNIFORM",
    "UUID_STRING",
    "SEQ4",
    "SEQ8",
    "NORMAL",
    "RANDSTR",
    "CURRENT_USER",
    "CURRENT_ROLE",
}


def test_snowflake_tier3_snapshot_dynamic_table_qualifies_for_incremental_refresh() -> None:
    """The query is checked against the documented rules; the live tier asks Snowflake
    (SHOW DYNAMIC TABLES reports refresh_mode INCREMENTAL)."""
    query = _parse(sqltext.analysis_definition().query)
    for node in query.walk():
        name = type(node).__name__.upper()
        if isinstance(node, exp.Func):
            fname = (node.sql_name() if not isinstance(node, exp.Anonymous) else node.name).upper()
            assert fname not in NON_DETERMINISTIC, f"non-deterministic {fname}"
            assert name not in NON_DETERMINISTIC, f"non-deterministic {name}"
            assert not isinstance(node, exp.Anonymous), f"user function {node.name}"
        assert not isinstance(node, (exp.Window, exp.Limit, exp.Order, exp.Lateral)), name
        assert not isinstance(node, (exp.Intersect, exp.Except)), name
        if isinstance(node, exp.Subquery):
            assert isinstance(node.parent, (exp.From, exp.Join)), "subquery outside FROM"
        if isinstance(node, exp.Exists):
            raise AssertionError("EXISTS subquery")
        if isinstance(node, exp.Join):
            assert node.side in {"", "LEFT"}, f"{node.side} join"
            on = node.args.get("on")
            assert on is not None
            conjuncts = list(on.flatten()) if isinstance(on, exp.And) else [on]
            assert all(isinstance(c, exp.EQ) for c in conjuncts), on.sql()


def test_snowflake_tier3_snapshot_target_lag_and_warehouse_follow_the_config() -> None:
    config = plan.DeployConfig(warehouse="OPS_WH", target_lag="5 minutes")
    dt = plan.analysis_step(config, policy=False).statements[0].sql
    assert "WAREHOUSE = OPS_WH" in dt and "TARGET_LAG = '5 minutes'" in dt
    assert "ROW ACCESS POLICY" not in dt
    with pytest.raises(Exception, match="smallest target lag"):
        plan.DeployConfig(target_lag="30 seconds")


# --- idempotent, never drops data -----------------------------------------------------

# Objects that hold no data (a dynamic table is recomputed from its sources).
REPLACEABLE = (
    "FUNCTION",
    "PROCEDURE",
    "TASK",
    "ALERT",
    "STREAM",
    "DYNAMIC TABLE",
    "VIEW",
    "SECURE VIEW",
)


def test_snowflake_tier3_snapshot_the_plan_never_drops_data() -> None:
    for step, statement in plan.statements(plan.build(CONFIG)):
        sql = re.sub(r"\s+", " ", statement.sql.upper())
        # detaching a policy from a table drops no data (it runs once, where one is attached)
        if re.fullmatch(r"ALTER TABLE \w+ DROP ROW ACCESS POLICY \w+", sql):
            assert statement.unless and "COUNT(*) = 0" in statement.unless
            continue
        assert not re.search(r"\b(DROP|TRUNCATE|DELETE)\b", sql), (step, sql[:80])
        if sql.startswith("CREATE OR REPLACE"):
            kind = sql.removeprefix("CREATE OR REPLACE ").split(" ")
            assert any(sql.startswith(f"CREATE OR REPLACE {k}") for k in REPLACEABLE), sql[:60]
            assert kind[0] != "TABLE"
        elif sql.startswith("CREATE"):
            assert "IF NOT EXISTS" in sql, sql[:80]
        if "DYNAMIC TABLE STOCK_ANALYSIS" in sql and sql.startswith("CREATE OR REPLACE DYNAMIC"):
            assert statement.unless, "the dynamic table is replaced only when it changed"


class RecordingBackend:
    """Captures the exact SQL sent (the SQLMesh shape); guard queries answer from a set of
    objects 'already in place'."""

    def __init__(self, in_place: bool) -> None:
        self.in_place = in_place
        self.sent: list[str] = []

    def execute(self, sql: str, params: Any = None) -> None:
        self.sent.append(sql)

    def fetch(self, sql: str, params: Any = None) -> pa.Table:
        self.sent.append(sql)
        return pa.table({"n": [1 if self.in_place else 0]})


def test_snowflake_tier3_snapshot_rerunning_skips_what_is_in_place() -> None:
    steps = plan.build(CONFIG)
    fresh = RecordingBackend(in_place=False)
    first = plan.apply(fresh, steps)  # type: ignore[arg-type]
    assert all(a.ran for a in first)
    put = [s for s in fresh.sent if s.startswith("PUT ")]
    assert len(put) == 1 and put[0].endswith("@RESQ_CODE AUTO_COMPRESS = FALSE OVERWRITE = TRUE")
    again = RecordingBackend(in_place=True)
    second = plan.apply(again, steps)  # type: ignore[arg-type]
    skipped = [a for a in second if not a.ran]
    assert {a.step for a in skipped} == {"analysis", "isolation", "app_views"}
    assert len(skipped) == 2 + len(plan.POLICY_TABLES) + len(sqltext.APP_VIEWS)
    assert not any("DYNAMIC TABLE stock_analysis" in s and "CREATE" in s for s in again.sent)


def test_snowflake_tier3_snapshot_names_are_renamed_token_by_token() -> None:
    config = plan.DeployConfig(
        database="OPS",
        schema="SUPPLY",
        warehouse="OPS_WH",
        engine_role="OPS_ENGINE",
        app_role="OPS_APP",
        code_stage="OPS_CODE",
    )
    text = plan.render(plan.build(config))
    assert "RESQ_WH" not in text.upper().replace("RESQ_WH_", "")
    for old in ("RESQ_ENGINE", "RESQ_APP", "RESQ_CODE", "RESQ.CORE"):
        assert old not in text.upper(), old
    assert "IS_ROLE_IN_SESSION('OPS_ENGINE')" in text
    assert "@OPS_CODE/resq.zip" in text
    assert "GRANT USAGE ON SCHEMA OPS.SUPPLY TO ROLE OPS_APP" in text
    with pytest.raises(Exception, match="plain Snowflake identifier"):
        plan.DeployConfig(warehouse="WH; DROP TABLE x")


def test_snowflake_tier3_snapshot_project_files(tmp_path: Path) -> None:
    """--out holds a self-contained project: every artifact a relative path inside it."""
    import yaml

    from resq.inside import APP_PACKAGES

    out = tmp_path / "deploy"
    written = plan.write_project(CONFIG, out)
    assert sorted(p.name for p in written) == [
        "environment.yml",
        "resq",
        "snowflake.yml",
        "streamlit_app.py",
    ]
    project = yaml.safe_load((out / "snowflake.yml").read_text())
    assert project["definition_version"] == 2
    app = project["entities"]["resq_dashboard"]
    assert app["type"] == "streamlit"
    assert app["main_file"] == "streamlit_app.py"
    assert app["query_warehouse"] == "RESQ_WH"
    for artifact in app["artifacts"]:
        assert isinstance(artifact, str) and not Path(artifact).is_absolute(), artifact
        assert ".." not in Path(artifact).parts
        assert (out / artifact).resolve().is_relative_to(out.resolve())
        assert (out / artifact).exists(), artifact
    for needed in ("dashboard/app.py", "inside/heal.py", "sql/schema.sql", "sql/snowflake"):
        assert (out / "resq" / needed).exists(), needed
    assert not list((out / "resq").rglob("__pycache__"))
    env = yaml.safe_load((out / "environment.yml").read_text())
    assert env["channels"] == ["snowflake"]
    assert env["dependencies"] == [p.replace("==", "=") for p in APP_PACKAGES]
    assert "resq.dashboard.app" in (out / "streamlit_app.py").read_text()


def test_snowflake_tier3_snapshot_project_is_self_contained_wherever_it_is(
    tmp_path: Path,
) -> None:
    """Moved elsewhere, the project still passes the Snowflake CLI's rules, and a second
    write replaces the package (no stale module is published)."""
    import shutil

    from resq.backends.snowflake.checks import project

    plan.write_project(CONFIG, tmp_path / "a")
    stale = tmp_path / "a" / "resq" / "stale_module.py"
    stale.write_text("raise SystemExit", encoding="utf-8")
    plan.write_project(CONFIG, tmp_path / "a")
    assert not stale.exists()
    shutil.move(tmp_path / "a", tmp_path / "elsewhere")
    moved = tmp_path / "elsewhere"
    assert project.problems(moved) == [] and project.code_problems(moved) == []


def test_snowflake_tier3_snapshot_code_zip_carries_the_package_and_sql(tmp_path: Path) -> None:
    import zipfile

    first = plan.build_code_zip(tmp_path / "a" / "resq.zip")
    second = plan.build_code_zip(tmp_path / "b" / "resq.zip")
    assert first.read_bytes() == second.read_bytes()  # reproducible
    names = zipfile.ZipFile(first).namelist()
    assert "resq/inside/heal.py" in names and "resq/inside/functions.py" in names
    assert "resq/engine.py" in names
    assert "resq/sql/merge_orders.sql" in names
    assert not any("__pycache__" in n for n in names)


# --- resq deploy snowflake -------------------------------------------------------------------


def test_snowflake_tier3_snapshot_cli_dry_run_prints_the_plan(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from resq.cli import app

    result = CliRunner().invoke(app, ["deploy", "snowflake", "--dry-run", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    config = plan.DeployConfig(code_zip=(tmp_path / "resq.zip").resolve())
    assert result.stdout == plan.render(plan.build(config))
    for name in ("snowflake.yml", "environment.yml", "streamlit_app.py", "resq.zip"):
        assert (tmp_path / name).is_file(), name
        assert str(tmp_path / name) in result.stderr, name  # says what it wrote, off stdout
    assert str(tmp_path / "resq") in result.stderr


def test_snowflake_tier3_snapshot_cli_dry_run_json_and_names(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from resq.cli import app

    result = CliRunner().invoke(
        app,
        [
            *("--json", "deploy", "snowflake", "--dry-run", "--out", str(tmp_path)),
            *("--warehouse", "OPS_WH", "--app-role", "OPS_APP"),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["dry_run"] is True
    assert doc["steps"][0]["step"] == "schema"
    text = json.dumps(doc)
    assert "OPS_WH" in text and "OPS_APP" in text and "RESQ_APP" not in text


def test_snowflake_tier3_snapshot_cli_refuses_a_non_snowflake_db(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from resq.cli import app

    db = f"duckdb:///{tmp_path}/x.duckdb"
    result = CliRunner().invoke(app, ["--db", db, "deploy", "snowflake", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "needs a Snowflake connection" in result.stderr
    bad = CliRunner().invoke(app, ["deploy", "snowflake", "--dry-run", "--warehouse", "a b"])
    assert bad.exit_code == 2 and "plain Snowflake identifier" in bad.stderr


def test_snowflake_tier3_snapshot_replaced_code_objects_keep_their_grants() -> None:
    """Functions, procedures and views are replaced on every deploy: COPY GRANTS keeps the
    USAGE and SELECT granted on them (the idempotence check shows what is lost without)."""
    for step, statement in plan.statements(plan.build(CONFIG)):
        sql = re.sub(r"\s+", " ", statement.sql.upper())
        if re.match(r"CREATE OR REPLACE (SECURE )?(FUNCTION|PROCEDURE|VIEW)\b", sql):
            assert " COPY GRANTS " in sql, (step, sql[:80])


class FailingBackend(RecordingBackend):
    """Refuses the first statement that contains ``fail_on``."""

    def __init__(self, fail_on: str) -> None:
        super().__init__(in_place=False)
        self.fail_on = fail_on

    def execute(self, sql: str, params: Any = None) -> None:
        if self.fail_on in sql:
            raise RuntimeError("Insufficient privileges to operate on warehouse 'RESQ_WH'")
        super().execute(sql, params)


def test_snowflake_tier3_snapshot_a_failed_step_says_what_is_and_is_not_installed() -> None:
    steps = plan.build(CONFIG)
    names = [s.name for s in steps]
    backend = FailingBackend("CREATE OR REPLACE DYNAMIC TABLE")
    with pytest.raises(plan.DeployFailed) as caught:
        plan.apply(backend, steps)  # type: ignore[arg-type]
    report = caught.value.report
    at = names.index(report.failed_step)
    assert report.failed_step.startswith("analysis")
    assert report.installed == names[:at] and report.not_installed == names[at:]
    assert "CREATE OR REPLACE DYNAMIC TABLE" in report.failed_sql
    message = str(caught.value)
    assert f"deploy stopped at step {report.failed_step!r}" in message
    assert "Insufficient privileges" in message and "Not installed: " + names[at] in message
    # Nothing after the failed statement was sent.
    assert not any("ADD ROW ACCESS POLICY" in s for s in backend.sent)


def test_snowflake_tier3_snapshot_cli_says_which_step_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`resq deploy snowflake` on a connection that refuses the dynamic table: exit 1, and
    the error names the step, the statement, Snowflake's reason, what is installed and
    what is not."""
    from typer.testing import CliRunner

    from resq.cli import app, deploy

    class Refusing(FailingBackend):
        name = "snowflake"

        def deploy_config(self) -> plan.DeployConfig:
            return CONFIG

        def deploy(self, config: plan.DeployConfig) -> list[plan.Applied]:
            return plan.apply(self, plan.build(config))  # type: ignore[arg-type]

    monkeypatch.setattr(
        deploy, "_snowflake_backend", lambda state: Refusing("CREATE OR REPLACE DYNAMIC TABLE")
    )
    result = CliRunner().invoke(app, ["deploy", "snowflake", "--out", str(tmp_path)])
    assert result.exit_code == 1, result.output
    err = " ".join(result.stderr.split())
    assert "deploy stopped at step 'analysis'" in err and "Insufficient privileges" in err
    assert "Installed, with their grants: schema, schema.grants," in err
    assert "Not installed: analysis, analysis.grants, isolation" in err


# --- isolation stays off the dynamic table's inputs (issue 12, item 5) ---------------------


def test_snowflake_tier3_snapshot_dynamic_table_inputs_are_engine_only() -> None:
    """A CURRENT_USER() policy on a base table can block INCREMENTAL refresh, which the
    stream on stock_analysis needs: the org-scoped inputs carry no policy and no app grant;
    the app reads them through secure views that carry the policy."""
    from resq.backends.snowflake.backend import through_app_views
    from resq.backends.snowflake.checks import lint

    steps = plan.build(CONFIG)
    sources = [lint.Source(s.name, st.sql) for s in steps for st in s.statements]
    inputs = lint._policies(sources).dt_inputs["stock_analysis"]
    org_scoped = {"organizations", "inventory_master", "demand_forecast"}
    org_scoped_inputs = {t for t in inputs if t in org_scoped}
    assert set(sqltext.APP_VIEWS) == org_scoped_inputs
    assert not set(plan.POLICY_TABLES) & inputs
    text = plan.render(steps)
    for table, view in sqltext.APP_VIEWS.items():
        assert f"GRANT SELECT ON TABLE {table} " not in text
        assert f"GRANT SELECT ON VIEW {view} TO ROLE RESQ_APP" in text
        assert (
            f"CREATE OR REPLACE SECURE VIEW {view}\n    COPY GRANTS\n"
            f"    WITH ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id)\n"
            f"AS SELECT * FROM {table}"
        ) in text
        assert through_app_views(f"SELECT * FROM {table} WHERE org_id = ?") == (
            f"SELECT * FROM {view} WHERE org_id = ?"
        )
    # an installation from before keeps no policy on an input: detached once, guarded
    drops = [s for s in _steps()["app_views"].statements if "DROP ROW ACCESS POLICY" in s.sql]
    assert len(drops) == len(sqltext.APP_VIEWS) and all(s.unless for s in drops)


# --- the heal commit is serialized (issue 12, item 7) --------------------------------------


class RecordingSession:
    """A Snowpark session that records every statement and answers no rows."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def sql(self, query: str, params: Any = None) -> Any:
        self.sent.append(query)

        class _Result:
            def collect(self) -> list[Any]:
                return []

            def to_arrow(self) -> pa.Table:
                return pa.table({"n": pa.array([], pa.int64())})

        return _Result()


def test_snowflake_tier3_snapshot_a_heal_commit_starts_with_the_lock_update() -> None:
    """Snowflake enforces no UNIQUE and runs READ COMMITTED: the heal commit's transaction
    opens with an explicit BEGIN and an UPDATE of the one-row lock, so a concurrent heal
    waits there until this one commits, then MERGEs against its orders."""
    from resq.backends.snowflake import from_session
    from resq.backends.snowflake.backend import HEAL_LOCK_SETUP, HEAL_LOCK_SQL
    from resq.core import reasons
    from resq.engine import _STAGED_ORDER_COLUMNS

    session = RecordingSession()
    backend = from_session(session)
    types = {"quantity": pa.float64(), "unit_price": pa.float64()}
    types |= {"priority": pa.int64(), "rank": pa.int64()}
    types |= {f.name: f.type for f in reasons.STAGE_SCHEMA}  # the reason's typed columns
    types |= {"current_stock": pa.float64(), "daily_consumption": pa.float64()}
    types |= {"episode": pa.int64()}
    staged = pa.table({c: pa.array([], types.get(c, pa.string())) for c in _STAGED_ORDER_COLUMNS})
    with backend.heal_transaction(holder="CY-1"):
        backend.stage("resq_stage_orders", staged)
        backend.execute(backend._file("merge_orders"))
    sent = session.sent
    begin = sent.index("BEGIN")
    assert all(s in sent[:begin] for s in HEAL_LOCK_SETUP)  # outside: DDL would commit
    assert sent[begin + 1] == HEAL_LOCK_SQL
    assert HEAL_LOCK_SQL.startswith("UPDATE resq_heal_lock SET")
    assert any(s.startswith("MERGE INTO purchase_orders") for s in sent[begin + 2 :])
    assert sent[-1] == "COMMIT"
    _snapshot("heal_transaction", "\n".join(sent[begin:]) + "\n")


def test_snowflake_tier3_snapshot_the_engine_commits_in_the_heal_transaction(
    tmp_path: Path,
) -> None:
    import resq

    backend = resq.connect(f"duckdb:///{tmp_path}/h.duckdb")
    backend.init()
    engine = resq.SelfHealingEngine(backend)
    engine.seed()
    engine.drop_stock("HOSP-BLR-001", "OXY-CYL", actor="test")
    holders: list[str] = []
    original = backend.heal_transaction

    def recording(*, holder: str = "resq") -> Any:
        holders.append(holder)
        return original(holder=holder)

    backend.heal_transaction = recording  # type: ignore[method-assign]
    report = engine.heal()
    assert report.created and holders == [report.cycle_id]
    backend.close()


# --- health reads Snowflake's refresh and task history (issue 12, item 9) -----------------


class HistorySession(RecordingSession):
    """Answers the history queries with the given rows (as Snowflake names the columns)."""

    def __init__(self, answers: dict[str, list[dict[str, Any]]]) -> None:
        super().__init__()
        self.answers = answers

    def sql(self, query: str, params: Any = None) -> Any:
        self.sent.append(query)
        rows = next((r for key, r in self.answers.items() if key in query), [])

        class _Result:
            def collect(self) -> list[Any]:
                return []

            def to_arrow(self) -> pa.Table:
                return pa.Table.from_pylist(rows) if rows else pa.table({"n": pa.array([])})

        return _Result()


def _refresh(state: str, message: str | None = None) -> dict[str, Any]:
    return {"NAME": "STOCK_ANALYSIS", "STATE": state, "STATE_MESSAGE": message}


def test_snowflake_tier3_snapshot_health_counts_failed_refreshes_and_suspended_tasks() -> None:
    from resq.backends.snowflake import from_session
    from resq.backends.snowflake.backend import REFRESH_HISTORY_SQL, TASK_HISTORY_SQL

    refreshes = [  # newest first
        _refresh("EXECUTING"),
        _refresh("FAILED", "Insufficient privileges on CITY_WEATHER"),
        _refresh("SKIPPED"),
        _refresh("UPSTREAM_FAILED", "upstream"),
        _refresh("SUCCEEDED"),
        _refresh("FAILED", "old"),
    ]
    runs = [
        {"NAME": "RESQ_HEAL_ON_CHANGE", "STATE": "FAILED", "ERROR_MESSAGE": "boom"},
        {"NAME": "RESQ_HEAL_ON_CHANGE", "STATE": "FAILED", "ERROR_MESSAGE": "earlier"},
        {"NAME": "RESQ_ESCALATION_TASK", "STATE": "SUCCEEDED", "ERROR_MESSAGE": None},
        {"NAME": "RESQ_ESCALATION_TASK", "STATE": "FAILED", "ERROR_MESSAGE": "old"},
        {"NAME": "RESQ_HEAL_ON_CHANGE", "STATE": "SUCCEEDED", "ERROR_MESSAGE": None},
    ]
    shown = [
        {"name": "RESQ_HEAL_ON_CHANGE", "state": "suspended"},
        {"name": "RESQ_ESCALATION_TASK", "state": "started"},
    ]
    session = HistorySession(
        {
            "SHOW DYNAMIC TABLES": [{"name": "STOCK_ANALYSIS", "scheduling_state": "ACTIVE"}],
            "CURRENT_DATABASE()": [{"D": "RESQ", "S": "CORE"}],
            "DYNAMIC_TABLE_REFRESH_HISTORY": refreshes,
            "TASK_HISTORY": runs,
            "SHOW TASKS": shown,
        }
    )
    state = from_session(session).analysis_state()
    assert state["consecutive_failures"] == 2
    assert state["last_error"] == "Insufficient privileges on CITY_WEATHER"
    heal = state["tasks"]["RESQ_HEAL_ON_CHANGE"]
    assert heal == {
        "state": "suspended",
        "suspended": True,
        "consecutive_failures": 2,
        "last_error": "boom",
    }
    assert state["tasks"]["RESQ_ESCALATION_TASK"]["consecutive_failures"] == 0
    assert REFRESH_HISTORY_SQL.format(name="RESQ.CORE.STOCK_ANALYSIS") in session.sent
    assert TASK_HISTORY_SQL in session.sent
    _snapshot(
        "health",
        REFRESH_HISTORY_SQL.format(name="RESQ.CORE.STOCK_ANALYSIS")
        + "\n"
        + TASK_HISTORY_SQL
        + "\n",
    )
