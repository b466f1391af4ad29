"""Offline readiness checks on a deploy plan: what would break a real Snowflake install.

``resq deploy snowflake --check`` runs every registered check on the plan it would deploy
and prints one line per finding (object, problem, fix); no connection is needed. A check
is a function ``(PlanUnderCheck) -> Iterable[Finding]`` registered with :func:`check`;
each lives in its own module of this package and is imported by :func:`run`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resq.backends.snowflake.plan import DeployConfig, Step

__all__ = ["CHECK_MODULES", "Finding", "PlanUnderCheck", "check", "registered", "run"]


@dataclass(frozen=True)
class Finding:
    """One problem a check found: which object, what is wrong, and how to fix it."""

    check: str
    object: str
    problem: str
    fix: str

    def line(self) -> str:
        return f"[{self.check}] {self.object}: {self.problem} (fix: {self.fix})"


@dataclass(frozen=True)
class PlanUnderCheck:
    """What a check looks at: the plan's steps and the installation they were built for."""

    steps: Sequence[Step]
    config: DeployConfig


CheckFn = Callable[[PlanUnderCheck], Iterable[Finding]]

_REGISTRY: dict[str, CheckFn] = {}

# The modules that register checks, imported (once) by `run` and `registered`.
CHECK_MODULES: tuple[str, ...] = ("closure", "idempotence", "lint", "privileges", "project")


def check(name: str) -> Callable[[CheckFn], CheckFn]:
    """Register a check under ``name`` (the tag its findings carry)."""

    def register(fn: CheckFn) -> CheckFn:
        _REGISTRY[name] = fn
        return fn

    return register


def registered() -> dict[str, CheckFn]:
    """Every registered check, by name (importing the check modules first)."""
    for module in CHECK_MODULES:
        importlib.import_module(f"{__name__}.{module}")
    return dict(_REGISTRY)


def run(
    steps: Sequence[Step] | None = None,
    config: DeployConfig | None = None,
    *,
    only: Iterable[str] | None = None,
) -> list[Finding]:
    """Run the checks (all, or those named in ``only``) on a plan (default: the default plan)."""
    from resq.backends.snowflake import plan

    config = config or plan.DeployConfig()
    subject = PlanUnderCheck(
        steps=list(steps) if steps is not None else plan.build(config), config=config
    )
    checks = registered()
    names = list(only) if only is not None else sorted(checks)
    unknown = [n for n in names if n not in checks]
    if unknown:
        raise KeyError(
            f"unknown check(s): {', '.join(unknown)}; known: {', '.join(sorted(checks))}"
        )
    findings: list[Finding] = []
    for name in names:
        findings.extend(checks[name](subject))
    return findings
