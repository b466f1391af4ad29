"""Alerts that reach people: the ``resq.toml`` config, delivery channels, the outbox
deliverer, escalation, health monitoring and the watch loop.

>>> from resq.alerting import Watcher, load_config  # doctest: +SKIP
>>> Watcher(resq.connect("duckdb:///site.duckdb"), load_config()).run(cycles=3)  # doctest: +SKIP
"""

from __future__ import annotations

from resq.alerting.channels import (
    ConsoleChannel,
    DeliveryError,
    EmailChannel,
    Notification,
    SnowflakeChannel,
    WebhookChannel,
    build_channels,
    message_id,
)
from resq.alerting.config import (
    AlertingConfig,
    ChannelConfig,
    ConfigError,
    DeliverySettings,
    Stakeholder,
    find_config,
    load_config,
    parse_config,
    parse_duration,
)
from resq.alerting.delivery import Deliverer, DeliveryReport, backoff_seconds, requeue_failed
from resq.alerting.escalation import EscalationReport, Escalator, escalate
from resq.alerting.monitor import HealthSnapshot, check_health
from resq.alerting.routing import ApplyReport, apply_config, stored_channels, stored_policy
from resq.alerting.watch import TickReport, Watcher, WatcherRunningError, WatchReport

__all__ = [
    "AlertingConfig",
    "ApplyReport",
    "ChannelConfig",
    "ConfigError",
    "ConsoleChannel",
    "Deliverer",
    "DeliveryError",
    "DeliveryReport",
    "DeliverySettings",
    "EmailChannel",
    "EscalationReport",
    "Escalator",
    "HealthSnapshot",
    "Notification",
    "SnowflakeChannel",
    "Stakeholder",
    "TickReport",
    "WatchReport",
    "Watcher",
    "WatcherRunningError",
    "WebhookChannel",
    "apply_config",
    "backoff_seconds",
    "build_channels",
    "check_health",
    "escalate",
    "find_config",
    "load_config",
    "message_id",
    "parse_config",
    "parse_duration",
    "requeue_failed",
    "stored_channels",
    "stored_policy",
]
