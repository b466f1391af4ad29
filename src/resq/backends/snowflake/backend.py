"""The Snowflake backend: the shared SQL runs as written, and Snowflake does the scaling.

``resq.connect("snowflake://user@account/DB/SCHEMA?warehouse=WH&role=R")``, a named
connection (``snowflake://?connection_name=dev``, from the standard connections.toml) or
:func:`from_session` for an existing Snowpark session. ``stock_analysis`` is a real
Dynamic Table that Snowflake refreshes within its target lag; the simulation functions and
the heal cycle are Python objects inside Snowflake (see :mod:`resq.backends.snowflake.plan`).

Snowflake commits an open transaction before every DDL statement, so staging tables (one
temporary table per stage name and session) are created outside transactions; inside one,
staging is a DELETE and an INSERT of one bound JSON document.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

import pyarrow as pa
from sqlglot import exp

from resq.backends.base import BATCH_ROWS, Capability, RefreshResult
from resq.backends.snowflake import _arrow, sqltext
from resq.backends.snowflake.drivers import ConnectorDriver, SnowparkDriver
from resq.backends.warehouse import WarehouseBackend, utcnow
from resq.errors import BackendError, ConflictError, UnknownBackendError

# Connector options a URL may set in its query string (anything else is refused).
CONNECTOR_OPTIONS = frozenset(
    {
        "warehouse",
        "role",
        "authenticator",
        "private_key_file",
        "host",
        "port",
        "protocol",
        "application",
        "login_timeout",
        "network_timeout",
        "client_session_keep_alive",
    }
)
RESQ_OPTIONS = frozenset({"analysis", "python", "target_lag", "connection_name", "writes", "reads"})
WRITE_MODES = ("direct", "procedures")
# How the app role's backend is opened (the dashboard in Streamlit in Snowflake): it writes
# only through the owner's-rights procedures, and reads the dynamic table's inputs through
# their secure views. The privileges check simulates the app with the same options.
APP_OPTIONS: dict[str, str] = {"writes": "procedures", "reads": "app"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


_ORDER_STAGE_TYPES = {
    "quantity": pa.float64(),
    "unit_price": pa.float64(),
    "priority": pa.int64(),
    "rank": pa.int64(),
    "created_at": pa.timestamp("us"),
    # the state each decision rests on (resq.core.ordering.DECIDED_ON)
    "current_stock": pa.float64(),
    "daily_consumption": pa.float64(),
    "episode": pa.int64(),
}


def _stage_schemas() -> dict[str, pa.Schema]:
    """Stages the shared code fills after it has written inside a transaction (where a
    CREATE would commit the transaction): created before each session's first BEGIN."""
    from resq.backends.warehouse import _AUDIT_SCHEMA
    from resq.core.alerts import ALERT_SCHEMA_FIELDS
    from resq.core.ordering import RESOURCED_SCHEMA
    from resq.core.reasons import SCHEMA as REASON_SCHEMA
    from resq.engine import _STAGED_ORDER_COLUMNS

    text = pa.string()
    return {
        "resq_stage_audit": _AUDIT_SCHEMA,
        "resq_stage_alerts": pa.schema(
            [(n, pa.bool_() if n == "has_order" else text) for n in ALERT_SCHEMA_FIELDS]
            + [("cycle_id", text), ("created_at", pa.timestamp("us"))]
        ),
        "resq_stage_routes": pa.schema(
            [("org_id", text), ("severity", text), ("stakeholder", text), ("channel", text)]
        ),
        # the cycle's digest notifications (sql/queue_notifications.sql, then merged)
        "resq_stage_digests": pa.schema(
            [
                (n, text)
                for n in (
                    "notification_id",
                    "delivery_key",
                    "alert_id",
                    "org_id",
                    "stakeholder",
                    "channel",
                    "payload",
                )
            ]
        ),
        # The heal commit's first write is the lock update, so its orders' stage must exist
        # before the transaction too (the reason's typed columns, resq.core.reasons).
        "resq_stage_orders": pa.schema(
            [
                (
                    n,
                    _ORDER_STAGE_TYPES.get(
                        n, REASON_SCHEMA.field(n).type if n.startswith("reason_") else text
                    ),
                )
                for n in (*_STAGED_ORDER_COLUMNS, "cycle_id", "created_at")
            ]
        ),
        # a version-5 database's JSON reasons as typed columns (WarehouseBackend._upgrade)
        "resq_stage_reasons": pa.schema([("po_id", text), *REASON_SCHEMA]),
        "resq_stage_resourced": RESOURCED_SCHEMA,
        # resq.alerting.escalation stages these after it has written (escalated alerts,
        # then their new tier's recipients), in one transaction
        "resq_stage_escalated": pa.schema([("alert_id", text), ("tier", pa.int64())]),
        # the alerts a heal, a receipt or the watcher resolves (recovered or superseded), by id
        "resq_stage_resolved": pa.schema([("alert_id", text)]),
        "resq_stage_escalations": pa.schema(
            [("alert_id", text), ("stakeholder", text), ("channel", text), ("tier", pa.int64())]
        ),
        "resq_stage_vendor_status": pa.schema(
            [("vendor_id", text), ("status", text), ("latency_ms", pa.int64())]
        ),
    }


@dataclass
class _Session:
    """One Snowflake session and resq's bookkeeping of it."""

    driver: ConnectorDriver | SnowparkDriver
    depth: int = 0  # resq transaction nesting
    open: bool = False  # a Snowflake transaction is open (BEGIN sent before the first write)
    stages: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> column types
    prepared: bool = False  # the known stages exist


class SnowflakeBackend(WarehouseBackend):
    """resq on Snowflake. See the module docstring for the URL forms."""

    name = "snowflake"
    dialect = "snowflake"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.NATIVE_DYNAMIC_TABLES,
            Capability.PYTHON_UDFS,
            Capability.TABLE_FUNCTIONS,
            Capability.CONCURRENT_WRITERS,
            Capability.SERVER_TASKS,
        }
    )

    #: Stages other modules fill after writing inside a transaction: register them with
    #: :meth:`register_stage` so every session creates them before its first BEGIN.
    extra_stages: ClassVar[dict[str, pa.Schema]] = {}

    def __init__(
        self,
        *,
        connect_params: dict[str, Any] | None = None,
        session: Any = None,
        analysis: str = "dynamic",
        python: bool = True,
        target_lag_s: float = 60.0,
        warehouse: str | None = None,
        writes: str = "direct",
        reads: str = "engine",
    ) -> None:
        if (connect_params is None) == (session is None):
            raise BackendError("give exactly one of connect_params or session")
        if writes not in WRITE_MODES:
            raise UnknownBackendError(
                f"writes must be one of {', '.join(WRITE_MODES)}, got {writes!r}"
            )
        #: With ``writes="procedures"`` (the dashboard in Streamlit in Snowflake, or anyone
        #: using the app role) overrides, acknowledgements, chaos and heal are CALLs of the
        #: owner's-rights write procedures, which check the caller's entitlement.
        self.writes_through_procedures = writes == "procedures"
        if reads not in {"engine", "app"}:
            raise UnknownBackendError(f"reads must be 'engine' or 'app', got {reads!r}")
        # "app": the app role's reads, where the dynamic table's inputs are engine-only and
        # are read through their secure views (sqltext.APP_VIEWS).
        self.reads = reads
        if analysis not in {"dynamic", "view"}:
            raise UnknownBackendError(f"analysis must be 'dynamic' or 'view', got {analysis!r}")
        self.analysis_mode = analysis
        self.python = bool(python)
        self.target_lag_s = float(target_lag_s)
        self.target_lag = sqltext.lag_text(self.target_lag_s)
        self._connect_params = connect_params
        self._warehouse = warehouse
        self._local = threading.local()
        self._lock = threading.RLock()
        self._sessions: list[_Session] = []
        self._shared = _Session(SnowparkDriver(session)) if session is not None else None
        self._dirty = False  # this backend wrote sources since stock_analysis was refreshed
        self._deploying = False
        caps = set(type(self).capabilities)
        if analysis != "dynamic":
            caps -= {Capability.NATIVE_DYNAMIC_TABLES, Capability.SERVER_TASKS}
        if not self.python:
            caps -= {Capability.PYTHON_UDFS, Capability.TABLE_FUNCTIONS, Capability.SERVER_TASKS}
        self.capabilities = frozenset(caps)  # type: ignore[misc]
        if self._shared is None:
            self._session()  # connect now, so a bad URL or credential fails here

    # ------------------------------------------------------------------ connecting

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> SnowflakeBackend:
        """``snowflake://user@account/DB/SCHEMA?warehouse=WH&role=R``, or a named connection
        of connections.toml: ``snowflake://?connection_name=dev`` (``snowflake://`` alone is
        the default connection). resq options: ``analysis=dynamic|view``, ``python=true|
        false``, ``target_lag=<seconds>``. Keyword arguments go to the connector."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "snowflake":
            raise UnknownBackendError(f"not a Snowflake URL: {url!r}")
        options = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        unknown = set(options) - CONNECTOR_OPTIONS - RESQ_OPTIONS
        if unknown:
            known = ", ".join(sorted(CONNECTOR_OPTIONS | RESQ_OPTIONS))
            raise UnknownBackendError(
                f"unknown Snowflake URL option(s): {', '.join(sorted(unknown))} (known: {known})"
            )
        resq_kwargs: dict[str, Any] = {
            k: kwargs.pop(k)
            for k in ("analysis", "python", "target_lag_s", "warehouse", "writes", "reads")
            if k in kwargs
        }
        for key in ("writes", "reads"):
            if key in options:
                resq_kwargs.setdefault(key, options.pop(key))
        if "analysis" in options:
            resq_kwargs.setdefault("analysis", options.pop("analysis"))
        else:
            options.pop("analysis", None)
        if "python" in options:
            value = options.pop("python").lower()
            if value not in _TRUE | _FALSE:
                raise UnknownBackendError(f"python must be true or false, got {value!r}")
            resq_kwargs.setdefault("python", value in _TRUE)
        if "target_lag" in options:
            try:
                resq_kwargs.setdefault("target_lag_s", float(options.pop("target_lag")))
            except ValueError:
                raise UnknownBackendError("target_lag must be a number of seconds") from None
        params: dict[str, Any] = {}
        if "connection_name" in options:
            params["connection_name"] = options.pop("connection_name")
        if parts.hostname:
            params["account"] = parts.hostname
        if parts.username:
            params["user"] = unquote(parts.username)
        if parts.password:
            params["password"] = unquote(parts.password)
        path = [unquote(p) for p in parts.path.split("/") if p]
        if len(path) > 2:
            raise UnknownBackendError(
                f"bad Snowflake URL {url!r}: the path is /DATABASE or /DATABASE/SCHEMA"
            )
        if path:
            params["database"] = path[0]
        if len(path) == 2:
            params["schema"] = path[1]
        for key, value in options.items():
            params[key] = int(value) if key in {"port", "login_timeout"} else value
        params.update(kwargs)
        resq_kwargs.setdefault("warehouse", params.get("warehouse"))
        return cls(connect_params=params, **resq_kwargs)

    @classmethod
    def register_stage(cls, name: str, schema: pa.Schema) -> None:
        """Declare a stage that is filled after a write inside a transaction, so every
        session creates its table before the transaction starts."""
        _arrow.column_types(schema)  # names must be plain identifiers
        cls.extra_stages[name] = schema

    def _session(self) -> _Session:
        if self._shared is not None:
            return self._shared
        current: _Session | None = getattr(self._local, "session", None)
        if current is None:
            assert self._connect_params is not None
            current = _Session(ConnectorDriver(self._connect_params))
            self._local.session = current
            with self._lock:
                self._sessions.append(current)
        return current

    @contextmanager
    def _guard(self) -> Iterator[_Session]:
        """The session of this thread; a shared Snowpark session is used by one thread at a
        time (held for a whole transaction)."""
        if self._shared is None:
            yield self._session()
            return
        with self._lock:
            yield self._shared

    def close(self) -> None:
        with self._lock:
            for s in self._sessions:
                s.driver.close()
            self._sessions = []
            self._local = threading.local()

    # ------------------------------------------------------------------ primitives

    def _file(self, name: str, index: int = 0) -> str:
        """Statement ``index`` of sql/<name>.sql exactly as written (Snowflake runs the
        files without any rendering)."""
        cache: dict[tuple[str, int], str] = self.__dict__.setdefault("_as_written", {})
        key = (name, index)
        if key not in cache:
            from resq import sqlfiles

            texts = sqltext.split(sqlfiles.sql_text(name))
            if len(texts) != len(sqlfiles.statements(name)):
                raise BackendError(f"cannot split sql/{name}.sql into its statements")
            cache[key] = self.render(texts[index])
        return cache[key]

    def render(self, statement: Any) -> str:
        """SQL is Snowflake already: text is checked to parse and sent as written; a sqlglot
        expression is rendered in the Snowflake dialect."""
        if isinstance(statement, str):
            _validated(statement)
            return statement
        rendered: str = statement.sql(dialect="snowflake")
        return rendered

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        with self._guard() as s:
            if s.depth:
                if _is_ddl(sql):
                    self._end_for_ddl(s)
                else:
                    self._begin(s)
            s.driver.execute(sql, params)

    def fetch(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        if self.reads == "app":
            sql = through_app_views(sql)
        with self._guard() as s:
            return s.driver.fetch(sql, params)

    def fetch_batches(
        self, sql: str, params: Sequence[Any] | None = None, *, batch_rows: int = BATCH_ROWS
    ) -> Iterator[pa.RecordBatch]:
        """The driver's result chunks as they are downloaded, cut to ``batch_rows``."""
        if self.reads == "app":
            sql = through_app_views(sql)
        with self._guard() as s:
            chunks = s.driver.fetch_batches(sql, params)
        return (b for chunk in chunks for b in chunk.to_batches(max_chunksize=batch_rows))

    @staticmethod
    def _begin(s: _Session) -> None:
        """Open the Snowflake transaction before the first write of a resq transaction.
        Reads before it need none: Snowflake reads committed data either way."""
        if not s.open:
            s.driver.execute("BEGIN")
            s.open = True

    @staticmethod
    def _end_for_ddl(s: _Session) -> None:
        """Snowflake commits an open transaction before any DDL. resq commits explicitly
        (the same effect on every Snowflake-protocol engine); the next write opens a new
        transaction, so the statements after the DDL stay atomic."""
        if s.open:
            s.driver.execute("COMMIT")
            s.open = False

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._guard() as s:
            if s.depth:
                s.depth += 1
                try:
                    yield
                finally:
                    s.depth -= 1
                return
            self._prepare_stages(s)
            s.depth, s.open = 1, False
            try:
                yield
            except BaseException:
                s.depth = 0
                if s.open:
                    s.open = False
                    try:
                        s.driver.execute("ROLLBACK")
                    except Exception:
                        pass
                raise
            s.depth = 0
            if s.open:
                s.open = False
                try:
                    s.driver.execute("COMMIT")
                except Exception:
                    try:
                        s.driver.execute("ROLLBACK")
                    except Exception:
                        pass
                    raise

    # ------------------------------------------------------------------ the heal lock

    @contextmanager
    def heal_transaction(self, *, holder: str = "resq") -> Iterator[None]:
        """A heal commit's transaction, serialized: explicit ``BEGIN``, then ``UPDATE`` of the
        one-row lock table as its first statement, so a concurrent heal blocks there until
        this one commits (Snowflake holds a row's lock to the end of the transaction;
        "Transactions", docs.snowflake.com). Each statement still reads what was committed
        when it started (READ COMMITTED); the keyed MERGE re-checks every key."""
        with self.transaction():
            self._ensure_heal_lock()
            self.execute(HEAL_LOCK_SQL, [holder, utcnow()])
            yield

    def _ensure_heal_lock(self) -> None:
        if getattr(self, "_heal_lock_ready", False):
            return
        with self._guard() as s:
            if s.open:  # the CREATE would commit what this transaction wrote
                raise BackendError("the heal lock must exist before a heal transaction")
            for sql in HEAL_LOCK_SETUP:
                s.driver.execute(sql)
        self._heal_lock_ready = True

    # ------------------------------------------------------------------ staging

    def _prepare_stages(self, s: _Session) -> None:
        if s.prepared:
            return
        for name, schema in {**_stage_schemas(), **self.extra_stages}.items():
            if name not in s.stages:
                types = _arrow.column_types(schema)
                s.driver.execute(_arrow.create_stage_sql(name, types))
                s.stages[name] = types
        s.prepared = True

    def prepare_stages(self, schemas: Mapping[str, pa.Schema]) -> None:
        """Create the session's temporary tables for ``schemas`` now, outside any
        transaction (a CREATE inside one would commit it: Snowflake commits an open
        transaction before DDL), so a streamed load fills them inside its transaction."""
        with self._guard() as s:
            for name, schema in schemas.items():
                types = _arrow.column_types(schema)
                if s.stages.get(name) != types:
                    if s.open:
                        raise BackendError(f"stage {name} must be prepared before a transaction")
                    s.driver.execute(_arrow.create_stage_sql(name, types))
                    s.stages[name] = types

    def stage(self, name: str, data: pa.Table) -> None:
        """``data`` as the session's temporary table ``name`` (replacing its rows)."""
        with self._guard() as s:
            types = _arrow.column_types(data.schema)
            have = s.stages.get(name)
            fits = have is not None and all(
                c in have and (have[c] == t or pa.types.is_null(data.schema.field(c).type))
                for c, t in types.items()
            )
            if fits:
                assert have is not None
                if s.depth:
                    self._begin(s)
                s.driver.execute(f"DELETE FROM {name}")
                types = {c: have[c] for c in types}
            elif s.open:
                # A CREATE now would commit what this transaction wrote: undo it, create the
                # table, and let the caller retry (the heal cycle retries ConflictError).
                s.driver.execute("ROLLBACK")
                s.open = False
                s.driver.execute(_arrow.create_stage_sql(name, types))
                s.stages[name] = types
                raise ConflictError(
                    f"staging table {name} had to be created inside a transaction; the "
                    "transaction was rolled back, retry (register_stage avoids this)"
                )
            else:
                s.driver.execute(_arrow.create_stage_sql(name, types))
                s.stages[name] = types
                if s.depth:
                    self._begin(s)
            columns = list(types)
            insert = _arrow.insert_stage_sql(name, types, columns)
            for batch in _arrow.json_batches(data):
                s.driver.execute(insert, [batch])

    # ------------------------------------------------------------------ functions

    def install_functions(self) -> None:
        """GET_WEATHER_DATA, GET_VENDOR_STATUS, GENERATE_REALISTIC_SIMULATION and the
        RESQ_HEAL procedure, with the resq code uploaded to a stage. Skipped with
        ``python=false`` (a peer that cannot run Python objects)."""
        if not self.python or self._deploying:
            return
        from resq.backends.snowflake import plan

        plan.apply(self, plan.build(self.deploy_config()), only=plan.FUNCTION_STEPS)

    def deploy(self, config: Any = None) -> list[Any]:
        """Apply the whole deploy plan (resq.backends.snowflake.plan), then the rows init
        writes (schema version, sector defaults, the audit chain's head). Idempotent."""
        from resq.backends.snowflake import plan

        config = config or self.deploy_config()
        done = plan.apply(self, plan.build(config))
        self._deploying = True
        try:
            self.init()
        finally:
            self._deploying = False
        return done

    def deploy_config(self) -> Any:
        """The deploy plan's names for this connection (database and schema as connected)."""
        from resq.backends.snowflake.plan import DeployConfig

        row = self.fetch("SELECT CURRENT_DATABASE() AS d, CURRENT_SCHEMA() AS s").to_pylist()[0]
        return DeployConfig(
            database=row["d"] or sqltext.DEFAULT_NAMES["database"],
            schema=row["s"] or sqltext.DEFAULT_NAMES["schema"],
            warehouse=self._warehouse or sqltext.DEFAULT_NAMES["warehouse"],
            target_lag=self.target_lag,
        )

    # ------------------------------------------------------------------ stock_analysis

    def create_analysis(self) -> None:
        """The dynamic table (or, with ``analysis=view``, a view of the same query). Once
        the deploy plan has created the row access policy, the table is created with it."""
        if self.analysis_mode == "view":
            self.execute(sqltext.view_sql())
            return
        if self._deploying:
            return
        from resq.backends.snowflake import plan

        deployed = bool(self.fetch(f"SHOW ROW ACCESS POLICIES LIKE '{sqltext.POLICY}'").num_rows)
        step = plan.analysis_step(self.deploy_config(), policy=deployed)
        plan.apply(self, [step])
        self._dirty = False

    def _mark_changed(self) -> None:
        self._dirty = True

    # ------------------------------------------------------------------ writes as procedures

    def call(self, procedure: str, args: Sequence[Any]) -> Any:
        """``CALL procedure(?, ...)`` with bound arguments; its VARIANT result as Python."""
        import json

        check_name = sqltext.check_identifier(procedure, "procedure")
        marks = ", ".join("?" for _ in args)
        value = self.fetch(f"CALL {check_name}({marks})", list(args)).column(0)[0].as_py()
        return json.loads(value) if isinstance(value, str) else value

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
        """The library's override, or (writes through procedures) RESQ_OVERRIDE_ORDER,
        audited as the calling Snowflake user."""
        if not self.writes_through_procedures:
            return super().override_order(
                po_id, action, actor=actor, quantity=quantity, org_id=org_id, now=now
            )
        qty = None if quantity is None else float(quantity)
        result: dict[str, Any] = self.call("RESQ_OVERRIDE_ORDER", [po_id, action, qty, org_id])
        return result

    def ack_alert(
        self, alert_id: str, *, actor: str, org_id: str | None = None, now: datetime | None = None
    ) -> dict[str, Any]:
        """The library's acknowledgement, or (writes through procedures) RESQ_ACK_ALERT."""
        if not self.writes_through_procedures:
            return super().ack_alert(alert_id, actor=actor, org_id=org_id, now=now)
        result: dict[str, Any] = self.call("RESQ_ACK_ALERT", [alert_id, org_id])
        return result

    def apply_chaos(self, event: Any, *, actor: str, now: datetime | None = None) -> None:
        """The library's chaos edit, or (writes through procedures) RESQ_CHAOS."""
        if not self.writes_through_procedures:
            super().apply_chaos(event, actor=actor, now=now)
            return
        import json

        self.call("RESQ_CHAOS", [json.dumps(event.as_dict(), default=str)])

    def verify_audit(self, anchor: Any = None) -> Any:
        """The library's walk of the chain, or (writes through procedures, as the app runs)
        RESQ_VERIFY_AUDIT: the app's role sees only its organizations' audit rows, whose
        gaps would read as deletions; the procedure walks every row as the owner."""
        if not self.writes_through_procedures:
            return super().verify_audit(anchor)
        from dataclasses import fields

        from resq.core.audit import ChainCheck

        result = self.call("RESQ_VERIFY_AUDIT", [None if anchor is None else anchor.text()])
        known = {f.name for f in fields(ChainCheck)}
        values = {k: v for k, v in result.items() if k in known}
        if "repairs" in values:
            values["repairs"] = tuple(values["repairs"] or ())
        return ChainCheck(**values)

    def heal_in_warehouse(
        self, *, org_id: str | None = None, dry_run: bool = False
    ) -> dict[str, Any]:
        """One heal cycle run by RESQ_HEAL_ORG with the engine's rights, for an organization
        the caller is entitled to (None: all, which needs '*'); the report as a dict."""
        result: dict[str, Any] = self.call("RESQ_HEAL_ORG", [org_id, bool(dry_run)])
        return result

    def refresh_analysis(
        self, *, force: bool = False, now: datetime | None = None, full: bool | None = None
    ) -> RefreshResult:
        """Snowflake refreshes the dynamic table within its target lag by itself. resq asks
        for a refresh (``ALTER DYNAMIC TABLE ... REFRESH``) when forced, or when this backend
        wrote its sources since (so a heal right after a chaos edit sees it). Snowflake
        chooses the refresh action (incremental or full) itself: ``full`` is not used."""
        now = now or utcnow()
        if self.analysis_mode == "view":
            return RefreshResult(False, None, "stock_analysis is a view: every read is current")
        with self._guard() as s:
            if s.depth:
                return RefreshResult(False, None, "not refreshed inside a transaction")
        if not (force or self._dirty):
            return RefreshResult(
                False, None, f"Snowflake refreshes it within its target lag ({self.target_lag})"
            )
        self._dirty = False
        self.execute("ALTER DYNAMIC TABLE stock_analysis REFRESH")
        return RefreshResult(True, None, "MANUAL" if force else "CHANGES", now, utcnow())

    def analysis_state(self) -> dict[str, Any]:
        """What Snowflake reports about the dynamic table (SHOW DYNAMIC TABLES)."""
        if self.analysis_mode == "view":
            return {
                "exists": True,
                "kind": "VIEW",
                "last_refresh_end": utcnow(),
                "suspended": False,
                "consecutive_failures": 0,
            }
        rows = self.fetch("SHOW DYNAMIC TABLES LIKE 'STOCK_ANALYSIS'").to_pylist()
        if not rows:
            return {"exists": False}
        row = rows[0]
        stamp = row.get("data_timestamp")
        if isinstance(stamp, datetime) and stamp.tzinfo is not None:
            from datetime import UTC

            stamp = stamp.astimezone(UTC).replace(tzinfo=None)
        state = str(row.get("scheduling_state") or "")
        history = self._history(REFRESH_HISTORY_SQL.format(name=self._qualified(DT_NAME)))
        refreshes = refresh_summary(history)
        tasks = task_summary(
            self._history(TASK_HISTORY_SQL), self._history("SHOW TASKS LIKE 'RESQ%'")
        )
        return {
            "exists": True,
            "kind": "DYNAMIC TABLE",
            "target_lag": row.get("target_lag"),
            "refresh_mode": row.get("refresh_mode"),
            "refresh_mode_reason": row.get("refresh_mode_reason"),
            "scheduling_state": state,
            "suspended": "SUSPENDED" in state.upper(),
            "last_refresh_end": stamp,
            "consecutive_failures": refreshes["consecutive_failures"],
            "last_error": refreshes["last_error"],
            "rows": row.get("rows"),
            "tasks": tasks,
        }

    def _qualified(self, name: str) -> str:
        config = self.deploy_config()
        return f"{config.database}.{config.schema}.{name}".upper()

    def _history(self, sql: str) -> list[dict[str, Any]]:
        """Rows of a history function or SHOW; none where the account does not answer it
        (a peer without them, or a role without MONITOR)."""
        try:
            rows: list[dict[str, Any]] = self.fetch(sql).to_pylist()
        except Exception:
            return []
        return [{str(k).lower(): v for k, v in r.items()} for r in rows]


DT_NAME = "STOCK_ANALYSIS"
# The dynamic table's recent refreshes ("DYNAMIC_TABLE_REFRESH_HISTORY", docs.snowflake.com):
# newest first. NAME takes the fully qualified name (plain identifiers, never user text).
REFRESH_HISTORY_SQL = (
    "SELECT name, state, state_message, refresh_start_time, refresh_end_time "
    "FROM TABLE(INFORMATION_SCHEMA.DYNAMIC_TABLE_REFRESH_HISTORY(NAME => '{name}', "
    "RESULT_LIMIT => 50)) ORDER BY refresh_start_time DESC"
)
# resq's tasks' recent runs ("TASK_HISTORY"): newest first.
TASK_HISTORY_SQL = (
    "SELECT name, state, error_message, scheduled_time, completed_time "
    "FROM TABLE(INFORMATION_SCHEMA.TASK_HISTORY(RESULT_LIMIT => 200)) "
    "WHERE name LIKE 'RESQ%' ORDER BY scheduled_time DESC"
)
_FAILED = {"FAILED", "UPSTREAM_FAILED", "FAILED_AND_AUTO_SUSPENDED"}
_DONE = _FAILED | {"SUCCEEDED", "CANCELLED", "SKIPPED"}


def refresh_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Consecutive failed refreshes (newest first, up to the last success) and the newest
    error, from DYNAMIC_TABLE_REFRESH_HISTORY rows. Refreshes still running or scheduled
    do not count; a skipped or cancelled one neither breaks nor extends the run."""
    failures, last_error = 0, None
    for row in rows:
        state = str(row.get("state") or "").upper()
        if state not in _DONE or state in {"SKIPPED", "CANCELLED"}:
            continue
        if state == "SUCCEEDED":
            break
        failures += 1
        if last_error is None:
            last_error = row.get("state_message") or state
    return {"consecutive_failures": failures, "last_error": last_error}


def task_summary(
    history: Sequence[dict[str, Any]], shown: Sequence[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per resq task: its state (``SHOW TASKS``: started or suspended, which includes a task
    Snowflake suspended after SUSPEND_TASK_AFTER_NUM_FAILURES), its consecutive failed runs
    (TASK_HISTORY, newest first) and the newest error."""
    out: dict[str, dict[str, Any]] = {}
    for row in shown:
        name = str(row.get("name") or "").upper()
        if name:
            out[name] = {
                "state": str(row.get("state") or "").lower(),
                "consecutive_failures": 0,
                "last_error": None,
            }
    ended: set[str] = set()
    for row in history:
        name = str(row.get("name") or "").upper()
        state = str(row.get("state") or "").upper()
        if not name or name in ended or state not in _DONE or state == "SKIPPED":
            continue
        entry = out.setdefault(
            name, {"state": "unknown", "consecutive_failures": 0, "last_error": None}
        )
        if state in _FAILED:
            entry["consecutive_failures"] += 1
            entry["last_error"] = entry["last_error"] or row.get("error_message") or state
        else:
            ended.add(name)
    for entry in out.values():
        entry["suspended"] = entry["state"] == "suspended"
    return out


def from_session(session: Any, **options: Any) -> SnowflakeBackend:
    """The backend over an existing Snowpark session (a notebook, a stored procedure,
    Streamlit in Snowflake). The session stays the caller's: closing the backend does not
    close it. ``options``: ``analysis``, ``python``, ``target_lag_s``, ``warehouse``,
    ``writes`` (``"procedures"``: write only through the app's owner's-rights procedures),
    ``reads`` (``"app"``: the dynamic table's inputs through their secure views)."""
    return SnowflakeBackend(session=session, **options)


@lru_cache(maxsize=2048)
def through_app_views(sql: str) -> str:
    """``sql`` reading the app's secure views in place of the dynamic table's inputs (an
    unqualified reference to ``organizations``, ``inventory_master`` or ``demand_forecast``
    that is no CTE).

    >>> through_app_views("SELECT o.org_id FROM organizations AS o JOIN alerts AS a ON TRUE")
    'SELECT o.org_id FROM app_organizations AS o JOIN alerts AS a ON TRUE'
    """
    import sqlglot

    lowered = sql.lower()
    if not any(name in lowered for name in sqltext.APP_VIEWS):
        return sql
    tree = sqlglot.parse_one(sql, read="snowflake")
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    changed = False
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if table.db or table.catalog or name in ctes or name not in sqltext.APP_VIEWS:
            continue
        table.set("this", exp.to_identifier(sqltext.APP_VIEWS[name]))
        changed = True
    return tree.sql(dialect="snowflake") if changed else sql


HEAL_LOCK_SETUP = (
    "CREATE TABLE IF NOT EXISTS resq_heal_lock (id INTEGER NOT NULL, holder VARCHAR, "
    "locked_at TIMESTAMP_NTZ)",
    "INSERT INTO resq_heal_lock (id) SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM resq_heal_lock)",
)
HEAL_LOCK_SQL = "UPDATE resq_heal_lock SET holder = ?, locked_at = ? WHERE id = 1"


_DDL_WORDS = ("CREATE", "ALTER", "DROP", "UNDROP", "GRANT", "REVOKE", "COMMENT")


def _is_ddl(sql: str) -> bool:
    """Whether a statement is DDL (which Snowflake runs in a transaction of its own)."""
    text = sql.lstrip()
    while text.startswith(("--", "/*")):
        if text.startswith("--"):
            text = text.split("\n", 1)[1].lstrip() if "\n" in text else ""
        else:
            text = text.split("*/", 1)[1].lstrip() if "*/" in text else ""
    first = text.split(None, 1)[0].upper() if text else ""
    return first in _DDL_WORDS


class SnowflakeSQLError(BackendError, ValueError):
    """A statement resq was asked to send does not parse as Snowflake SQL."""


_VALID: set[str] = set()


def _validated(sql: str) -> None:
    """Check once that ``sql`` parses as Snowflake (a typo fails here, with its position)."""
    if sql in _VALID:
        return
    try:
        sqltext.parses(sql)
    except Exception as exc:
        raise SnowflakeSQLError(f"not valid Snowflake SQL: {exc}") from None
    if len(_VALID) < 4096:
        _VALID.add(sql)
