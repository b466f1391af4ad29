"""The errors resq raises: each says what went wrong in one sentence a person can act on."""

from __future__ import annotations

from dataclasses import dataclass


class ResqError(Exception):
    """Base class of every error resq raises on purpose."""


@dataclass(frozen=True)
class RowIssue:
    """One problem in input data: the row (1-based, as a person counts), the column, why."""

    row: int | None
    column: str
    reason: str
    value: object = None

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "input"
        value = self.value.item() if hasattr(self.value, "item") else self.value
        shown = "" if value is None else f" (got {_shown(value, whole=self.column == 'file')})"
        return f"{where}, column {self.column!r}: {self.reason}{shown}"


def _shown(value: object, *, whole: bool) -> str:
    """A cell's value as the error shows it: its repr, cut at 80 characters with a visible
    ellipsis. A file's path (the input-level ``file`` issues) is never cut: the user needs
    all of it to find the file."""
    text = repr(value)
    if whole or len(text) <= 80:
        return text
    return f"{text[:79]}… ({len(text)} characters)"


class ValidationError(ResqError, ValueError):
    """Input was rejected as a whole; `issues` lists every bad row, column and reason."""

    def __init__(self, what: str, issues: list[RowIssue]) -> None:
        self.what = what
        self.issues = list(issues)
        shown = "; ".join(str(i) for i in self.issues[:20])
        more = f"; and {len(self.issues) - 20} more" if len(self.issues) > 20 else ""
        n = len(self.issues)
        super().__init__(
            f"{what}: {n} problem{'s' if n != 1 else ''}, nothing was written: {shown}{more}"
        )


class BackendError(ResqError):
    """The warehouse could not do what was asked."""


class UnknownBackendError(ResqError, ValueError):
    """A connection URL named a backend that is not installed, or was malformed."""


class DatabaseLockedError(BackendError):
    """Another process holds the database file open for writing."""


class NotFoundError(ResqError, LookupError):
    """A named row (order, alert, organization, item) does not exist or is not visible."""


class InvalidTransitionError(ResqError, ValueError):
    """A manual override asked for a change the entity's current state does not allow."""


class TenantScopeError(ResqError, PermissionError):
    """A tenant-scoped handle tried to read or change another organization's rows."""


class ConflictError(BackendError):
    """Two writers touched the same rows at once; the operation can be retried."""


class AnalysisSuspendedError(BackendError):
    """stock_analysis refreshes are suspended after repeated failures; resume to go on."""


class RealDataError(ResqError):
    """Seeding would replace REAL rows; nothing was written. ``collisions`` maps each
    table to the keys of its REAL rows in the way."""

    def __init__(self, collisions: dict[str, list[str]]) -> None:
        self.collisions = collisions
        parts = []
        for table, keys in collisions.items():
            shown = ", ".join(keys[:10]) + (f" and {len(keys) - 10} more" if len(keys) > 10 else "")
            parts.append(f"{table}: {shown}")
        super().__init__(
            "seeding would replace REAL rows, so nothing was written ("
            + "; ".join(parts)
            + "). Seed an empty database, or pass replace_real=True (--replace-real) to "
            "replace them (audited)."
        )
