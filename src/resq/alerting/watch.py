"""The watch loop, the local equivalent of Snowflake's tasks and alerts.

Each tick refreshes ``stock_analysis`` when it is due, heals, escalates and delivers. One
watcher runs per database (a lock file beside a DuckDB file, a lease row elsewhere).
SIGINT and SIGTERM end the loop after the current step, never inside a transaction; a
failing step is logged and tried again next tick while the loop keeps running.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from resq.alerting.config import AlertingConfig
from resq.alerting.delivery import Deliverer
from resq.alerting.escalation import Escalator
from resq.alerting.routing import apply_config, ensure_schema
from resq.errors import DatabaseLockedError

if TYPE_CHECKING:
    from resq.backends.warehouse import WarehouseBackend

log = logging.getLogger("resq.watch")

WATCH_ACTOR = "resq-watch"
STEPS = ("refresh", "heal", "escalate", "deliver")


class WatcherRunningError(DatabaseLockedError):
    """Another ``resq watch`` already watches this database."""


@dataclass
class StepResult:
    """One step of a tick: whether it worked, how long it took, what it did or the error."""

    step: str
    ok: bool
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "detail": self.detail,
            "error": self.error,
        }


@dataclass
class TickReport:
    tick: int
    started_at: datetime
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tick": self.tick,
            "started_at": self.started_at.isoformat(),
            "ok": self.ok,
            "steps": [s.as_dict() for s in self.steps],
        }


@dataclass
class WatchReport:
    ticks: list[TickReport] = field(default_factory=list)
    stopped_by: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the last tick worked (earlier failures were retried by later ticks)."""
        return not self.ticks or self.ticks[-1].ok

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "ticks": [t.as_dict() for t in self.ticks],
            "stopped_by": self.stopped_by,
        }


class Watcher:
    """Runs heal cycles, escalation and delivery on a schedule.

    ``Watcher(backend, load_config()).run(cycles=3)`` runs three ticks. Given a function
    that connects instead of a backend, a DuckDB file is opened for each tick and released
    while the watcher sleeps, so ``resq ack`` and ``resq status`` can use it meanwhile.
    """

    def __init__(
        self,
        backend: WarehouseBackend | Callable[[], WarehouseBackend],
        config: AlertingConfig | None = None,
        *,
        interval: float | None = None,
        clock: Callable[[], datetime] | None = None,
        console: TextIO | None = None,
        on_tick: Callable[[TickReport], None] | None = None,
        on_start: Callable[[], None] | None = None,
        apply: bool = True,
    ) -> None:
        from resq.backends.warehouse import WarehouseBackend, utcnow

        if isinstance(backend, WarehouseBackend):
            self._backend: WarehouseBackend | None = backend
            self._connect: Callable[[], WarehouseBackend] | None = None
        else:
            self._backend = None
            self._connect = backend
        self.config = config or AlertingConfig()
        self.interval = float(interval if interval is not None else self.config.watch_interval_s)
        if self.interval < 0:
            raise ValueError("the interval must not be negative")
        self.clock = clock or utcnow
        self.console = console
        self.on_tick = on_tick
        self.on_start = on_start
        self.apply = apply
        self._stop = threading.Event()
        self._stop_reason: str | None = None
        self._release = False
        self._lock: _Lock | None = None
        self._ticks = 0

    # ------------------------------------------------------------------ control

    def stop(self, reason: str = "stop()") -> None:
        """End the loop after the current step (safe from a signal handler or a thread)."""
        self._stop_reason = self._stop_reason or reason
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, cycles: int | None = None, *, handle_signals: bool = True) -> WatchReport:
        """Tick every ``interval`` seconds, ``cycles`` times (None: until stopped)."""
        if cycles is not None and cycles < 1:
            raise ValueError("cycles must be at least 1")
        report = WatchReport()
        with self._signals(handle_signals), self._locked():
            if self.on_start is not None:
                self.on_start()  # the lock is held and the config applied
            while not self._stop.is_set():
                report.ticks.append(self.tick())
                if cycles is not None and len(report.ticks) >= cycles:
                    report.stopped_by = f"{cycles} cycle(s) done"
                    break
                self._stop.wait(self.interval)
        report.stopped_by = report.stopped_by or self._stop_reason
        return report

    # ------------------------------------------------------------------ one tick

    def tick(self) -> TickReport:
        """One tick: refresh when due, heal, escalate, deliver; each step on its own."""
        self._ticks += 1
        report = TickReport(self._ticks, self.clock())
        try:
            backend = self._open()
        except Exception as exc:
            log.error("tick %d: cannot open the database: %s", self._ticks, exc)
            report.steps.append(StepResult("connect", False, 0.0, error=_one_line(exc)))
            self._report(report)
            return report
        try:
            lost: str | None = None
            if self._lock is not None:
                try:
                    lost = self._lock.renew(backend)
                except Exception as exc:
                    lost = None
                    log.warning("tick %d: could not renew the watch lease: %s", self._ticks, exc)
                if lost is not None:
                    # Another watcher holds the lease: this one must not act.
                    log.error("tick %d: %s", self._ticks, lost)
                    report.steps.append(StepResult("lease", False, 0.0, error=lost))
            for name in STEPS:
                if self._stop.is_set() or lost is not None:
                    break
                report.steps.append(self._step(name, backend))
        finally:
            self._close(backend)
        self._report(report)
        return report

    def _step(self, name: str, backend: WarehouseBackend) -> StepResult:
        start = time.monotonic()
        try:
            detail = getattr(self, f"_do_{name}")(backend)
        except Exception as exc:
            log.error("tick %d: %s failed (retried next tick): %s", self._ticks, name, exc)
            log.debug("traceback of the failed %s step", name, exc_info=True)
            return StepResult(name, False, time.monotonic() - start, error=_one_line(exc))
        log.info("tick %d: %s %s", self._ticks, name, detail)
        return StepResult(name, True, time.monotonic() - start, detail)

    def _do_refresh(self, backend: WarehouseBackend) -> dict[str, Any]:
        result = backend.refresh_analysis(now=self.clock())
        return {"refreshed": result.refreshed, "reason": result.reason}

    def _do_heal(self, backend: WarehouseBackend) -> dict[str, Any]:
        from resq.engine import SelfHealingEngine

        r = SelfHealingEngine(backend, clock=self.clock).heal()
        return {
            "cycle_id": r.cycle_id,
            "created": r.created,
            "covered": r.covered,
            "pending_vendor": r.pending_vendor,
            "alerts_raised": r.alerts_raised,
            "notifications_queued": r.notifications_queued,
            "orders": [o.get("po_id") for o in r.orders],
        }

    def _do_escalate(self, backend: WarehouseBackend) -> dict[str, Any]:
        r = Escalator(backend, clock=self.clock, actor=WATCH_ACTOR).run()
        return r.as_dict()

    def _do_deliver(self, backend: WarehouseBackend) -> dict[str, Any]:
        deliverer = Deliverer(
            backend, self.config, clock=self.clock, actor=WATCH_ACTOR, console=self.console
        )
        return deliverer.deliver().as_dict()

    def _report(self, report: TickReport) -> None:
        if self.on_tick is not None:
            self.on_tick(report)

    # ------------------------------------------------------------------ the database

    def _open(self) -> WarehouseBackend:
        if self._backend is not None:
            return self._backend
        assert self._connect is not None
        deadline = time.monotonic() + 5.0
        while True:  # another command may hold a DuckDB file for a moment
            try:
                backend = self._connect()
                break
            except DatabaseLockedError:
                if time.monotonic() > deadline or self._stop.is_set():
                    raise
                time.sleep(0.1)
        if not self._release:
            self._backend = backend  # kept open: not a file that others could use meanwhile
        return backend

    def _close(self, backend: WarehouseBackend) -> None:
        if self._release and backend is not self._backend:
            backend.close()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the one-watcher-per-database lock, and apply the config, for the run."""
        backend = self._backend if self._backend is not None else self._connect()  # type: ignore[misc]
        path = getattr(backend, "path", None)
        file_db = isinstance(path, str) and path not in {"", ":memory:"}
        if self._connect is not None:
            self._release = file_db
            if not file_db:
                self._backend = backend
        holder = _holder()
        # The lease row in the database is the authority; beside a DuckDB file, an OS lock
        # on a lock file refuses a second watcher sooner, but deleting it changes nothing.
        lease = _LeaseLock(ttl_s=max(60.0, 3 * self.interval + 30.0))
        lock: _Lock = (
            _FileAndLease(_FileLock(Path(str(path) + ".watch.lock")), lease) if file_db else lease
        )
        try:
            lock.acquire(backend, holder, str(path or "this database"))
            try:
                if self.apply:
                    ensure_schema(backend)
                    apply_config(backend, self.config, actor=WATCH_ACTOR, now=self.clock())
            except BaseException:
                lock.release(backend)
                raise
        finally:
            if self._release:
                backend.close()
        self._lock = lock
        try:
            yield
        finally:
            self._lock = None
            try:
                if lock.needs_backend:
                    b = self._open()
                    try:
                        lock.release(b)
                    finally:
                        self._close(b)
                else:
                    lock.release(None)
            except Exception as exc:  # the lease expires by itself
                log.warning("could not release the watch lock: %s", exc)

    @contextlib.contextmanager
    def _signals(self, enabled: bool) -> Iterator[None]:
        """SIGINT and SIGTERM ask the loop to stop after the current step."""
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: object) -> None:
            name = signal.Signals(signum).name
            log.warning("%s received: stopping after the current step", name)
            self.stop(f"signal {name}")

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


# ---------------------------------------------------------------------- locks


def _holder() -> dict[str, Any]:
    from resq.backends.warehouse import utcnow

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {
        "watcher": uuid.uuid4().hex[:12],
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "user": user,
        "started_at": utcnow().isoformat(timespec="seconds"),
    }


def _describe(holder: dict[str, Any]) -> str:
    return (
        f"process {holder.get('pid', '?')} on {holder.get('host', '?')} "
        f"(user {holder.get('user', '?')}, since {holder.get('started_at', '?')} UTC)"
    )


class _Lock:
    needs_backend = False  # release needs the database (a lease row)

    def acquire(self, backend: WarehouseBackend, holder: dict[str, Any], db: str) -> None:
        raise NotImplementedError

    def renew(self, backend: WarehouseBackend) -> str | None:
        """Keep holding the lock; returns why it is lost (another holder), None if held."""
        return None

    def release(self, backend: WarehouseBackend | None) -> None:
        raise NotImplementedError


class _FileLock(_Lock):
    """An OS lock on ``<database>.watch.lock``: freed by the OS if the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self, backend: WarehouseBackend, holder: dict[str, Any], db: str) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            try:
                text = os.read(fd, 4096).decode(errors="replace")
                other = json.loads(text) if text.strip() else {}
            except ValueError:
                other = {}
            finally:
                os.close(fd)
            raise WatcherRunningError(
                f"another `resq watch` is already watching {db}: {_describe(other)}; stop it "
                f"first (lock file {self.path})"
            )
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({**holder, "db": db}).encode())
        self.fd = fd

    def release(self, backend: WarehouseBackend | None) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            _unlock(self.fd)
            os.close(self.fd)
            self.fd = None


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(fd, fcntl.LOCK_UN)


class _FileAndLease(_Lock):
    """The lock file first (a quick refusal), then the lease (the authority)."""

    needs_backend = True

    def __init__(self, file: _FileLock, lease: _LeaseLock) -> None:
        self.file, self.lease = file, lease

    def acquire(self, backend: WarehouseBackend, holder: dict[str, Any], db: str) -> None:
        self.file.acquire(backend, holder, db)
        try:
            self.lease.acquire(backend, holder, db)
        except BaseException:
            self.file.release(None)
            raise

    def renew(self, backend: WarehouseBackend) -> str | None:
        return self.lease.renew(backend)

    def release(self, backend: WarehouseBackend | None) -> None:
        try:
            self.lease.release(backend)
        finally:
            self.file.release(None)


class _LeaseLock(_Lock):
    """A lease row in ``watch_lease``: taken in one transaction (only when free, expired or
    already ours), renewed every tick, taken over once expired."""

    LEASE = "resq-watch"
    needs_backend = True

    def __init__(self, ttl_s: float) -> None:
        self.ttl = timedelta(seconds=ttl_s)
        self.holder = ""

    def acquire(self, backend: WarehouseBackend, holder: dict[str, Any], db: str) -> None:
        from resq.backends.warehouse import utcnow

        ensure_schema(backend)
        self.holder = json.dumps(holder, sort_keys=True)
        now = utcnow()
        b = backend
        with b.transaction():
            rows = b.fetch(
                b.render("SELECT holder, expires_at FROM watch_lease WHERE lease = ?"), [self.LEASE]
            ).to_pylist()
            if rows and rows[0]["expires_at"] > now and rows[0]["holder"] != self.holder:
                other = json.loads(rows[0]["holder"])
                raise WatcherRunningError(
                    f"another `resq watch` is already watching {db}: {_describe(other)}; stop "
                    f"it first (its lease expires at {rows[0]['expires_at']:%Y-%m-%d %H:%M:%S} "
                    "UTC unless renewed)"
                )
            b.execute(b.render("DELETE FROM watch_lease WHERE lease = ?"), [self.LEASE])
            b.execute(
                b.render(
                    "INSERT INTO watch_lease "
                    "(lease, holder, acquired_at, heartbeat_at, expires_at) VALUES (?, ?, ?, ?, ?)"
                ),
                [self.LEASE, self.holder, now, now, now + self.ttl],
            )

    def renew(self, backend: WarehouseBackend) -> str | None:
        from resq.backends.warehouse import utcnow

        now = utcnow()
        b = backend
        with b.transaction():
            b.execute(
                b.render(
                    "UPDATE watch_lease SET heartbeat_at = ?, expires_at = ? "
                    "WHERE lease = ? AND holder = ?"
                ),
                [now, now + self.ttl, self.LEASE, self.holder],
            )
            rows = b.fetch(
                b.render("SELECT holder FROM watch_lease WHERE lease = ?"), [self.LEASE]
            ).to_pylist()
        if rows and rows[0]["holder"] == self.holder:
            return None
        try:  # ours expired and was deleted, or taken over: take it back only if it is free
            self.acquire(backend, json.loads(self.holder), "this database")
        except WatcherRunningError as exc:
            return f"the watch lease was lost: {exc}"
        return None

    def release(self, backend: WarehouseBackend | None) -> None:
        if backend is not None:
            backend.execute(
                backend.render("DELETE FROM watch_lease WHERE lease = ? AND holder = ?"),
                [self.LEASE, self.holder],
            )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:500]
