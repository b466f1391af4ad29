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

from resq.alerting.config import AlertingConfig, ChannelConfig, DeliverySettings
from resq.alerting.delivery import Deliverer
from resq.alerting.escalation import Escalator
from resq.alerting.routing import stored_channels

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


def deliver(session: Any, max_attempts: int = 6) -> dict[str, Any]:
    """``CALL resq_deliver_notifications(6)``: deliver the due outbox rows."""
    backend = _backend(session)
    config = AlertingConfig(
        source="warehouse routing",
        channels=inside_snowflake(stored_channels(backend)),
        delivery=DeliverySettings(max_attempts=int(max_attempts)),
    )
    deliverer = Deliverer(backend, config, actor=TASK_ACTOR, console=_LogStream())  # type: ignore[arg-type]
    return deliverer.deliver().as_dict()


def escalate(session: Any) -> dict[str, Any]:
    """``CALL resq_escalate_alerts()``: resolve recovered alerts, escalate overdue ones."""
    return Escalator(_backend(session), actor=TASK_ACTOR).run().as_dict()
