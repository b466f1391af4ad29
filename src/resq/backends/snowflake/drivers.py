"""How SQL reaches Snowflake: the Python connector (one session per thread) or an existing
Snowpark session (notebooks, stored procedures, Streamlit in Snowflake).

Both take one statement with ``?`` (qmark) bound values and hand results back as Arrow.
The drivers are imported only here, inside functions, and a missing one names the extra.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from resq.backends.snowflake import _arrow
from resq.errors import BackendError, ConflictError

EXTRA_HINT = "pip install 'resq[snowflake]'"

# Snowflake error codes a retry can resolve: a statement waited too long on a lock, or a
# transaction was aborted by a concurrent one (the heal cycle retries on ConflictError).
_RETRYABLE_CODES = {625, 604, 2218}
_RETRYABLE_TEXT = re.compile(
    r"conflict|deadlock|lock wait timeout|locked|duplicate key|was aborted", re.IGNORECASE
)


def require_connector() -> Any:
    """The ``snowflake.connector`` module, or a clear error naming the extra to install."""
    try:
        import snowflake.connector
    except ImportError as exc:
        raise BackendError(
            f"the Snowflake backend needs the Snowflake connector: {EXTRA_HINT} ({exc})"
        ) from None
    return snowflake.connector


def translate(exc: BaseException, sql: str | None = None) -> BaseException:
    """A driver error as a resq error naming the statement: retryable conflicts become
    ConflictError."""
    code = getattr(exc, "errno", None) or getattr(exc, "sql_error_code", None)
    text = str(getattr(exc, "msg", None) or getattr(exc, "message", None) or exc)
    try:
        code = int(code) if code is not None else None
    except (TypeError, ValueError):
        code = None
    if sql:
        text = f"{text} (in: {' '.join(sql.split())[:160]})"
    if code in _RETRYABLE_CODES or _RETRYABLE_TEXT.search(text.split(" (in: ")[0]):
        return ConflictError(f"a concurrent change conflicted; retry: {text}")
    return BackendError(text)


def _normalized(
    chunks: Iterator[pa.Table], sql: str, done: Callable[[], object]
) -> Iterator[pa.Table]:
    try:
        for chunk in chunks:
            if chunk.num_rows:
                yield _arrow.normalize(chunk)
    except Exception as exc:
        raise translate(exc, sql) from exc
    finally:
        done()


class ConnectorDriver:
    """One connector session (``snowflake.connector.connect``), qmark parameters."""

    def __init__(self, params: dict[str, Any]) -> None:
        connector = require_connector()
        try:
            self.conn = connector.connect(**{**params, "paramstyle": "qmark"})
        except connector.errors.Error as exc:
            raise BackendError(f"cannot connect to Snowflake: {exc}") from None

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, list(params) if params else None)
        except Exception as exc:
            raise translate(exc, sql) from exc

    def fetch(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        connector = require_connector()
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, list(params) if params else None)
                try:
                    table = cur.fetch_arrow_all(
                        force_return_table=True, force_microsecond_precision=True
                    )
                except connector.errors.NotSupportedError:
                    # results Snowflake sends as JSON (some SHOW and DML statements)
                    names = [d.name for d in cur.description or []]
                    return _arrow.from_rows(cur.fetchall(), names)
        except Exception as exc:
            raise translate(exc, sql) from exc
        return _arrow.normalize(table)

    def fetch_batches(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[pa.Table]:
        """Run the query now; its result chunks are downloaded as they are read
        (``cursor.fetch_arrow_batches``)."""
        connector = require_connector()
        cur = self.conn.cursor()
        try:
            cur.execute(sql, list(params) if params else None)
            try:
                chunks = cur.fetch_arrow_batches(force_microsecond_precision=True)
            except connector.errors.NotSupportedError:
                names = [d.name for d in cur.description or []]
                chunks = iter([_arrow.from_rows(cur.fetchall(), names)])
        except Exception as exc:
            cur.close()
            raise translate(exc, sql) from exc
        return _normalized(chunks, sql, cur.close)

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass


class SnowparkDriver:
    """An existing Snowpark session; ``session.sql(..., params=...)`` for every statement."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        try:
            self.session.sql(sql, params=list(params) if params else None).collect()
        except Exception as exc:
            raise translate(exc, sql) from exc

    def fetch(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        try:
            table = self.session.sql(sql, params=list(params) if params else None).to_arrow()
        except Exception as exc:
            raise translate(exc, sql) from exc
        return _arrow.normalize(table)

    def fetch_batches(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[pa.Table]:
        """``DataFrame.to_arrow_batches``: the rows arrive a part at a time."""
        try:
            chunks = self.session.sql(sql, params=list(params) if params else None)
            chunks = chunks.to_arrow_batches()
        except Exception as exc:
            raise translate(exc, sql) from exc
        return _normalized(chunks, sql, lambda: None)

    def close(self) -> None:
        """The session belongs to the caller (a notebook, a procedure, Streamlit)."""
