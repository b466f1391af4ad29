"""resq.retrying.conflict_retrying runs its first attempt without tenacity and the rest
with it; for any run of conflicts and any limit, it does what one tenacity ``Retrying``
over all the attempts does: the same attempts, numbered the same, the same waits, the same
error at the end."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import tenacity
from hypothesis import given, settings
from hypothesis import strategies as st

from resq import retrying
from resq.errors import ConflictError


def _run(attempts: Any, outcomes: list[str]) -> tuple[list[int], str]:
    """Run a block whose k-th attempt does ``outcomes[k]`` (conflict, fail, ok)."""
    numbers: list[int] = []
    try:
        for attempt in attempts:
            with attempt:
                numbers.append(attempt.retry_state.attempt_number)
                outcome = outcomes[min(len(numbers) - 1, len(outcomes) - 1)]
                if outcome == "conflict":
                    raise ConflictError(f"conflict {len(numbers)}")
                if outcome == "fail":
                    raise ValueError(f"fail {len(numbers)}")
    except (ConflictError, ValueError) as exc:
        return numbers, f"{type(exc).__name__}: {exc}"
    return numbers, "ok"


@settings(max_examples=200, deadline=None)
@given(
    outcomes=st.lists(st.sampled_from(["conflict", "fail", "ok"]), min_size=1, max_size=8),
    max_attempts=st.integers(min_value=0, max_value=7),
)
def test_it_runs_the_attempts_one_tenacity_retrying_would(
    outcomes: list[str], max_attempts: int
) -> None:
    waits: list[float] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(retrying.time, "sleep", waits.append)
        ours = _run(retrying.conflict_retrying(max_attempts), outcomes)
    expected_waits: list[float] = []
    reference = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(ConflictError),
        stop=tenacity.stop_after_attempt(max(1, max_attempts)),
        wait=tenacity.wait_incrementing(start=0.005, increment=0.005, max=0.2),
        reraise=True,
        sleep=expected_waits.append,
    )
    assert ours == _run(reference, outcomes)
    assert waits == pytest.approx(expected_waits)


def test_an_operation_without_a_conflict_does_not_import_tenacity() -> None:
    code = (
        "import sys\n"
        "from resq.retrying import conflict_retrying\n"
        "for attempt in conflict_retrying():\n"
        "    with attempt:\n"
        "        pass\n"
        "print('tenacity' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
