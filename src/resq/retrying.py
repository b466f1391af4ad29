"""One retry rule for every write that can race another writer.

A heal cycle and a manual override (approve, cancel, change quantity, receive, acknowledge)
each run in one transaction. When a concurrent writer wins (DuckDB's write-write conflict,
a duplicate audit sequence number, the audit head moved under a Snowflake append), the
backend raises :class:`~resq.errors.ConflictError` and nothing of the attempt is kept, so
the whole operation is re-run from its first read: it then decides on what the winner left.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from resq.errors import ConflictError

if TYPE_CHECKING:
    import tenacity

DEFAULT_ATTEMPTS = 50
"""How many times a conflicting operation is tried before its ConflictError is raised."""

_START, _INCREMENT, _MAX_WAIT = 0.005, 0.005, 0.2


def _retrying(max_attempts: int, start: float) -> tenacity.Retrying:
    import tenacity  # imported when a conflict first happens: most operations never meet one

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(ConflictError),
        stop=tenacity.stop_after_attempt(max(1, int(max_attempts))),
        wait=tenacity.wait_incrementing(start=start, increment=_INCREMENT, max=_MAX_WAIT),
        reraise=True,
        sleep=_nap,
    )


def _nap(seconds: float) -> None:
    time.sleep(seconds)


class _State:
    def __init__(self, attempt_number: int) -> None:
        self.attempt_number = attempt_number


class _FirstAttempt:
    """Attempt 1, before tenacity is imported: a ConflictError in the block is kept (and
    the block's effects are gone with its transaction) for the retries to follow."""

    def __init__(self) -> None:
        self.retry_state = _State(1)
        self.conflict: ConflictError | None = None

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if isinstance(error, ConflictError):
            self.conflict = error
            return True
        return False


class _LaterAttempt:
    """One of tenacity's attempts, numbered from 2 (the first ran before tenacity)."""

    def __init__(self, attempt: Any) -> None:
        self._attempt = attempt
        self.retry_state = _State(attempt.retry_state.attempt_number + 1)

    def __enter__(self) -> None:
        self._attempt.__enter__()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        result: bool | None = self._attempt.__exit__(kind, error, tb)
        return result


def conflict_retrying(max_attempts: int = DEFAULT_ATTEMPTS) -> Iterator[Any]:
    """Attempts that re-run a block on ConflictError only, waiting 5 ms more after each
    attempt (at most 0.2 s), and re-raise the last ConflictError after ``max_attempts``.
    Use it as ``for attempt in conflict_retrying(): with attempt: ...``;
    ``attempt.retry_state.attempt_number`` counts from 1.

    The first attempt runs without tenacity, so an operation that meets no conflict (the
    usual case) never imports it; from the second on, tenacity's ``Retrying`` runs them
    with the same stop and wait as one ``Retrying`` over all of them would."""
    attempts = max(1, int(max_attempts))
    first = _FirstAttempt()
    yield first
    if first.conflict is None:
        return
    if attempts == 1:
        raise first.conflict
    time.sleep(_START)  # the wait after attempt 1
    for attempt in _retrying(attempts - 1, start=_START + _INCREMENT):
        yield _LaterAttempt(attempt)
