"""Alerting inside Snowflake: the handlers of the stored procedures in
``sql/snowflake/notifications.sql``, and that file's statements for the deploy plan.

The procedures run the same delivery and escalation code as ``resq watch`` through the
Snowpark session; channels come from the routing stored in the warehouse, and a channel
of type ``snowflake`` sends through ``SYSTEM$SEND_SNOWFLAKE_NOTIFICATION``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from resq.alerting.config import AlertingConfig, ChannelConfig, DeliverySettings, Stakeholder
from resq.alerting.delivery import Deliverer
from resq.alerting.escalation import Escalator
from resq.alerting.routing import stored_channels, stored_recipients

if TYPE_CHECKING:
    from resq.backends.warehouse import WarehouseBackend

TASK_ACTOR = "resq-snowflake-task"
SQL_FILE = "snowflake/notifications.sql"


def statements() -> list[str]:
    """The statements of ``sql/snowflake/notifications.sql``, exactly as written, in order.

    The file is split at its top-level semicolons (see ``resq.backends.snowflake.sqltext.
    split``): sqlglot's parser folds every statement after a ``CREATE PROCEDURE ... AS
    $$...$$`` body into that body, so the file is not parsed whole.
    """
    from resq.backends.snowflake.sqltext import snowflake_file, split

    return split(snowflake_file("notifications"))


class _LogStream:
    """The console channel inside Snowflake: a line in the event table's log."""

    def __init__(self) -> None:
        self.log = logging.getLogger("resq.alerts")

    def write(self, text: str) -> int:
        if text.strip():
            self.log.info(text.strip())
        return len(text)

    def flush(self) -> None:
        pass


def _backend(session: Any) -> WarehouseBackend:
    from resq.backends.snowflake import from_session

    backend: WarehouseBackend = from_session(session)
    return backend


def inside_snowflake(channels: Mapping[str, ChannelConfig]) -> dict[str, ChannelConfig]:
    """The channels deliverable inside Snowflake: each one that names a notification
    integration sends through it (an email channel as plain text, others as JSON), the
    console writes to the log. Others are left out, so their notifications wait (and
    finally fail, visibly) instead of being sent somewhere else."""
    out = {}
    for name, c in channels.items():
        if c.snowflake_integration:
            fmt = "email" if c.type == "email" else "json"
            out[name] = ChannelConfig(
                name, "snowflake", format=fmt, snowflake_integration=c.snowflake_integration
            )
        elif c.type == "console":
            out[name] = c
    return out


ALERT_STREAM = "RESQ_ALERT_CHANGES"
OUTBOX_STREAM = "RESQ_OUTBOX_CHANGES"

# Work that keeps a stream unconsumed (and so its task waking every minute).
_PENDING = {
    ALERT_STREAM: "SELECT COUNT(*) FROM alerts WHERE state = 'OPEN'",
    OUTBOX_STREAM: "SELECT COUNT(*) FROM notifications WHERE state = 'PENDING'",
}


def settle_sql(stream: str) -> str:
    """The DML that consumes ``stream`` (one of the two alerting streams): reading a stream in
    a committed DML statement advances its offset ("Introduction to streams",
    docs.snowflake.com). The count consumed is recorded; the time is bound."""
    if stream not in _PENDING:
        raise ValueError(f"not an alerting stream: {stream!r}")
    return (
        "INSERT INTO resq_task_wakeups (stream, changes, settled_at) "
        f"SELECT '{stream}', COUNT(*), ? FROM {stream}"
    )


def settle(backend: WarehouseBackend, stream: str) -> bool:
    """Consume ``stream`` when nothing is left that its task must come back for; True when
    it did. While an alert is OPEN (it may still escalate or resolve) or a notification is
    PENDING (it may be retried), the stream keeps its data and the task keeps running."""
    from resq.backends.warehouse import utcnow

    pending = backend.fetch(backend.render(_PENDING[stream])).column(0)[0].as_py()
    if pending:
        return False
    backend.execute(settle_sql(stream), [utcnow()])
    return True


def deliver(session: Any, max_attempts: int = 6, *, settle: bool = False) -> dict[str, Any]:
    """``CALL resq_deliver_notifications(6)``: deliver the due outbox rows (with ``settle``,
    inside Snowflake, then consume the outbox stream when nothing is pending)."""
    backend = _backend(session)
    config = AlertingConfig(
        source="warehouse routing",
        channels=inside_snowflake(stored_channels(backend)),
        stakeholders={
            name: Stakeholder(name, emails) for name, emails in stored_recipients(backend).items()
        },
        delivery=DeliverySettings(max_attempts=int(max_attempts)),
    )
    deliverer = Deliverer(backend, config, actor=TASK_ACTOR, console=_LogStream())  # type: ignore[arg-type]
    result = deliverer.deliver().as_dict()
    if settle:
        result["settled"] = _settle(backend, OUTBOX_STREAM)
    return result


def escalate(session: Any, *, settle: bool = False) -> dict[str, Any]:
    """``CALL resq_escalate_alerts()``: resolve recovered alerts, escalate overdue ones (with
    ``settle``, inside Snowflake, then consume the alert stream when no alert is open)."""
    backend = _backend(session)
    result = Escalator(backend, actor=TASK_ACTOR).run().as_dict()
    if settle:
        result["settled"] = _settle(backend, ALERT_STREAM)
    return result


_settle = settle
