"""System health: GREEN, AMBER or RED, with the reasons a person can act on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Health(StrEnum):
    GREEN = "GREEN"
    AMBER = "AMBER"
    RED = "RED"


@dataclass(frozen=True)
class VendorHistory:
    """One vendor's API checks over the health window (from ``vendor_status_log``)."""

    vendor: str
    status: str | None  # the current status
    checks: int
    online_checks: int
    avg_latency_ms: float | None = None  # over the online checks


@dataclass(frozen=True)
class PendingOrder:
    """An order waiting for a vendor (``PENDING_VENDOR``) and how long it has waited."""

    po_id: str
    org_id: str
    sku: str
    waited_s: float


@dataclass(frozen=True)
class HealthInputs:
    """What health is judged from; ages are in seconds, None when it never happened.

    The fields after ``pending_vendor_orders`` look back over ``window_s`` (vendor history,
    refresh failures) or at the outbox's oldest undelivered row; their defaults judge nothing.
    """

    vendors_online: int
    vendors_total: int
    analysis_age_s: float | None
    target_lag_s: float = 60.0
    analysis_suspended: bool = False
    refresh_failures: int = 0
    last_cycle_age_s: float | None = None
    cycle_interval_s: float = 300.0
    outbox_backlog: int = 0
    failed_deliveries: int = 0
    pending_vendor_orders: int = 0
    window_s: float = 86400.0
    vendor_history: Sequence[VendorHistory] = ()
    latency_budget_ms: float = 2000.0
    refresh_failures_window: int = 0
    outbox_oldest_s: float | None = None
    outbox_stuck_s: float = 3600.0
    pending_vendor_waits: Sequence[PendingOrder] = ()  # the longest waiting first


@dataclass(frozen=True)
class HealthReport:
    status: Health
    reasons: Sequence[str] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status.value, "reasons": list(self.reasons)}


def assess(h: HealthInputs) -> HealthReport:
    """RED when healing cannot work (no vendor online, analysis suspended or far stale,
    deliveries failing); AMBER when something needs a look; GREEN otherwise."""
    red: list[str] = []
    amber: list[str] = []
    if h.vendors_total and h.vendors_online == 0:
        red.append("no vendor is online")
    elif h.vendors_online < h.vendors_total:
        amber.append(f"{h.vendors_total - h.vendors_online} of {h.vendors_total} vendors offline")
    if h.analysis_suspended:
        red.append("stock_analysis refresh is suspended after repeated failures")
    elif h.analysis_age_s is None:
        amber.append("stock_analysis has never been refreshed")
    elif h.analysis_age_s > 10 * h.target_lag_s:
        red.append(
            f"stock_analysis is {h.analysis_age_s:.0f} s old (target lag {h.target_lag_s:.0f} s)"
        )
    elif h.analysis_age_s > h.target_lag_s:
        amber.append(
            f"stock_analysis is {h.analysis_age_s:.0f} s old (target lag {h.target_lag_s:.0f} s)"
        )
    if h.refresh_failures and not h.analysis_suspended:
        amber.append(f"{h.refresh_failures} consecutive refresh failure(s)")
    elif h.refresh_failures_window and not h.analysis_suspended:
        amber.append(
            f"{h.refresh_failures_window} stock_analysis refresh failure(s) in the last "
            f"{_span(h.window_s)}"
        )
    for v in h.vendor_history:
        offline = v.checks - v.online_checks
        if v.status == "ONLINE" and offline > 0:
            amber.append(
                f"vendor {v.vendor} was offline in {offline} of {v.checks} checks in the last "
                f"{_span(h.window_s)}"
            )
        if v.avg_latency_ms is not None and v.avg_latency_ms > h.latency_budget_ms:
            amber.append(
                f"vendor {v.vendor} answers slowly: {v.avg_latency_ms:.0f} ms on average in the "
                f"last {_span(h.window_s)} (budget {h.latency_budget_ms:.0f} ms)"
            )
    if h.last_cycle_age_s is None:
        amber.append("no heal cycle has completed yet")
    elif h.last_cycle_age_s > 3 * h.cycle_interval_s:
        amber.append(f"last heal cycle {h.last_cycle_age_s:.0f} s ago")
    if h.failed_deliveries:
        red.append(f"{h.failed_deliveries} notification(s) failed to deliver")
    if h.outbox_oldest_s is not None and h.outbox_oldest_s > h.outbox_stuck_s:
        red.append(
            f"the oldest undelivered notification has waited {h.outbox_oldest_s:.0f} s "
            f"(limit {h.outbox_stuck_s:.0f} s)"
        )
    if h.outbox_backlog:
        amber.append(f"{h.outbox_backlog} notification(s) waiting in the outbox")
    if h.pending_vendor_orders:
        amber.append(f"{h.pending_vendor_orders} order(s) waiting for a vendor")
    for w in h.pending_vendor_waits[:PENDING_SHOWN]:
        amber.append(
            f"order {w.po_id} ({w.sku} at {w.org_id}) has waited {_wait(w.waited_s)} for a vendor"
        )
    more = max(h.pending_vendor_orders, len(h.pending_vendor_waits)) - PENDING_SHOWN
    if h.pending_vendor_waits and more > 0:
        amber.append(f"and {more} more order(s) waiting for a vendor")
    if red:
        return HealthReport(Health.RED, tuple(red + amber))
    if amber:
        return HealthReport(Health.AMBER, tuple(amber))
    return HealthReport(Health.GREEN, ("all checks passed",))


PENDING_SHOWN = 5
"""How many waiting orders health names one by one (the longest waiting first)."""


def _wait(seconds: float) -> str:
    """A wait as people say it: ``45 s``, ``12 min``, ``3 h 20 min``, ``2 d 4 h``.

    >>> _wait(45), _wait(720), _wait(12000), _wait(187200)
    ('45 s', '12 min', '3 h 20 min', '2 d 4 h')
    """
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _span(seconds: float) -> str:
    """A window as people say it: ``24 h``, ``90 min``, ``45 s``."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:.0f} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"
