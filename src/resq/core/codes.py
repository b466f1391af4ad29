"""The status codes every part of resq shares: an item's stock status, an order's and an
alert's state, an alert's severity.

Plain enums with no rule attached, in a module that imports nothing else, so that what
only needs to name or sort them (``resq.core.urgency``, the backends, the read commands)
does not load the rules. Each is also importable from the module of its rules
(``resq.core.stock.Status``, ``resq.core.ordering.OrderStatus``,
``resq.core.alerts.Severity`` and ``AlertState``): the same objects.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CLOSED_STATUSES", "OPEN_STATUSES", "AlertState", "OrderStatus", "Severity", "Status"]


class Status(StrEnum):
    """Stock status, most urgent first."""

    CRITICAL = "CRITICAL"
    WARNING = "WARNING"
    OK = "OK"


class OrderStatus(StrEnum):
    """Lifecycle of a purchase order."""

    PLACED = "PLACED"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    PENDING_VENDOR = "PENDING_VENDOR"
    RECEIVED = "RECEIVED"
    CANCELLED = "CANCELLED"


OPEN_STATUSES = (OrderStatus.PLACED, OrderStatus.PENDING_APPROVAL, OrderStatus.PENDING_VENDOR)
CLOSED_STATUSES = (OrderStatus.RECEIVED, OrderStatus.CANCELLED)


class Severity(StrEnum):
    """SEV1 is the most urgent."""

    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


class AlertState(StrEnum):
    """Where an alert is in its life: raised, acknowledged by a person, or resolved."""

    OPEN = "OPEN"
    ACKED = "ACKED"
    RESOLVED = "RESOLVED"
