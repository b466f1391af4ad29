"""The `lint` check of `resq deploy snowflake --check` (issue 12): rules on the Snowflake SQL
of the deploy plan, sql/*.sql and the statements built at run time. The default plan is
clean; each defect the rules exist for, put back into the plan, is a finding."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from resq.backends.snowflake import checks, plan
from resq.backends.snowflake.checks import lint

Edit = Callable[[list[plan.Step]], list[plan.Step]]


def _edit_step(name: str, fn: Callable[[str], str]) -> Edit:
    def edit(steps: list[plan.Step]) -> list[plan.Step]:
        out = []
        for step in steps:
            if step.name == name:
                statements = tuple(replace(s, sql=fn(s.sql)) for s in step.statements)
                step = replace(step, statements=statements)
            out.append(step)
        return out

    return edit


def _add_statement(name: str, sql: str) -> Edit:
    def edit(steps: list[plan.Step]) -> list[plan.Step]:
        return [
            replace(s, statements=(*s.statements, plan.Statement(sql))) if s.name == name else s
            for s in steps
        ]

    return edit


def _findings(steps: list[plan.Step]) -> list[checks.Finding]:
    return checks.run(steps, only=["lint"])


def test_the_default_plan_is_clean() -> None:
    assert _findings(plan.build()) == []


# Each defect as it was in the plan before the fix (issue 12, items 5 and 6).
DEFECTS: dict[str, tuple[Edit, str]] = {
    "division guarded only by AND/IFF": (
        _edit_step(
            "analysis",
            lambda sql: sql.replace(
                "current_stock / NULLIF(effective_consumption, 0)",
                "current_stock / effective_consumption",
            ),
        ),
        "unguarded division",
    ),
    "LAST_SUCCESSFUL_SCHEDULED_TIME compared with an NTZ column": (
        _edit_step(
            "notifications",
            lambda sql: sql.replace(
                "CONVERT_TIMEZONE(\n                  'UTC', "
                "SNOWFLAKE.ALERT.LAST_SUCCESSFUL_SCHEDULED_TIME()\n              )::TIMESTAMP_NTZ",
                "SNOWFLAKE.ALERT.LAST_SUCCESSFUL_SCHEDULED_TIME()",
            ),
        ),
        "TIMESTAMP_LTZ",
    ),
    "CURRENT_TIMESTAMP compared with an NTZ column": (
        _add_statement(
            "notifications",
            "SELECT COUNT(*) FROM notifications WHERE next_attempt_at <= CURRENT_TIMESTAMP()",
        ),
        "TIMESTAMP_LTZ",
    ),
    "a bind marker in LIMIT": (
        _add_statement("notifications", "SELECT * FROM notifications ORDER BY created_at LIMIT ?"),
        "bind marker",
    ),
    "a CURRENT_USER policy on an input of the dynamic table": (
        _add_statement(
            "isolation",
            "ALTER TABLE inventory_master ADD ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id)",
        ),
        "INCREMENTAL refresh",
    ),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_each_defect_put_back_is_a_finding(defect: str) -> None:
    edit, problem = DEFECTS[defect]
    steps = edit(plan.build())
    assert steps != plan.build(), "the edit must change the plan"
    findings = _findings(steps)
    assert findings, defect
    assert all(f.check == "lint" for f in findings)
    assert any(problem in f.problem for f in findings), [f.line() for f in findings]


def test_the_old_plan_fails_every_rule() -> None:
    """All defects at once, as the plan was: one finding per rule at least."""
    steps = plan.build()
    for edit, _ in DEFECTS.values():
        steps = edit(steps)
    problems = " | ".join(f.problem for f in _findings(steps))
    for _, problem in DEFECTS.values():
        assert problem in problems


@pytest.mark.parametrize(
    ("sql", "bad"),
    [
        ("SELECT a / b FROM t", True),
        ("SELECT a / (b) FROM t", True),
        ("SELECT IFF(b > 0, a / b, NULL) FROM t", True),
        ("SELECT a / NULLIF(b, 0) FROM t", False),
        ("SELECT a / (NULLIF(b, 0)) FROM t", False),
        ("SELECT a / 2.5 FROM t", False),
        ("SELECT a / 0 FROM t", True),
        ("SELECT a / -1 FROM t", True),  # a negative literal is an expression: guard it
    ],
)
def test_division_rule(sql: str, bad: bool) -> None:
    findings = lint.lint_sources([lint.Source("t", sql)])
    assert bool(findings) is bad, findings


@pytest.mark.parametrize(
    ("sql", "bad"),
    [
        ("SELECT 1 FROM audit_log WHERE event_ts > SNOWFLAKE.ALERT.SCHEDULED_TIME()", True),
        ("SELECT 1 FROM alerts WHERE created_at BETWEEN CURRENT_TIMESTAMP() AND ?", True),
        ("SELECT 1 FROM alerts WHERE DATEADD(minute, -5, CURRENT_TIMESTAMP()) < created_at", True),
        ("SELECT 1 FROM alerts WHERE created_at < CURRENT_TIMESTAMP()::TIMESTAMP_NTZ", False),
        (
            "SELECT 1 FROM alerts WHERE created_at < "
            "CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP())::TIMESTAMP_NTZ",
            False,
        ),
        (
            "SELECT 1 FROM alerts WHERE created_at < CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP())",
            True,
        ),
        ("SELECT 1 FROM alerts WHERE created_at < ?", False),
    ],
)
def test_ntz_ltz_rule(sql: str, bad: bool) -> None:
    findings = lint.lint_sources([lint.Source("t", sql)])
    assert bool(findings) is bad, findings


def test_limit_rule_and_the_clamped_claim_query() -> None:
    from resq.alerting.delivery import CLAIM_LIMIT_RANGE, claim_sql

    assert lint.lint_sources([lint.Source("t", "SELECT 1 FROM t LIMIT 10 OFFSET ?")])
    low, high = CLAIM_LIMIT_RANGE
    for asked, literal in [(0, low), (-5, low), (25, 25), (10**9, high)]:
        sql = claim_sql(asked)
        assert sql.endswith(f"LIMIT {literal}") and "?" not in sql.split("LIMIT")[1]
    with pytest.raises((TypeError, ValueError)):
        claim_sql("10; DROP TABLE notifications")  # type: ignore[arg-type]


def test_a_policy_without_context_functions_on_an_input_is_fine() -> None:
    statements = [
        plan.Statement(
            "ALTER ROW ACCESS POLICY P SET BODY -> org_id IS NOT NULL",
        ),
        plan.Statement("ALTER TABLE inventory_master ADD ROW ACCESS POLICY P ON (org_id)"),
    ]
    steps = [*plan.build(), plan.Step("extra", "test", tuple(statements))]
    assert _findings(steps) == []
    steps[-1] = plan.Step(
        "extra",
        "test",
        (
            plan.Statement("ALTER ROW ACCESS POLICY P SET BODY -> CURRENT_ROLE() = 'X'"),
            statements[1],
        ),
    )
    (finding,) = _findings(steps)
    assert "CURRENT_ROLE" in finding.problem and "inventory_master" in finding.object
