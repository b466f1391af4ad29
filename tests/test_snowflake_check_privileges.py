"""The privilege map (issue 12, defect 2 and 3): every statement the engine, its
procedures and tasks, and the app issue, mapped to the privilege it needs and diffed
against the account set-up and the plan's grants. The default plan is clean; each defect
re-introduced (a grant removed, an account-level privilege missing, the app granted a
write, a grant the engine cannot give) is a finding; the plan before the fix has them."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from resq.backends.snowflake import plan
from resq.backends.snowflake.checks import Finding, PlanUnderCheck, privileges

CONFIG = plan.DeployConfig(code_zip=Path("/opt/resq-deploy/resq.zip"))
SETUP = plan.account_setup(CONFIG)


def _findings(
    steps: list[plan.Step] | None = None, setup: list[str] | None = None
) -> list[Finding]:
    subject = PlanUnderCheck(steps if steps is not None else plan.build(CONFIG), CONFIG)
    return list(privileges.findings(subject, setup if setup is not None else SETUP))


def _without(steps: list[plan.Step], pattern: str) -> list[plan.Step]:
    return [
        replace(s, statements=tuple(st for st in s.statements if not re.search(pattern, st.sql)))
        for s in steps
    ]


def _with(steps: list[plan.Step], sql: str) -> list[plan.Step]:
    return [*steps, plan.Step("extra", "a re-introduced defect", (plan.Statement(sql),))]


def test_the_default_plan_and_set_up_are_clean() -> None:
    assert _findings() == []


@pytest.mark.parametrize(
    ("removed", "expected"),
    [
        (r"GRANT SELECT ON TABLE vendors ", "RESQ_APP lacks SELECT"),
        (r"GRANT SELECT ON DYNAMIC TABLE STOCK_ANALYSIS", "RESQ_APP lacks SELECT"),
        (r"ON PROCEDURE RESQ_CHAOS", "RESQ_APP lacks USAGE"),
        (r"ON FUNCTION GET_WEATHER_DATA", "RESQ_APP lacks USAGE"),
        (r"GRANT USAGE ON SCHEMA", "RESQ_APP lacks USAGE"),
    ],
)
def test_a_removed_plan_grant_is_a_finding(removed: str, expected: str) -> None:
    found = _findings(_without(plan.build(CONFIG), removed))
    assert any(expected in f.problem for f in found), found


@pytest.mark.parametrize(
    ("removed", "expected"),
    [
        (r"EXECUTE ALERT", "RESQ_ENGINE lacks EXECUTE ALERT"),
        (r"EXECUTE TASK", "RESQ_ENGINE lacks EXECUTE TASK"),
        (r"ALERT_VIEWER", "database role SNOWFLAKE.ALERT_VIEWER"),
        (r"READ SESSION", "RESQ_APP lacks READ SESSION"),
        (r"USAGE ON INTEGRATION resq_email", "RESQ_ENGINE lacks USAGE"),
        (r"READ ON SECRET", "RESQ_ENGINE lacks READ"),
        (r"USAGE ON WAREHOUSE RESQ_WH TO ROLE RESQ_APP", "RESQ_APP lacks USAGE"),
    ],
)
def test_a_missing_account_set_up_grant_is_a_finding(removed: str, expected: str) -> None:
    setup = [s for s in SETUP if not re.search(removed, s)]
    assert len(setup) == len(SETUP) - 1
    found = _findings(setup=setup)
    assert any(expected in f.problem for f in found), found


@pytest.mark.parametrize(
    "grant",
    [
        "GRANT INSERT ON TABLE purchase_orders TO ROLE RESQ_APP",
        "GRANT INSERT, UPDATE ON TABLE notifications TO ROLE RESQ_APP",
        "GRANT UPDATE ON TABLE audit_head TO ROLE RESQ_APP",
        "GRANT DELETE ON TABLE alerts TO ROLE RESQ_APP",
        "GRANT CREATE TABLE ON SCHEMA RESQ.CORE TO ROLE RESQ_APP",
    ],
)
def test_an_app_write_privilege_is_a_finding(grant: str) -> None:
    found = _findings(_with(plan.build(CONFIG), grant))
    assert any("writes escape tenant isolation" in f.problem for f in found), found


def test_a_grant_on_an_object_the_engine_does_not_own_is_a_finding() -> None:
    found = _findings(
        _with(plan.build(CONFIG), "GRANT USAGE ON WAREHOUSE RESQ_WH TO ROLE RESQ_APP")
    )
    assert [f.object for f in found] == ["WAREHOUSE RESQ_WH"]
    assert "does not own it" in found[0].problem


def test_the_plan_and_set_up_before_the_fix_have_findings() -> None:
    """Issue 12's plan: app writes, the warehouse grant in the plan, no EXECUTE ALERT, no
    ALERT_VIEWER, no READ SESSION, no integration grants."""
    old = plan.build(CONFIG)
    for grant in (
        "GRANT INSERT, UPDATE ON TABLE purchase_orders TO ROLE RESQ_APP",
        "GRANT INSERT ON TABLE audit_log TO ROLE RESQ_APP",
        "GRANT CREATE TABLE ON SCHEMA RESQ.CORE TO ROLE RESQ_APP",
    ):
        old = _with(old, grant)
    setup = [
        s
        for s in SETUP
        if not re.search(r"EXECUTE ALERT|ALERT_VIEWER|READ SESSION|INTEGRATION resq|SECRET", s)
    ]
    problems = " | ".join(f.problem for f in _findings(old, setup))
    for expected in (
        "writes escape tenant isolation",
        "lacks EXECUTE ALERT",
        "SNOWFLAKE.ALERT_VIEWER",
        "lacks READ SESSION",
    ):
        assert expected in problems


def test_statements_map_to_the_privileges_they_need() -> None:
    m = privileges.table_privileges
    assert m("INSERT INTO audit_log (a) SELECT a FROM resq_stage_audit") == [
        ("INSERT", "TABLE", "AUDIT_LOG")
    ]
    merge = m(
        "MERGE INTO purchase_orders AS t USING (SELECT * FROM src) AS s ON t.k = s.k "
        "WHEN NOT MATCHED THEN INSERT (k) VALUES (s.k)"
    )
    assert ("MERGE", "TABLE", "PURCHASE_ORDERS") in merge and ("SELECT", "TABLE", "SRC") in merge
    assert m("WITH x AS (SELECT 1 AS a FROM vendors) SELECT a FROM x") == [
        ("SELECT", "TABLE", "VENDORS")
    ]
    assert m("SELECT GET_WEATHER_DATA(city) FROM city_weather") == [
        ("SELECT", "TABLE", "CITY_WEATHER"),
        ("USAGE", "FUNCTION", "GET_WEATHER_DATA"),
    ]
    assert m("SHOW DYNAMIC TABLES LIKE 'STOCK_ANALYSIS'") == []
    assert m("ALTER DYNAMIC TABLE stock_analysis REFRESH") == [
        ("OPERATE", "DYNAMIC TABLE", "STOCK_ANALYSIS")
    ]


def test_the_app_issues_only_reads_and_procedure_calls() -> None:
    sent = privileges.app_statements()
    assert any(s.startswith("CALL RESQ_OVERRIDE_ORDER") for s in sent)
    for sql in sent:
        for privilege, _, _ in privileges.table_privileges(sql):
            assert privilege in {"SELECT", "USAGE", "MONITOR"}, sql


def test_cli_prints_the_account_set_up_in_order_with_the_names() -> None:
    from resq.cli import app

    result = CliRunner().invoke(
        app, ["deploy", "snowflake", "--account-setup", "--engine-role", "OPS_ENGINE"]
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "RESQ_ENGINE" not in text
    order = [
        "CREATE ROLE IF NOT EXISTS OPS_ENGINE",
        "CREATE WAREHOUSE",
        "GRANT OWNERSHIP ON SCHEMA",
        "GRANT EXECUTE TASK ON ACCOUNT TO ROLE OPS_ENGINE",
        "GRANT EXECUTE ALERT ON ACCOUNT TO ROLE OPS_ENGINE",
        "GRANT DATABASE ROLE SNOWFLAKE.ALERT_VIEWER TO ROLE OPS_ENGINE",
        "GRANT READ SESSION ON ACCOUNT TO ROLE RESQ_APP",
        "GRANT USAGE ON INTEGRATION resq_email TO ROLE OPS_ENGINE",
        "GRANT READ ON SECRET RESQ.CORE.resq_slack_secret TO ROLE OPS_ENGINE",
    ]
    positions = [text.index(line) for line in order]
    assert positions == sorted(positions)


def test_an_app_that_asks_for_a_refresh_needs_operate(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = privileges.app_statements()
    assert not any(s.upper().startswith("ALTER") for s in sent)  # heals refresh in the warehouse
    monkeypatch.setattr(
        privileges, "app_statements", lambda: (*sent, "ALTER DYNAMIC TABLE stock_analysis REFRESH")
    )
    found = _findings()
    assert [f.problem.split(" (")[0] for f in found] == ["RESQ_APP lacks OPERATE"]
    assert found[0].fix == "GRANT OPERATE ON DYNAMIC TABLE STOCK_ANALYSIS TO ROLE RESQ_APP"


def test_a_table_the_plan_does_not_create_is_a_finding() -> None:
    """The engine's procedures read RESQ_ENTITLEMENTS: without the support step's table,
    the entitlement check has nothing to read."""
    found = _findings(_without(plan.build(CONFIG), r"CREATE TABLE IF NOT EXISTS resq_entitlements"))
    assert any(
        f.object == "TABLE RESQ_ENTITLEMENTS" and "no step creates it" in f.problem for f in found
    ), found


def test_a_task_calling_a_procedure_the_plan_does_not_create_is_a_finding() -> None:
    found = _findings(_without(plan.build(CONFIG), r"CREATE OR REPLACE PROCEDURE RESQ_HEAL\("))
    assert any(
        f.object == "PROCEDURE RESQ_HEAL" and "RESQ_HEAL_ON_CHANGE calls it" in f.problem
        for f in found
    ), found
