"""DuckDB connections: the simulation functions (GET_WEATHER_DATA, GET_VENDOR_STATUS,
GENERATE_REALISTIC_SIMULATION) are registered on a connection only when a statement needs
them, so a read command never pays for them and every way of calling them still works; a
read-only connection reads a stale analysis as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

import resq
from resq.backends.duckdb import DuckDBBackend
from resq.backends.duckdb.backend import _CALLS_FUNCTION
from resq.errors import BackendError


def _fresh(tmp_path: Path) -> DuckDBBackend:
    """A backend on a file of its own, reopened (a new DuckDB instance: the functions a
    previous backend registered live in that instance's catalog, not in the file)."""
    path = tmp_path / "f.duckdb"
    with resq.connect(f"duckdb:///{path}") as backend:
        backend.init()
        resq.SelfHealingEngine(backend).seed(n_orgs=2, skus_per_org=2, days=2)
    backend = resq.connect(f"duckdb:///{path}")
    assert isinstance(backend, DuckDBBackend)
    return backend


def _registered(backend: DuckDBBackend) -> bool:
    # the names are spelled in pieces: a statement naming them would register them
    names = backend.fetch(
        "SELECT function_name FROM duckdb_functions() WHERE lower(function_name) "
        "IN ('get_weather' || '_data', 'get_vendor' || '_status')"
    )
    return names.num_rows > 0


def test_reading_the_analysis_registers_nothing(tmp_path: Path) -> None:
    backend = _fresh(tmp_path)
    backend.read("stock_analysis")
    listing = backend.listing("stock_analysis", limit=3)
    assert listing.total and sum(b.num_rows for b in listing.batches) == 3
    assert not _registered(backend)
    backend.close()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT GET_WEATHER_DATA('Delhi') AS v",
        "select get_vendor_status('Blinkit').status AS v",
        "SELECT COUNT(*) AS v FROM GENERATE_REALISTIC_SIMULATION('O', 'S', 3, 1)",
    ],
)
def test_a_statement_naming_a_function_registers_it_first(tmp_path: Path, sql: str) -> None:
    backend = _fresh(tmp_path)
    assert len(backend.sql(sql).to_pylist()) == 1
    assert _registered(backend)
    backend.close()


def test_a_streamed_statement_registers_them_on_its_own_cursor(tmp_path: Path) -> None:
    backend = _fresh(tmp_path)
    sql = "SELECT * FROM GENERATE_REALISTIC_SIMULATION('O', 'S', 5, 1)"
    rows = sum(batch.num_rows for batch in backend.fetch_batches(sql))
    assert rows == 5
    backend.close()


def _reopened_with_a_view(tmp_path: Path) -> DuckDBBackend:
    """A database holding a view of the user's that calls GET_WEATHER_DATA, reopened as a
    new DuckDB instance that has registered nothing yet."""
    backend = _fresh(tmp_path)
    backend.execute("CREATE VIEW my_weather AS SELECT GET_WEATHER_DATA('Delhi') AS w")
    backend.close()
    backend = _fresh_again(tmp_path)
    assert not _registered(backend)
    return backend


def test_a_view_that_calls_them_works_in_a_new_database_instance(tmp_path: Path) -> None:
    backend = _reopened_with_a_view(tmp_path)
    assert backend.fetch("SELECT w FROM my_weather").num_rows == 1  # through the view
    backend.close()


def test_inside_a_transaction_the_view_fails_once_and_the_retry_works(tmp_path: Path) -> None:
    backend = _reopened_with_a_view(tmp_path)
    with pytest.raises(BackendError), backend.transaction():
        backend.fetch("SELECT w FROM my_weather")
    with backend.transaction():
        assert backend.fetch("SELECT w FROM my_weather").num_rows == 1
    backend.close()


def _fresh_again(tmp_path: Path) -> DuckDBBackend:
    backend = resq.connect(f"duckdb:///{tmp_path / 'f.duckdb'}")
    assert isinstance(backend, DuckDBBackend)
    return backend


@pytest.mark.parametrize(
    ("sql", "calls"),
    [
        ("SELECT GET_WEATHER_DATA(city) FROM organizations", True),
        ("select resq_sim_series('a', 'b', 1, 2)", True),
        ("SELECT * FROM generate_realistic_simulation('a','b',1,1)", True),
        ("SELECT weather_condition FROM stock_analysis", False),
        ("SELECT MY_GET_WEATHER_DATA_COPY(1)", False),  # another name that contains it
    ],
)
def test_which_statements_count_as_calling_them(sql: str, calls: bool) -> None:
    assert bool(_CALLS_FUNCTION.search(sql)) is calls


def test_a_read_only_connection_reads_a_stale_analysis_as_it_is(tmp_path: Path) -> None:
    # Once the analysis is older than the target lag, a read refreshes it; a read-only
    # connection cannot write, so it reads what is there instead of failing, and the
    # state still says how old that is.
    _fresh(tmp_path).close()
    path = tmp_path / "f.duckdb"
    with resq.connect(f"duckdb:///{path}") as backend:
        before = backend.read("stock_analysis").sort_by("org_id").to_pylist()
    stale = resq.connect(f"duckdb:///{path}?read_only=true&target_lag=0")
    assert isinstance(stale, DuckDBBackend)
    assert stale.read("stock_analysis").sort_by("org_id").to_pylist() == before
    assert stale.analysis_state()["exists"]
    stale.close()
