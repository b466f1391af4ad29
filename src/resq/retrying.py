"""One retry rule for every write that can race another writer.

A heal cycle and a manual override (approve, cancel, change quantity, receive, acknowledge)
each run in one transaction. When a concurrent writer wins (DuckDB's write-write conflict,
a duplicate audit sequence number, the audit head moved under a Snowflake append), the
backend raises :class:`~resq.errors.ConflictError` and nothing of the attempt is kept, so
the whole operation is re-run from its first read: it then decides on what the winner left.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resq.errors import ConflictError

if TYPE_CHECKING:
    import tenacity

DEFAULT_ATTEMPTS = 50
"""How many times a conflicting operation is tried before its ConflictError is raised."""


def conflict_retrying(max_attempts: int = DEFAULT_ATTEMPTS) -> tenacity.Retrying:
    """A tenacity ``Retrying`` that re-runs a block on ConflictError only, waiting 5 ms more
    after each attempt (at most 0.2 s), and re-raises the last ConflictError after
    ``max_attempts``. Use it as ``for attempt in conflict_retrying(): with attempt: ...``;
    ``attempt.retry_state.attempt_number`` counts from 1."""
    import tenacity  # imported on first use: `import resq` stays light

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(ConflictError),
        stop=tenacity.stop_after_attempt(max(1, int(max_attempts))),
        wait=tenacity.wait_incrementing(start=0.005, increment=0.005, max=0.2),
        reraise=True,
    )
