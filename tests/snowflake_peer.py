"""The Snowflake-protocol peer of the tier-2 tests: a fakesnow server on 127.0.0.1.

The server is started by the first test that needs it (``PEER.start()``) and stopped when
the test session ends; every backend talks to it over HTTP through the real Snowflake
connector, in a database of its own. fakesnow runs Snowflake SQL on DuckDB: it has no
dynamic tables and runs no Python functions (it "creates" both without doing anything), so
backends here use ``analysis=view`` (stock_analysis is a view of the same query) and
``python=false`` (no UDFs are created); that is never counted as coverage of those objects.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import resq
from resq.backends.warehouse import WarehouseBackend

PEER_OPTIONS = {"analysis": "view", "python": "false"}
"""URL options of every tier-2 backend (see the module docstring)."""


class FakesnowPeer:
    """One fakesnow server process for the whole test session.

    A process of its own (``python tests/snowflake_peer.py serve PORT``) rather than a
    thread: the connector and the server then do not share one interpreter lock, which
    makes every statement about a third faster. It is stopped when the tests end. The
    server process fixes three fakesnow quirks first (see the functions below); none of
    them is a Snowflake behaviour.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._lock = threading.Lock()
        self.port: int | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> int:
        with self._lock:
            if not self.running:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", 0))
                    port = sock.getsockname()[1]
                # The server's stderr goes to a file, never to a pipe: nobody reads a pipe
                # while tests run, and a server that has logged 64 KB (tracebacks of the
                # hostile statements the tests send) would block on its next write and
                # stop answering every later test.
                # RESQ_PEER_LOG=path keeps the server's log for reading after the tests.
                kept = os.environ.get("RESQ_PEER_LOG")
                self._log = open(kept, "a+b") if kept else tempfile.TemporaryFile()  # noqa: SIM115
                self._process = subprocess.Popen(
                    [sys.executable, __file__, "serve", str(port)],
                    stdout=subprocess.DEVNULL,
                    stderr=self._log,
                )
                deadline = time.monotonic() + 60
                while True:
                    if self._process.poll() is not None:
                        self._log.seek(0)
                        err = self._log.read().decode(errors="replace")
                        raise RuntimeError(f"the fakesnow server did not start: {err}")
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise RuntimeError("the fakesnow server did not listen") from None
                        time.sleep(0.05)
                self.port = port
                atexit.register(self.stop)
            assert self.port is not None
            return self.port

    def stop(self) -> None:
        with self._lock:
            if self._process is not None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                self._process = None
                self.port = None
            if self._log is not None:
                self._log.close()
                self._log = None

    def log_size(self) -> int:
        """Bytes the running server has written to its log so far."""
        return os.fstat(self._log.fileno()).st_size if self._log is not None else 0

    def connect_kwargs(self) -> dict[str, Any]:
        """Connector arguments for the server (beyond what the URL says)."""
        port = self.start()
        return {
            "host": "127.0.0.1",
            "port": port,
            "protocol": "http",
            "password": "snow",
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
            # fakesnow answers in milliseconds; a short timeout also keeps the connector
            # from retrying a failed statement for minutes
            "network_timeout": 30,
            "login_timeout": 30,
        }


PEER = FakesnowPeer()


def _skip_null_table_comments() -> None:
    """A fakesnow quirk, not a Snowflake rule: its MERGE emulation creates a temporary
    table, and fakesnow records that table's (absent) comment in its global catalog
    database; DuckDB refuses a transaction that writes two databases, so every MERGE after
    another write in a transaction would fail. Recording no comment where there is none
    changes nothing a query can see and lets MERGE run inside transactions, as it does in
    Snowflake."""
    import fakesnow.transforms as transforms

    original = transforms.extract_comment_on_table
    if getattr(original, "_resq_patched", False):
        return

    def extract_comment_on_table(expression: Any) -> Any:
        new = original(expression)
        recorded = new.args.get("table_comment")
        if recorded is not None and recorded[1] is None:
            new.args.pop("table_comment")
        return new

    extract_comment_on_table._resq_patched = True  # type: ignore[attr-defined]
    transforms.extract_comment_on_table = extract_comment_on_table


def _merge_reads_every_source_column() -> None:
    """A fakesnow bug, not a Snowflake rule: its MERGE emulation copies only the source
    columns that appear bare in WHEN ... INSERT VALUES, so
    ``CAST(s.reason_caps_applied AS ARRAY(VARCHAR))`` (in sql/merge_orders.sql) finds no
    ``reason_caps_applied``. Copy every source column the clauses read."""
    import importlib

    from sqlglot import exp

    merge = importlib.import_module("fakesnow.transforms.merge")
    original = merge._create_merge_candidates
    if getattr(original, "_resq_patched", False):
        return

    def create_merge_candidates(merge_expr: Any) -> Any:
        created = original(merge_expr)
        select = created.expression
        source = merge_expr.args["using"]
        alias = source.args.get("alias")
        source_name = (alias.name if alias is not None else source.name).upper()
        have = {e.sql().upper() for e in select.expressions}
        for when in merge_expr.args["whens"]:
            for column in when.find_all(exp.Column):
                if column.table.upper() == source_name and column.sql().upper() not in have:
                    select.expressions.insert(0, column.copy())
                    have.add(column.sql().upper())
        return created

    create_merge_candidates._resq_patched = True  # type: ignore[attr-defined]
    merge._create_merge_candidates = create_merge_candidates


def database_for(tmp_path: Path, name: str) -> str:
    """The peer database of one test backend: the same (tmp_path, name) reopens it."""
    digest = hashlib.sha256(f"{tmp_path}/{name}".encode()).hexdigest()[:20].upper()
    return f"T{digest}"


def url_for(database: str, options: dict[str, Any] | None = None) -> str:
    query = "&".join(f"{k}={v}" for k, v in {**PEER_OPTIONS, **(options or {})}.items())
    return f"snowflake://fake@fakesnow/{database}/PUBLIC?{query}"


def make_backend(tmp_path: Path, name: str, options: dict[str, Any]) -> WarehouseBackend:
    """The FACTORIES entry of the shared suite (tests/conftest.py)."""
    backend = resq.connect(url_for(database_for(tmp_path, name), options), **PEER.connect_kwargs())
    _one_thread(backend)
    return backend


def _one_thread(backend: Any) -> None:
    """fakesnow serves every session from one shared DuckDB, which stalls when several
    sessions write in transactions at once (Snowflake queues them on locks instead). A
    peer backend therefore refuses a second thread at once, rather than hang; the race
    tests are declared notimpl for this tier."""
    owner = threading.get_ident()
    session = backend._session

    def one_thread_session() -> Any:
        if threading.get_ident() != owner:
            from resq.errors import BackendError

            raise BackendError(
                "the fakesnow tier runs one thread per backend: fakesnow's shared DuckDB "
                "stalls under concurrent writing sessions"
            )
        return session()

    backend._session = one_thread_session


def _null_timestamps_stay_null() -> None:
    """A fakesnow bug, not a Snowflake rule: its Arrow results encode timestamps as
    Snowflake's (epoch, fraction) struct without a validity mask, so a NULL timestamp
    reaches the client as 1970-01-01. Keep NULL as NULL."""
    import fakesnow.arrow as arrow
    import pyarrow as pa
    import pyarrow.compute as pc

    original = arrow.timestamp_to_sf_struct
    if getattr(original, "_resq_patched", False):
        return

    def timestamp_to_sf_struct(ts: Any) -> Any:
        if isinstance(ts, pa.ChunkedArray):
            ts = ts.combine_chunks()
        built = original(ts)
        if not ts.null_count:
            return built
        fields = [built.type.field(i) for i in range(built.type.num_fields)]
        children = [built.field(i).fill_null(0) for i in range(built.type.num_fields)]
        return pa.StructArray.from_arrays(children, fields=fields, mask=pc.is_null(ts))

    timestamp_to_sf_struct._resq_patched = True  # type: ignore[attr-defined]
    arrow.timestamp_to_sf_struct = timestamp_to_sf_struct


def _unenforced_keys_are_not_enforced() -> None:
    """A fakesnow gap, not a Snowflake rule: Snowflake accepts ``PRIMARY KEY NOT ENFORCED``
    (its default for standard tables, written out in sql/schema.sql) and fakesnow passes it
    to DuckDB, which cannot parse it. Dropped as the DuckDB backend drops it, so the keys
    are unenforced here as they are in Snowflake."""
    import fakesnow.transforms as transforms

    from resq.backends.duckdb.rewrites import unenforced_keys_dropped

    original = transforms.extract_comment_on_columns
    if getattr(original, "_resq_patched", False):
        return

    def extract_comment_on_columns(expression: Any) -> Any:
        return original(unenforced_keys_dropped(expression))

    extract_comment_on_columns._resq_patched = True  # type: ignore[attr-defined]
    transforms.extract_comment_on_columns = extract_comment_on_columns


def serve(port: int) -> None:
    """The server process: fakesnow's app with the quirks above fixed."""
    import fakesnow.server
    import uvicorn

    _skip_null_table_comments()
    _merge_reads_every_source_column()
    _null_timestamps_stay_null()
    _unenforced_keys_are_not_enforced()
    logging.getLogger("fakesnow").setLevel(logging.WARNING)
    uvicorn.run(fakesnow.server.app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        raise SystemExit("usage: python tests/snowflake_peer.py serve PORT")
