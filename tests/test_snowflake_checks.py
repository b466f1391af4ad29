"""`resq deploy snowflake --check`: the offline readiness report over the registered checks
(issue 12). The checks themselves are tested beside their modules; here, the framework and
the command: one line per finding, exit 1 on any, exit 0 and "ready" on none."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from resq.backends.snowflake import checks
from resq.cli import app

runner = CliRunner()
ENV = {"RESQ_DB": None, "RESQ_ORG": None, "COLUMNS": "250", "NO_COLOR": "1"}


@pytest.fixture
def planted() -> Iterator[str]:
    """A check that always finds one problem, registered for the test only."""
    name = "planted-for-test"

    @checks.check(name)
    def _planted(subject: checks.PlanUnderCheck) -> list[checks.Finding]:
        assert subject.steps, "a check sees the plan it would deploy"
        return [checks.Finding(name, "RESQ_HEAL", "planted problem", "remove the plant")]

    yield name
    checks._REGISTRY.pop(name)


def test_default_plan_is_ready() -> None:
    result = runner.invoke(app, ["deploy", "snowflake", "--check"], env=ENV)
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("ready:")


def test_a_finding_is_one_line_and_exit_1(planted: str) -> None:
    result = runner.invoke(app, ["deploy", "snowflake", "--check"], env=ENV)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert f"[{planted}] RESQ_HEAL: planted problem (fix: remove the plant)" in lines
    assert lines[-1].startswith("not ready:")


def test_json_lists_findings(planted: str) -> None:
    result = runner.invoke(app, ["--json", "deploy", "snowflake", "--check"], env=ENV)
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert planted in body["checks"]
    assert {
        "check": planted,
        "object": "RESQ_HEAL",
        "problem": "planted problem",
        "fix": "remove the plant",
    } in body["findings"]


def test_unknown_check_is_refused() -> None:
    with pytest.raises(KeyError, match="unknown check"):
        checks.run(only=["no-such-check"])
