"""SelfHealingEngine: one heal cycle over any backend, plus chaos, overrides and checks.

A cycle refreshes the signals and ``stock_analysis``, pulls only the rows that need a
decision (as Arrow), lets :mod:`resq.core` decide, and commits orders, alerts, outbox rows
and audit events in one transaction through the keyed MERGE. A conflicting concurrent
cycle is retried from the start, so every shortfall gets exactly one order.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from resq import simulation
from resq.backends.warehouse import WarehouseBackend, default_actor, utcnow
from resq.core import alerts as core_alerts
from resq.core.health import HealthInputs, HealthReport, assess
from resq.core.ordering import Action, OrderStatus, PlanOptions, plan_orders, po_id
from resq.errors import ConflictError, ResqError

ENGINE_ACTOR = "resq-engine"


@dataclass
class HealReport:
    """What one heal cycle did. ``orders`` lists the orders it created."""

    cycle_id: str
    started_at: datetime
    finished_at: datetime | None = None
    dry_run: bool = False
    refreshed: bool = False
    candidates: int = 0
    created: int = 0
    covered: int = 0
    pending_vendor: int = 0
    held_for_approval: int = 0
    capped: int = 0
    alerts_raised: int = 0
    notifications_queued: int = 0
    attempts: int = 1
    orders: list[dict[str, Any]] = field(default_factory=list)
    proposals: pa.Table | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cycle_id": self.cycle_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "dry_run": self.dry_run,
            "refreshed": self.refreshed,
            "candidates": self.candidates,
            "created": self.created,
            "covered": self.covered,
            "pending_vendor": self.pending_vendor,
            "held_for_approval": self.held_for_approval,
            "capped": self.capped,
            "alerts_raised": self.alerts_raised,
            "notifications_queued": self.notifications_queued,
            "attempts": self.attempts,
            "orders": self.orders,
        }


@dataclass(frozen=True)
class Check:
    """One validation check: what was asked, what was expected, what came back."""

    name: str
    expected: str
    actual: str
    data_source: str = simulation.SIMULATED

    @property
    def passed(self) -> bool:
        return self.expected == self.actual

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "expected": self.expected,
            "actual": self.actual,
            "result": "PASS" if self.passed else "FAIL",
            "data_source": self.data_source,
        }


class SelfHealingEngine:
    """Heal stock on any backend: ``SelfHealingEngine(resq.connect("duckdb://")).heal()``."""

    def __init__(
        self,
        backend: WarehouseBackend,
        *,
        actor: str = ENGINE_ACTOR,
        clock: Callable[[], datetime] = utcnow,
        policy: core_alerts.RoutingPolicy | None = None,
        budget: float | None = None,
        max_attempts: int = 50,
    ) -> None:
        self.backend = backend
        self.actor = actor
        self.clock = clock
        self.policy = policy or core_alerts.DEFAULT_POLICY
        self.options = PlanOptions(budget=budget)
        self.max_attempts = max_attempts

    # ------------------------------------------------------------------ reading

    def analyse(self, *, org_id: str | None = None, refresh: bool = True) -> pa.Table:
        """The stock analysis (refreshed first if it is due), most urgent first."""
        if refresh:
            self.backend.refresh_analysis(now=self.clock())
        return self.backend.read(
            "stock_analysis",
            org_id=org_id,
            order_by=("priority", "days_remaining NULLS LAST", "org_id", "sku"),
        )

    def plan(
        self, *, org_id: str | None = None, now: datetime | None = None
    ) -> tuple[pa.Table, int]:
        """The proposals for the rows that need a decision now, and how many open orders
        already cover; nothing is written."""
        now = now or self.clock()
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        candidates = self.backend.run_file("candidates", [month_start, org_id, org_id])
        covered = self.backend.run_file("covered", [org_id, org_id]).column(0)[0].as_py() or 0
        options = self.backend.run_file("vendor_options")
        return plan_orders(candidates, options, self.options), int(covered)

    # ------------------------------------------------------------------ healing

    def heal(
        self, *, dry_run: bool = False, org_id: str | None = None, actor: str | None = None
    ) -> HealReport:
        """One self-healing cycle. Re-running it, or running it concurrently, never
        duplicates an order: a conflicting cycle is retried and finds the order covered."""
        now = self.clock()
        report = HealReport(
            cycle_id=f"CY-{uuid.uuid4().hex[:16].upper()}", started_at=now, dry_run=dry_run
        )
        for attempt in range(1, self.max_attempts + 1):
            report.attempts = attempt
            try:
                # Inside the retry: a concurrent cycle refreshing the same signals or the
                # analysis conflicts here, and the retry then finds them fresh.
                if not dry_run:
                    self.backend.refresh_signals(now=now)
                refreshed = self.backend.refresh_analysis(now=now).refreshed
                report.refreshed = report.refreshed or refreshed
                proposals, covered = self.plan(org_id=org_id, now=now)
                _summarize(report, proposals, covered)
                if dry_run:
                    report.orders = _order_rows(proposals)
                    break
                self._commit(report, proposals, actor or self.actor, now)
                break
            except ConflictError:
                if attempt == self.max_attempts:
                    raise
                time.sleep(min(0.2, 0.005 * attempt))
        report.finished_at = self.clock()
        report.proposals = proposals
        return report

    def _commit(self, report: HealReport, proposals: pa.Table, actor: str, now: datetime) -> None:
        b = self.backend
        orders = proposals.filter(pc.equal(proposals["action"], Action.ORDER.value))
        n = orders.num_rows
        orders = orders.append_column("cycle_id", pa.array([report.cycle_id] * n, pa.string()))
        orders = orders.append_column("created_at", pa.array([now] * n, pa.timestamp("us")))
        raised = core_alerts.alerts_for(proposals)
        raised = raised.append_column(
            "cycle_id", pa.array([report.cycle_id] * raised.num_rows, pa.string())
        )
        raised = raised.append_column(
            "created_at", pa.array([now] * raised.num_rows, pa.timestamp("us"))
        )
        with b.transaction():
            if n:
                b.stage("resq_stage_orders", orders)
                b.execute(b._file("merge_orders"))
            if raised.num_rows:
                b.stage("resq_stage_alerts", raised)
                b.execute(b._file("merge_alerts"))
            created = b.run_file("orders_created", [report.cycle_id])
            # Proposals whose key a concurrent cycle committed first: the MERGE inserted
            # nothing for them, so they are covered by that cycle's open order.
            report.covered += n - created.num_rows
            new_alerts = b.run_file("alerts_created", [report.cycle_id])
            queued = self._queue_notifications(new_alerts, now)
            events = _order_events(created, actor) + _alert_events(new_alerts, actor)
            events.append(
                {
                    "actor": actor,
                    "action": "heal.cycle",
                    "org_id": None,
                    "entity_id": report.cycle_id,
                    "details": {
                        "created": created.num_rows,
                        "covered": report.covered,
                        "pending_vendor": report.pending_vendor,
                        "alerts": new_alerts.num_rows,
                    },
                }
            )
            b.append_audit(events, now=now)
            b.execute(
                b.render(
                    "INSERT INTO heal_cycles (cycle_id, started_at, finished_at, actor, state, candidates, created, covered, "
                    "pending_vendor, held_for_approval, alerts_raised) VALUES (?, ?, ?, ?, 'SUCCEEDED', ?, ?, ?, ?, ?, ?)"
                ),
                [
                    report.cycle_id,
                    now,
                    utcnow(),
                    actor,
                    report.candidates,
                    created.num_rows,
                    report.covered,
                    report.pending_vendor,
                    report.held_for_approval,
                    new_alerts.num_rows,
                ],
            )
        report.created = created.num_rows
        report.alerts_raised = new_alerts.num_rows
        report.notifications_queued = queued
        report.orders = (
            created.to_pylist() if created.num_rows <= 1000 else created.slice(0, 1000).to_pylist()
        )

    def _queue_notifications(self, new_alerts: pa.Table, now: datetime) -> int:
        """Outbox rows for tier-0 stakeholders of every new alert (set-based insert)."""
        if not new_alerts.num_rows:
            return 0
        combos = (
            new_alerts.select(["org_id", "sector", "severity"])
            .group_by(["org_id", "sector", "severity"])
            .aggregate([])
        )
        rows: list[dict[str, Any]] = []
        for combo in combos.to_pylist():
            for route in self.policy.recipients(
                combo["sector"] or "", combo["org_id"], combo["severity"], 0
            ):
                for channel in route.channels:
                    rows.append(
                        {
                            "org_id": combo["org_id"],
                            "severity": combo["severity"],
                            "stakeholder": route.stakeholder,
                            "channel": channel,
                        }
                    )
        if not rows:
            return 0
        routes = pa.Table.from_pylist(
            rows,
            schema=pa.schema(
                [
                    ("org_id", pa.string()),
                    ("severity", pa.string()),
                    ("stakeholder", pa.string()),
                    ("channel", pa.string()),
                ]
            ),
        )
        b = self.backend
        b.stage("resq_stage_routes", routes)
        before = b.fetch(b.render("SELECT COUNT(*) FROM notifications")).column(0)[0].as_py()
        b.execute(b._file("queue_notifications"), [now, new_alerts.column("cycle_id")[0].as_py()])
        after = b.fetch(b.render("SELECT COUNT(*) FROM notifications")).column(0)[0].as_py()
        return int(after - before)

    # ------------------------------------------------------------------ chaos

    def _chaos(self, event: simulation.ChaosEvent, actor: str | None) -> simulation.ChaosEvent:
        self.backend.apply_chaos(event, actor=actor or default_actor(), now=self.clock())
        return event

    def drop_stock(
        self, org_id: str, sku: str, to: float = 0.0, *, actor: str | None = None
    ) -> simulation.ChaosEvent:
        """The chaos button: set an item's stock (default 0). Audited as chaos, SIMULATED."""
        return self._chaos(simulation.drop_stock(org_id, sku, to), actor)

    def vendor_offline(self, vendor: str, *, actor: str | None = None) -> simulation.ChaosEvent:
        return self._chaos(simulation.vendor_offline(vendor), actor)

    def vendor_online(
        self, vendor: str, latency_ms: int | None = None, *, actor: str | None = None
    ) -> simulation.ChaosEvent:
        return self._chaos(simulation.vendor_online(vendor, latency_ms), actor)

    def set_weather(
        self, city: str, condition: str, *, actor: str | None = None
    ) -> simulation.ChaosEvent:
        return self._chaos(simulation.set_weather(city, condition), actor)

    def spike_demand(
        self, org_id: str, sku: str, factor: float, *, actor: str | None = None
    ) -> simulation.ChaosEvent:
        return self._chaos(simulation.spike_demand(org_id, sku, factor), actor)

    # ------------------------------------------------------------------ overrides

    def approve(self, po_id: str, *, actor: str | None = None) -> dict[str, Any]:
        return self.backend.override_order(
            po_id, "approve", actor=actor or default_actor(), now=self.clock()
        )

    def cancel(self, po_id: str, *, actor: str | None = None) -> dict[str, Any]:
        return self.backend.override_order(
            po_id, "cancel", actor=actor or default_actor(), now=self.clock()
        )

    def receive(self, po_id: str, *, actor: str | None = None) -> dict[str, Any]:
        """Mark an order received: its quantity is added to the item's stock."""
        return self.backend.override_order(
            po_id, "receive", actor=actor or default_actor(), now=self.clock()
        )

    def set_quantity(
        self, po_id: str, quantity: float, *, actor: str | None = None
    ) -> dict[str, Any]:
        return self.backend.override_order(
            po_id,
            "set_quantity",
            actor=actor or default_actor(),
            quantity=quantity,
            now=self.clock(),
        )

    # ------------------------------------------------------------------ checks

    def validate(self) -> list[Check]:
        """The simulation checks, run through the backend's SQL functions."""
        row = self.backend.sql(
            "SELECT GET_WEATHER_DATA('Bangalore') AS blr, GET_WEATHER_DATA('Delhi') AS del, "
            "GET_VENDOR_STATUS('Blinkit') AS blinkit, GET_VENDOR_STATUS('Dunzo') AS dunzo"
        ).to_pylist()[0]
        blinkit, dunzo = _as_status(row["blinkit"]), _as_status(row["dunzo"])
        return [
            Check("GET_WEATHER_DATA('Bangalore')", "Rain", str(row["blr"])),
            Check("GET_WEATHER_DATA('Delhi')", "Haze", str(row["del"])),
            Check(
                "GET_VENDOR_STATUS('Blinkit')",
                "ONLINE 12 ms",
                f"{blinkit.get('status')} {blinkit.get('latency_ms')} ms",
            ),
            Check("GET_VENDOR_STATUS('Dunzo')", "OFFLINE", str(dunzo.get("status"))),
        ]

    def health(self, *, now: datetime | None = None) -> HealthReport:
        """GREEN / AMBER / RED from vendors, analysis freshness, cycles and the outbox."""
        now = now or self.clock()
        b = self.backend
        vendors = b.read("vendor_status").to_pylist()
        state = b.analysis_state() if hasattr(b, "analysis_state") else {}
        last = state.get("last_refresh_end")
        cycles = (
            b.fetch(b.render("SELECT MAX(finished_at) FROM heal_cycles WHERE state = 'SUCCEEDED'"))
            .column(0)[0]
            .as_py()
        )
        counts = b.fetch(
            b.render(
                "SELECT COUNT_IF(state = 'PENDING') AS backlog, COUNT_IF(state = 'FAILED') AS failed FROM notifications"
            )
        ).to_pylist()[0]
        pending = (
            b.fetch(
                b.render("SELECT COUNT(*) FROM purchase_orders WHERE status = 'PENDING_VENDOR'")
            )
            .column(0)[0]
            .as_py()
        )
        return assess(
            HealthInputs(
                vendors_online=sum(1 for v in vendors if v["status"] == "ONLINE"),
                vendors_total=len(vendors),
                analysis_age_s=None if last is None else (now - last).total_seconds(),
                target_lag_s=b.target_lag_s,
                analysis_suspended=bool(state.get("suspended")),
                refresh_failures=int(state.get("consecutive_failures") or 0),
                last_cycle_age_s=None if cycles is None else (now - cycles).total_seconds(),
                outbox_backlog=int(counts["backlog"] or 0),
                failed_deliveries=int(counts["failed"] or 0),
                pending_vendor_orders=int(pending or 0),
            )
        )

    # ------------------------------------------------------------------ seeding

    def seed(
        self,
        *,
        n_orgs: int = 6,
        skus_per_org: int = 3,
        seed: int = 42,
        cities: tuple[str, ...] = ("Bangalore", "Delhi"),
        days: int = 30,
        actor: str | None = None,
    ) -> dict[str, int]:
        """Load a deterministic simulated network (labelled SIMULATED), ``days`` of daily
        consumption and stock history per item ending yesterday, and its signals."""
        if n_orgs < 1 or skus_per_org < 1:
            raise ResqError("seed needs at least one organization and one item per organization")
        if days < 0:
            raise ResqError("seed needs days >= 0")
        network = simulation.simulate_network(n_orgs, skus_per_org, seed, cities)
        tables = dict(network.tables())
        if days:
            items = network.inventory
            start = self.clock().date() - timedelta(days=days)
            history = simulation.generate_realistic_simulation(
                items["org_id"].to_pylist(),
                items["sku"].to_pylist(),
                days,
                seed,
                base_consumption=items["daily_consumption"].to_numpy(),
                start_date=start,
                sectors=_sectors_of(network),
            )
            tables["stock_history"] = history.select(
                ["org_id", "sku", "day", "consumption", "stock", "stockout", "data_source"]
            )
        counts = {}
        for table, data in tables.items():
            counts[table] = self.backend.load(
                table, data, data_source=simulation.SIMULATED, actor=actor
            ).rows
        self.backend.refresh_signals(now=self.clock())
        return counts


def _summarize(report: HealReport, proposals: pa.Table, covered: int) -> None:
    action = proposals["action"]
    status = proposals["order_status"]
    report.candidates = proposals.num_rows
    report.covered = (
        covered + pc.sum(pc.equal(action, Action.COVERED.value)).as_py()
        if proposals.num_rows
        else covered
    )
    report.capped = _count(action, Action.CAPPED.value)
    report.pending_vendor = _count(status, OrderStatus.PENDING_VENDOR.value)
    report.held_for_approval = _count(status, OrderStatus.PENDING_APPROVAL.value)


def _count(column: pa.ChunkedArray, value: str) -> int:
    if not len(column):
        return 0
    return int(pc.sum(pc.equal(column, value).fill_null(False)).as_py() or 0)


def _order_rows(proposals: pa.Table) -> list[dict[str, Any]]:
    """The orders a dry run would create (first 1000), with the ids they would get."""
    orders = proposals.filter(pc.equal(proposals["action"], Action.ORDER.value)).slice(0, 1000)
    rows = orders.to_pylist()
    for row in rows:
        row["po_id"] = po_id(row["idempotency_key"])
        row["status"], row["analysis_status"] = row.pop("order_status"), row["status"]
    return rows


def _order_events(created: pa.Table, actor: str) -> list[dict[str, Any]]:
    cols = created.to_pydict()
    return [
        {
            "actor": actor,
            "action": "order.created",
            "org_id": org,
            "entity_id": po,
            "details": details,
        }
        for org, po, details in zip(cols["org_id"], cols["po_id"], cols["details"], strict=True)
    ]


def _alert_events(new_alerts: pa.Table, actor: str) -> list[dict[str, Any]]:
    cols = new_alerts.to_pydict()
    return [
        {
            "actor": actor,
            "action": "alert.raised",
            "org_id": org,
            "entity_id": aid,
            "details": details,
        }
        for org, aid, details in zip(cols["org_id"], cols["alert_id"], cols["details"], strict=True)
    ]


def _as_status(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        import json

        try:
            parsed = json.loads(value)
        except ValueError:
            return {"status": value}
        return parsed if isinstance(parsed, dict) else {"status": value}
    return {}


def _sectors_of(network: simulation.SimulatedNetwork) -> list[str]:
    """The sector of each inventory row (for the simulation's weekly pattern)."""
    sector = dict(
        zip(
            network.organizations["org_id"].to_pylist(),
            network.organizations["sector"].to_pylist(),
            strict=True,
        )
    )
    return [sector[o] for o in network.inventory["org_id"].to_pylist()]
