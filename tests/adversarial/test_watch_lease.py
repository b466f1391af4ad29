"""One watcher per database even when the lock file is deleted (issue 11, item 13): the
lease row in the database is the authority, taken atomically, renewed every tick, taken over
once expired; a watcher that lost it does not act."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest

import resq
from receivers import copy_db, seeded_template
from resq.alerting import Watcher, WatcherRunningError
from resq.backends.warehouse import utcnow

LEASE = "resq-watch"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_template(tmp_path_factory.mktemp("watch-lease"))


def lease_rows(db: str) -> list[dict]:
    with resq.connect(db) as b:
        return b.sql("SELECT * FROM watch_lease").to_pylist()


def cycles(db: str) -> int:
    with resq.connect(db) as b:
        return int(b.sql("SELECT COUNT(*) FROM heal_cycles").scalar())


def test_deleting_the_lock_file_does_not_let_a_second_watcher_act(
    template: Path, tmp_path: Path
) -> None:
    db = copy_db(template, tmp_path / "db.duckdb")
    lock_file = tmp_path / "db.duckdb.watch.lock"
    first = Watcher(lambda: resq.connect(db), interval=0.05)
    ticked = threading.Event()
    first.on_tick = lambda tick: ticked.set()
    thread = threading.Thread(target=first.run, kwargs={"handle_signals": False})
    thread.start()
    try:
        assert ticked.wait(30)
        lock_file.unlink()
        second = Watcher(lambda: resq.connect(db), interval=0)
        second_ticks: list[object] = []
        second.on_tick = second_ticks.append
        with pytest.raises(WatcherRunningError, match="its lease expires at"):
            second.run(cycles=1, handle_signals=False)
        assert second_ticks == []  # it never acted
    finally:
        first.stop()
        thread.join(30)
    assert lease_rows(db) == []  # released on stop
    assert (
        len(Watcher(lambda: resq.connect(db), interval=0).run(cycles=1, handle_signals=False).ticks)
        == 1
    )


def test_an_expired_lease_is_taken_over(template: Path, tmp_path: Path) -> None:
    db = copy_db(template, tmp_path / "db.duckdb")
    past = utcnow() - timedelta(minutes=5)
    other = json.dumps({"watcher": "gone", "pid": 1, "host": "elsewhere"})
    with resq.connect(db) as b:
        b.execute(
            "INSERT INTO watch_lease (lease, holder, acquired_at, heartbeat_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [LEASE, other, past, past, past + timedelta(seconds=60)],
        )
    seen: list[list[dict]] = []
    watcher = Watcher(lambda: resq.connect(db), interval=0)
    watcher.on_start = lambda: seen.append(lease_rows_open(watcher))
    report = watcher.run(cycles=1, handle_signals=False)
    assert report.ok and len(report.ticks) == 1
    [[row]] = seen
    assert json.loads(row["holder"])["watcher"] != "gone" and row["expires_at"] > utcnow()


def lease_rows_open(watcher: Watcher) -> list[dict]:
    b = watcher._open()
    try:
        return b.sql("SELECT * FROM watch_lease").to_pylist()
    finally:
        watcher._close(b)


def test_a_live_lease_of_another_holder_refuses_even_without_a_lock_file(
    template: Path, tmp_path: Path
) -> None:
    db = copy_db(template, tmp_path / "db.duckdb")
    now = utcnow()
    other = json.dumps({"watcher": "other", "pid": 4242, "host": "elsewhere"})
    with resq.connect(db) as b:
        b.execute(
            "INSERT INTO watch_lease (lease, holder, acquired_at, heartbeat_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [LEASE, other, now, now, now + timedelta(minutes=5)],
        )
    before = cycles(db)
    with pytest.raises(WatcherRunningError, match="process 4242 on elsewhere"):
        Watcher(lambda: resq.connect(db), interval=0).run(cycles=1, handle_signals=False)
    assert cycles(db) == before
    assert not (tmp_path / "db.duckdb.watch.lock").read_text()  # the file lock was let go


def test_a_watcher_whose_lease_was_taken_does_not_act(template: Path, tmp_path: Path) -> None:
    """Between two ticks another holder takes the lease (as after this watcher was suspended
    past its expiry): the next tick does nothing but report it."""
    db = copy_db(template, tmp_path / "db.duckdb")
    watcher = Watcher(lambda: resq.connect(db), interval=0)
    ticks = []

    def on_tick(tick: object) -> None:
        ticks.append(tick)
        if len(ticks) == 1:
            b = watcher._open()
            try:
                now = utcnow()
                b.execute(
                    "UPDATE watch_lease SET holder = ?, expires_at = ?",
                    [
                        json.dumps({"watcher": "thief", "pid": 7, "host": "h"}),
                        now + timedelta(hours=1),
                    ],
                )
            finally:
                watcher._close(b)

    watcher.on_tick = on_tick
    before = cycles(db)
    report = watcher.run(cycles=2, handle_signals=False)
    assert [s.step for s in report.ticks[1].steps] == ["lease"]
    assert "lease was lost" in str(report.ticks[1].steps[0].error)
    assert cycles(db) == before + 1  # only the first tick healed
