"""A heal commit that leaves DuckDB's write-ahead log past its checkpoint threshold folds
it into the database file at once, so the next cycle does not pay for this one's write
(DuckDBBackend._checkpoint_large_wal). The threshold is lowered here so a small database
crosses it; the heal's result never depends on whether the checkpoint ran."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import resq
from resq.backends.duckdb import DuckDBBackend
from resq.backends.duckdb import backend as duck


def _seeded(path: Path) -> DuckDBBackend:
    backend = resq.connect(f"duckdb:///{path}")
    assert isinstance(backend, DuckDBBackend)
    backend.init()
    resq.SelfHealingEngine(backend).seed(n_orgs=3, skus_per_org=4, days=3)
    backend.execute("CHECKPOINT")
    return backend


def _wal(path: Path) -> int:
    wal = Path(f"{path}.wal")
    return wal.stat().st_size if wal.exists() else 0


def test_a_heal_past_the_threshold_leaves_no_wal_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.duckdb"
    backend = _seeded(path)
    monkeypatch.setattr(duck, "_CHECKPOINT_WAL_BYTES", 1)
    report = resq.SelfHealingEngine(backend).heal()
    assert report.orders, "the seeded database has critical items to order"
    assert _wal(path) == 0
    backend.close()
    with resq.connect(f"duckdb:///{path}?read_only=true") as again:
        assert again.fetch("SELECT COUNT(*) AS n FROM purchase_orders").to_pylist()[0]["n"] == (
            len(report.orders)
        )


def test_a_heal_below_the_threshold_leaves_the_wal_to_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.duckdb"
    backend = _seeded(path)
    monkeypatch.setattr(duck, "_CHECKPOINT_WAL_BYTES", 1 << 40)
    resq.SelfHealingEngine(backend).heal()
    assert _wal(path) > 0
    backend.close()


def test_a_heal_inside_an_outer_transaction_does_not_checkpoint_mid_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.duckdb"
    backend = _seeded(path)
    monkeypatch.setattr(duck, "_CHECKPOINT_WAL_BYTES", 1)
    calls: list[str] = []
    real = DuckDBBackend._checkpoint_large_wal

    def spy(self: DuckDBBackend) -> None:
        calls.append("checkpoint")
        real(self)

    monkeypatch.setattr(DuckDBBackend, "_checkpoint_large_wal", spy)
    with backend.transaction(), backend.heal_transaction(holder="outer"):
        backend.execute("UPDATE resq_dt_state SET target_lag_s = target_lag_s")
    assert calls == []
    with backend.heal_transaction(holder="alone"):
        pass
    assert calls == ["checkpoint"]
    backend.close()


def test_a_checkpoint_that_cannot_run_leaves_the_heal_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another thread holds a write transaction open, so DuckDB refuses the CHECKPOINT; the
    heal has committed all the same and its orders are there."""
    path = tmp_path / "w.duckdb"
    backend = _seeded(path)
    monkeypatch.setattr(duck, "_CHECKPOINT_WAL_BYTES", 1)
    opened, release = threading.Event(), threading.Event()

    def hold() -> None:
        with backend.transaction():
            backend.execute("UPDATE resq_dt_state SET target_lag_s = target_lag_s")
            opened.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert opened.wait(30)
    try:
        report = resq.SelfHealingEngine(backend).heal()
        assert _wal(path) > 0, "the CHECKPOINT was refused, so the log is still there"
    finally:
        release.set()
        holder.join(30)
    assert report.orders
    n = backend.fetch("SELECT COUNT(*) AS n FROM purchase_orders").to_pylist()[0]["n"]
    assert n == len(report.orders)
    backend.close()


def test_an_in_memory_database_has_no_wal_to_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(duck, "_CHECKPOINT_WAL_BYTES", 1)
    with resq.connect("duckdb://") as backend:
        backend.init()
        resq.SelfHealingEngine(backend).seed(n_orgs=2, skus_per_org=2, days=2)
        assert resq.SelfHealingEngine(backend).heal().cycle_id
