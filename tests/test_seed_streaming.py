"""Seeding at national scale (issue 14, item 2; issue 13's seeding target): the network is
generated and written in batches, in one transaction, the same whatever the batch size, with
a progress bar on a terminal only. Figures live in benchmarks/seeding.py."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import resq
from resq import simulation
from resq.backends.warehouse import BatchLoad, WarehouseBackend
from resq.cli import _runtime, app
from resq.errors import RealDataError, ValidationError
from resq.simulation import _VENDORS
from strategies import control_texts, hostile_ids

CLOCK = datetime(2026, 5, 1, 12, 0, 0)
SEEDED = ("organizations", "inventory_master", "vendors", "vendor_catalog", "stock_history")


def _contents(backend: WarehouseBackend) -> dict[str, Any]:
    out: dict[str, Any] = {
        t: sorted(
            repr(sorted((k, v) for k, v in r.items() if k != "updated_at"))
            for r in backend.read(t).to_pylist()
        )
        for t in SEEDED
    }
    out["audit"] = backend.sql("SELECT COUNT(*) AS n, MAX(seq) AS s FROM audit_log").to_pylist()
    return out


# ---------------------------------------------------------------------- determinism


@settings(max_examples=40, deadline=None)
@given(
    n_orgs=st.integers(1, 14),
    k=st.integers(1, 6),
    step=st.integers(1, 15),
    seed=st.integers(-(2**63), 2**64),
    days=st.integers(0, 9),
)
def test_batches_concatenated_are_the_whole_network(
    n_orgs: int, k: int, step: int, seed: int, days: int
) -> None:
    whole = simulation.simulate_network(n_orgs, k, seed)
    batches = list(simulation.simulate_network_batches(n_orgs, k, seed, batch_orgs=step))
    assert len(batches) == -(-n_orgs // step)
    for name in ("organizations", "inventory"):
        parts = pa.concat_tables([getattr(b, name) for b in batches])
        assert parts.equals(getattr(whole, name)), name
    for b in batches:  # the small shared tables come whole with every batch
        assert b.vendors.equals(whole.vendors)
        assert b.vendor_catalog.equals(whole.vendor_catalog)
    start = date(2026, 3, 1)
    history = simulation.network_history(whole, days, seed, start)
    parts = pa.concat_tables([simulation.network_history(b, days, seed, start) for b in batches])
    assert parts.equals(history)
    assert history.num_rows == n_orgs * k * days


@settings(max_examples=40, deadline=None)
@given(
    n_orgs=st.integers(1, 14),
    k=st.integers(1, 6),
    step=st.integers(1, 15),
    seed=st.integers(-(2**63), 2**64),
    days=st.integers(0, 9),
    cities=st.lists(
        st.sampled_from(["Bangalore", "Delhi", "Mumbai", "Chennai"]),
        min_size=1,
        max_size=4,
        unique=True,
    ),
)
def test_every_simulated_table_is_already_what_validation_returns(
    n_orgs: int, k: int, step: int, seed: int, days: int, cities: list[str]
) -> None:
    # Seeding writes the simulation's tables as trusted (BatchLoad.write(trusted=True))
    # instead of validating each batch again: that holds only because every one of them
    # has the spec's exact schema and passes validation unchanged.
    from resq.backends.warehouse import spec_schema
    from resq.core.validation import table_spec, validate_table

    start = date(2026, 3, 1)
    batches = simulation.simulate_network_batches(n_orgs, k, seed, cities, batch_orgs=step)
    for network in batches:
        parts = {
            "vendors": network.vendors,
            "vendor_catalog": network.vendor_catalog,
            "organizations": network.organizations,
            "inventory_master": network.inventory,
            "stock_history": simulation.network_history(network, days, seed, start),
        }
        for name, data in parts.items():
            spec = table_spec(name)
            assert data.schema.equals(spec_schema(spec)), name
            assert validate_table(spec, data, default_source="SIMULATED").equals(data), name


def test_a_trusted_batch_that_is_not_the_spec_is_validated_anyway(
    backend: WarehouseBackend,
) -> None:
    bad = pa.table({"org_id": ["O1"], "org_name": ["x"], "sector": ["NOT-A-SECTOR"]})
    with (
        pytest.raises(ValidationError, match="sector"),
        backend.load_batches(["organizations"], data_source="SIMULATED") as load,
    ):
        load.write("organizations", bad, trusted=True)
    assert backend.read("organizations").num_rows == 0


def test_a_batch_out_of_range_is_refused() -> None:
    for orgs in [(0, 0), (-1, 2), (2, 9), (3, 1)]:
        with pytest.raises(ValueError, match="orgs must be a range"):
            simulation.simulate_network(8, 2, 1, orgs=orgs)


@pytest.mark.slow
def test_seeding_writes_the_same_database_whatever_the_batch_size() -> None:
    contents = []
    for step in (1, 4, 1000):
        backend = resq.connect("duckdb://")
        backend.init()
        engine = resq.SelfHealingEngine(backend, clock=lambda: CLOCK)
        counts = engine.seed(n_orgs=7, skus_per_org=3, days=5, seed=11, batch_orgs=step)
        assert counts == {
            "organizations": 7,
            "inventory_master": 21,
            "vendors": len(_VENDORS),  # every simulated vendor, whatever the network's size
            "vendor_catalog": counts["vendor_catalog"],
            "stock_history": 105,
        }
        got = _contents(backend)
        del got["audit"]
        contents.append(got)
        backend.close()
    assert contents[0] == contents[1] == contents[2]


def _keyed_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every seed batch take the keyed upsert (the path before fresh appends)."""
    real_write = BatchLoad.write

    def keyed(self: BatchLoad, table: str, data: Any, **kwargs: Any) -> int:
        kwargs.pop("new_keys", None)
        return real_write(self, table, data, **kwargs)

    monkeypatch.setattr(BatchLoad, "write", keyed)


def _seeded_contents(n_orgs: int, k: int, step: int, seed: int, days: int, *, again: bool) -> Any:
    backend = resq.connect("duckdb://")
    try:
        backend.init()
        engine = resq.SelfHealingEngine(backend, clock=lambda: CLOCK)
        if again:  # a re-seed: every table already holds a network, so batches are upserted
            engine.seed(n_orgs=n_orgs + 1, skus_per_org=k, days=days, seed=seed + 1)
        engine.seed(n_orgs=n_orgs, skus_per_org=k, days=days, seed=seed, batch_orgs=step)
        got = {
            t: backend.fetch(backend.render(f"SELECT * FROM {t}")).sort_by(
                [(c, "ascending") for c in ("org_id", "sku", "day", "vendor_id", "city")
                 if c in backend.fetch(backend.render(f"SELECT * FROM {t} LIMIT 0")).column_names]
            )
            for t in SEEDED
        }  # fmt: skip
        audit = backend.read("audit_log", where={"action": "data.loaded"}).to_pylist()
        got["audit"] = [(e["entity_id"], e["details"]) for e in audit]
        got["changes"] = backend.fetch(backend.render("SELECT COUNT(*) AS n FROM resq_dt_changes"))
        return got
    finally:
        backend.close()


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(
    n_orgs=st.integers(1, 9),
    k=st.integers(1, 4),
    step=st.integers(1, 10),
    seed=st.integers(0, 2**64 - 1),
    days=st.integers(0, 4),
    again=st.booleans(),
)
def test_a_fresh_seed_writes_what_the_keyed_upsert_writes_table_for_table(
    n_orgs: int, k: int, step: int, seed: int, days: int, again: bool
) -> None:
    # A fresh seed appends each batch into the empty tables (BatchLoad.write(new_keys=True)),
    # built one batch ahead in a worker thread; the database must be the one the keyed
    # upsert of every batch, built in order, writes: every row, value and audit event.
    fast = _seeded_contents(n_orgs, k, step, seed, days, again=again)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _keyed_only(monkeypatch)
        keyed = _seeded_contents(n_orgs, k, step, seed, days, again=again)
    assert fast.keys() == keyed.keys()
    for name in fast:
        assert fast[name] == keyed[name], name
    assert fast["organizations"].num_rows == n_orgs + again  # a re-seed keeps the extra one


def test_new_keys_into_a_table_with_rows_still_replaces_by_key(backend: WarehouseBackend) -> None:
    # new_keys only promises the stream's batches are disjoint; rows stored before the
    # stream may share a key, so a table that was not empty is upserted as usual.
    backend.load("organizations", [{"org_id": "O1", "org_name": "O", "sector": "NGO", "city": "X"}])
    item = {"org_id": "O1", "item_name": "Kit", "current_stock": 1.0, "daily_consumption": 1.0}
    backend.load("inventory", [{**item, "sku": "A"}, {**item, "sku": "B"}])
    with backend.load_batches(["inventory_master"]) as load:
        load.write("inventory", [{**item, "sku": "B", "current_stock": 9.0}], new_keys=True)
        load.write("inventory", [{**item, "sku": "C", "current_stock": 3.0}], new_keys=True)
    rows = {r["sku"]: r["current_stock"] for r in backend.read("inventory_master").to_pylist()}
    assert rows == {"A": 1.0, "B": 9.0, "C": 3.0}


def test_a_failure_building_a_batch_ahead_writes_nothing(
    backend: WarehouseBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = resq.SelfHealingEngine(backend)
    built: list[int] = []
    real_history = simulation.network_history

    def failing(network: Any, *args: Any) -> pa.Table:
        built.append(network.organizations.num_rows)
        if len(built) == 3:
            raise RuntimeError("the simulation broke")
        return real_history(network, *args)

    monkeypatch.setattr(simulation, "network_history", failing)
    with pytest.raises(RuntimeError, match="simulation broke"):
        engine.seed(n_orgs=6, skus_per_org=2, days=2, seed=2, batch_orgs=1)
    assert len(built) == 3  # built in order, stopped at the failure
    for table in SEEDED:
        assert backend.read(table).num_rows == 0, table
    assert not backend.read("audit_log", where={"action": "data.loaded"}).num_rows


# ---------------------------------------------------------------------- all or nothing


@pytest.mark.slow
def test_a_failure_mid_way_writes_nothing(
    backend: WarehouseBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = resq.SelfHealingEngine(backend)
    engine.seed(n_orgs=3, skus_per_org=2, days=2, seed=1)  # something to keep
    before = _contents(backend)
    writes: list[str] = []
    real_write = BatchLoad.write

    def failing(self: BatchLoad, table: str, data: Any, **kwargs: Any) -> int:
        writes.append(table)
        if table == "inventory_master" and writes.count(table) == 2:
            raise RuntimeError("the warehouse went away")
        return real_write(self, table, data, **kwargs)

    monkeypatch.setattr(BatchLoad, "write", failing)
    with pytest.raises(RuntimeError, match="went away"):
        engine.seed(n_orgs=6, skus_per_org=2, days=3, seed=2, batch_orgs=2)
    assert writes.count("organizations") == 2  # batches were written before the failure
    assert _contents(backend) == before


def test_a_bad_batch_names_its_row_in_the_whole_stream_and_writes_nothing(
    backend: WarehouseBackend,
) -> None:
    backend.load("organizations", [{"org_id": "O1", "org_name": "O", "sector": "NGO", "city": "X"}])
    before = _contents(backend)
    item = {"org_id": "O1", "item_name": "Kit", "current_stock": 1.0, "daily_consumption": 1.0}
    first = [{**item, "sku": f"S{i}"} for i in range(3)]
    second = [{**item, "sku": f"T{i}"} for i in range(3)]
    second[1]["current_stock"] = -5.0
    with pytest.raises(ValidationError) as info, backend.load_batches(["inventory"]) as load:
        load.write("inventory", first)
        load.write("inventory", second)
    assert [(i.row, i.column) for i in info.value.issues] == [(5, "current_stock")]
    assert "row 5, column 'current_stock'" in str(info.value)
    assert _contents(backend) == before


def test_batches_load_and_are_audited_once_per_table(backend: WarehouseBackend) -> None:
    backend.load("organizations", [{"org_id": "O1", "org_name": "O", "sector": "NGO", "city": "X"}])
    item = {"org_id": "O1", "item_name": "Kit", "current_stock": 1.0, "daily_consumption": 1.0}
    with backend.load_batches(["inventory_master"], actor="loader") as load:
        for b in range(3):
            load.write("inventory", [{**item, "sku": f"S{b}-{i}"} for i in range(2)])
    assert load.rows == {"inventory_master": 6}
    assert backend.read("inventory_master").num_rows == 6
    events = backend.read("audit_log", where={"action": "data.loaded"}).to_pylist()
    mine = [json.loads(e["details"]) for e in events if e["entity_id"] == "inventory_master"]
    assert mine == [{"batches": 3, "mode": "upsert", "rows": 6}]
    assert backend.verify_audit().ok


def test_a_batch_replaces_rows_with_its_keys_and_keeps_the_others(
    backend: WarehouseBackend,
) -> None:
    backend.load("organizations", [{"org_id": "O1", "org_name": "O", "sector": "NGO", "city": "X"}])
    item = {"org_id": "O1", "item_name": "Kit", "current_stock": 1.0, "daily_consumption": 1.0}
    backend.load("inventory", [{**item, "sku": "A"}, {**item, "sku": "B"}])
    with backend.load_batches(["inventory_master"]) as load:
        load.write("inventory", [{**item, "sku": "B", "current_stock": 9.0}])
    rows = {r["sku"]: r["current_stock"] for r in backend.read("inventory_master").to_pylist()}
    assert rows == {"A": 1.0, "B": 9.0}


# ---------------------------------------------------------------------- REAL rows


@pytest.mark.slow
@settings(max_examples=5, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pick=st.integers(0, 5), step=st.integers(1, 4))
def test_a_real_row_in_any_batch_stops_everything(
    tmp_path_factory: pytest.TempPathFactory, pick: int, step: int
) -> None:
    path = tmp_path_factory.mktemp("seedreal") / "s.duckdb"
    backend = resq.connect(f"duckdb:///{path}")
    backend.init()
    orgs = simulation.simulate_network(6, 1, 42).organizations.to_pylist()
    chosen = orgs[pick]
    real = {k: chosen[k] for k in ("org_id", "org_name", "sector", "city")}
    backend.load("organizations", [real])
    before = _contents(backend)
    with pytest.raises(RealDataError) as info:
        resq.SelfHealingEngine(backend).seed(n_orgs=6, skus_per_org=1, days=1, batch_orgs=step)
    assert info.value.collisions == {"organizations": [chosen["org_id"]]}
    assert _contents(backend) == before
    backend.close()


# ---------------------------------------------------------------------- progress


def _seed(tmp_path: Path, *args: str) -> Any:
    db = f"duckdb:///{tmp_path / 'p.duckdb'}"
    runner = CliRunner()
    assert runner.invoke(app, ["--db", db, "init"]).exit_code == 0
    return runner.invoke(
        app, ["--db", db, *args, "seed", "--orgs", "4", "--skus-per-org", "2", "--days", "3"]
    )


def test_no_progress_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    result = _seed(tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "Seeded a simulated network" in result.stdout


def test_a_terminal_gets_a_progress_bar_on_stderr_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_runtime, "_stderr_is_terminal", lambda: True)
    result = _seed(tmp_path)
    assert result.exit_code == 0, result.output
    assert "Seeding" in result.stderr and "100%" in result.stderr
    rows = json.loads(_doc(tmp_path))["rows"]
    total = 4 + 4 * 2 * (1 + 3) + len(_VENDORS) + int(rows["vendor_catalog"])
    assert f"{total}/{total} rows" in result.stderr
    assert "Seeding" not in result.stdout
    assert "Seeded a simulated network" in result.stdout


def _doc(tmp_path: Path) -> str:
    db = f"duckdb:///{tmp_path / 'p.duckdb'}"
    args = ["--db", db, "--json", "seed", "--orgs", "4", "--skus-per-org", "2", "--days", "3"]
    return CliRunner().invoke(app, args).stdout


@pytest.mark.parametrize("flag", ["--json", "--no-progress"])
def test_json_and_no_progress_show_no_bar_even_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    monkeypatch.setattr(_runtime, "_stderr_is_terminal", lambda: True)
    db = f"duckdb:///{tmp_path / 'p.duckdb'}"
    runner = CliRunner()
    assert runner.invoke(app, ["--db", db, "init"]).exit_code == 0
    args = ["--db", db, "seed", "--orgs", "2", "--skus-per-org", "1", "--days", "2", flag]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Seeding" not in result.stderr
    if flag == "--json":
        assert json.loads(result.stdout)["rows"]["stock_history"] == 4


# ---------------------------------------------------------------------- vectorized checks

_TEXTS = st.one_of(
    hostile_ids,
    control_texts,
    st.sampled_from(["", "   ", "hospital", " PDS ", "ngo", "BOGUS", "x" * 1001]),
)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(_TEXTS, min_size=1, max_size=6),
    picks=st.lists(st.integers(0, 5), min_size=2, max_size=60),
    sectors=st.lists(st.sampled_from(["HOSPITAL", "pds", " Ngo", "BOGUS", ""]), min_size=1),
)
def test_checking_distinct_values_reports_exactly_what_row_by_row_does(
    values: list[str], picks: list[int], sectors: list[str]
) -> None:
    """A repeated text column is checked once per distinct value (what makes a million rows
    of ids cheap); the issues and the normalized column are exactly the row-by-row ones."""
    from resq.core import validation

    n = len(picks)
    data = pa.table(
        {
            "org_id": [values[p % len(values)] for p in picks],
            "org_name": [values[(p + 1) % len(values)] for p in picks],
            "sector": [sectors[p % len(sectors)] for p in picks],
            "city": ["Pune"] * n,
        }
    )

    def outcome(threshold: int) -> tuple[Any, ...]:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(validation, "_DISTINCT_MIN_ROWS", threshold)
            try:
                return ("ok", validation.validate_table("organizations", data).to_pylist())
            except ValidationError as exc:
                return ("error", [(i.row, i.column, i.reason, repr(i.value)) for i in exc.issues])

    assert outcome(1) == outcome(10**9)


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(
        st.tuples(st.sampled_from(["A", "B", " ", ""]), st.sampled_from(["x", "y", "z"])),
        min_size=1,
        max_size=25,
    )
)
def test_the_cheap_repeat_test_never_hides_a_duplicate(keys: list[tuple[str, str]]) -> None:
    from resq.core import validation

    data = pa.table(
        {
            "org_id": [k[0] for k in keys],
            "sku": [k[1] for k in keys],
            "item_name": ["n"] * len(keys),
            "current_stock": [1.0] * len(keys),
            "daily_consumption": [1.0] * len(keys),
        }
    )

    def outcome(always: bool) -> tuple[Any, ...]:
        with pytest.MonkeyPatch.context() as mp:
            if always:
                mp.setattr(validation, "_may_repeat", lambda *a: True)
            try:
                return ("ok", validation.validate_table("inventory", data).to_pylist())
            except ValidationError as exc:
                return ("error", [(i.row, i.column, i.reason) for i in exc.issues])

    assert outcome(False) == outcome(True)
