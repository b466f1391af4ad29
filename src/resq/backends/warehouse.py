"""Operations every backend shares, written once over the Backend primitives and sql/ files.

Loading with validation, ad-hoc SQL, the reads the CLI and dashboard use, the hash-chained
audit log, external signals and chaos edits, order overrides and tenant scoping all live
here; a backend only says how to run SQL in its engine.
"""

from __future__ import annotations

import getpass
import itertools
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from resq import sqlfiles
from resq.backends import paging
from resq.backends.base import BATCH_ROWS, Backend, Result
from resq.backends.paging import Fetch
from resq.core import reasons, urgency
from resq.core.codes import OPEN_STATUSES, OrderStatus
from resq.errors import (
    BackendError,
    ConflictError,
    NotFoundError,
    ResqError,
    TenantScopeError,
    ValidationError,
)
from resq.errors import RowIssue as Issue
from resq.retrying import conflict_retrying

if TYPE_CHECKING:
    import pyarrow.compute as pc
    from sqlglot import exp

    from resq.core import audit as audit_chain
    from resq.core import validation
    from resq.core.alerts import RoutingPolicy
    from resq.core.validation import TableSpec
else:  # sqlglot loads when a query is built or parsed, not for reads already rendered;
    # pyarrow.compute when a kernel is first called (read commands call none); the rules
    # (the audit chain, validation) when a write or a check first needs them, so a read
    # command loads neither
    from resq._lazy import LazyAttribute, LazyModule

    exp = LazyAttribute("sqlglot", "exp")
    pc = LazyModule("pyarrow.compute")
    audit_chain = LazyModule("resq.core.audit")
    validation = LazyModule("resq.core.validation")

SCHEMA_VERSION = 6
"""1: the initial schema. 2: adds stock_history (daily consumption and stock series), the
stored alert routing (alert_routes, alert_timeouts, alert_channels) and watch_lease. 3: adds
demand_forecast (the per-item forecast stock_analysis uses). 4: adds the provenance parts
(stock_source, weather_source, vendor_status_source, demand_source) to purchase_orders and
alerts. 5: adds the sourcing columns (vendors.vendor_type and reliability,
vendor_catalog.min_order_qty and pack_size) and vendor_authorization, seeded with the
defaults when empty."""

# Tables a tenant may read, and the column that scopes them (None: shared reference data).
TENANT_TABLES: dict[str, str | None] = {
    "organizations": "org_id",
    "inventory_master": "org_id",
    "stock_analysis": "org_id",
    "purchase_orders": "org_id",
    "audit_log": "org_id",
    "alerts": "org_id",
    "notifications": "org_id",
    "sector_config": None,
    "vendors": None,
    "vendor_catalog": None,
    "vendor_authorization": None,
    "vendor_status": None,
    "city_weather": None,
    "stock_history": "org_id",
    "demand_forecast": "org_id",
}


AUDIT_KEY_ENV = "RESQ_AUDIT_KEY"


def audit_key() -> bytes | None:
    """The audit HMAC key from ``RESQ_AUDIT_KEY`` (None when unset: plain SHA-256)."""
    value = os.environ.get(AUDIT_KEY_ENV)
    return value.encode() if value else None


def utcnow() -> datetime:
    """Naive UTC now, as stored in TIMESTAMP_NTZ columns."""
    return datetime.now(UTC).replace(tzinfo=None)


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True)
class LoadReport:
    table: str
    rows: int
    data_source: str


def spec_schema(spec: TableSpec) -> pa.Schema:
    """The Arrow schema of a table's validated rows (what :meth:`write_rows` stages)."""
    return pa.schema([(c.name, c.arrow_type) for c in spec.columns])


class BatchLoad:
    """The writer :meth:`WarehouseBackend.load_batches` hands out: validates and writes one
    batch at a time inside the stream's transaction, and counts rows per table."""

    def __init__(self, backend: WarehouseBackend, data_source: str, now: datetime) -> None:
        self._backend = backend
        self._source = data_source
        self._now = now
        self._known: dict[str, set[str]] = {}
        self._was_empty: dict[str, bool] = {}
        self.rows: dict[str, int] = {}
        self.batches: dict[str, int] = {}

    def write(self, table: str, data: Any, *, trusted: bool = False, new_keys: bool = False) -> int:
        """Validate and upsert one batch; returns its rows. A bad batch raises
        :class:`~resq.errors.ValidationError` with rows counted from the table's first
        batch, and (raised inside ``load_batches``) nothing of the stream is written.

        ``trusted=True`` is for resq's own generated tables (the simulation's network):
        an Arrow table with exactly the spec's columns and types is written without being
        validated again (a property test holds every simulated table to
        :func:`~resq.core.validation.validate_table`, which returns it unchanged). Any other
        data is validated as usual.

        ``new_keys=True`` says no earlier batch of this stream had any of the batch's keys
        (the simulation's batches are distinct organizations). Into a table that was empty
        when the stream first wrote to it, such a batch is appended as it is: no key can
        match, so the keyed upsert's lookup against everything written before is skipped.
        Where the table had rows, the batch is upserted as usual."""
        spec = validation.table_spec(table)
        done = self.rows.get(spec.name, 0)
        if spec.name not in self._was_empty:
            self._was_empty[spec.name] = self._backend._is_empty(spec.name)
        if trusted and isinstance(data, pa.Table) and data.schema.equals(spec_schema(spec)):
            checked = data
        else:
            raw = read_input(data, spec)
            known = {ref: self._known_keys(ref) for ref in (spec.references or {}).values()}
            try:
                checked = validation.validate_table(
                    spec, raw, known=known, default_source=self._source
                )
            except ValidationError as exc:
                issues = [i if i.row is None else replace(i, row=i.row + done) for i in exc.issues]
                raise ValidationError(exc.what, issues) from None
        append = new_keys and self._was_empty[spec.name]
        self._backend.write_batch(spec, checked, now=self._now, append=append)
        if spec.name in self._known:
            self._known[spec.name].update(
                v for v in checked.column(spec.key[0]).to_pylist() if v is not None
            )
        self.rows[spec.name] = done + checked.num_rows
        self.batches[spec.name] = self.batches.get(spec.name, 0) + 1
        return checked.num_rows

    def _known_keys(self, table: str) -> set[str]:
        if table not in self._known:
            self._known[table] = set(self._backend._keys(table))
        return self._known[table]


def read_input(data: Any, spec: TableSpec, null_markers: Iterable[str] = ()) -> pa.Table:
    """Arrow from pandas, Arrow, a list of records, or a CSV / Parquet / JSON file path.

    Nothing is guessed on the way: records take the union of every record's keys, a CSV
    file is read as text (only an empty field is NULL; validation parses each column by its
    kind), and a column Arrow cannot type becomes text, so each bad cell is reported.
    A text cell exactly equal to one of ``null_markers`` is NULL (only text cells: a
    number NaN never matches the marker ``nan``)."""
    markers = tuple(str(m) for m in null_markers)
    if isinstance(data, pa.Table):
        return _marked(data, markers)
    if isinstance(data, pa.RecordBatch):
        return _marked(pa.Table.from_batches([data]), markers)
    if isinstance(data, (str, Path)):
        return _read_file(Path(data), spec, markers)
    if isinstance(data, list):
        return _records_table(data, spec, markers)
    if type(data).__name__ == "DataFrame" and hasattr(data, "to_dict"):
        return _pandas_table(data, markers)
    raise ValidationError(
        f"cannot load {spec.name}",
        [
            Issue(
                None,
                "data",
                "expected a pandas or Arrow table, a list of records or a file path",
                type(data).__name__,
            )
        ],
    )


def _marked(table: pa.Table, markers: tuple[str, ...]) -> pa.Table:
    """Text (and categorical text) cells equal to a null marker become NULL."""
    if not markers:
        return table
    value_set = pa.array(markers, pa.string())
    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            if pa.types.is_dictionary(column.type):
                column = pa.chunked_array([c.dictionary_decode() for c in column.chunks], kind)
            hit = pc.is_in(column, value_set=value_set.cast(kind))
            column = pc.if_else(hit, pa.scalar(None, kind), column)
        columns[name] = column
    return pa.table(columns)


def _unmarked(values: list[Any], markers: tuple[str, ...]) -> list[Any]:
    return [None if isinstance(v, str) and v in markers else v for v in values]


def _records_table(records: list[Any], spec: TableSpec, markers: tuple[str, ...] = ()) -> pa.Table:
    """Arrow from a list of dicts, with a column for every key any record has (a record
    without the key has NULL there)."""
    bad = [i + 1 for i, r in enumerate(records) if not isinstance(r, Mapping)]
    if bad:
        raise ValidationError(
            f"cannot load {spec.name}",
            [Issue(i, "data", "expected a record (a dict of column values)") for i in bad],
        )
    names = list(dict.fromkeys(str(k) for r in records for k in r))
    rows = [{str(k): v for k, v in r.items()} for r in records]
    return pa.table(
        {
            name: validation.column_of(_unmarked([r.get(name) for r in rows], markers))
            for name in names
        }
    )


def _pandas_table(frame: Any, markers: tuple[str, ...] = ()) -> pa.Table:
    """Arrow from a pandas frame; a column Arrow cannot convert (mixed types, integers
    beyond 64 bits) is built value by value instead. Categoricals arrive as dictionary
    columns, which validation reads as their values."""
    columns: dict[str, pa.Array] = {}
    for name in frame.columns:
        series = frame[name]
        if series.dtype == object:
            # Arrow would guess a type for mixed objects ([1.5, True] becomes 1.0, 1.0);
            # NaN and None are missing, as pandas means them.
            values = [None if v is None or v != v else v for v in series.tolist()]
            columns[str(name)] = validation.column_of(_unmarked(values, markers))
            continue
        try:
            column = pa.Array.from_pandas(series)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            column = validation.column_of([None if v != v else v for v in series.tolist()])
        columns[str(name)] = _marked(pa.table({"c": column}), markers).column(0)
    return pa.table(columns)


def _read_file(path: Path, spec: TableSpec, markers: tuple[str, ...] = ()) -> pa.Table:
    if not path.exists():
        raise ValidationError(
            f"cannot load {spec.name}", [Issue(None, "file", "no such file", str(path))]
        )
    suffix = path.suffix.lower()
    try:
        if suffix in {".csv", ".tsv", ".txt"}:
            import pyarrow.csv as pacsv

            # Every column of the table is read as text: validation parses it by kind, so
            # "true" is never a number and "NA" is a value unless named a null marker.
            return pacsv.read_csv(
                path,
                parse_options=pacsv.ParseOptions(
                    delimiter="\t" if suffix == ".tsv" else ",", newlines_in_values=True
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={c.name: pa.string() for c in spec.columns},
                    null_values=["", *markers],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
        if suffix in {".parquet", ".pq"}:
            import pyarrow.parquet as pq

            return _marked(pq.read_table(path), markers)
        if suffix in {".json", ".jsonl", ".ndjson"}:
            text = path.read_text(encoding="utf-8")
            stripped = text.lstrip()
            if stripped.startswith("["):
                records = json.loads(text)
            else:
                records = [json.loads(line) for line in text.splitlines() if line.strip()]
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise ValueError("expected a JSON array of objects or one object per line")
            return _records_table(records, spec, markers)
    except (pa.ArrowInvalid, ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(
            f"cannot load {spec.name}",
            [Issue(None, "file", f"malformed {suffix[1:]} file: {exc}", str(path))],
        ) from None
    raise ValidationError(
        f"cannot load {spec.name}",
        [Issue(None, "file", "unsupported file type; use .csv, .parquet or .json", str(path))],
    )


# Loading these tables adds cities or vendors, whose signals are refreshed at once.
SIGNAL_INPUTS = frozenset({"organizations", "vendors"})


def _folded(table: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """An order's typed reason columns read as one ``reason`` JSON text column
    (resq.core.reasons.fold); other tables' batches as they are."""
    if table != "purchase_orders":
        return batches
    return (reasons.fold(b) for b in batches)


class WarehouseBackend(Backend):
    """The shared operations; subclasses provide the primitives of one engine."""

    target_lag_s: float = 60.0

    listing_page_rows: int | None = None
    """Rows per page of a long sorted read (:meth:`read_batches`); None: one query, which
    suits a warehouse that sorts on its own side and streams the result (Snowflake)."""

    digest_batch_alerts: int | None = None
    """About how many alerts one statement groups into digests (a cycle's organizations go
    in batches of whole organizations); None: one statement (a warehouse that aggregates on
    its own side, Snowflake)."""

    # ------------------------------------------------------------------ SQL files

    def _file(self, name: str, index: int = 0) -> str:
        cache: dict[tuple[str, int], str] = self.__dict__.setdefault("_rendered", {})
        key = (name, index)
        if key not in cache:
            cache[key] = self.render(sqlfiles.statements(name)[index])
        return cache[key]

    def _file_statements(self, name: str) -> list[str]:
        """Every statement of sql/<name>.sql, rendered for this engine, in order."""
        return [self._file(name, i) for i in range(len(sqlfiles.statements(name)))]

    def run_file(self, name: str, params: Sequence[Any] | None = None) -> pa.Table:
        return self.fetch(self._file(name), params)

    # ------------------------------------------------------------------ schema

    def init(self, *, now: datetime | None = None) -> dict[str, Any]:
        """Create or upgrade the schema, functions and stock_analysis. Safe to re-run."""
        now = now or utcnow()
        before = self.schema_version()
        with self.transaction():
            for statement in self._file_statements("schema"):
                self.execute(statement)
            self._upgrade(before, now)
            self._seed_sector_config(now)
            self._seed_vendor_authorization(now)
            self._ensure_audit_head(now)
            key = audit_key()
            last = self._audit_last()
            if key is not None and (last is None or not audit_chain.is_keyed(last["hash"])):
                # From here on every row is keyed; verify with the key requires it.
                self.append_audit(
                    [
                        {
                            "actor": "resq",
                            "action": "audit.keyed",
                            "details": {"description": "audit hashes are HMACs from here on"},
                        }
                    ],
                    now=now,
                )
        self.install_functions()
        self.create_analysis()
        after = self.schema_version()
        return {"schema_version": after, "previous_version": before, "upgraded": before != after}

    def schema_version(self) -> int:
        try:
            value = (
                self.fetch(self.render("SELECT MAX(version) AS v FROM resq_schema_version"))
                .column(0)[0]
                .as_py()
            )
        except Exception:
            return 0
        return int(value or 0)

    def _upgrade(self, before: int, now: datetime) -> None:
        """Bring an older schema to SCHEMA_VERSION; version 0 is a fresh database."""
        if before < 6:
            self._convert_reasons()
        if before < SCHEMA_VERSION:
            self.execute(
                self.render(
                    "INSERT INTO resq_schema_version (version, applied_at, description) VALUES "
                    "(?, ?, ?)"
                ),
                [
                    SCHEMA_VERSION,
                    now,
                    "initial schema" if before == 0 else f"upgrade from {before}",
                ],
            )

    def _convert_reasons(self) -> None:
        """Version 6: each order's JSON reason (the ``reason`` text column of version 5 and
        before) into its typed columns (resq.core.reasons.from_text, never lossy), then the
        text column is dropped. Nothing to do where there is no such column."""
        found = self.fetch(
            self.render(
                "SELECT COUNT(*) AS n FROM information_schema.columns "
                "WHERE LOWER(table_name) = 'purchase_orders' AND LOWER(column_name) = 'reason' "
                "AND LOWER(table_schema) = LOWER(CURRENT_SCHEMA())"
            )
        )
        if not int(found.column(0)[0].as_py() or 0):
            return
        old = self.fetch(self.render("SELECT po_id, reason FROM purchase_orders ORDER BY po_id"))
        if old.num_rows:
            typed = reasons.from_texts(old.column("reason").to_pylist())
            staged = pa.table(
                {
                    "po_id": old.column("po_id"),
                    **dict(zip(typed.column_names, typed.columns, strict=True)),
                }
            )
            self.stage("resq_stage_reasons", staged)
            sets = ", ".join(
                f"{c} = CAST(s.{c} AS ARRAY(VARCHAR))"
                if pa.types.is_list(reasons.SCHEMA.field(c).type)
                else f"{c} = s.{c}"
                for c in reasons.COLUMNS
            )
            self.execute(
                self.render(
                    f"UPDATE purchase_orders AS t SET {sets} "
                    "FROM resq_stage_reasons AS s WHERE t.po_id = s.po_id"
                )
            )
        self.execute(self.render("ALTER TABLE purchase_orders DROP COLUMN reason"))

    def _seed_sector_config(self, now: datetime) -> None:
        from resq.core.sectors import DEFAULT_SECTOR_CONFIG

        for cfg in DEFAULT_SECTOR_CONFIG.values():
            row = cfg.as_row()
            cols = [*row, "updated_at"]
            insert: str | exp.Insert | None = insert_if_absent_text("sector_config", cols, "sector")
            if insert is None:
                insert = insert_if_absent_query("sector_config", cols, "sector")
            self.execute(self.render(insert), [*row.values(), now, row["sector"]])

    def _seed_vendor_authorization(self, now: datetime) -> None:
        """The default authorization (resq.core.sourcing), only into an empty table: edits
        (added rows, rows revoked with authorized false) are kept across re-runs."""
        from resq.core.sourcing import DEFAULT_AUTHORIZATION

        count = self.fetch(self.render("SELECT COUNT(*) AS n FROM vendor_authorization"))
        if int(count.column(0)[0].as_py() or 0):
            return
        insert = self.render(
            "INSERT INTO vendor_authorization "
            "(sector, category, vendor_type, authorized, data_source, updated_at) "
            "VALUES (?, ?, ?, TRUE, 'REAL', ?)"
        )
        for sector, category, vendor_type in DEFAULT_AUTHORIZATION:
            self.execute(insert, [sector, category, vendor_type, now])

    def create_analysis(self) -> None:
        """Create stock_analysis (the dynamic table, or its emulation)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ ad-hoc SQL

    def sql(self, query: str, params: Sequence[Any] | None = None) -> Result:
        """Run Snowflake-dialect SQL (one or more statements); returns the last result. A
        result holding every reason column of an order (``SELECT *``) shows them as one
        ``reason`` column of JSON text, as :meth:`read` does."""
        from resq.sqlfiles import parse_snowflake

        statements = parse_snowflake(query)
        if not statements:
            raise ResqError("no SQL statement to run")
        table = pa.table({})
        if any(
            t.name.lower() == "stock_analysis" for s in statements for t in s.find_all(exp.Table)
        ):
            self.refresh_if_due()
        for statement in statements:
            rendered = self.render(statement)
            if _is_query(statement):
                table = self.fetch(rendered, params)
            else:
                self.execute(rendered, params)
                self._mark_changed()
                table = pa.table({})
        return Result(reasons.fold(table))

    def _mark_changed(self) -> None:
        """Note that source tables of stock_analysis may have changed."""

    def _note_changes(
        self,
        table: str,
        keys: str | None = None,
        params: Sequence[Any] | None = None,
        *,
        rows: int | None = None,
    ) -> None:
        """Inside the writing transaction: rows of ``table`` changed. ``keys`` is a SELECT of
        their key columns (resq's own SQL, bound ``params``), None when unknown; ``rows``
        how many. A backend that refreshes stock_analysis incrementally (DuckDB) logs them
        with the write; here the analysis is only marked stale."""
        self._mark_changed()

    def refresh_if_due(self) -> None:
        """Refresh stock_analysis before a read when it is due, as a warehouse would have
        in the background; a suspended table is read as it is (stale), like Snowflake."""
        from resq.errors import AnalysisSuspendedError

        try:
            self.refresh_analysis()
        except AnalysisSuspendedError:
            pass

    def fetch_tenant(self, sql: str, params: Sequence[Any]) -> pa.Table:
        """Run a tenant's query, already checked and scoped by TenantView.sql. A backend
        whose engine can restrict the connection further (DuckDB) does so here."""
        return self.fetch(sql, params)

    # ------------------------------------------------------------------ loading

    def load(
        self,
        table: str,
        data: Any,
        *,
        mode: str = "upsert",
        data_source: str = "REAL",
        actor: str | None = None,
        now: datetime | None = None,
        null_markers: Iterable[str] = (),
    ) -> LoadReport:
        """Validate ``data`` as a whole and write it; one bad row writes nothing.

        ``mode`` is ``upsert`` (rows with an existing key replace it) or ``append`` (an
        existing key is an error). Loaded rows are labelled ``data_source`` (REAL). Only an
        empty field is missing (NULL), unless ``null_markers`` names text that also means
        missing (for example ``("NA", "NULL")``). What a load accepts: docs/backends.md.
        """
        spec = validation.table_spec(table)
        if mode not in {"upsert", "append"}:
            raise ValidationError(
                f"cannot load {spec.name}", [Issue(None, "mode", "must be upsert or append", mode)]
            )
        raw = read_input(data, spec, null_markers)
        known = {ref: self._keys(ref) for ref in (spec.references or {}).values()}
        checked = validation.validate_table(spec, raw, known=known, default_source=data_source)
        if mode == "append" and checked.num_rows:
            self._check_new_keys(spec, checked)
        now = now or utcnow()
        with self.transaction():
            self.write_rows(spec, checked, now=now)
            self.append_audit(
                [
                    {
                        "actor": actor or default_actor(),
                        "action": "data.loaded",
                        "org_id": None,
                        "entity_id": spec.name,
                        "details": {"rows": checked.num_rows, "mode": mode},
                    }
                ],
                now=now,
            )
        if spec.name in SIGNAL_INPUTS:
            # New cities and vendors get their signals now, so every read after a load
            # shows current weather and vendor status, not only the next heal.
            self.refresh_signals(now=now)
        return LoadReport(spec.name, checked.num_rows, data_source)

    @contextmanager
    def load_batches(
        self,
        tables: Sequence[str],
        *,
        data_source: str = "REAL",
        actor: str | None = None,
        now: datetime | None = None,
    ) -> Iterator[BatchLoad]:
        """Load a stream of batches into ``tables`` in ONE transaction: all or nothing.

        Each :meth:`BatchLoad.write` validates its batch with the same vectorized rules as
        :meth:`load` (rows numbered across all the batches of a table, so an error names
        the row of the whole stream) and upserts it; memory follows the batch, not the
        stream. An error anywhere, including in the caller's code inside the block, rolls
        everything back. Each table's load is audited once (``data.loaded``) at the end."""
        now = now or utcnow()
        specs = [validation.table_spec(t) for t in tables]
        self.prepare_stages({f"resq_stage_{s.name}": spec_schema(s) for s in specs})
        loader = BatchLoad(self, data_source, now)
        with self.transaction():
            yield loader
            self.append_audit(
                [
                    {
                        "actor": actor or default_actor(),
                        "action": "data.loaded",
                        "org_id": None,
                        "entity_id": name,
                        "details": {
                            "rows": rows,
                            "mode": "upsert",
                            "batches": loader.batches[name],
                        },
                    }
                    for name, rows in loader.rows.items()
                ],
                now=now,
            )
        if SIGNAL_INPUTS & set(loader.rows):
            self.refresh_signals(now=now)

    def prepare_stages(self, schemas: Mapping[str, pa.Schema]) -> None:
        """Make sure the named stages exist before a transaction fills them. A warehouse
        where creating a table inside a transaction would commit it (Snowflake) creates
        them here; elsewhere staging needs no preparation."""

    def _staged_upsert(self, spec: TableSpec, data: pa.Table) -> tuple[str, Any, Any]:
        """Stage ``data`` and return the stage's name with the keyed DELETE and the INSERT
        that upsert it into ``spec``'s table."""
        stage = f"resq_stage_{spec.name}"
        self.stage(stage, data)
        statements: tuple[Any, Any] | None = upsert_text(
            spec.name, stage, spec.key, data.column_names
        )
        if statements is None:
            statements = upsert_query(spec.name, stage, spec.key, data.column_names)
        delete, insert = statements
        return stage, delete, insert

    def write_batch(
        self, spec: TableSpec, data: pa.Table, *, now: datetime, append: bool = False
    ) -> None:
        """:meth:`write_rows` for one batch of a stream: the keyed DELETE runs only when
        the table already has a row sharing the batch's first key column (a fresh network
        is inserted without joining against everything written before it). ``append``
        (the caller knows no stored row has the batch's keys) inserts without looking."""
        stage, delete, insert = self._staged_upsert(spec, data)
        if append:
            self.execute(self.render(insert), [now])
            self._note_staged(spec, stage, data.num_rows)
            return
        first = spec.key[0]  # a spec's own names, never a user string
        probe = (
            f"SELECT 1 FROM {spec.name} AS t "
            f"WHERE t.{first} IN (SELECT {first} FROM {stage}) LIMIT 1"
        )
        if self.fetch(self.render(probe)).num_rows:
            self._write_staged(spec, stage, data.column_names, (delete, insert), now=now)
        else:
            self.execute(self.render(insert), [now])
        self._note_staged(spec, stage, data.num_rows)

    def _is_empty(self, table: str) -> bool:
        """Whether ``table`` (a spec's own name, never a user string) has no rows."""
        return not self.fetch(self.render(f"SELECT 1 FROM {table} LIMIT 1")).num_rows

    def _keys(self, table: str) -> list[str]:
        key = validation.table_spec(table).key[0]
        rows = self.fetch(self.render(exp.select(key).from_(table)))
        return [v for v in rows.column(0).to_pylist() if v is not None]

    def _check_new_keys(self, spec: TableSpec, data: pa.Table) -> None:
        existing = self.fetch(self.render(exp.select(*spec.key).from_(spec.name)))
        have = set(zip(*(existing.column(k).to_pylist() for k in spec.key), strict=True))
        issues = [
            Issue(i + 1, spec.key[-1], "key already exists (use mode='upsert' to replace)")
            for i, key in enumerate(
                zip(*(data.column(k).to_pylist() for k in spec.key), strict=True)
            )
            if key in have
        ]
        if issues:
            raise ValidationError(f"loading {spec.name} failed", issues)

    def write_rows(self, spec: TableSpec, data: pa.Table, *, now: datetime) -> None:
        """Upsert validated rows by key (inside the caller's transaction)."""
        stage, delete, insert = self._staged_upsert(spec, data)
        self._write_staged(spec, stage, data.column_names, (delete, insert), now=now)
        self._note_staged(spec, stage, data.num_rows)

    def _write_staged(
        self,
        spec: TableSpec,
        stage: str,
        columns: Sequence[str],
        statements: tuple[Any, Any],
        *,
        now: datetime,
    ) -> None:
        """Write the staged rows over ``spec``'s table by key: each row replaces the stored
        row with its key (the columns a load does not carry get their defaults again) or
        is added. Here the keyed DELETE and the INSERT of ``statements``; a backend may
        write the same rows another way."""
        delete, insert = statements
        self.execute(self.render(delete))
        self.execute(self.render(insert), [now])

    def _note_staged(self, spec: TableSpec, stage: str, rows: int) -> None:
        """The rows of an upsert changed: their keys are the stage's."""
        self._note_changes(spec.name, f"SELECT {', '.join(spec.key)} FROM {stage}", rows=rows)

    # ------------------------------------------------------------------ audit log

    def append_audit(
        self, events: Iterable[Mapping[str, Any]], *, now: datetime | None = None
    ) -> int:
        """Append events to the hash chain inside the current transaction; returns the count.

        Each event needs ``actor`` and ``action``; ``org_id``, ``entity_id`` and ``details``
        (a dict, stored as JSON) are optional.
        """
        now = now or utcnow()
        batch = uuid.uuid4().hex[:20]
        prepared = [
            {
                "event_id": f"{batch}-{i}",
                "event_ts": now,
                "actor": str(e["actor"]),
                "action": str(e["action"]),
                "org_id": e.get("org_id"),
                "entity_id": e.get("entity_id"),
                "details": e["details"]
                if isinstance(e.get("details"), str)
                else json.dumps(e.get("details") or {}, sort_keys=True, default=str),
            }
            for i, e in enumerate(events)
        ]
        if not prepared:
            return 0
        key = audit_key()
        with self.transaction():
            head = self._ensure_audit_head(now)
            seq, prev = head["seq"], head["hash"]
            rows = audit_chain.chain(prepared, prev, seq + 1, key)
            table = pa.Table.from_pylist(rows, schema=_AUDIT_SCHEMA)
            self.stage("resq_stage_audit", table)
            self.execute(
                self.render(
                    "INSERT INTO audit_log (seq, event_id, event_ts, actor, action, org_id, "
                    "entity_id, details, prev_hash, hash) "
                    "SELECT seq, event_id, event_ts, actor, action, org_id, entity_id, details, "
                    "prev_hash, hash FROM resq_stage_audit"
                )
            )
            # Move the head only from where this append started: a concurrent append that
            # moved it first (a warehouse without write-write conflicts, like Snowflake)
            # leaves it unmatched, and this transaction is retried instead of forking.
            self.execute(
                self.render(
                    "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1 AND seq = ? AND hash = ?"
                ),
                [rows[-1]["seq"], rows[-1]["hash"], seq, prev],
            )
            now_head = self.fetch(self.render("SELECT seq, hash FROM audit_head WHERE id = 1"))
            if now_head.to_pylist() != [{"seq": rows[-1]["seq"], "hash": rows[-1]["hash"]}]:
                raise ConflictError("the audit chain moved under a concurrent append; retry")
        return len(rows)

    def heal_transaction(self, *, holder: str = "resq") -> AbstractContextManager[None]:
        """The transaction a heal cycle commits in. A backend whose concurrent writers could
        interleave (Snowflake) serializes it; with a single writer (DuckDB) it is
        :meth:`transaction`."""
        return self.transaction()

    def _audit_head(self) -> dict[str, Any] | None:
        rows = self.fetch(self.render("SELECT seq, hash FROM audit_head WHERE id = 1")).to_pylist()
        return rows[0] if rows else None

    def _audit_last(self) -> dict[str, Any] | None:
        rows = self.fetch(
            # Not ORDER BY seq DESC LIMIT 1: DuckDB 2.0's top-N has returned an older row
            # after deletes and re-inserts of the same keys; MAX does not.
            self.render(
                "SELECT seq, hash FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)"
            )
        ).to_pylist()
        return rows[0] if rows else None

    def _ensure_audit_head(self, now: datetime) -> dict[str, Any]:
        """The chain head, repaired first when it is missing or behind the log.

        A missing head is recomputed from the log's newest row, and a head behind the log
        (rewound) is moved to it; each repair is itself audited (``audit.head_repaired``),
        so the log keeps the evidence. A head *ahead* of the log is left as it is: rows
        were deleted, and the next row links to the missing one, so verify keeps reporting
        it.
        """
        head, last = self._audit_head(), self._audit_last()
        if head is not None and (last is None or head["seq"] >= last["seq"]):
            return head
        target = last or {"seq": 0, "hash": audit_chain.GENESIS}
        if head is None:
            reason = "the chain head was missing"
            self.execute(
                self.render("INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)"),
                [target["seq"], target["hash"]],
            )
        else:
            reason = f"the chain head was at event {head['seq']}, behind the log"
            self.execute(
                self.render(
                    "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1 AND seq = ? AND hash = ?"
                ),
                [target["seq"], target["hash"], head["seq"], head["hash"]],
            )
        if last is None:
            return dict(target)  # an empty log: the genesis head needs no repair event
        self.append_audit(
            [
                {
                    "actor": "resq",
                    "action": audit_chain.HEAD_REPAIRED,
                    "details": {
                        "description": f"{reason}; recomputed from event {target['seq']}",
                        "head_seq": None if head is None else head["seq"],
                        "log_seq": target["seq"],
                    },
                }
            ],
            now=now,
        )
        return self._audit_head() or dict(target)

    def verify_audit(self, anchor: audit_chain.Anchor | None = None) -> audit_chain.ChainCheck:
        """Walk the whole chain; report the first edited, deleted or re-linked row, a
        missing or rewound head, and (with ``anchor``) a chain that no longer extends it.
        Keyed rows are checked with ``RESQ_AUDIT_KEY``."""
        rows = self.fetch(self.render("SELECT * FROM audit_log ORDER BY seq")).to_pylist()
        check = audit_chain.verify_chain(rows, key=audit_key())
        if not check.ok:
            return check
        head = self._audit_head()
        last_seq = rows[-1]["seq"] if rows else 0
        last_hash = rows[-1]["hash"] if rows else audit_chain.GENESIS
        problem: str | None = None
        if head is None:
            problem = "the chain head is missing (deleted): newest rows may have been removed"
        elif head["seq"] > last_seq:
            problem = (
                f"the newest rows were deleted (the chain head is at event {head['seq']}, "
                f"the log ends at {last_seq})"
            )
        elif head["seq"] < last_seq:
            problem = (
                f"the chain head was rewound (it is at event {head['seq']}, "
                f"the log ends at {last_seq})"
            )
        elif head["hash"] != last_hash:
            problem = "the chain head's hash does not match the newest row (rewritten)"
        if problem is not None:
            return replace(check, ok=False, broken_seq=last_seq + 1, problem=problem)
        if anchor is not None:
            at = next((r for r in rows if r["seq"] == anchor.seq), None)
            if at is None:
                return replace(
                    check,
                    ok=False,
                    broken_seq=anchor.seq,
                    problem=f"the anchored event {anchor.seq} is gone: the log was cut back "
                    f"below the anchor (it ends at {last_seq})",
                )
            if at["hash"] != anchor.hash:
                return replace(
                    check,
                    ok=False,
                    broken_seq=anchor.seq,
                    problem=f"event {anchor.seq} no longer has the anchored hash (rewritten)",
                )
            check = replace(check, anchored=anchor.seq)
        return self._verify_content(check)

    def _verify_content(self, check: audit_chain.ChainCheck) -> audit_chain.ChainCheck:
        """Recompute every ``heal.actions`` event's digests of its cycle's orders and alerts
        from the tables (resq.core.audit.check_content), and its provenance label counts from
        their part columns: an order or alert edited, added or removed after the fact is
        reported with its cycle and organization."""
        events = self.fetch(
            self.render(
                "SELECT seq, org_id, entity_id, details FROM audit_log "
                "WHERE action = 'heal.actions' ORDER BY seq"
            )
        ).to_pylist()
        if not events:
            return check
        orders = self.fetch(self.render(audit_chain.verify_query("purchase_orders")))
        alerts = self.fetch(self.render(audit_chain.verify_query("alerts")))
        changes = self.fetch(
            self.render(
                "SELECT action, entity_id, details FROM audit_log "
                "WHERE action IN ('order.set_quantity', 'order.resourced') ORDER BY seq"
            )
        ).to_pylist()
        content = audit_chain.check_content(events, orders, alerts, changes)
        if content.ok:
            return replace(check, content_checked=content.checked)
        return replace(
            check,
            ok=False,
            broken_seq=content.broken_seq,
            problem=content.problem,
            content_checked=content.checked,
        )

    def audit_anchor(self, *, now: datetime | None = None) -> audit_chain.Anchor:
        """The head of the chain now, to keep outside the database."""
        now = now or utcnow()
        head = self._audit_head() or {"seq": 0, "hash": audit_chain.GENESIS}
        return audit_chain.Anchor(int(head["seq"]), str(head["hash"]), now.isoformat())

    # ------------------------------------------------------------------ reads

    def read(
        self,
        table: str,
        *,
        org_id: str | None = None,
        where: Mapping[str, Any] | None = None,
        order_by: Sequence[str] = (),
        limit: int | None = None,
    ) -> pa.Table:
        """Rows of a resq table, optionally for one organization and equal to ``where``.
        An order's reason is read as one ``reason`` column of JSON text, the object its
        typed columns hold (resq.core.reasons)."""
        rows = self.fetch(*self._select(table, org_id, where, order_by, limit))
        return reasons.fold(rows) if table == "purchase_orders" else rows

    def read_batches(
        self,
        table: str,
        *,
        org_id: str | None = None,
        where: Mapping[str, Any] | None = None,
        order_by: Sequence[str] = (),
        limit: int | None = None,
        batch_rows: int = BATCH_ROWS,
        page_rows: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """The rows :meth:`read` returns, as Arrow record batches read as they come (the
        warehouse orders and limits them): memory stays flat in the number of rows.

        ``page_rows`` (default :attr:`listing_page_rows`): read a sorted result that may be
        longer a page of that many rows at a time (`resq.backends.paging`), so an engine
        that sorts in this process holds one page of the sort, not all of it; None reads it
        in one query."""
        _check_table(table)
        if table == "stock_analysis":
            self.refresh_if_due()
        return _folded(
            table, self._batches(table, org_id, where, order_by, limit, batch_rows, page_rows)
        )

    def read_snapshot(self, batch_rows: int = BATCH_ROWS) -> AbstractContextManager[Fetch]:
        """A function that runs rendered queries and streams their rows, all reading one
        snapshot of the data where the engine can (DuckDB: one read transaction), so the
        pages of a listing agree with each other. Here: each query reads what is committed
        when it runs."""

        @contextmanager
        def fetching() -> Iterator[Fetch]:
            yield lambda sql, params: self.fetch_batches(sql, params, batch_rows=batch_rows)

        return fetching()

    def _batches(
        self,
        table: str,
        org_id: str | None,
        where: Mapping[str, Any] | None,
        order_by: Sequence[str],
        limit: int | None,
        batch_rows: int,
        page_rows: int | None,
    ) -> Iterator[pa.RecordBatch]:
        """`read_batches` once its table was checked and refreshed."""
        page_rows = self.listing_page_rows if page_rows is None else page_rows
        scope, columns, params = _scoped(table, org_id, where)
        names = [table, *([scope] if scope else []), *columns]
        items = order_items(order_by) if _plain(*names) else None
        terms = paging.terms_of(table, items) if items else None
        if terms is None or page_rows is None or (limit is not None and limit <= page_rows):
            query, params = self._select(table, org_id, where, order_by, limit, refresh=False)
            return self.fetch_batches(query, params, batch_rows=batch_rows)
        pages = self._pages(
            table, _where_text(names[1:]), params, terms, limit, page_rows, batch_rows
        )
        try:
            first = next(pages)  # the first page runs now, as a single query would
        except StopIteration:
            return iter(())
        return itertools.chain([first], pages)

    def _pages(
        self,
        table: str,
        where: str,
        params: Sequence[Any],
        terms: Sequence[paging.Term],
        limit: int | None,
        page_rows: int,
        batch_rows: int,
    ) -> Iterator[pa.RecordBatch]:
        with self.read_snapshot(batch_rows) as fetch:
            yield from paging.pages(
                fetch,
                self.render,
                table,
                where,
                params,
                terms,
                limit=limit,
                page_rows=page_rows,
            )

    def count(
        self,
        table: str,
        *,
        org_id: str | None = None,
        where: Mapping[str, Any] | None = None,
        by: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """How many rows :meth:`read` would return, counted by the warehouse: one row
        ``{"n": ...}``, or one per distinct value of the ``by`` columns (with ``n``)."""
        _check_table(table)
        if table == "stock_analysis":
            self.refresh_if_due()
        return self._count(table, org_id, where, by)

    def _count(
        self,
        table: str,
        org_id: str | None,
        where: Mapping[str, Any] | None,
        by: Sequence[str],
    ) -> list[dict[str, Any]]:
        scope, columns, params = _scoped(table, org_id, where)
        text = count_text(table, scope, columns, by)
        query = text if text is not None else count_query(table, scope, columns, by)
        return self.fetch(self.render(query), params).to_pylist()

    def listing(
        self,
        table: str,
        *,
        org_id: str | None = None,
        where: Mapping[str, Any] | None = None,
        order_by: Sequence[str] = (),
        limit: int | None = None,
        by: Sequence[str] = (),
        batch_rows: int = BATCH_ROWS,
        page_rows: int | None = None,
    ) -> Listing:
        """The first ``limit`` rows (all with None) in ``order_by`` order, streamed (a page
        at a time where `read_batches` pages), and how many rows match in all (counted
        first, by ``by`` too), so a reader can say how many were left out. ``order_by`` is
        one of :mod:`resq.core.urgency`'s orderings. stock_analysis is refreshed once, if
        due, before both."""
        _check_table(table)
        if table == "stock_analysis":
            self.refresh_if_due()
        counts = self._count(table, org_id, where, by)
        total = sum(int(c["n"]) for c in counts)
        batches = _folded(
            table, self._batches(table, org_id, where, order_by, limit, batch_rows, page_rows)
        )
        return Listing(total=total, limit=limit, counts=counts, batches=batches)

    def _select(
        self,
        table: str,
        org_id: str | None,
        where: Mapping[str, Any] | None,
        order_by: Sequence[str],
        limit: int | None,
        *,
        refresh: bool = True,
    ) -> tuple[str, list[Any]]:
        _check_table(table)
        if refresh and table == "stock_analysis":
            self.refresh_if_due()
        scope, columns, params = _scoped(table, org_id, where)
        text = select_text(table, scope, columns, order_by, limit)
        query = text if text is not None else select_query(table, scope, columns, order_by, limit)
        return self.render(query), params

    def sector_summary(self, *, org_id: str | None = None) -> pa.Table:
        """Per sector, most important first: items ``critical``, ``warning`` and ``ok``,
        ``open_orders`` and ``open_alerts``, for one organization or all. ``data_source``
        is SIMULATED when any counted row is simulated, else REAL."""
        self.refresh_if_due()
        statuses = [s.value for s in OPEN_STATUSES]
        marks = ", ".join("?" for _ in statuses)
        query = (
            "WITH items AS (SELECT sector, COUNT(*) AS items, "
            "COUNT(CASE WHEN status = 'CRITICAL' THEN 1 END) AS critical, "
            "COUNT(CASE WHEN status = 'WARNING' THEN 1 END) AS warning, "
            "COUNT(CASE WHEN status = 'OK' THEN 1 END) AS ok, "
            "COUNT(CASE WHEN data_source <> 'REAL' THEN 1 END) AS simulated "
            "FROM stock_analysis WHERE (? IS NULL OR org_id = ?) GROUP BY sector), "
            "open_orders AS (SELECT g.sector, COUNT(*) AS n, "
            "COUNT(CASE WHEN p.data_source <> 'REAL' THEN 1 END) AS simulated "
            "FROM purchase_orders AS p JOIN organizations AS g ON g.org_id = p.org_id "
            f"WHERE p.status IN ({marks}) AND (? IS NULL OR p.org_id = ?) GROUP BY g.sector), "
            "open_alerts AS (SELECT g.sector, COUNT(*) AS n, "
            "COUNT(CASE WHEN a.data_source <> 'REAL' THEN 1 END) AS simulated "
            "FROM alerts AS a JOIN organizations AS g ON g.org_id = a.org_id "
            "WHERE a.state = 'OPEN' AND (? IS NULL OR a.org_id = ?) GROUP BY g.sector) "
            "SELECT i.sector, i.items, i.critical, i.warning, i.ok, "
            "COALESCE(o.n, 0) AS open_orders, COALESCE(l.n, 0) AS open_alerts, "
            "IFF(i.simulated + COALESCE(o.simulated, 0) + COALESCE(l.simulated, 0) > 0, "
            "'SIMULATED', 'REAL') AS data_source "
            "FROM items AS i LEFT JOIN open_orders AS o ON o.sector = i.sector "
            "LEFT JOIN open_alerts AS l ON l.sector = i.sector "
            "LEFT JOIN sector_config AS c ON c.sector = i.sector "
            "ORDER BY c.priority NULLS LAST, i.sector"
        )
        return self.fetch(
            self.render(query), [org_id, org_id, *statuses, org_id, org_id, org_id, org_id]
        )

    def order(self, po_id: str, *, org_id: str | None = None) -> dict[str, Any]:
        rows = self.read("purchase_orders", org_id=org_id, where={"po_id": po_id}).to_pylist()
        if not rows:
            raise NotFoundError(
                f"no purchase order {po_id!r}" + (f" for organization {org_id!r}" if org_id else "")
            )
        return rows[0]

    # ------------------------------------------------------------------ signals and chaos

    def signals_as_of(self) -> dict[str, Any]:
        """When the external signals were last set: the newest weather and vendor status
        (None when there are none), so a reader can say how old they are."""
        row = self.fetch(
            self.render(
                "SELECT (SELECT MAX(updated_at) FROM city_weather) AS weather_at, "
                "(SELECT MAX(checked_at) FROM vendor_status) AS vendor_status_at"
            )
        ).to_pylist()[0]
        return dict(row)

    def refresh_signals(self, *, now: datetime | None = None) -> None:
        """Weather per city and vendor status from the simulation, unless chaos set them."""
        from resq import simulation

        now = now or utcnow()
        cities = (
            self.fetch(self.render("SELECT DISTINCT city FROM organizations")).column(0).to_pylist()
        )
        vendors = self.fetch(self.render("SELECT vendor_id FROM vendors")).column(0).to_pylist()
        weather_added = 0
        with self.transaction():
            if cities:
                weather = pa.table(
                    {
                        "city": pa.array(cities, pa.string()),
                        "condition": simulation.get_weather_data_batch(
                            pa.array(cities, pa.string())
                        ),
                    }
                )
                self.stage("resq_stage_weather", weather)
                weather_added = (
                    self.fetch(
                        self.render(
                            "SELECT COUNT(*) FROM resq_stage_weather AS s WHERE NOT EXISTS "
                            "(SELECT 1 FROM city_weather AS w WHERE w.city = s.city)"
                        )
                    )
                    .column(0)[0]
                    .as_py()
                )
                if weather_added:
                    # stock_analysis reads city_weather (not vendor_status): only new weather
                    # rows put it out of date, so an idle heal cycle recomputes nothing
                    self._note_changes(
                        "city_weather",
                        "SELECT s.city FROM resq_stage_weather AS s WHERE NOT EXISTS "
                        "(SELECT 1 FROM city_weather AS w WHERE w.city = s.city)",
                        rows=weather_added,
                    )
                self.execute(
                    self.render(
                        "INSERT INTO city_weather (city, condition, source, data_source, "
                        "updated_at) "
                        "SELECT s.city, s.condition, 'SIMULATION', 'SIMULATED', ? FROM "
                        "resq_stage_weather AS s "
                        "WHERE NOT EXISTS (SELECT 1 FROM city_weather AS w WHERE w.city = s.city)"
                    ),
                    [now],
                )
            if vendors:
                statuses = simulation.get_vendor_status_batch(pa.array(vendors, pa.string()))
                table = pa.table(
                    {
                        "vendor_id": pa.array(vendors, pa.string()),
                        "status": statuses.field("status"),
                        "latency_ms": statuses.field("latency_ms").cast(pa.int64()),
                    }
                )
                self.stage("resq_stage_vendor_status", table)
                self.execute(
                    self.render(
                        "DELETE FROM vendor_status WHERE source = 'SIMULATION' AND vendor_id IN "
                        "(SELECT vendor_id FROM resq_stage_vendor_status)"
                    )
                )
                self.execute(
                    self.render(
                        "INSERT INTO vendor_status (vendor_id, status, latency_ms, source, "
                        "data_source, checked_at) "
                        "SELECT s.vendor_id, s.status, s.latency_ms, 'SIMULATION', 'SIMULATED', ? "
                        "FROM resq_stage_vendor_status AS s "
                        "WHERE NOT EXISTS (SELECT 1 FROM vendor_status AS v WHERE v.vendor_id = "
                        "s.vendor_id)"
                    ),
                    [now],
                )
                self.execute(
                    self.render(
                        "INSERT INTO vendor_status_log (checked_at, vendor_id, status, "
                        "latency_ms, data_source) "
                        "SELECT ?, vendor_id, status, latency_ms, data_source FROM vendor_status"
                    ),
                    [now],
                )

    def apply_chaos(self, event: Any, *, actor: str, now: datetime | None = None) -> None:
        """Apply a simulation.ChaosEvent with bound values and audit it as chaos."""
        now = now or utcnow()
        table = event.table
        if table == "inventory_master":
            self._chaos_inventory(event, now, actor)
        elif table in {"vendor_status_overrides", "vendor_status"}:
            vendor = str(event.key.get("vendor", event.key.get("vendor_id")))
            with self.transaction():
                if not self._keys("vendors") or vendor not in self._keys("vendors"):
                    known = ", ".join(sorted(self._keys("vendors")))
                    raise NotFoundError(f"no vendor {vendor!r}; known vendors: {known}")
                self.execute(self.render("DELETE FROM vendor_status WHERE vendor_id = ?"), [vendor])
                self.execute(
                    self.render(
                        "INSERT INTO vendor_status (vendor_id, status, latency_ms, source, "
                        "data_source, checked_at) VALUES (?, ?, ?, 'CHAOS', 'SIMULATED', ?)"
                    ),
                    [vendor, event.values["status"], event.values.get("latency_ms"), now],
                )
                self._note_changes("vendor_status")
                self._audit_chaos(event, actor, None, vendor, now)
        elif table in {"weather_overrides", "city_weather"}:
            city = str(event.key["city"])
            with self.transaction():
                self.execute(self.render("DELETE FROM city_weather WHERE city = ?"), [city])
                self.execute(
                    self.render(
                        "INSERT INTO city_weather (city, condition, source, data_source, "
                        "updated_at) VALUES (?, ?, 'CHAOS', 'SIMULATED', ?)"
                    ),
                    [city, event.values["condition"], now],
                )
                self._note_changes("city_weather", "SELECT ? AS city", [city], rows=1)
                self._audit_chaos(event, actor, None, city, now)
        else:
            raise ResqError(f"unsupported chaos target {table!r}")

    def _chaos_inventory(self, event: Any, now: datetime, actor: str) -> None:
        org_id, sku = str(event.key["org_id"]), str(event.key["sku"])
        column = "current_stock" if "current_stock" in event.values else "demand_factor"
        value = float(event.values[column])
        with self.transaction():
            found = (
                self.fetch(
                    self.render(
                        "SELECT COUNT(*) FROM inventory_master WHERE org_id = ? AND sku = ?"
                    ),
                    [org_id, sku],
                )
                .column(0)[0]
                .as_py()
            )
            if not found:
                raise NotFoundError(f"no item {sku!r} at organization {org_id!r}")
            self.execute(
                self.render(
                    f"UPDATE inventory_master SET {column} = ?, data_source = 'SIMULATED', "
                    f"updated_at = ? WHERE org_id = ? AND sku = ?"
                ),
                [value, now, org_id, sku],
            )
            self._note_changes(
                "inventory_master", "SELECT ? AS org_id, ? AS sku", [org_id, sku], rows=1
            )
            self._audit_chaos(event, actor, org_id, sku, now)

    def _audit_chaos(
        self, event: Any, actor: str, org_id: str | None, entity: str, now: datetime
    ) -> None:
        self.append_audit(
            [
                {
                    "actor": actor,
                    "action": f"chaos.{event.kind}",
                    "org_id": org_id,
                    "entity_id": entity,
                    "details": {
                        "description": event.description,
                        "values": dict(event.values),
                        "data_source": "SIMULATED",
                    },
                }
            ],
            now=now,
        )

    # ------------------------------------------------------------------ overrides

    def override_order(
        self,
        po_id: str,
        action: str,
        *,
        actor: str,
        quantity: float | None = None,
        org_id: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """approve / cancel / receive / set_quantity one order, audited with the actor.

        A concurrent writer that conflicts (a heal cycle committing at the same moment)
        makes the whole override run again on what that writer left, like a heal cycle
        (:func:`resq.retrying.conflict_retrying`); an override the new state no longer
        allows is refused then, never applied twice."""
        now = now or utcnow()
        for attempt in conflict_retrying():
            with attempt:
                self._override_once(po_id, action, actor, quantity, org_id, now)
        self._note_changes("purchase_orders")
        if action == "receive":
            # the receipt logged its item's change: this refresh recomputes that item
            self.refresh_analysis(now=now)
            for attempt in conflict_retrying():
                with attempt, self.transaction():
                    events = self.resolve_recovered_alerts(now=now, actor=actor, org_id=org_id)
                    if events:
                        self.append_audit(events, now=now)
        return self.order(po_id)

    def resolve_selected_alerts(
        self, name: str, alert_ids: Sequence[str], now: datetime
    ) -> set[str]:
        """Resolve the still active alerts among ``alert_ids``, the ones the first
        statement of ``sql/<name>.sql`` selected, by its second statement (staged as
        ``resq_stage_resolved``), inside the caller's transaction; returns the ids this
        call resolved, the ones a caller audits. Where each statement reads what was
        committed when it starts (Snowflake), another session can resolve a selected
        alert in between: that alert keeps its resolution and is not returned, so it is
        audited once, by the session that resolved it. (On DuckDB the two would conflict
        and the caller's retry selects it no more.)"""
        if not alert_ids:
            return set()
        self.stage("resq_stage_resolved", pa.table({"alert_id": pa.array(alert_ids, pa.string())}))
        self.execute(self._file(name, 1), [now])
        done = self.fetch(
            self.render(
                "SELECT alert_id FROM alerts WHERE alert_id IN "
                "(SELECT s.alert_id FROM resq_stage_resolved AS s) "
                "AND state = 'RESOLVED' AND resolved_at = CAST(? AS TIMESTAMP_NTZ)"
            ),
            [now],
        )
        return {str(v) for v in done.column(0).to_pylist()}

    def resolve_recovered_alerts(
        self, *, now: datetime, actor: str, org_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Resolve the active alerts whose shortfall is gone (the item is OK in
        ``stock_analysis``; ``sql/recovered_alerts.sql``) inside the caller's transaction,
        and return their ``alert.resolved`` audit events for the caller to append with its
        own. A heal cycle calls it in its commit, a receipt right after it lands. A resolved
        alert is never resolved again, so repeating it changes nothing."""
        rows = self.run_file("recovered_alerts", [org_id, org_id]).to_pylist()
        if not rows:
            return []
        done = self.resolve_selected_alerts("recovered_alerts", [r["alert_id"] for r in rows], now)
        return [
            {
                "actor": actor,
                "action": "alert.resolved",
                "org_id": r["org_id"],
                "entity_id": r["alert_id"],
                "details": {
                    "reason": "the shortfall is gone",
                    "from": r["state"],
                    "kind": r["kind"],
                    "sku": r["sku"],
                    "po_id": r["po_id"],
                    "status": r["status"],
                    "days_remaining": r["days_remaining"],
                },
            }
            for r in rows
            if r["alert_id"] in done
        ]

    def _override_once(
        self,
        po_id: str,
        action: str,
        actor: str,
        quantity: float | None,
        org_id: str | None,
        now: datetime,
    ) -> None:
        from resq.core.ordering import transition

        with self.transaction():
            order = self.order(po_id, org_id=org_id)
            new_status = transition(order["status"], action)
            details: dict[str, Any] = {"from": order["status"], "to": new_status}
            if action == "set_quantity":
                try:
                    quantity = validation.check_limit(
                        quantity, "quantity", "order_quantity", exclusive_low=True
                    )
                except ValueError:
                    top = validation.MAX_ORDER_QUANTITY
                    raise ValidationError(
                        "cannot change the quantity",
                        [
                            Issue(
                                None,
                                "quantity",
                                f"must be a finite number > 0 and <= {top:g}",
                                quantity,
                            )
                        ],
                    ) from None
                self.execute(
                    self.render(
                        "UPDATE purchase_orders SET quantity = ?, updated_at = ? WHERE po_id = ?"
                    ),
                    [float(quantity), now, po_id],
                )
                details.update({"quantity_from": order["quantity"], "quantity_to": float(quantity)})
            else:
                self.execute(
                    self.render(
                        "UPDATE purchase_orders SET status = ?, updated_at = ? WHERE po_id = ?"
                    ),
                    [new_status, now, po_id],
                )
            if action == "receive":
                self.execute(
                    self.render(
                        "UPDATE inventory_master SET current_stock = current_stock + ?, "
                        "updated_at = ? WHERE org_id = ? AND sku = ?"
                    ),
                    [order["quantity"], now, order["org_id"], order["sku"]],
                )
                self._note_changes(
                    "inventory_master",
                    "SELECT ? AS org_id, ? AS sku",
                    [order["org_id"], order["sku"]],
                    rows=1,
                )
                details["stock_added"] = order["quantity"]
            self.append_audit(
                [
                    {
                        "actor": actor,
                        "action": f"order.{action}",
                        "org_id": order["org_id"],
                        "entity_id": po_id,
                        "details": details,
                    }
                ],
                now=now,
            )

    def ack_alert(
        self, alert_id: str, *, actor: str, org_id: str | None = None, now: datetime | None = None
    ) -> dict[str, Any]:
        now = now or utcnow()
        for attempt in conflict_retrying():
            with attempt:
                self._ack_once(alert_id, actor, org_id, now)
        return self.read("alerts", where={"alert_id": alert_id}).to_pylist()[0]

    def _ack_once(self, alert_id: str, actor: str, org_id: str | None, now: datetime) -> None:
        with self.transaction():
            rows = self.read("alerts", org_id=org_id, where={"alert_id": alert_id}).to_pylist()
            if not rows:
                raise NotFoundError(
                    f"no alert {alert_id!r}" + (f" for organization {org_id!r}" if org_id else "")
                )
            if rows[0]["state"] == "OPEN":
                self.execute(
                    self.render(
                        "UPDATE alerts SET state = 'ACKED', acked_at = ?, acked_by = ? WHERE "
                        "alert_id = ?"
                    ),
                    [now, actor, alert_id],
                )
                self.append_audit(
                    [
                        {
                            "actor": actor,
                            "action": "alert.ack",
                            "org_id": rows[0]["org_id"],
                            "entity_id": alert_id,
                            "details": {"severity": rows[0]["severity"]},
                        }
                    ],
                    now=now,
                )

    # ------------------------------------------------------------------ routing

    def stored_routing(self) -> RoutingPolicy:
        """The alert routing stored in the warehouse (``resq init --config``), as a
        :class:`resq.core.alerts.RoutingPolicy`; the default policy where none is stored
        or the routing tables predate this database. Call it outside a transaction: the
        failed read of a missing table is caught here, which some engines would not allow
        inside one."""
        from resq.core.alerts import DEFAULT_POLICY, stored_routing

        try:
            routes = self.fetch(
                self.render(
                    "SELECT tier, stakeholder, channels, sector, org_id, severities "
                    "FROM alert_routes ORDER BY route_id"
                )
            ).to_pylist()
            timeouts = self.fetch(
                self.render("SELECT severity, timeout_s FROM alert_timeouts")
            ).to_pylist()
        except BackendError:
            return DEFAULT_POLICY
        return stored_routing(routes, timeouts)

    # ------------------------------------------------------------------ tenants

    def tenant(self, org_id: str) -> TenantView:
        """A handle limited to one organization: reads and actions see only its rows."""
        if org_id not in self._keys("organizations"):
            raise NotFoundError(f"no organization {org_id!r}")
        return TenantView(self, org_id)


_AUDIT_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("event_id", pa.string()),
        ("event_ts", pa.timestamp("us")),
        ("actor", pa.string()),
        ("action", pa.string()),
        ("org_id", pa.string()),
        ("entity_id", pa.string()),
        ("details", pa.string()),
        ("prev_hash", pa.string()),
        ("hash", pa.string()),
    ]
)


_INTERNAL_TABLES = frozenset(
    {"heal_cycles", "vendor_status_log", "resq_schema_version", "dt_refresh_history", "audit_head"}
)


def _check_table(table: str) -> None:
    if table not in TENANT_TABLES and table not in _INTERNAL_TABLES:
        raise ResqError(f"unknown table {table!r}")


def _scoped(
    table: str, org_id: str | None, where: Mapping[str, Any] | None
) -> tuple[str | None, list[str], list[Any]]:
    """The scope column (None when unscoped), the ``where`` columns and the bound values."""
    scope = TENANT_TABLES.get(table) if org_id is not None else None
    params: list[Any] = [org_id] if scope is not None else []
    params.extend((where or {}).values())
    return scope, list(where or {}), params


@dataclass
class Listing:
    """Rows of a listing as they stream (``batches``), and how many match in all.

    ``counts`` holds the warehouse's counts (one ``{"n": ...}`` row, or one per value of
    the columns counted by); ``total`` is their sum. After the batches were read,
    ``more(shown)`` says how many rows the limit left out."""

    total: int
    limit: int | None
    counts: list[dict[str, Any]]
    batches: Iterator[pa.RecordBatch]

    def rows(self) -> Iterator[dict[str, Any]]:
        """The rows one at a time, converted a batch at a time."""
        for batch in self.batches:
            yield from batch.to_pylist()

    def more(self, shown: int) -> int:
        """Rows that match but were not shown (0 when every row was)."""
        return max(self.total - shown, 0)


def _is_query(statement: Any) -> bool:
    return isinstance(statement, (exp.Query, exp.Describe, exp.Show)) or (
        isinstance(statement, exp.Command)
        and str(statement.this).upper() in {"SHOW", "DESCRIBE", "EXPLAIN"}
    )


_ORDER_ITEM = re.compile(
    r"\s*[A-Za-z_][A-Za-z0-9_]*(\s+(ASC|DESC))?(\s+NULLS\s+(FIRST|LAST))?\s*", re.IGNORECASE
)
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_ORDER_WORDS = {"asc", "desc", "nulls", "first", "last"}


def _plain(*names: str) -> bool:
    return all(_PLAIN_NAME.fullmatch(n) and n not in _ORDER_WORDS for n in names)


def upsert_text(
    table: str, stage: str, key: Sequence[str], columns: Sequence[str]
) -> tuple[str, str] | None:
    """`WarehouseBackend.write_rows`'s DELETE and INSERT as Snowflake text when every name
    is plain (None otherwise); a test proves they render as `upsert_query`'s."""
    if not _plain(table, stage, *key, *columns):
        return None
    on = " AND ".join(f"t.{k} = s.{k}" for k in key)
    delete = f"DELETE FROM {table} AS t USING {stage} AS s WHERE {on}"
    names = ", ".join(columns)
    insert = f"INSERT INTO {table} ({names}, updated_at) SELECT {names}, ? FROM {stage}"
    return delete, insert


def upsert_query(
    table: str, stage: str, key: Sequence[str], columns: Sequence[str]
) -> tuple[exp.Delete, exp.Insert]:
    """`WarehouseBackend.write_rows`'s DELETE and INSERT built with sqlglot (any names)."""
    on = exp.and_(*[exp.column(k, "t").eq(exp.column(k, "s")) for k in key])
    delete = exp.Delete(
        this=exp.alias_(exp.to_table(table), "t", table=True),
        using=[exp.alias_(exp.to_table(stage), "s", table=True)],
        where=exp.Where(this=on),
    )
    insert = exp.insert(
        exp.select(*columns, exp.Placeholder()).from_(stage),
        table,
        columns=[*columns, "updated_at"],
    )
    return delete, insert


def insert_if_absent_text(table: str, columns: Sequence[str], key: str) -> str | None:
    """``INSERT INTO table (columns) SELECT ?, ... WHERE NOT EXISTS (a row with key = ?)``
    as Snowflake text when every name is plain (None otherwise); a test proves it renders
    as `insert_if_absent_query`'s."""
    if not _plain(table, key, *columns):
        return None
    marks = ", ".join("?" for _ in columns)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {marks} "
        f"WHERE NOT EXISTS(SELECT 1 FROM {table} WHERE {key} = ?)"
    )


def insert_if_absent_query(table: str, columns: Sequence[str], key: str) -> exp.Insert:
    """`insert_if_absent_text` built with sqlglot (any names)."""
    return exp.insert(
        exp.select(*[exp.Placeholder() for _ in columns]).where(
            exp.not_(exp.Exists(this=exp.select("1").from_(table).where(f"{key} = ?")))
        ),
        table,
        columns=list(columns),
    )


def _explicit_nulls(item: str) -> str:
    """An ORDER BY item with its NULLS placement spelled out as `select_query` orders it:
    sqlglot reads a bare item there in its default dialect, where NULL sorts first
    ascending and last descending (Snowflake's default is the other way round)."""
    words = item.split()
    descending = len(words) > 1 and words[1].upper() == "DESC"
    if any(w.upper() == "NULLS" for w in words):
        return item
    return f"{item} NULLS {'LAST' if descending else 'FIRST'}"


def select_query(
    table: str,
    scope: str | None,
    where: Sequence[str],
    order_by: Sequence[str],
    limit: int | None,
) -> exp.Select:
    """``SELECT * FROM table`` for `WarehouseBackend.read`, built with sqlglot (any names)."""
    query = exp.select("*").from_(table)
    if scope is not None:
        query = query.where(f"{scope} = ?")
    for column in where:
        query = query.where(exp.column(column).eq(exp.Placeholder()))
    if order_by:
        query = query.order_by(*order_by)
    if limit is not None:
        query = query.limit(int(limit))
    return query


def select_text(
    table: str,
    scope: str | None,
    where: Sequence[str],
    order_by: Sequence[str],
    limit: int | None,
) -> str | None:
    """``SELECT * FROM table [WHERE scope = ? AND col = ? ...] [ORDER BY ...] [LIMIT n]`` as
    Snowflake text, when every name is a plain lower-case column name and every ORDER BY
    item is ``name [ASC|DESC] [NULLS FIRST|LAST]`` or a term of `resq.core.urgency`; None
    otherwise (the caller builds the
    query with `select_query`). Text renders from a backend's render cache without sqlglot,
    and a test proves it renders exactly as `select_query` does."""
    names = [table, *([scope] if scope else []), *where]
    if not all(_PLAIN_NAME.fullmatch(n) and n not in _ORDER_WORDS for n in names):
        return None
    items = order_items(order_by)
    if items is None:
        return None
    text = f"SELECT * FROM {table}" + _where_text(names[1:])
    if items:
        text += " ORDER BY " + ", ".join(items)
    if limit is not None:
        text += f" LIMIT {int(limit)}"
    return text


def order_items(order_by: Sequence[str]) -> list[str] | None:
    """The ORDER BY items as `select_text` writes them, NULLS placement spelled out, when
    each is ``name [ASC|DESC] [NULLS FIRST|LAST]`` or a term of `resq.core.urgency`; None
    otherwise."""
    items = [
        str(item) if item in urgency.TERMS else " ".join(str(item).split()) for item in order_by
    ]
    if not all(
        item in urgency.TERMS
        or (_ORDER_ITEM.fullmatch(item) and item.split()[0].lower() not in _ORDER_WORDS)
        for item in items
    ):
        return None
    return [_explicit_nulls(item) for item in items]


def _where_text(names: Sequence[str]) -> str:
    """``a = ? AND b = ? ...`` nested as sqlglot's ``.where().where()`` nests it."""
    conditions = [f"{name} = ?" for name in names]
    if not conditions:
        return ""
    where_text = conditions[0]
    for i, condition in enumerate(conditions[1:]):
        where_text = f"({where_text}) AND {condition}" if i else f"{where_text} AND {condition}"
    return " WHERE " + where_text


def count_query(
    table: str, scope: str | None, where: Sequence[str], by: Sequence[str]
) -> exp.Select:
    """``SELECT [by...,] COUNT(*) AS n FROM table ... [GROUP BY by]`` built with sqlglot."""
    query = exp.select(*by, "COUNT(*) AS n").from_(table)
    if scope is not None:
        query = query.where(f"{scope} = ?")
    for column in where:
        query = query.where(exp.column(column).eq(exp.Placeholder()))
    if by:
        query = query.group_by(*by)
    return query


def count_text(
    table: str, scope: str | None, where: Sequence[str], by: Sequence[str]
) -> str | None:
    """`count_query` as Snowflake text when every name is plain (None otherwise); a test
    proves it renders as `count_query` does."""
    names = [table, *([scope] if scope else []), *where, *by]
    if not _plain(*names):
        return None
    head = ", ".join([*by, "COUNT(*) AS n"])
    text = f"SELECT {head} FROM {table}" + _where_text(names[1 : len(names) - len(by)])
    if by:
        text += " GROUP BY " + ", ".join(by)
    return text


class TenantView:
    """The same reads and actions as a backend, limited to one organization."""

    def __init__(self, backend: WarehouseBackend, org_id: str) -> None:
        self.backend = backend
        self.org_id = org_id

    def read(self, table: str, **kwargs: Any) -> pa.Table:
        if table not in TENANT_TABLES:
            raise TenantScopeError(f"table {table!r} is not available to a tenant")
        for item in kwargs.get("order_by", ()):
            # backend.read parses order_by as SQL: a subquery there would read unscoped rows.
            if not (_ORDER_ITEM.fullmatch(str(item)) or item in urgency.TERMS):
                raise TenantScopeError(f"a tenant may only order by column names, got {item!r}")
        return self.backend.read(table, org_id=self.org_id, **kwargs)

    def inventory(self) -> pa.Table:
        return self.read("inventory_master", order_by=("sku",))

    def analysis(self) -> pa.Table:
        return self.read("stock_analysis", order_by=("sku",))

    def orders(self) -> pa.Table:
        return self.read("purchase_orders", order_by=("created_at", "po_id"))

    def alerts(self) -> pa.Table:
        return self.read("alerts", order_by=("created_at", "alert_id"))

    def audit(self) -> pa.Table:
        return self.read("audit_log", order_by=("seq",))

    def sector_summary(self) -> pa.Table:
        return self.backend.sector_summary(org_id=self.org_id)

    def sql(self, query: str) -> Result:
        """One read-only Snowflake-dialect query where every org-scoped table shows only this
        organization's rows; anything outside the allow-list (other tables, table functions,
        files, functions that are not pure, any write) is refused with TenantScopeError.
        The checks run on the statement as rendered for the engine: see
        :mod:`resq.backends.tenant_sql` and the threat model in docs/backends.md."""
        from resq.backends.tenant_sql import scope_query

        scoped = scope_query(
            query,
            self.org_id,
            dialect=self.backend.dialect,
            render=self.backend.render,
            tables=TENANT_TABLES,
        )
        if "stock_analysis" in scoped.tables:
            self.backend.refresh_if_due()
        return Result(reasons.fold(self.backend.fetch_tenant(scoped.sql, scoped.params)))

    def override_order(self, po_id: str, action: str, **kwargs: Any) -> dict[str, Any]:
        return self.backend.override_order(po_id, action, org_id=self.org_id, **kwargs)

    def ack_alert(self, alert_id: str, **kwargs: Any) -> dict[str, Any]:
        return self.backend.ack_alert(alert_id, org_id=self.org_id, **kwargs)


__all__ = [
    "OPEN_STATUSES",
    "Listing",
    "LoadReport",
    "OrderStatus",
    "TenantView",
    "WarehouseBackend",
]
