"""The idempotence check: the plan applied twice to a fresh fake Snowflake
(:mod:`.fake`) must succeed both times, and the second time change nothing a user sees:
no grant lost, every task and alert that ran still running, every object as it was."""

from __future__ import annotations

from collections.abc import Iterator

from resq.backends.snowflake.checks import Finding, PlanUnderCheck, check
from resq.backends.snowflake.checks.fake import FakeSnowflake

NAME = "idempotence"


def _apply(fake: FakeSnowflake, subject: PlanUnderCheck) -> str | None:
    """Apply the plan; the failure's description, or None."""
    from resq.backends.snowflake import plan

    try:
        plan.apply(fake, subject.steps, build_zip=False)  # type: ignore[arg-type]
    except plan.DeployFailed as failed:
        report = failed.report
        cause = failed.__cause__
        first = report.failed_sql.strip().splitlines()[0]
        return f"step {report.failed_step!r}: {first!r} is refused: {cause}"
    return None


@check(NAME)
def idempotence(subject: PlanUnderCheck) -> Iterator[Finding]:
    fake = FakeSnowflake()
    failure = _apply(fake, subject)
    if failure is not None:
        yield Finding(NAME, "deploy", f"the first deploy fails at {failure}", "fix the statement")
        return
    before = fake.state()
    fake.dropped.clear()
    failure = _apply(fake, subject)
    if failure is not None:
        yield Finding(
            NAME,
            "re-deploy",
            f"deploying a second time fails at {failure}",
            "suspend the root task before replacing a task of its graph (and resume after), "
            "guard statements that must not run twice",
        )
        return
    after = fake.state()
    # A grant dropped by a replace and granted again later is still lost in between (and
    # for good if the deploy stops there).
    for privilege, kind, name, role in sorted(
        set(fake.dropped) | (before["grants"] - after["grants"])
    ):
        yield Finding(
            NAME,
            f"{kind} {name}",
            f"a re-deploy drops {privilege} granted to {role}",
            "add COPY GRANTS to its CREATE OR REPLACE",
        )
    for kind, name in sorted(before["running"] - after["running"]):
        yield Finding(
            NAME,
            f"{kind} {name}",
            "was resumed after the first deploy and is suspended after the second",
            f"resume it after replacing it (ALTER {kind} {name} RESUME)",
        )
    for key in sorted(set(before["objects"]) | set(after["objects"])):
        if before["objects"].get(key) != after["objects"].get(key):
            yield Finding(
                NAME,
                " ".join(key),
                "a re-deploy changes its definition",
                "build the statement deterministically from the plan's inputs",
            )
    if before["policies"] != after["policies"]:
        yield Finding(
            NAME,
            "row access policies",
            "a re-deploy changes which tables carry a policy",
            "guard ADD ROW ACCESS POLICY",
        )
