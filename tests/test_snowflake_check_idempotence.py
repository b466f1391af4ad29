"""The idempotence check (issue 12, defect 4): the deploy plan applied twice to the fake
Snowflake of resq.backends.snowflake.checks.fake. The default plan is clean; each defect
re-introduced (COPY GRANTS dropped, a task replaced without suspending its root, a guard
removed) is a finding; and the fake itself refuses what Snowflake refuses."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from resq.backends.snowflake import checks, plan
from resq.backends.snowflake.checks.fake import FakeSnowflake, FakeSnowflakeError

CONFIG = plan.DeployConfig(code_zip=Path("/opt/resq-deploy/resq.zip"))


def _findings(steps: list[plan.Step]) -> list[checks.Finding]:
    return checks.run(steps, CONFIG, only=["idempotence"])


def _edit(steps: list[plan.Step], fn) -> list[plan.Step]:  # type: ignore[no-untyped-def]
    """The plan with every statement passed through ``fn`` (None drops it)."""
    out = []
    for step in steps:
        kept = tuple(s for s in (fn(st) for st in step.statements) if s is not None)
        out.append(replace(step, statements=kept))
    return out


def test_the_default_plan_deploys_twice_and_the_second_time_changes_nothing() -> None:
    assert _findings(plan.build(CONFIG)) == []
    fake = FakeSnowflake()
    steps = plan.build(CONFIG)
    plan.apply(fake, steps, build_zip=False)  # type: ignore[arg-type]
    first = fake.state()
    assert ("USAGE", "FUNCTION", "GET_WEATHER_DATA", "RESQ_APP") in first["grants"]
    assert ("TASK", "RESQ_HEAL_ON_CHANGE") in first["running"]
    plan.apply(fake, steps, build_zip=False)  # type: ignore[arg-type]
    assert fake.state() == first


def test_dropping_copy_grants_loses_the_apps_usage() -> None:
    def drop(st: plan.Statement) -> plan.Statement:
        if "FUNCTION GET_VENDOR_STATUS" in st.sql:
            return replace(st, sql=st.sql.replace("COPY GRANTS\n", ""))
        return st

    found = _findings(_edit(plan.build(CONFIG), drop))
    assert any(
        f.object == "FUNCTION GET_VENDOR_STATUS" and "drops USAGE granted to RESQ_APP" in f.problem
        for f in found
    ), found


@pytest.mark.parametrize("every", [False, True])
def test_replacing_a_task_without_suspending_its_root_fails_the_redeploy(every: bool) -> None:
    def unsuspend(st: plan.Statement) -> plan.Statement | None:
        if re.match(r"ALTER TASK IF EXISTS \w+ SUSPEND", st.sql):
            return None if every or "RESQ_HEAL_ON_CHANGE" in st.sql else st
        return st

    found = _findings(_edit(plan.build(CONFIG), unsuspend))
    assert len(found) == 1 and found[0].object == "re-deploy", found
    assert "root task" in found[0].problem and "is resumed" in found[0].problem


def test_a_removed_guard_is_a_finding() -> None:
    def unguard(st: plan.Statement) -> plan.Statement:
        return replace(st, unless=None) if "ADD ROW ACCESS POLICY" in st.sql else st

    found = _findings(_edit(plan.build(CONFIG), unguard))
    assert found and "already has a row access policy" in found[0].problem


def test_the_plan_before_the_fix_has_findings() -> None:
    """Issue 12's plan: no COPY GRANTS, tasks replaced while resumed."""

    def old(st: plan.Statement) -> plan.Statement | None:
        if re.match(r"ALTER (TASK|ALERT) IF EXISTS \w+ SUSPEND", st.sql):
            return None
        return replace(st, sql=st.sql.replace("COPY GRANTS\n", ""))

    assert _findings(_edit(plan.build(CONFIG), old))


def test_the_plan_suspends_every_graph_root_before_replacing_its_tasks() -> None:
    for step in plan.build(CONFIG):
        sqls = [s.sql for s in step.statements]
        for i, sql in enumerate(sqls):
            created = re.match(r"CREATE OR REPLACE TASK (\w+)", sql)
            if created and "AFTER" not in sql:
                assert f"ALTER TASK IF EXISTS {created.group(1)} SUSPEND" in sqls[:i], step.name


# --- the fake refuses what Snowflake refuses -------------------------------------------


def test_fake_refuses_replacing_a_task_of_a_resumed_graph() -> None:
    fake = FakeSnowflake()
    fake.execute("CREATE OR REPLACE TASK root SCHEDULE = '1 MINUTE' AS SELECT 1")
    fake.execute("CREATE OR REPLACE TASK child AFTER root AS SELECT 1")
    fake.execute("ALTER TASK child RESUME")
    fake.execute("ALTER TASK root RESUME")
    for sql in (
        "CREATE OR REPLACE TASK root SCHEDULE = '1 MINUTE' AS SELECT 1",
        "CREATE OR REPLACE TASK child AFTER root AS SELECT 1",
        "ALTER TASK child RESUME",
    ):
        with pytest.raises(FakeSnowflakeError, match="root task ROOT"):
            fake.execute(sql)
    fake.execute("ALTER TASK IF EXISTS root SUSPEND")
    fake.execute("CREATE OR REPLACE TASK child AFTER root AS SELECT 2")
    assert ("TASK", "CHILD") not in fake.running  # a replaced task is suspended


def test_fake_drops_grants_on_replace_unless_copy_grants() -> None:
    fake = FakeSnowflake()
    fake.execute("CREATE OR REPLACE FUNCTION f(x VARCHAR) RETURNS VARCHAR AS 'x'")
    fake.execute("GRANT USAGE ON FUNCTION f(VARCHAR) TO ROLE app")
    fake.execute("CREATE OR REPLACE FUNCTION f(x VARCHAR) COPY GRANTS RETURNS VARCHAR AS 'x'")
    assert ("USAGE", "FUNCTION", "F", "APP") in fake.grants
    fake.execute("CREATE OR REPLACE FUNCTION f(x VARCHAR) RETURNS VARCHAR AS 'x'")
    assert not fake.grants
    with pytest.raises(FakeSnowflakeError, match="does not exist"):
        fake.execute("GRANT SELECT ON TABLE missing TO ROLE app")
