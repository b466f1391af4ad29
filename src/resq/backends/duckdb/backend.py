"""The embedded DuckDB backend: one file (or memory), Snowflake SQL rendered by sqlglot
(and remembered across runs: see `rendered`).

DuckDB lacks dynamic tables, so ``stock_analysis`` is a materialized table that resq
refreshes itself with Snowflake's bookkeeping: a target lag, a refresh history, and
suspension after 5 consecutive failed refreshes until resumed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import duckdb
import pyarrow as pa

from resq.backends.base import BATCH_ROWS, Capability, RefreshResult
from resq.backends.duckdb import rendered
from resq.backends.paging import Fetch
from resq.backends.warehouse import WarehouseBackend, utcnow
from resq.errors import (
    AnalysisSuspendedError,
    BackendError,
    ConflictError,
    DatabaseLockedError,
    NotFoundError,
    TenantScopeError,
    UnknownBackendError,
)

if TYPE_CHECKING:
    from resq.core.validation import TableSpec

MAX_FAILED_REFRESHES = 5

_EMULATION_DDL = (
    """CREATE TABLE IF NOT EXISTS resq_dt_state (
        name VARCHAR PRIMARY KEY, definition_hash VARCHAR NOT NULL, target_lag_s DOUBLE,
        last_refresh_start TIMESTAMP, last_refresh_end TIMESTAMP, refreshed_changes BIGINT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        suspended BOOLEAN NOT NULL DEFAULT FALSE)""",
    """CREATE TABLE IF NOT EXISTS dt_refresh_history (
        name VARCHAR NOT NULL, refresh_start TIMESTAMP NOT NULL, refresh_end TIMESTAMP,
        rows BIGINT, state VARCHAR NOT NULL, trigger VARCHAR, error VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS resq_dt_changes (changed_at TIMESTAMP NOT NULL)""",
    # The change log of stock_analysis's inputs (see _note_changes), the last full refresh,
    # and how each refresh ran; added to databases made before incremental refresh.
    "ALTER TABLE resq_dt_changes ADD COLUMN IF NOT EXISTS scope VARCHAR",
    "ALTER TABLE resq_dt_changes ADD COLUMN IF NOT EXISTS org_id VARCHAR",
    "ALTER TABLE resq_dt_changes ADD COLUMN IF NOT EXISTS sku VARCHAR",
    "ALTER TABLE resq_dt_changes ADD COLUMN IF NOT EXISTS scope_key VARCHAR",
    "ALTER TABLE resq_dt_state ADD COLUMN IF NOT EXISTS last_full_refresh TIMESTAMP",
    "ALTER TABLE dt_refresh_history ADD COLUMN IF NOT EXISTS refresh_action VARCHAR",
    "ALTER TABLE dt_refresh_history ADD COLUMN IF NOT EXISTS changed_rows BIGINT",
)

# A heal commit that leaves the WAL at least this large checkpoints at once
# (DuckDBBackend._checkpoint_large_wal): DuckDB's default checkpoint_threshold.
_CHECKPOINT_WAL_BYTES = 16 * 1024 * 1024

# The heal lock (see DuckDBBackend.heal_transaction), as Snowflake's in sql/snowflake/support.sql.
_HEAL_LOCK_DDL = (
    "CREATE TABLE IF NOT EXISTS resq_heal_lock (id INTEGER NOT NULL PRIMARY KEY, holder VARCHAR, "
    "locked_at TIMESTAMP)",
    "INSERT INTO resq_heal_lock (id) SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM resq_heal_lock)",
)
_HEAL_LOCK_SQL = "UPDATE resq_heal_lock SET holder = ?, locked_at = ? WHERE id = 1"

# What a change to each input of stock_analysis puts out of date: the scope of its log rows
# and the SELECT list that keys them (ITEM: one item; ORG, SECTOR, CITY: every item of an
# organization, of a sector's organizations, of a city's organizations).
_INPUT_SCOPES = {
    "inventory_master": ("ITEM", "org_id, sku, NULL"),
    "demand_forecast": ("ITEM", "org_id, sku, NULL"),
    "organizations": ("ORG", "org_id, NULL, NULL"),
    "sector_config": ("SECTOR", "NULL, NULL, sector"),
    "city_weather": ("CITY", "NULL, NULL, city"),
}
FULL_REFRESH_EVERY_LAGS = 10
"""An incremental refresh only sees what resq's own writes logged: a full refresh runs at
least every this many target lags, so a write that bypassed resq is seen within that."""
FULL_REFRESH_SHARE = 0.25
"""Beyond this share of the rows changed, a full refresh is cheaper than an incremental one."""
LOGGED_KEYS_MAX = 100_000
"""A transaction writing more rows logs one 'everything changed' mark instead of each key."""
_KEYS = "resq_dt_keys"
_KEYED = ("inventory_master", "demand_forecast")


def _batches_then_close(
    reader: pa.RecordBatchReader, conn: duckdb.DuckDBPyConnection
) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except duckdb.Error as exc:
        raise _translate(exc) from exc
    finally:
        conn.close()


class _Staged:
    """The rows behind a staged view, read afresh by every scan (the Arrow PyCapsule stream
    interface), so the rows can be swapped without touching DuckDB's catalog."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self.table.__arrow_c_stream__(requested_schema)


class DuckDBBackend(WarehouseBackend):
    """resq on DuckDB: ``resq.connect("duckdb:///path.db")`` or ``duckdb://`` in memory."""

    name = "duckdb"
    dialect = "duckdb"
    listing_page_rows = 5_000
    """DuckDB sorts in this process, so a long listing pages. DuckDB runs ``ORDER BY ...
    LIMIT n`` as a bounded top-N only while n is at most 5,000 rows (or 0.7% of the table);
    above that it sorts the whole input first, which is what paging avoids."""
    full_refresh_share = FULL_REFRESH_SHARE
    digest_batch_alerts = 50_000
    """DuckDB builds digests in this process, and their grouping holds every alert it lists
    (outside DuckDB's memory limit): in batches, a cycle's peak stays that of one batch."""
    capabilities = frozenset(
        {
            Capability.EMULATED_DYNAMIC_TABLES,
            Capability.UNIQUE_CONSTRAINTS,
            Capability.PYTHON_UDFS,
            Capability.TABLE_FUNCTIONS,
            Capability.CONCURRENT_WRITERS,
        }
    )

    def __init__(
        self,
        path: str | None = None,
        *,
        read_only: bool = False,
        target_lag_s: float = 60.0,
        memory_limit: str | None = None,
        create: bool = True,
        external_access: bool = True,
    ) -> None:
        self.path = path or ":memory:"
        if self.path != ":memory:":
            _check_path(self.path, create=create)
        self.read_only = read_only
        self.target_lag_s = float(target_lag_s)
        config: dict[str, str | bool | int | float | list[str]] = (
            {"memory_limit": memory_limit} if memory_limit else {}
        )
        if not external_access:
            # Database-wide in DuckDB: no file, network or extension access from SQL, no
            # Python replacement scans, and no SET can undo it.
            # https://duckdb.org/docs/stable/operations_manual/securing_duckdb/overview
            config.update(
                enable_external_access=False,
                python_enable_replacements=False,
                autoinstall_known_extensions=False,
                autoload_known_extensions=False,
                lock_configuration=True,
            )
        try:
            self._root = duckdb.connect(self.path, read_only=read_only, config=config)
        except duckdb.IOException as exc:
            raise _lock_error(self.path, exc) from None
        self._local = threading.local()
        self._refresh_lock = threading.Lock()
        self._analysis_sql: str | None = None

    # ------------------------------------------------------------------ connection

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> DuckDBBackend:
        """``duckdb://`` is in memory; ``duckdb:///rel/path.db``; ``duckdb:////abs/path.db``.

        Query options: ``read_only=true``, ``target_lag=<seconds>``, ``memory_limit=<size>``
        (DuckDB's memory limit, e.g. ``1GB``: larger work spills to disk instead),
        ``external_access=false`` (no SQL on this database may touch files, the network or
        extensions, and its configuration is locked: for a process that serves tenants).
        """
        parts = urlsplit(url)
        if parts.scheme.lower() != "duckdb":
            raise UnknownBackendError(f"not a DuckDB URL: {url!r}")
        if parts.netloc not in {"", "localhost"}:
            raise UnknownBackendError(
                f"bad DuckDB URL {url!r}: use duckdb:///relative/path.db, "
                f"duckdb:////absolute/path.db "
                "or duckdb:// for an in-memory database"
            )
        path = unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path)
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(options) - {"read_only", "target_lag", "memory_limit", "external_access"}
        if unknown:
            raise UnknownBackendError(f"unknown DuckDB URL option(s): {', '.join(sorted(unknown))}")
        if "read_only" in options:
            kwargs.setdefault("read_only", options["read_only"].lower() in {"1", "true", "yes"})
        if "external_access" in options:
            value = options["external_access"].lower()
            if value not in {"true", "false", "1", "0", "yes", "no"}:
                raise UnknownBackendError(
                    f"external_access must be true or false, got {options['external_access']!r}"
                )
            kwargs.setdefault("external_access", value in {"1", "true", "yes"})
        if "target_lag" in options:
            try:
                kwargs.setdefault("target_lag_s", float(options["target_lag"]))
            except ValueError:
                raise UnknownBackendError(
                    f"target_lag must be seconds, got {options['target_lag']!r}"
                ) from None
        if "memory_limit" in options:
            if not re.fullmatch(
                r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", options["memory_limit"]
            ):
                raise UnknownBackendError(
                    "memory_limit must be a size such as 512MB or 2GB, "
                    f"got {options['memory_limit']!r}"
                )
            kwargs.setdefault("memory_limit", options["memory_limit"])
        return cls(path or None, **kwargs)

    def _conn(self) -> duckdb.DuckDBPyConnection:
        conn: duckdb.DuckDBPyConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._root.cursor()
            self._local.conn = conn
            self._local.depth = 0
            self._local.staged = {}
            self._local.functions = False
        return conn

    def _conn_for(self, sql: str) -> duckdb.DuckDBPyConnection:
        """The thread's connection, with the simulation functions registered on it first
        when ``sql`` names one. Registering them costs more than most commands' own work,
        so a connection pays it only when a statement calls them (or on
        :meth:`install_functions`)."""
        conn = self._conn()
        if not self._local.functions and _CALLS_FUNCTION.search(sql):
            self._install(conn)
        return conn

    def close(self) -> None:
        for attr in ("tenant_conn", "conn"):
            conn = getattr(self._local, attr, None)
            if conn is not None:
                conn.close()
                setattr(self._local, attr, None)
        self._root.close()
        rendered.cache().flush()

    # ------------------------------------------------------------------ primitives

    def render(self, statement: Any) -> str:
        if isinstance(statement, str):
            return rendered.render_text(statement)
        from resq.backends.duckdb import rewrites

        return rewrites.to_duckdb(statement)

    def _file(self, name: str, index: int = 0) -> str:
        return self._file_statements(name)[index]

    def _file_statements(self, name: str) -> list[str]:
        cache: dict[str, list[str]] = self.__dict__.setdefault("_rendered_files", {})
        if name not in cache:
            cache[name] = list(rendered.render_file(name))
        return cache[name]

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        conn = self._conn_for(sql)
        try:
            conn.execute(sql, list(params) if params else None)
            # a statement that returns rows (a SELECT, a CALL) leaves them pending, and the
            # connection refuses other work until they are read: run it to its end
            conn.complete()
        except duckdb.Error as exc:
            if self._registered_after(exc):
                return self.execute(sql, params)
            raise _translate(exc) from exc

    def fetch(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        conn = self._conn_for(sql)
        try:
            rel = conn.sql(sql, params=list(params) if params else None)
            return rel.to_arrow_table() if rel is not None else pa.table({})
        except duckdb.Error as exc:
            if self._registered_after(exc):
                return self.fetch(sql, params)
            raise _translate(exc) from exc

    def _registered_after(self, exc: duckdb.Error) -> bool:
        """A statement that reached the simulation functions without naming them (through
        a view of the user's) failed because they were not registered yet: register them,
        and say whether the statement may simply run again (outside a transaction; inside
        one DuckDB has aborted it, and the caller's retry of the transaction will work)."""
        if self._local.functions or not isinstance(exc, duckdb.CatalogException):
            return False
        if not _CALLS_FUNCTION.search(str(exc)):
            return False
        # On a cursor of its own: this one may be in a transaction DuckDB has aborted. The
        # functions are the database's, so every cursor sees them from now on.
        cursor = self._root.cursor()
        try:
            self._install(cursor)
        finally:
            cursor.close()
        return not self._local.depth

    def fetch_batches(
        self, sql: str, params: Sequence[Any] | None = None, *, batch_rows: int = BATCH_ROWS
    ) -> Iterator[pa.RecordBatch]:
        """Stream a query's rows from a cursor of its own (DuckDB's Arrow reader), so other
        statements may run while the batches are read. Inside a transaction the rows are
        read on the transaction's cursor (another cursor would not see its writes)."""
        if getattr(self._local, "depth", 0):
            return super().fetch_batches(sql, params, batch_rows=batch_rows)
        conn = self._root.cursor()
        try:
            if _CALLS_FUNCTION.search(sql):
                self._install(conn)
            rel = conn.sql(sql, params=list(params) if params else None)
            if rel is None:
                conn.close()
                return iter(())
            reader = rel.to_arrow_reader(batch_rows)
        except duckdb.Error as exc:
            conn.close()
            raise _translate(exc) from exc
        return _batches_then_close(reader, conn)

    @contextmanager
    def read_snapshot(self, batch_rows: int = BATCH_ROWS) -> Iterator[Fetch]:
        """Queries on a cursor of their own inside one read transaction, so every page of a
        listing reads the same snapshot (DuckDB's MVCC) while other cursors write; rolled
        back at the end. Inside a resq transaction, its cursor (which sees its writes)."""
        if getattr(self._local, "depth", 0):
            yield lambda sql, params: self.fetch_batches(sql, params, batch_rows=batch_rows)
            return
        conn = self._root.cursor()
        try:
            conn.execute("BEGIN TRANSACTION")

            def fetch(sql: str, params: Sequence[Any]) -> Iterator[pa.RecordBatch]:
                try:
                    rel = conn.sql(sql, params=list(params) if params else None)
                    yield from rel.to_arrow_reader(batch_rows) if rel is not None else ()
                except duckdb.Error as exc:
                    raise _translate(exc) from exc

            yield fetch
        except duckdb.Error as exc:
            raise _translate(exc) from exc
        finally:
            try:
                conn.execute("ROLLBACK")
            except duckdb.Error:
                pass
            conn.close()

    def fetch_tenant(self, sql: str, params: Sequence[Any]) -> pa.Table:
        """Run a checked, scoped tenant query on the thread's tenant cursor, after DuckDB's
        own parser agrees it is one SELECT over tenant tables with no table function.

        The cursor is not the one resq writes with: it sees no staged tables or temporary
        objects, and Python replacement scans (a variable's name as a table) are off on it.
        ``enable_external_access`` is a database-wide setting in DuckDB (it cannot be set
        per connection, nor re-enabled once off), so it is off only when the database was
        opened with ``external_access=false``; see docs/backends.md."""
        from resq.backends.warehouse import TENANT_TABLES

        conn = self._tenant_conn()
        self._conn()
        if not self._local.functions and _CALLS_FUNCTION.search(sql):
            self._install(self._conn())  # the UDFs are the database's; its cursor registers
        try:
            statements = conn.extract_statements(sql)
            if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
                raise TenantScopeError("a tenant may only run one read-only query (SELECT)")
            tree = json.loads(conn.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0])
            _check_tenant_tree(tree, set(TENANT_TABLES))
            rel = conn.sql(sql, params=list(params) if params else None)
            return rel.to_arrow_table() if rel is not None else pa.table({})
        except duckdb.Error as exc:
            raise _translate(exc) from exc

    def _tenant_conn(self) -> duckdb.DuckDBPyConnection:
        conn: duckdb.DuckDBPyConnection | None = getattr(self._local, "tenant_conn", None)
        if conn is None:
            conn = self._root.cursor()
            try:
                conn.execute("SET python_enable_replacements = false")
            except duckdb.Error:
                pass  # configuration locked: replacements were turned off when it was opened
            self._local.tenant_conn = conn
        return conn

    def stage(self, name: str, data: pa.Table) -> None:
        """Register ``data`` as ``name``. Re-staging a name with the same columns swaps the
        rows behind the registered view instead of registering anew: inside a transaction
        DuckDB keeps every replaced view (and the Arrow table it holds) until the commit,
        so a streamed load would otherwise hold all of its batches at once."""
        conn = self._conn()
        held = self._local.staged.get(name)
        if held is not None and held.table.schema.equals(data.schema):
            held.table = data
            return
        staged = _Staged(data)
        conn.register(name, staged)
        self._local.staged[name] = staged

    def _write_staged(
        self,
        spec: TableSpec,
        stage: str,
        columns: Sequence[str],
        statements: tuple[Any, Any],
        *,
        now: datetime,
    ) -> None:
        """On a table with a PRIMARY KEY, the upsert as an UPDATE of the stored rows the
        stage has keys of, then an INSERT of the others. The same rows as the keyed DELETE
        and INSERT (the columns a load does not carry are set to their defaults again), but
        written in place: a table keyed by a PRIMARY KEY rebuilds its index for every row
        inserted, and the next checkpoint writes it out; at 3,000,000 items a load of
        30,000 changed ones took 0.45 s to delete, 0.33 s to insert and 0.6 s to checkpoint
        that way, and an UPDATE of the same rows about 0.15 s with its checkpoint."""
        table = spec.name
        if not self._has_primary_key(table):
            # no index to rebuild; and a table without one may hold a key twice (ad-hoc
            # SQL), which the keyed DELETE and INSERT turn back into one row
            return super()._write_staged(spec, stage, columns, statements, now=now)
        key = tuple(spec.key)
        stored = self._table_columns(table)
        on = " AND ".join(f't."{k}" = s."{k}"' for k in key)
        sets = [f'"{c}" = s."{c}"' for c in columns if c not in key]
        sets.append('"updated_at" = ?')
        given = {*columns, *key, "updated_at"}
        sets += [f'"{c}" = DEFAULT' for c in stored if c not in given]
        self.execute(
            f'UPDATE "{table}" AS t SET {", ".join(sets)} FROM "{stage}" AS s WHERE {on}', [now]
        )
        names = ", ".join(f'"{c}"' for c in columns)
        self.execute(
            f'INSERT INTO "{table}" ({names}, "updated_at") SELECT {names}, ? FROM "{stage}" AS s '
            f'WHERE NOT EXISTS (SELECT 1 FROM "{table}" AS t WHERE {on})',
            [now],
        )

    def _has_primary_key(self, table: str) -> bool:
        """Whether the table ``table`` names here has a PRIMARY KEY. A temporary table of
        that name comes first in name resolution, so its presence answers no (it has
        none of resq's keys, and may hold a key twice)."""
        found = self.fetch(
            "SELECT NOT EXISTS (SELECT 1 FROM duckdb_tables() WHERE table_name = ? "
            "AND temporary) AND EXISTS (SELECT 1 FROM duckdb_constraints() "
            "WHERE table_name = ? AND constraint_type = 'PRIMARY KEY' "
            "AND database_name = current_database() AND schema_name = current_schema())",
            [table, table],
        )
        return bool(found.column(0)[0].as_py())

    def _table_columns(self, table: str) -> list[str]:
        """A table's columns, in table order (the table this connection's names resolve to)."""
        return list(self.fetch(f'SELECT * FROM "{table}" LIMIT 0').column_names)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        conn = self._conn()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        conn.execute("BEGIN TRANSACTION")
        self._local.depth = 1
        self._local.logged_keys = 0
        try:
            yield
        except BaseException:
            self._local.depth = 0
            try:
                conn.execute("ROLLBACK")
            except duckdb.Error:
                pass
            self._unstage(conn)
            raise
        self._local.depth = 0
        try:
            conn.execute("COMMIT")
        except duckdb.Error as exc:
            try:
                conn.execute("ROLLBACK")
            except duckdb.Error:
                pass
            raise _translate(exc) from exc
        finally:
            self._unstage(conn)

    @contextmanager
    def heal_transaction(self, *, holder: str = "resq") -> Iterator[None]:
        """A heal commit's transaction, serialized like Snowflake's: its first statement
        updates the one-row heal lock. Under DuckDB's optimistic concurrency a row that
        another transaction updated and has not committed, or committed after this one's
        snapshot began, cannot be updated: two overlapping heal commits conflict there and
        one retries, before either merges; one that starts after the other committed reads
        its orders (the snapshot begins with that first statement). With the keyed MERGE
        this keeps orders, alerts and digests exactly once, as on Snowflake, where their
        keys are not enforced either (schema.sql: ``NOT ENFORCED``)."""
        if not self.__dict__.get("_heal_lock_ready"):
            with self.transaction():  # its own transaction: a conflict here just retries
                for ddl in _HEAL_LOCK_DDL:
                    self.execute(ddl)
            self._heal_lock_ready = True
        nested = bool(self._local.depth)
        with self.transaction():
            self.execute(_HEAL_LOCK_SQL, [holder, utcnow()])
            yield
        if not nested:
            self._checkpoint_large_wal()

    def _checkpoint_large_wal(self) -> None:
        """Fold a large heal's write-ahead log into the database file now, while the cycle
        that wrote it is still running, instead of at the next commit. DuckDB checkpoints
        when a commit finds the WAL past ``checkpoint_threshold`` (16 MiB by default); a
        first cycle over a million items leaves far more, and without this the next,
        otherwise idle cycle pays for it. The heal is already committed: a checkpoint that
        fails (another connection mid-transaction, say) is left to DuckDB's own."""
        if self.path == ":memory:" or self.read_only:
            return
        try:
            size = os.path.getsize(self.path + ".wal")
        except OSError:
            return
        if size < _CHECKPOINT_WAL_BYTES:
            return
        try:
            self._conn().execute("CHECKPOINT")
        except duckdb.Error:
            pass

    def _unstage(self, conn: duckdb.DuckDBPyConnection) -> None:
        for name in self._local.staged:
            try:
                conn.unregister(name)
            except duckdb.Error:
                pass
        self._local.staged = {}

    # ------------------------------------------------------------------ functions

    def install_functions(self) -> None:
        self._install(self._conn())

    def _install(self, conn: duckdb.DuckDBPyConnection) -> None:
        from resq.backends.duckdb.functions import install

        install(_SharedFunctions(conn))  # type: ignore[arg-type]
        if conn is getattr(self._local, "conn", None):
            self._local.functions = True

    # ------------------------------------------------------------------ stock_analysis

    def _analysis_query(self) -> str:
        if self._analysis_sql is None:
            self._analysis_sql = rendered.render_query_of("stock_analysis")
        return self._analysis_sql

    def _restricted_query(self) -> str:
        """The analysis query over only the items keyed in ``resq_dt_keys``."""
        sql: str | None = self.__dict__.get("_restricted_sql")
        if sql is None:
            sql = rendered.render_restricted_query_of(
                "stock_analysis", _KEYS, _KEYED, ("org_id", "sku")
            )
            self.__dict__["_restricted_sql"] = sql
        return sql

    def create_analysis(self) -> None:
        """Create the emulated dynamic table; recreate it if its definition changed."""
        query = self._analysis_query()
        digest = hashlib.sha256(query.encode()).hexdigest()
        with self.transaction():
            for ddl in _EMULATION_DDL:
                self.execute(ddl)
            self._log_ready = True
            state = self.fetch(
                "SELECT definition_hash FROM resq_dt_state WHERE name = 'stock_analysis'"
            ).to_pylist()
            if state and state[0]["definition_hash"] == digest:
                return
            self.execute("DROP TABLE IF EXISTS stock_analysis")
            self.execute(f"CREATE TABLE stock_analysis AS SELECT * FROM ({query}) LIMIT 0")
            self.execute("DELETE FROM resq_dt_state WHERE name = 'stock_analysis'")
            self.execute(
                "INSERT INTO resq_dt_state (name, definition_hash, target_lag_s) VALUES "
                "('stock_analysis', ?, ?)",
                [digest, self.target_lag_s],
            )
        self.refresh_analysis(force=True)

    def _log_format(self) -> str | None:
        """'keys' when the change log records keys, 'plain' for the log of a database made
        before incremental refresh (every change then means a full refresh), None before
        init. Only 'keys' is remembered: a database only moves forward to it."""
        if self.__dict__.get("_log_ready"):
            return "keys"
        rows = self.fetch(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'resq_dt_changes' "
            "AND schema_name = 'main' AND database_name = current_database()"
        ).column(0)
        names = set(rows.to_pylist())
        if "scope_key" in names:
            self._log_ready = True
            return "keys"
        return "plain" if names else None

    def _mark_changed(self) -> None:
        """Note that anything may have changed (ad-hoc SQL): the next refresh is full."""
        try:
            self.execute("INSERT INTO resq_dt_changes (changed_at) VALUES (?)", [utcnow()])
        except BackendError:
            pass  # before init: nothing to refresh yet

    def _note_changes(
        self,
        table: str,
        keys: str | None = None,
        params: Sequence[Any] | None = None,
        *,
        rows: int | None = None,
    ) -> None:
        """Log, inside the writer's own transaction, which rows of ``table`` (an input of
        stock_analysis) changed, so the next refresh recomputes only the items they touch.
        ``keys`` is a SELECT of the changed rows' key columns (resq's own SQL, never a
        user's; bound ``params``); None, or more than LOGGED_KEYS_MAX ``rows``, logs one
        mark that everything changed (a full refresh). Other tables are not inputs."""
        scope = _INPUT_SCOPES.get(table)
        if scope is None:
            return
        fmt = self._log_format()
        if fmt is None:
            return  # before init: the first refresh is a full one
        now = utcnow()
        # counted per transaction, so a long stream of batches (a seed) logs one mark
        logged = getattr(self._local, "logged_keys", 0) + (rows or 0)
        self._local.logged_keys = logged
        if keys is None or fmt != "keys" or logged > LOGGED_KEYS_MAX:
            if logged - (rows or 0) <= LOGGED_KEYS_MAX or keys is None:
                self.execute("INSERT INTO resq_dt_changes (changed_at) VALUES (?)", [now])
            return
        kind, columns = scope
        self.execute(
            "INSERT INTO resq_dt_changes (changed_at, scope, org_id, sku, scope_key) "
            f"SELECT ?, '{kind}', {columns} FROM ({self.render(keys)}) AS changed",
            [now, *(params or ())],
        )

    def analysis_state(self) -> dict[str, Any]:
        """Refresh bookkeeping: last refresh, failures, suspension, pending changes."""
        rows = self.fetch(
            "SELECT s.*, (SELECT COUNT(*) FROM resq_dt_changes) AS changes FROM resq_dt_state s "
            "WHERE name = 'stock_analysis'"
        ).to_pylist()
        if not rows:
            return {"exists": False}
        row = rows[0]
        row["exists"] = True
        row["pending_changes"] = int(row["changes"]) - int(row["refreshed_changes"] or 0)
        return row

    def refresh_if_due(self) -> None:
        """A read-only connection cannot refresh: it reads stock_analysis as it is, and
        :meth:`analysis_state` says how old that is (as a suspended table is read)."""
        if not self.read_only:
            super().refresh_if_due()

    def refresh_analysis(
        self, *, force: bool = False, now: datetime | None = None, full: bool | None = None
    ) -> RefreshResult:
        """Refresh stock_analysis when due (older than its target lag, or its inputs changed
        through resq), or now with ``force``.

        Incremental by default: only the items whose inputs were logged as changed are
        recomputed (DELETE and INSERT of their rows, by the same query restricted to their
        keys), in one transaction with the log rows it consumed. Full (every row) when
        ``full`` is true, for a forced refresh unless ``full=False``, when something changed
        that names no keys (ad-hoc SQL), when a target-lag refresh finds nothing logged, when
        the last full refresh is FULL_REFRESH_EVERY_LAGS target lags old, or when more than
        FULL_REFRESH_SHARE of the rows changed. See docs/heal-cycle.md."""
        now = now or utcnow()
        with self._refresh_lock:
            state = self.analysis_state()
            if not state.get("exists"):
                raise BackendError("stock_analysis does not exist yet: run init() first")
            if state["suspended"]:
                raise AnalysisSuspendedError(
                    f"stock_analysis is suspended after {state['consecutive_failures']} failed "
                    "refreshes; fix the cause, then resume it (resq init, or "
                    "backend.resume_analysis())"
                )
            last = state["last_refresh_start"]
            age = None if last is None else (now - last).total_seconds()
            if (
                not force
                and age is not None
                and age < self.target_lag_s
                and state["pending_changes"] <= 0
            ):
                return RefreshResult(
                    False,
                    None,
                    f"fresh ({age:.1f} s old, target lag {self.target_lag_s:.0f} s, no changes)",
                )
            trigger = (
                "MANUAL" if force else ("CHANGES" if state["pending_changes"] > 0 else "TARGET_LAG")
            )
            try:
                if self._log_format() != "keys":
                    with self.transaction():  # a database made before incremental refresh
                        for ddl in _EMULATION_DDL:
                            self.execute(ddl)
                    self._log_ready = True
                last_full = state.get("last_full_refresh")
                want_full = force if full is None else full
                if full is None and not want_full:
                    want_full = (
                        last_full is None
                        or (now - last_full).total_seconds()
                        >= FULL_REFRESH_EVERY_LAGS * self.target_lag_s
                    )
                with self.transaction():
                    action, changed = self._refresh(want_full, lag_only=trigger == "TARGET_LAG")
                    rows = self.fetch("SELECT COUNT(*) FROM stock_analysis").column(0)[0].as_py()
                    end = utcnow() if now is None else max(now, utcnow())
                    self.execute(
                        "UPDATE resq_dt_state SET last_refresh_start = ?, last_refresh_end = ?, "
                        "refreshed_changes = 0, consecutive_failures = 0, "
                        "last_full_refresh = IF(?, ?, last_full_refresh) "
                        "WHERE name = 'stock_analysis'",
                        [now, end, action == "FULL", now],
                    )
                    self.execute(
                        "INSERT INTO dt_refresh_history (name, refresh_start, refresh_end, rows, "
                        "state, trigger, error, refresh_action, changed_rows) VALUES "
                        "('stock_analysis', ?, ?, ?, 'SUCCEEDED', ?, NULL, ?, ?)",
                        [now, end, rows, trigger, action, changed],
                    )
            except ConflictError:
                raise  # a concurrent refresh (another connection) won: not a failure; retry
            except (BackendError, duckdb.Error) as exc:
                self._record_failure(now, trigger, exc)
                raise BackendError(f"refreshing stock_analysis failed: {exc}") from exc
            return RefreshResult(True, int(rows), trigger, now, end, action, changed)

    def _refresh(self, full: bool, *, lag_only: bool) -> tuple[str, int]:
        """Recompute stock_analysis inside the caller's transaction and consume the change
        log it saw (rows logged by transactions that commit later stay for the next one);
        returns the refresh action and how many rows it recomputed."""
        scopes = {
            r["scope"]: r["n"]
            for r in self.fetch(
                "SELECT COALESCE(scope, 'ALL') AS scope, COUNT(*) AS n FROM resq_dt_changes "
                "GROUP BY ALL"
            ).to_pylist()
        }
        # Nothing logged on a target-lag refresh: a write may have bypassed resq, look at all.
        if full or "ALL" in scopes or (lag_only and not scopes):
            return "FULL", self._refresh_full()
        if not scopes:
            return "NO_DATA", 0
        keys = "SELECT DISTINCT org_id, sku FROM resq_dt_changes WHERE scope = 'ITEM'"
        if scopes.keys() - {"ITEM"}:
            # every item of a changed organization, sector or city: as it is now, and as
            # stock_analysis has it (an organization that moved away, or is gone)
            match = (
                "{t}org_id IN (SELECT org_id FROM resq_dt_changes WHERE scope = 'ORG') "
                "OR {t}sector IN (SELECT scope_key FROM resq_dt_changes WHERE scope = 'SECTOR') "
                "OR {t}city IN (SELECT scope_key FROM resq_dt_changes WHERE scope = 'CITY')"
            )
            keys += (
                " UNION SELECT i.org_id, i.sku FROM inventory_master AS i "
                "JOIN organizations AS o ON o.org_id = i.org_id WHERE "
                + match.format(t="o.")
                + " UNION SELECT a.org_id, a.sku FROM stock_analysis AS a WHERE "
                + match.format(t="a.")
            )
        # a temporary table: this connection's own, gone with a rollback
        self.execute(f"CREATE OR REPLACE TEMP TABLE {_KEYS} AS {keys}")
        changed = int(self.fetch(f"SELECT COUNT(*) FROM {_KEYS}").column(0)[0].as_py())
        total = int(self.fetch("SELECT COUNT(*) FROM stock_analysis").column(0)[0].as_py())
        if changed > self.full_refresh_share * total:
            self.execute(f"DROP TABLE {_KEYS}")
            return "FULL", self._refresh_full()
        self.execute(
            f"DELETE FROM stock_analysis AS a USING {_KEYS} AS k "
            "WHERE a.org_id = k.org_id AND a.sku = k.sku"
        )
        self.execute(f"INSERT INTO stock_analysis {self._restricted_query()}")
        self.execute("DELETE FROM resq_dt_changes")
        self.execute(f"DROP TABLE {_KEYS}")
        return "INCREMENTAL", changed

    def _refresh_full(self) -> int:
        self.execute("DELETE FROM stock_analysis")
        self.execute(f"INSERT INTO stock_analysis {self._analysis_query()}")
        self.execute("DELETE FROM resq_dt_changes")
        return int(self.fetch("SELECT COUNT(*) FROM stock_analysis").column(0)[0].as_py())

    def _record_failure(self, now: datetime, trigger: str, exc: BaseException) -> None:
        with self.transaction():
            self.execute(
                "UPDATE resq_dt_state SET consecutive_failures = consecutive_failures + 1, "
                "suspended = consecutive_failures + 1 >= ? WHERE name = 'stock_analysis'",
                [MAX_FAILED_REFRESHES],
            )
            self.execute(
                "INSERT INTO dt_refresh_history (name, refresh_start, refresh_end, rows, state, "
                "trigger, error) VALUES ('stock_analysis', ?, ?, NULL, 'FAILED', ?, ?)",
                [now, utcnow(), trigger, str(exc)[:2000]],
            )

    def resume_analysis(self) -> None:
        """Resume refreshes after a suspension (like ALTER DYNAMIC TABLE ... RESUME)."""
        with self.transaction():
            self.execute(
                "UPDATE resq_dt_state SET suspended = FALSE, consecutive_failures = 0 WHERE name "
                "= 'stock_analysis'"
            )

    def refresh_history(self) -> pa.Table:
        return self.fetch("SELECT * FROM dt_refresh_history ORDER BY refresh_start DESC")


_CALLS_FUNCTION = re.compile(
    r"\b(?:GET_WEATHER_DATA|GET_VENDOR_STATUS|GENERATE_REALISTIC_SIMULATION|RESQ_SIM_SERIES)\b",
    re.IGNORECASE,
)
"""A statement that may call the simulation functions (a name in a string or comment
also matches: registering them then is only early, never wrong)."""


class _SharedFunctions:
    """A connection whose ``create_function`` accepts a function that already exists.

    DuckDB keeps Python UDFs in the database's catalog, shared by every connection to it
    (the cursors of other threads, a second backend on the same file), but only the
    registering connection can remove them; registering again from another connection
    fails with "already exists". The existing function is the same code, so it is kept;
    per-connection objects (the TEMP macro) are still created on every connection.
    """

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self._conn = conn

    def create_function(self, name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._conn.create_function(name, *args, **kwargs)
        except duckdb.CatalogException as exc:
            if "already exists" not in str(exc):
                raise
            return self._conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


_LOCK_PID = re.compile(r"Conflicting lock is held in (?P<prog>.+?) \(PID (?P<pid>\d+)\)")


def _check_path(path: str, *, create: bool) -> None:
    """A database file in a folder that does not exist, or (with ``create=False``) a file
    that does not exist, is refused before DuckDB would create an empty one."""
    target = Path(path)
    if not target.parent.is_dir():
        raise NotFoundError(
            f"cannot open DuckDB database {path!r}: the folder {str(target.parent)!r} "
            "does not exist"
        )
    if not create and not target.exists():
        raise NotFoundError(
            f"no DuckDB database at {path!r} (nothing was created); check the path, or "
            f"create it with `resq --db duckdb:///{path} init`"
        )


def _lock_error(path: str, exc: BaseException) -> BaseException:
    text = str(exc)
    match = _LOCK_PID.search(text)
    if "lock" not in text.lower():
        return BackendError(f"cannot open DuckDB database {path!r}: {text}")
    holder = f"process {match['pid']} ({match['prog']})" if match else "another process"
    return DatabaseLockedError(
        f"database {path!r} is locked by {holder}: DuckDB allows one writing process per "
        "file. Stop that process (for example a running `resq watch` or dashboard), or use "
        "another database file."
    )


def _check_tenant_tree(tree: Any, tables: set[str]) -> None:
    """Walk DuckDB's own parse of a tenant query (``json_serialize_sql``): every table is
    a tenant table or one of the query's CTEs, unqualified, and no table function is
    called. A second parser, the engine's, so a difference between sqlglot's reading of
    the statement and DuckDB's cannot open a way out."""
    if not isinstance(tree, dict) or tree.get("error"):
        raise TenantScopeError("the query could not be checked for tenant scope")
    ctes: set[str] = set()
    refs: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            if kind == "TABLE_FUNCTION" or kind == "SHOW_REF" or kind == "COLUMN_DATA_REF":
                raise TenantScopeError("table functions are not available to a tenant")
            if kind == "BASE_TABLE":
                refs.append(node)
            cte_map = node.get("cte_map")
            if isinstance(cte_map, dict):
                for entry in cte_map.get("map") or []:
                    ctes.add(str(entry.get("key", "")).lower())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree.get("statements"))
    for ref in refs:
        name = str(ref.get("table_name", "")).lower()
        if ref.get("schema_name") or ref.get("catalog_name") or name not in tables | ctes:
            raise TenantScopeError(f"table {ref.get('table_name')!r} is not available to a tenant")


def _translate(exc: BaseException) -> BaseException:
    text = str(exc)
    if (
        isinstance(exc, duckdb.TransactionException)
        or "Conflict on" in text
        or (isinstance(exc, duckdb.ConstraintException) and "duplicate key" in text.lower())
    ):
        return ConflictError(f"a concurrent change conflicted; retry: {text}")
    return BackendError(text)
