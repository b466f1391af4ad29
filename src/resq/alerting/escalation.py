"""Escalation: an alert nobody acknowledged in time moves to the next tier of stakeholders.

Which alerts are due and who hears next is the core's rule
(:meth:`resq.core.alerts.RoutingPolicy.escalation_due` and ``recipients``); this module
reads the warehouse, applies it and writes the result. Escalation stops at acknowledgement
(``resq ack``) or when the stock recovers: an alert whose item is OK again, or whose order
was received, is RESOLVED. Every step is audited in the transaction that makes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from resq.alerting.routing import ACTOR, stored_policy
from resq.core.alerts import RoutingPolicy
from resq.errors import AnalysisSuspendedError

if TYPE_CHECKING:
    from resq.backends.warehouse import WarehouseBackend

_RECOVERED = """
SELECT a.alert_id, a.org_id, a.sku, a.state, a.po_id,
       s.status AS stock_status, p.status AS order_status
FROM alerts AS a
LEFT JOIN stock_analysis AS s ON s.org_id = a.org_id AND s.sku = a.sku
LEFT JOIN purchase_orders AS p ON p.po_id = a.po_id
WHERE a.state IN ('OPEN', 'ACKED') AND (s.status = 'OK' OR p.status = 'RECEIVED')
ORDER BY a.alert_id
"""

_OPEN = """
SELECT a.alert_id, a.org_id, o.sector, a.severity, a.tier, a.created_at, a.escalated_at
FROM alerts AS a
JOIN organizations AS o ON o.org_id = a.org_id
WHERE a.state = 'OPEN'
ORDER BY a.created_at, a.alert_id
"""


@dataclass
class EscalationReport:
    """What one escalation pass did: alerts escalated (with their new tier) and resolved."""

    escalated: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[dict[str, Any]] = field(default_factory=list)
    notifications_queued: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "escalated": self.escalated,
            "resolved": self.resolved,
            "notifications_queued": self.notifications_queued,
        }


class Escalator:
    """Resolves recovered alerts and escalates overdue ones; ``now`` is injectable."""

    def __init__(
        self,
        backend: WarehouseBackend,
        policy: RoutingPolicy | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        actor: str = ACTOR,
    ) -> None:
        from resq.backends.warehouse import utcnow

        self.backend = backend
        self._policy = policy
        self.clock = clock or utcnow
        self.actor = actor

    @property
    def policy(self) -> RoutingPolicy:
        """The given policy, else the routing stored in the warehouse (or the default)."""
        return self._policy if self._policy is not None else stored_policy(self.backend)

    def run(self, *, now: datetime | None = None) -> EscalationReport:
        now = now or self.clock()
        report = EscalationReport()
        policy = self.policy  # read outside the transactions
        try:
            self.backend.refresh_analysis(now=now)
        except AnalysisSuspendedError:
            pass  # judge recovery on the stale analysis; health reports the suspension
        self.resolve(now, report)
        self.escalate(now, report, policy)
        return report

    def resolve(self, now: datetime, report: EscalationReport) -> None:
        """RESOLVED: alerts whose item is OK again or whose order was received. A
        conflict with another session resolving the same alerts is retried, and the
        retry finds them resolved."""
        from resq.retrying import conflict_retrying

        b = self.backend
        resolved: list[dict[str, Any]] = []
        for attempt in conflict_retrying():
            with attempt, b.transaction():
                resolved = []
                rows = b.fetch(b.render(_RECOVERED)).to_pylist()
                if not rows:
                    continue
                # by id, the still active ones only; an alert another session resolved
                # meanwhile keeps its resolution and its one audit event
                done = b.resolve_selected_alerts(
                    "recovered_alerts", [r["alert_id"] for r in rows], now
                )
                events = []
                for r in rows:
                    if r["alert_id"] not in done:
                        continue
                    why = (
                        "order received" if r["order_status"] == "RECEIVED" else "stock is OK again"
                    )
                    events.append(
                        {
                            "actor": self.actor,
                            "action": "alert.resolved",
                            "org_id": r["org_id"],
                            "entity_id": r["alert_id"],
                            "details": {
                                "reason": why,
                                "from": r["state"],
                                "sku": r["sku"],
                                "po_id": r["po_id"],
                            },
                        }
                    )
                    resolved.append({"alert_id": r["alert_id"], "reason": why})
                if events:
                    b.append_audit(events, now=now)
        report.resolved.extend(resolved)  # what committed

    def escalate(self, now: datetime, report: EscalationReport, policy: RoutingPolicy) -> None:
        """Move every OPEN alert past its severity's timeout up one tier, queue the new
        tier's notifications, and audit it; all in one transaction."""
        b = self.backend
        with b.transaction():
            due = [
                r
                for r in b.fetch(b.render(_OPEN)).to_pylist()
                if policy.escalation_due(
                    r["severity"],
                    int(r["tier"]),
                    r["escalated_at"] or r["created_at"],
                    now,
                    sector=r["sector"] or "",
                    org_id=r["org_id"],
                )
            ]
            if not due:
                return
            recipients: list[dict[str, Any]] = []
            events = []
            for r in due:
                sector = r["sector"] or ""
                tier = policy.next_tier(sector, r["org_id"], r["severity"], int(r["tier"]))
                tier = int(r["tier"]) + 1 if tier is None else tier
                r["new_tier"] = tier
                routes = policy.recipients(sector, r["org_id"], r["severity"], tier)
                told = [
                    {
                        "alert_id": r["alert_id"],
                        "stakeholder": x.stakeholder,
                        "channel": c,
                        "tier": tier,
                    }
                    for x in routes
                    for c in x.channels
                ]
                recipients.extend(told)
                since = r["escalated_at"] or r["created_at"]
                events.append(
                    {
                        "actor": self.actor,
                        "action": "alert.escalated",
                        "org_id": r["org_id"],
                        "entity_id": r["alert_id"],
                        "details": {
                            "severity": r["severity"],
                            "from_tier": int(r["tier"]),
                            "to_tier": tier,
                            "unacknowledged_s": round((now - since).total_seconds(), 1),
                            "stakeholders": sorted({x.stakeholder for x in routes}),
                        },
                    }
                )
                report.escalated.append(
                    {
                        "alert_id": r["alert_id"],
                        "severity": r["severity"],
                        "tier": tier,
                        "stakeholders": sorted({x.stakeholder for x in routes}),
                    }
                )
            moved = pa.table(
                {
                    "alert_id": pa.array([r["alert_id"] for r in due], pa.string()),
                    "tier": pa.array([r["new_tier"] for r in due], pa.int64()),
                }
            )
            b.stage("resq_stage_escalated", moved)
            b.execute(
                b.render(
                    "UPDATE alerts AS t SET tier = s.tier, escalated_at = ? "
                    "FROM resq_stage_escalated AS s "
                    "WHERE t.alert_id = s.alert_id AND t.state = 'OPEN'"
                ),
                [now],
            )
            if recipients:
                b.stage(
                    "resq_stage_escalations",
                    pa.Table.from_pylist(
                        recipients,
                        schema=pa.schema(
                            [
                                ("alert_id", pa.string()),
                                ("stakeholder", pa.string()),
                                ("channel", pa.string()),
                                ("tier", pa.int64()),
                            ]
                        ),
                    ),
                )
                before = _count(b, "notifications")
                b.execute(b._file("queue_escalations"), [now])
                report.notifications_queued = _count(b, "notifications") - before
            b.append_audit(events, now=now)


def _count(b: WarehouseBackend, table: str) -> int:
    return int(b.fetch(b.render(f"SELECT COUNT(*) FROM {table}")).column(0)[0].as_py() or 0)


def escalate(
    backend: WarehouseBackend,
    policy: RoutingPolicy | None = None,
    *,
    now: datetime | None = None,
    actor: str = ACTOR,
) -> EscalationReport:
    """One escalation pass: ``Escalator(backend, policy).run(now=now)``."""
    return Escalator(backend, policy, actor=actor).run(now=now)
