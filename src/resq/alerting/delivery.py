"""Delivering the outbox the heal cycle writes: at least once, with persisted backoff.

Each pass claims the PENDING rows that are due, counting the attempt and setting the time
of the next one *before* sending, so a crash mid-send is retried after the backoff (with
the same delivery key, which receivers use to drop the duplicate). A row is SENT only after
its channel accepted it; after ``max_attempts`` (or an error no retry can fix) it is FAILED,
which health reports. Every outcome is audited in the transaction that records it.

Channels are sent to concurrently (one worker per channel, at most ``concurrency`` at once),
each channel's notifications in order, and each outcome is recorded as it arrives: a slow or
dead receiver holds only its own channel, for at most its deadline per notification.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO

import pyarrow as pa
import tenacity

from resq.alerting.channels import Channel, DeliveryError, Notification, build_channels
from resq.alerting.config import AlertingConfig, DeliverySettings
from resq.alerting.routing import ACTOR
from resq.errors import ConflictError

if TYPE_CHECKING:
    from resq.backends.warehouse import WarehouseBackend

log = logging.getLogger("resq.alerting")

_COLUMNS = (
    "notification_id, delivery_key, alert_id, org_id, stakeholder, channel, tier, payload, attempts"
)


def backoff_seconds(attempt: int, settings: DeliverySettings | None = None) -> float:
    """How long to wait after failed attempt number ``attempt`` (1-based): exponential from
    ``backoff_s``, doubling each time, capped at ``max_backoff_s`` (tenacity's rule).

    >>> [backoff_seconds(n, DeliverySettings(backoff_s=30, max_backoff_s=100)) for n in (1, 2, 3)]
    [30.0, 60.0, 100.0]
    """
    s = settings or DeliverySettings()
    wait = tenacity.wait_exponential(multiplier=s.backoff_s, max=s.max_backoff_s)
    state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
    state.attempt_number = max(1, attempt)
    return float(wait(state))


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "claimed": self.claimed,
            "sent": self.sent,
            "retrying": self.retrying,
            "failed": self.failed,
            "errors": list(self.errors),
        }


CLAIM_LIMIT_RANGE = (1, 10_000)


def claim_sql(limit: int) -> str:
    """The claim query for a batch of ``limit`` due notifications. LIMIT takes no bind
    marker everywhere in Snowflake, so the count is rendered as an integer literal, clamped
    to CLAIM_LIMIT_RANGE (an int, never text from outside)."""
    low, high = CLAIM_LIMIT_RANGE
    n = min(max(int(limit), low), high)
    return (
        f"SELECT {_COLUMNS} FROM notifications WHERE state = 'PENDING' "
        "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
        f"ORDER BY created_at, notification_id LIMIT {n}"
    )


class Deliverer:
    """Delivers due outbox rows through the configured channels.

    ``Deliverer(backend, load_config()).deliver()`` sends what is due now; the clock is
    injectable for tests and replays.
    """

    def __init__(
        self,
        backend: WarehouseBackend,
        config: AlertingConfig | None = None,
        *,
        channels: Mapping[str, Channel] | None = None,
        clock: Callable[[], datetime] | None = None,
        actor: str = ACTOR,
        console: TextIO | None = None,
    ) -> None:
        from resq.backends.warehouse import utcnow

        self.backend = backend
        self.config = config or AlertingConfig()
        self.settings = self.config.delivery
        self.channels = (
            dict(channels)
            if channels is not None
            else build_channels(self.config, backend=backend, console=console)
        )
        self.clock = clock or utcnow
        self.actor = actor

    def deliver(self, *, now: datetime | None = None, limit: int | None = None) -> DeliveryReport:
        """Send every PENDING notification that is due at ``now`` (up to ``limit``)."""
        now = now or self.clock()
        report = DeliveryReport()
        try:
            batch = self._claim(now, limit or self.settings.batch)
        except ConflictError:
            log.info("another deliverer claimed the outbox first; trying again next pass")
            return report
        report.claimed = len(batch)
        by_channel: dict[str, list[Notification]] = {}
        for n in batch:
            by_channel.setdefault(n.channel, []).append(n)
        # Channels that talk through the backend's own connection are sent from this thread;
        # the others run in the pool. Outcomes are recorded here only, one by one.
        inline = [c for c in by_channel if getattr(self.channels.get(c), "uses_backend", False)]
        pooled = [c for c in by_channel if c not in inline]
        outcomes: queue.Queue[tuple[Notification, str | None, DeliveryError | None]]
        outcomes = queue.Queue()
        stop = threading.Event()  # set when this pass dies: claimed, unsent rows wait a retry

        def run(items: list[Notification]) -> None:
            for n in items:
                if stop.is_set():
                    return
                outcomes.put((n, *self._send(n)))

        workers = max(1, min(self.settings.concurrency, len(pooled) or 1))
        with ThreadPoolExecutor(workers, thread_name_prefix="resq-deliver") as pool:
            for name in pooled:
                pool.submit(run, by_channel[name])
            for name in inline:
                run(by_channel[name])
            try:
                for _ in range(len(batch)):
                    n, receipt, error = outcomes.get()
                    if error is not None:
                        self._record_failure(n, error, now, report)
                    else:
                        self._record_sent(n, str(receipt), now)
                        report.sent += 1
            finally:
                stop.set()
        return report

    def _send(self, n: Notification) -> tuple[str | None, DeliveryError | None]:
        """Send one notification: (receipt, None) when accepted, (None, error) otherwise."""
        channel = self.channels.get(n.channel)
        try:
            if channel is None:
                raise DeliveryError(
                    f"channel {n.channel!r} is not configured "
                    f"(configured: {', '.join(sorted(self.channels)) or 'none'})"
                )
            return channel.send(n), None
        except DeliveryError as exc:
            return None, exc
        except BaseException as exc:  # a channel bug must not stop the others
            return None, DeliveryError(f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ steps

    def _claim(self, now: datetime, limit: int) -> list[Notification]:
        b = self.backend
        with b.transaction():
            rows = b.fetch(b.render(claim_sql(limit)), [now]).to_pylist()
            if not rows:
                return []
            for row in rows:
                row["attempts"] = int(row["attempts"] or 0) + 1
            claims = pa.table(
                {
                    "notification_id": pa.array([r["notification_id"] for r in rows], pa.string()),
                    "attempts": pa.array([r["attempts"] for r in rows], pa.int64()),
                    "next_at": pa.array(
                        [
                            now + timedelta(seconds=backoff_seconds(r["attempts"], self.settings))
                            for r in rows
                        ],
                        pa.timestamp("us"),
                    ),
                }
            )
            b.stage("resq_stage_claims", claims)
            b.execute(
                b.render(
                    "UPDATE notifications AS t SET attempts = s.attempts, "
                    "next_attempt_at = s.next_at FROM resq_stage_claims AS s "
                    "WHERE t.notification_id = s.notification_id"
                )
            )
        return [Notification.from_row(r) for r in rows]

    def _state(self, notification_id: str) -> str | None:
        b = self.backend
        rows = b.fetch(
            b.render("SELECT state FROM notifications WHERE notification_id = ?"),
            [notification_id],
        ).to_pylist()
        return rows[0]["state"] if rows else None

    def _record_sent(self, n: Notification, receipt: str, now: datetime) -> None:
        b = self.backend
        with b.transaction():
            if self._state(n.notification_id) != "PENDING":
                return  # another deliverer recorded it first
            b.execute(
                b.render(
                    "UPDATE notifications SET state = 'SENT', delivered_at = ?, last_error = NULL, "
                    "next_attempt_at = NULL WHERE notification_id = ?"
                ),
                [now, n.notification_id],
            )
            b.append_audit([self._event("notification.delivered", n, receipt=receipt)], now=now)
        log.info("delivered %s via %s (%s)", n.delivery_key, n.channel, receipt)

    def _record_failure(
        self, n: Notification, exc: DeliveryError, now: datetime, report: DeliveryReport
    ) -> None:
        b = self.backend
        final = exc.permanent or n.attempts >= self.settings.max_attempts
        error = str(exc)[:2000]
        report.errors.append(f"{n.delivery_key}: {error}")
        with b.transaction():
            if self._state(n.notification_id) != "PENDING":
                return
            if final:
                b.execute(
                    b.render(
                        "UPDATE notifications SET state = 'FAILED', last_error = ?, "
                        "next_attempt_at = NULL WHERE notification_id = ?"
                    ),
                    [error, n.notification_id],
                )
                event = self._event("notification.failed", n, error=error, permanent=exc.permanent)
            else:
                b.execute(
                    b.render("UPDATE notifications SET last_error = ? WHERE notification_id = ?"),
                    [error, n.notification_id],
                )
                retry_at = now + timedelta(seconds=backoff_seconds(n.attempts, self.settings))
                event = self._event(
                    "notification.retry", n, error=error, next_attempt_at=retry_at.isoformat()
                )
            b.append_audit([event], now=now)
        if final:
            report.failed += 1
            log.warning(
                "notification %s FAILED after %d attempt(s): %s", n.delivery_key, n.attempts, error
            )
        else:
            report.retrying += 1
            log.info(
                "notification %s attempt %d failed, will retry: %s",
                n.delivery_key,
                n.attempts,
                error,
            )

    def _event(self, action: str, n: Notification, **details: Any) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "action": action,
            "org_id": n.org_id,
            "entity_id": n.notification_id,
            "details": {
                "alert_id": n.alert_id,
                "delivery_key": n.delivery_key,
                "stakeholder": n.stakeholder,
                "channel": n.channel,
                "tier": n.tier,
                "attempt": n.attempts,
                **details,
            },
        }


def requeue_failed(
    backend: WarehouseBackend,
    *,
    actor: str,
    alert_id: str | None = None,
    now: datetime | None = None,
) -> int:
    """Put FAILED notifications (of one alert, or all) back in the outbox with fresh
    attempts, once the cause is fixed; audited. Returns how many were requeued. With
    ``alert_id``, the digests that list the alert are requeued too (the payload's JSON is
    compact, ``"alert_id":"AL-..."``, on every engine)."""
    from resq.backends.warehouse import utcnow

    now = now or utcnow()
    b = backend
    where = "state = 'FAILED'" + (" AND (alert_id = ? OR CONTAINS(payload, ?))" if alert_id else "")
    params = (
        [alert_id, json.dumps({"alert_id": alert_id}, separators=(",", ":"))[1:-1]]
        if alert_id
        else []
    )
    with b.transaction():
        rows = b.fetch(
            b.render(
                f"SELECT notification_id, org_id, delivery_key FROM notifications WHERE {where}"
            ),
            params,
        ).to_pylist()
        if not rows:
            return 0
        b.execute(
            b.render(
                "UPDATE notifications SET state = 'PENDING', attempts = 0, next_attempt_at = ? "
                f"WHERE {where}"
            ),
            [now, *params],
        )
        b.append_audit(
            [
                {
                    "actor": actor,
                    "action": "notification.requeued",
                    "org_id": r["org_id"],
                    "entity_id": r["notification_id"],
                    "details": {"delivery_key": r["delivery_key"]},
                }
                for r in rows
            ],
            now=now,
        )
    return len(rows)
