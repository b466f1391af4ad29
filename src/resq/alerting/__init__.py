"""Alerts that reach people: the ``resq.toml`` config, delivery channels, the outbox
deliverer, escalation, health monitoring and the watch loop.

>>> from resq.alerting import Watcher, load_config  # doctest: +SKIP
>>> Watcher(resq.connect("duckdb:///site.duckdb"), load_config()).run(cycles=3)  # doctest: +SKIP

The package imports its modules on first use (``resq.alerting.Watcher`` loads the watch
loop then), so code that needs one part, such as the heal cycle inside Snowflake, does not
pull in delivery and its retry library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_MODULES = {
    "AlertingConfig": "config",
    "ApplyReport": "routing",
    "ChannelConfig": "config",
    "ConfigError": "config",
    "ConsoleChannel": "channels",
    "Deliverer": "delivery",
    "DeliveryError": "channels",
    "DeliveryReport": "delivery",
    "DeliverySettings": "config",
    "EmailChannel": "channels",
    "EscalationReport": "escalation",
    "Escalator": "escalation",
    "HealthSnapshot": "monitor",
    "Notification": "channels",
    "SnowflakeChannel": "channels",
    "Stakeholder": "config",
    "TickReport": "watch",
    "WatchReport": "watch",
    "Watcher": "watch",
    "WatcherRunningError": "watch",
    "WebhookChannel": "channels",
    "apply_config": "routing",
    "backoff_seconds": "delivery",
    "build_channels": "channels",
    "check_health": "monitor",
    "escalate": "escalation",
    "find_config": "config",
    "load_config": "config",
    "message_id": "channels",
    "parse_config": "config",
    "parse_duration": "config",
    "requeue_failed": "delivery",
    "stored_channels": "routing",
    "stored_policy": "routing",
}
"""Each public name, and the module of this package that defines it."""


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'resq.alerting' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"resq.alerting.{module}"), name)
    globals()[name] = value
    return value
