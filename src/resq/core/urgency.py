"""Most urgent first: the one ordering of every list of items, orders and alerts.

Items sort by status severity (CRITICAL, WARNING, OK), then sector priority (1 first),
then days left (fewest first; never-running-out last). Orders sort by how stuck they
are (waiting for a vendor, then for approval, then placed, then closed), then priority,
then newest first, then their rank in the cycle that raised them (which follows days left).
Alerts sort open before acknowledged before resolved, then severity (SEV1 first), newest
first. Each ordering is a tuple of SQL ``ORDER BY`` terms for ``backend.read(...,
order_by=...)``; :func:`sort_keys` gives the same order in Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from resq.core.codes import AlertState, OrderStatus, Severity, Status

__all__ = ["ALERTS", "DIGEST", "ITEMS", "ORDERS", "TERMS", "sort_keys"]

ITEM_STATUS_ORDER: tuple[str, ...] = tuple(s.value for s in Status)
ORDER_STATUS_ORDER: tuple[str, ...] = tuple(
    s.value
    for s in (
        OrderStatus.PENDING_VENDOR,
        OrderStatus.PENDING_APPROVAL,
        OrderStatus.PLACED,
        OrderStatus.RECEIVED,
        OrderStatus.CANCELLED,
    )
)
ALERT_STATE_ORDER: tuple[str, ...] = tuple(s.value for s in AlertState)
SEVERITY_ORDER: tuple[str, ...] = tuple(s.value for s in Severity)


def _rank_of(column: str, codes: Sequence[str]) -> str:
    whens = " ".join(f"WHEN '{code}' THEN {i}" for i, code in enumerate(codes))
    return f"CASE {column} {whens} ELSE {len(codes)} END"


ITEMS: tuple[str, ...] = (
    _rank_of("status", ITEM_STATUS_ORDER),
    "priority",
    "days_remaining NULLS LAST",
    "org_id",
    "sku",
)
"""``stock_analysis`` rows, most urgent first."""

ORDERS: tuple[str, ...] = (
    _rank_of("status", ORDER_STATUS_ORDER),
    "priority",
    "created_at DESC",
    "rank",
    "po_id",
)
"""``purchase_orders`` rows, most urgent first (within a cycle, in the cycle's rank)."""

ALERTS: tuple[str, ...] = (
    _rank_of("state", ALERT_STATE_ORDER),
    _rank_of("severity", SEVERITY_ORDER),
    "created_at DESC",
    "alert_id",
)
"""``alerts`` rows, most urgent first."""


DIGEST: tuple[str, ...] = (
    _rank_of("severity", SEVERITY_ORDER),
    "days_remaining NULLS LAST",
    "sku NULLS LAST",
    "alert_id",
)
"""The alerts one notification digest lists (all new and OPEN, from one cycle), most urgent
first: severity, then fewest days left, then item. ``sql/queue_notifications.sql`` orders
each digest by these terms (a test holds the two together)."""


TERMS: frozenset[str] = frozenset(ITEMS + ORDERS + ALERTS)
"""Every term of the orderings above: fixed SQL that a tenant's read may order by."""


def _position(codes: Sequence[str], value: Any) -> int:
    try:
        return list(codes).index(value)
    except ValueError:
        return len(codes)


def sort_keys(kind: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A sort key giving one row (a dict) the same place as the SQL ordering of ``kind``
    (``"items"``, ``"orders"`` or ``"alerts"``): ``sorted(rows, key=lambda r:
    sort_keys("items", r))``.

    >>> rows = [
    ...     {"status": "OK", "priority": 1, "days_remaining": 30.0, "org_id": "H", "sku": "A"},
    ...     {"status": "CRITICAL", "priority": 2, "days_remaining": 0.9, "org_id": "P", "sku": "R"},
    ... ]
    >>> [r["sku"] for r in sorted(rows, key=lambda r: sort_keys("items", r))]
    ['R', 'A']
    """
    if kind == "items":
        days = row.get("days_remaining")
        return (
            _position(ITEM_STATUS_ORDER, row.get("status")),
            row.get("priority"),
            days is None,
            days if days is not None else 0.0,
            row.get("org_id"),
            row.get("sku"),
        )
    if kind == "orders":
        created = row.get("created_at")
        return (
            _position(ORDER_STATUS_ORDER, row.get("status")),
            row.get("priority"),
            -created.timestamp() if created is not None else 0.0,
            row.get("rank") if row.get("rank") is not None else 0,
            row.get("po_id"),
        )
    if kind == "alerts":
        created = row.get("created_at")
        return (
            _position(ALERT_STATE_ORDER, row.get("state")),
            _position(SEVERITY_ORDER, row.get("severity")),
            -created.timestamp() if created is not None else 0.0,
            row.get("alert_id"),
        )
    if kind == "digest":
        days, sku = row.get("days_remaining"), row.get("sku")
        return (
            _position(SEVERITY_ORDER, row.get("severity")),
            days is None,
            days if days is not None else 0.0,
            sku is None,
            sku or "",
            row.get("alert_id"),
        )
    raise ValueError(f"unknown ordering {kind!r}: use items, orders, alerts or digest")
