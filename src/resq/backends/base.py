"""The backend contract: what the engine, the CLI and the dashboard need from a warehouse.

A backend implements a handful of primitives (run a statement, fetch Arrow, stage an Arrow
table, a transaction, render Snowflake SQL in its dialect, refresh ``stock_analysis``);
everything else is written once in :class:`resq.backends.warehouse.WarehouseBackend` over
those primitives and the SQL files. Optional abilities are capability flags.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd


BATCH_ROWS = 10_000
"""Rows per Arrow record batch when a result is streamed (`Backend.fetch_batches`)."""


class Capability(StrEnum):
    """Abilities a backend may or may not have; checked by tests and by the engine."""

    NATIVE_DYNAMIC_TABLES = "native_dynamic_tables"  # the warehouse refreshes stock_analysis
    EMULATED_DYNAMIC_TABLES = "emulated_dynamic_tables"  # resq refreshes it (history, suspend)
    ROW_ACCESS_POLICIES = "row_access_policies"  # isolation enforced by the warehouse
    UNIQUE_CONSTRAINTS = "unique_constraints"  # the warehouse enforces UNIQUE
    PYTHON_UDFS = "python_udfs"  # GET_WEATHER_DATA etc. callable from SQL
    TABLE_FUNCTIONS = "table_functions"  # GENERATE_REALISTIC_SIMULATION callable from SQL
    CONCURRENT_WRITERS = "concurrent_writers"  # several threads may write at once
    SERVER_TASKS = "server_tasks"  # the warehouse triggers heal cycles itself


class Result:
    """The rows of a query, convertible to Arrow, pandas or Python records."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def to_arrow(self) -> pa.Table:
        return self._table

    def to_pandas(self) -> pd.DataFrame:
        return self._table.to_pandas()

    def to_pylist(self) -> list[dict[str, Any]]:
        return self._table.to_pylist()

    def scalar(self) -> Any:
        """The single value of a one-row, one-column result."""
        if self._table.num_rows != 1 or self._table.num_columns != 1:
            raise ValueError(
                f"expected one value, got {self._table.num_rows} rows x "
                f"{self._table.num_columns} columns"
            )
        return self._table.column(0)[0].as_py()

    @property
    def columns(self) -> list[str]:
        return list(self._table.column_names)

    def __len__(self) -> int:
        return self._table.num_rows

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._table.to_pylist())

    def __repr__(self) -> str:
        return f"Result({self._table.num_rows} rows: {', '.join(self.columns)})"


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh of ``stock_analysis`` did."""

    refreshed: bool
    rows: int | None
    reason: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    action: str | None = None
    """How it ran, where the backend says (Snowflake's REFRESH_ACTION words): FULL,
    INCREMENTAL (only the rows whose inputs changed), or NO_DATA (nothing had changed)."""
    changed_rows: int | None = None
    """The rows recomputed (every row for a FULL refresh)."""


class Backend(abc.ABC):
    """The primitives a warehouse provides. See WarehouseBackend for the shared operations."""

    name: ClassVar[str]
    dialect: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    @classmethod
    @abc.abstractmethod
    def from_url(cls, url: str, **kwargs: Any) -> Backend:
        """Open the backend a ``scheme://...`` URL names."""

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run one statement already rendered in this backend's dialect, with bound values."""

    @abc.abstractmethod
    def fetch(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run one rendered query and return its rows as Arrow."""

    def fetch_batches(
        self, sql: str, params: Sequence[Any] | None = None, *, batch_rows: int = BATCH_ROWS
    ) -> Iterator[pa.RecordBatch]:
        """Run one rendered query and hand its rows over as Arrow record batches of at most
        ``batch_rows`` rows, so a caller can go through any number of rows in flat memory.

        The query runs when this is called; the batches arrive as they are read. This
        default reads the whole result first; a backend whose driver streams overrides it.
        """
        batches = self.fetch(sql, params).to_batches(max_chunksize=batch_rows)
        return iter(batches)

    @abc.abstractmethod
    def render(self, statement: Any) -> str:
        """Render a Snowflake-dialect statement (text or sqlglot expression) for this engine."""

    @abc.abstractmethod
    def stage(self, name: str, data: pa.Table) -> None:
        """Make ``data`` readable as table ``name`` for the rest of the current transaction."""

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """A transaction: everything inside commits together or not at all (re-entrant)."""

    @abc.abstractmethod
    def refresh_analysis(
        self, *, force: bool = False, now: datetime | None = None, full: bool | None = None
    ) -> RefreshResult:
        """Bring ``stock_analysis`` up to date if it is older than its target lag (or force).

        ``full`` recomputes every row (True) or only the rows whose inputs changed (False)
        where the backend can tell; None leaves it to the backend (a forced refresh is full)."""

    @abc.abstractmethod
    def install_functions(self) -> None:
        """Register GET_WEATHER_DATA, GET_VENDOR_STATUS and the simulation table function."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def has(self, capability: Capability) -> bool:
        return capability in self.capabilities
