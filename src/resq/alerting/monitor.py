"""Gathering system health from the warehouse: vendor API status over time, the freshness
and refresh failures of ``stock_analysis``, heal cycles and the notification outbox.

The GREEN / AMBER / RED rule is :func:`resq.core.health.assess`; this module only reads
what it judges, and keeps the details a person wants to see next to the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from resq.core.health import HealthInputs, HealthReport, PendingOrder, VendorHistory, assess
from resq.errors import BackendError

if TYPE_CHECKING:
    from resq.backends.warehouse import WarehouseBackend

_VENDORS = """
WITH hist AS (
    SELECT vendor_id, COUNT(*) AS checks, COUNT_IF(status = 'ONLINE') AS online_checks,
           AVG(CASE WHEN status = 'ONLINE' THEN latency_ms END) AS avg_latency_ms,
           MAX(CASE WHEN status = 'ONLINE' THEN latency_ms END) AS max_latency_ms
    FROM vendor_status_log
    WHERE checked_at >= ?
    GROUP BY vendor_id
),
changed AS (
    SELECT l.vendor_id, MAX(l.checked_at) AS last_other
    FROM vendor_status_log AS l
    JOIN vendor_status AS v ON v.vendor_id = l.vendor_id
    WHERE l.status <> v.status
    GROUP BY l.vendor_id
),
stable AS (
    SELECT l.vendor_id, MIN(l.checked_at) AS status_since
    FROM vendor_status_log AS l
    JOIN vendor_status AS v ON v.vendor_id = l.vendor_id
    LEFT JOIN changed AS c ON c.vendor_id = l.vendor_id
    WHERE l.status = v.status AND (c.last_other IS NULL OR l.checked_at > c.last_other)
    GROUP BY l.vendor_id
)
SELECT v.vendor_id, v.status, v.latency_ms, v.source, v.data_source, v.checked_at,
       COALESCE(h.checks, 0) AS checks, COALESCE(h.online_checks, 0) AS online_checks,
       h.avg_latency_ms, h.max_latency_ms, s.status_since
FROM vendor_status AS v
LEFT JOIN hist AS h ON h.vendor_id = v.vendor_id
LEFT JOIN stable AS s ON s.vendor_id = v.vendor_id
ORDER BY v.vendor_id
"""

_OUTBOX = """
SELECT COUNT_IF(state = 'PENDING') AS pending,
       COUNT_IF(state = 'PENDING' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)) AS due,
       COUNT_IF(state = 'PENDING' AND attempts > 0) AS retrying,
       COUNT_IF(state = 'FAILED') AS failed,
       COUNT_IF(state = 'SENT' AND delivered_at >= ?) AS sent_window,
       MIN(CASE WHEN state = 'PENDING' THEN created_at END) AS oldest_pending
FROM notifications
"""

# The orders waiting for a vendor, the longest waiting first (health names the first few).
_PENDING = """
SELECT po_id, org_id, sku, created_at
FROM purchase_orders
WHERE status = 'PENDING_VENDOR'
ORDER BY created_at, po_id
LIMIT 100
"""


@dataclass(frozen=True)
class HealthSnapshot:
    """The verdict, what it was judged from, and the details behind it."""

    report: HealthReport
    inputs: HealthInputs
    checked_at: datetime
    vendors: list[dict[str, Any]] = field(default_factory=list)
    analysis: dict[str, Any] = field(default_factory=dict)
    cycles: dict[str, Any] = field(default_factory=dict)
    outbox: dict[str, Any] = field(default_factory=dict)
    pending_orders: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.report.status.value

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.report.as_dict(),
            "checked_at": self.checked_at,
            "window_s": self.inputs.window_s,
            "vendors": self.vendors,
            "analysis": self.analysis,
            "cycles": self.cycles,
            "outbox": self.outbox,
            "pending_orders": self.pending_orders,
        }


def check_health(
    backend: WarehouseBackend,
    *,
    now: datetime | None = None,
    window: timedelta = timedelta(hours=24),
    cycle_interval_s: float = 300.0,
) -> HealthSnapshot:
    """Read everything health is judged from and judge it (``now`` is injectable)."""
    from resq.backends.warehouse import utcnow

    now = now or utcnow()
    b = backend
    start = now - window
    vendors = b.fetch(b.render(_VENDORS), [start]).to_pylist()
    for v in vendors:
        v["checks"], v["online_checks"] = int(v["checks"] or 0), int(v["online_checks"] or 0)
        v["availability"] = (v["online_checks"] / v["checks"]) if v["checks"] else None
        if v["avg_latency_ms"] is not None:
            v["avg_latency_ms"] = round(float(v["avg_latency_ms"]), 1)
    state = b.analysis_state() if hasattr(b, "analysis_state") else {}
    last = state.get("last_refresh_end")
    refreshes = _refreshes(b, start)
    cycles = b.fetch(
        b.render(
            "SELECT MAX(finished_at) AS last_success, COUNT_IF(finished_at >= ?) AS in_window "
            "FROM heal_cycles WHERE state = 'SUCCEEDED'"
        ),
        [start],
    ).to_pylist()[0]
    row = b.fetch(b.render(_OUTBOX), [now, start]).to_pylist()[0]
    oldest = row.pop("oldest_pending")
    outbox = {k: int(v or 0) for k, v in row.items()}
    pending_orders = (
        b.fetch(b.render("SELECT COUNT(*) FROM purchase_orders WHERE status = 'PENDING_VENDOR'"))
        .column(0)[0]
        .as_py()
    )
    waits = [
        PendingOrder(
            r["po_id"], r["org_id"], r["sku"], max(0.0, (now - r["created_at"]).total_seconds())
        )
        for r in b.fetch(b.render(_PENDING)).to_pylist()
    ]
    last_cycle = cycles["last_success"]
    inputs = HealthInputs(
        vendors_online=sum(1 for v in vendors if v["status"] == "ONLINE"),
        vendors_total=len(vendors),
        analysis_age_s=None if last is None else (now - last).total_seconds(),
        target_lag_s=b.target_lag_s,
        analysis_suspended=bool(state.get("suspended")),
        refresh_failures=int(state.get("consecutive_failures") or 0),
        last_cycle_age_s=None if last_cycle is None else (now - last_cycle).total_seconds(),
        cycle_interval_s=cycle_interval_s,
        outbox_backlog=int(outbox["pending"] or 0),
        failed_deliveries=int(outbox["failed"] or 0),
        pending_vendor_orders=int(pending_orders or 0),
        window_s=window.total_seconds(),
        vendor_history=tuple(
            VendorHistory(
                v["vendor_id"],
                v["status"],
                int(v["checks"]),
                int(v["online_checks"]),
                v["avg_latency_ms"],
            )
            for v in vendors
        ),
        refresh_failures_window=int(refreshes.get("failed") or 0),
        outbox_oldest_s=None if oldest is None else max(0.0, (now - oldest).total_seconds()),
        pending_vendor_waits=tuple(waits),
    )
    return HealthSnapshot(
        report=assess(inputs),
        inputs=inputs,
        checked_at=now,
        vendors=vendors,
        analysis={
            "last_refresh_end": last,
            "age_s": inputs.analysis_age_s,
            "target_lag_s": inputs.target_lag_s,
            "suspended": inputs.analysis_suspended,
            "consecutive_failures": inputs.refresh_failures,
            "refreshes_in_window": int(refreshes.get("total") or 0),
            "failed_refreshes_in_window": inputs.refresh_failures_window,
            "last_error": refreshes.get("last_error") or state.get("last_error"),
            # Snowflake: each resq task's state (suspended after failures included), its
            # consecutive failed runs and newest error (TASK_HISTORY, SHOW TASKS)
            "tasks": state.get("tasks", {}),
        },
        cycles={
            "last_success": last_cycle,
            "age_s": inputs.last_cycle_age_s,
            "in_window": int(cycles["in_window"] or 0),
            "interval_s": cycle_interval_s,
        },
        outbox={**outbox, "oldest_pending_age_s": inputs.outbox_oldest_s},
        pending_orders={
            "waiting_for_vendor": inputs.pending_vendor_orders,
            "oldest_wait_s": waits[0].waited_s if waits else None,
            "orders": [
                {"po_id": w.po_id, "org_id": w.org_id, "sku": w.sku, "waited_s": w.waited_s}
                for w in waits
            ],
        },
    )


def _refreshes(b: WarehouseBackend, start: datetime) -> dict[str, Any]:
    """Refreshes of stock_analysis in the window (the emulated history on DuckDB). A
    backend without that history reports none."""
    try:
        row = b.fetch(
            b.render(
                "SELECT COUNT(*) AS total, COUNT_IF(state = 'FAILED') AS failed "
                "FROM dt_refresh_history WHERE refresh_start >= ?"
            ),
            [start],
        ).to_pylist()[0]
        last = b.fetch(
            b.render(
                "SELECT error FROM dt_refresh_history "
                "WHERE state = 'FAILED' AND refresh_start >= ? "
                "ORDER BY refresh_start DESC LIMIT 1"
            ),
            [start],
        ).to_pylist()
    except BackendError:
        return {}
    return {**row, "last_error": last[0]["error"] if last else None}
