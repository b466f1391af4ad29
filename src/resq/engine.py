"""SelfHealingEngine: one heal cycle over any backend, plus chaos, overrides and checks.

A cycle refreshes the signals and ``stock_analysis``, pulls only the rows that need a
decision (as Arrow), lets :mod:`resq.core` decide, and commits orders, alerts, outbox rows
and audit events in one transaction through the keyed MERGE. A conflicting concurrent
cycle is retried from the start, so every shortfall gets exactly one order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from resq import simulation
from resq.backends.warehouse import WarehouseBackend, default_actor, utcnow
from resq.core import alerts as core_alerts
from resq.core import audit as core_audit
from resq.core import provenance, reasons, urgency
from resq.core.health import HealthReport
from resq.core.ordering import (
    DECIDED_ON,
    RESOURCED_SCHEMA,
    Action,
    OrderStatus,
    PlanOptions,
    plan_orders,
    po_id,
    resource_pending,
)
from resq.errors import RealDataError, ResqError
from resq.retrying import DEFAULT_ATTEMPTS, conflict_retrying

ENGINE_ACTOR = "resq-engine"
HEAL_STEPS = ("refreshed", "read", "planned", "committing")
"""The step boundaries of a heal cycle, in order, as passed to ``on_step``: after the
analysis refresh, after the decision inputs were read, after the core planned, and just
before the commit's transaction. Another writer may commit at any of them."""
URGENT_FIRST = urgency.ITEMS
"""The order of ``stock_analysis`` rows, most urgent first (``read(..., order_by=...)``)."""


@dataclass
class HealReport:
    """What one heal cycle did. ``orders`` lists the orders it created; ``stale`` counts
    the decisions the commit skipped because the state they rested on changed meanwhile
    (``stale_items`` names them; the next cycle re-plans them)."""

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
    stale: int = 0
    resourced: int = 0
    attempts: int = 1
    orders: list[dict[str, Any]] = field(default_factory=list)
    stale_items: list[dict[str, Any]] = field(default_factory=list)
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
            "stale": self.stale,
            "stale_items": self.stale_items,
            "resourced": self.resourced,
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
        max_attempts: int = DEFAULT_ATTEMPTS,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        self.backend = backend
        self.actor = actor
        self.clock = clock
        # None: the routing stored in the warehouse (resq.toml applied), else DEFAULT_POLICY.
        self.policy = policy
        self.options = PlanOptions(budget=budget)
        self.max_attempts = max_attempts
        # Called with each name in HEAL_STEPS as a cycle passes it (every attempt), outside
        # any transaction: for tracing, and for tests that commit writes in between.
        self.on_step = on_step

    def _step(self, name: str) -> None:
        if self.on_step is not None:
            self.on_step(name)

    # ------------------------------------------------------------------ reading

    def analyse(self, *, org_id: str | None = None, refresh: bool = True) -> pa.Table:
        """The stock analysis (refreshed first if it is due), most urgent first."""
        if refresh:
            self.backend.refresh_analysis(now=self.clock())
        return self.backend.read(
            "stock_analysis",
            org_id=org_id,
            order_by=URGENT_FIRST,
        )

    def plan(
        self, *, org_id: str | None = None, now: datetime | None = None
    ) -> tuple[pa.Table, int]:
        """The proposals for the rows that need a decision now, and how many open orders
        already cover; nothing is written."""
        now = now or self.clock()
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        # The reads share a transaction. On DuckDB that is one snapshot. On Snowflake it is
        # not: each statement reads what was committed when it started (READ COMMITTED), so
        # a cycle committing between them can make this report's covered count off by the
        # rows it changed. Orders stay exactly once either way: the commit's keyed MERGE
        # re-checks every key, serialized by the backend's heal lock.
        with self.backend.transaction():
            candidates = self.backend.run_file("candidates", [org_id, org_id, month_start])
            # covered: the rows that need a decision and are no candidate (an open order
            # covers them), counted without joining the analysis with every open order
            need = self.backend.run_file("covered", [org_id, org_id]).column(0)[0].as_py()
            options = self.backend.run_file("vendor_options")
            authorization = self.backend.run_file("vendor_authorization")
        covered = max(int(need or 0) - candidates.num_rows, 0)
        self._step("read")
        proposals = plan_orders(candidates, options, self.options, authorization=authorization)
        self._step("planned")
        return proposals, int(covered)

    def resource(self, *, org_id: str | None = None) -> pa.Table:
        """The orders waiting for a vendor (PENDING_VENDOR) and what each gets now: the
        vendor of the core's rule and the status of a new order (``resourced`` false while
        none is online). Nothing is written; a heal cycle commits it."""
        with self.backend.transaction():
            pending = self.backend.run_file("pending_vendor", [org_id, org_id])
            options = self.backend.run_file("vendor_options") if pending.num_rows else None
            authorization = (
                self.backend.run_file("vendor_authorization") if pending.num_rows else None
            )
        if options is None:
            return resource_pending(pending, pa.table({}), self.options)
        decided = resource_pending(pending, options, self.options, authorization=authorization)
        for name in ("org_id", "sku", "created_at"):
            decided = decided.append_column(name, pending[name])
        return decided

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
        for attempt in conflict_retrying(self.max_attempts):
            with attempt:
                report.attempts = attempt.retry_state.attempt_number
                # Inside the retry: a concurrent cycle refreshing the same signals or the
                # analysis conflicts here, and the retry then finds them fresh.
                if not dry_run:
                    self.backend.refresh_signals(now=now)
                refreshed = self.backend.refresh_analysis(now=now).refreshed
                report.refreshed = report.refreshed or refreshed
                self._step("refreshed")
                proposals, covered = self.plan(org_id=org_id, now=now)
                waiting = self.resource(org_id=org_id)
                _summarize(report, proposals, covered)
                report.resourced = int(pc.sum(waiting["resourced"]).as_py() or 0)
                if dry_run:
                    report.orders = _order_rows(proposals)
                else:
                    self._step("committing")
                    self._commit(
                        report, proposals, actor or self.actor, now, waiting, org_id=org_id
                    )
        report.finished_at = self.clock()
        report.proposals = proposals
        return report

    def routing(self) -> core_alerts.RoutingPolicy:
        """The routing of this engine: the one it was given, else the one stored in the
        warehouse (read through the backend, so a heal cycle needs no alerting code)."""
        if self.policy is not None:
            return self.policy
        return self.backend.stored_routing()

    def _commit(
        self,
        report: HealReport,
        proposals: pa.Table,
        actor: str,
        now: datetime,
        waiting: pa.Table | None = None,
        org_id: str | None = None,
    ) -> None:
        b = self.backend
        policy = self.routing()  # read before the transaction
        orders = _orders_to_stage(proposals)
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
        resourced = _resourced_stage(waiting, report.cycle_id, now)
        with b.heal_transaction(holder=report.cycle_id):
            placed = _place_resourced(b, resourced, now, actor, report.cycle_id)
            report.resourced = sum(1 for e in placed if e["action"] == "order.resourced")
            if n:
                b.stage("resq_stage_orders", orders)
                b.execute(b._file("merge_orders"))
            if raised.num_rows:
                b.stage("resq_stage_alerts", raised)
                b.execute(b._file("merge_alerts"))
            created = reasons.fold(b.run_file("orders_created", [report.cycle_id] * 2))
            total = int(created.column("created_total")[0].as_py()) if created.num_rows else 0
            if total < n:
                # Decisions the MERGE did not insert: covered when a concurrent cycle
                # committed the same key first, stale when their state changed since.
                skipped = b.run_file("orders_skipped", [report.cycle_id])
                covered = skipped.filter(pc.field("covered"))
                report.covered += covered.num_rows
                stale = skipped.filter(pc.invert(pc.field("covered")))
                report.stale = stale.num_rows
                report.stale_items = stale.select(["org_id", "sku"]).slice(0, 1000).to_pylist()
            superseded = _supersede_alerts(b, report.cycle_id, now, actor)
            superseded += b.resolve_recovered_alerts(now=now, actor=actor, org_id=org_id)
            groups = b.run_file("alerts_created", [report.cycle_id])
            alerts_raised = int(pa.compute.sum(groups["alerts"]).as_py() or 0)
            queued = self._queue_notifications(groups, report.cycle_id, now, policy)
            events = _heal_events(b, report, actor)
            if events or placed:  # a cycle with nothing to do is in heal_cycles only
                events.append(
                    {
                        "actor": actor,
                        "action": "heal.cycle",
                        "org_id": None,
                        "entity_id": report.cycle_id,
                        "details": {
                            "created": total,
                            "covered": report.covered,
                            "stale": report.stale,
                            "resourced": report.resourced,
                            "pending_vendor": report.pending_vendor,
                            "held_for_approval": report.held_for_approval,
                            "alerts": alerts_raised,
                            "notifications": queued,
                        },
                    }
                )
            b.append_audit([*events, *superseded, *placed], now=now)
            b.execute(
                b.render(
                    "INSERT INTO heal_cycles (cycle_id, started_at, finished_at, actor, state, "
                    "candidates, created, covered, pending_vendor, held_for_approval, "
                    "alerts_raised) VALUES (?, ?, ?, ?, 'SUCCEEDED', ?, ?, ?, ?, ?, ?)"
                ),
                [
                    report.cycle_id,
                    now,
                    utcnow(),
                    actor,
                    report.candidates,
                    total,
                    report.covered,
                    report.pending_vendor,
                    report.held_for_approval,
                    alerts_raised,
                ],
            )
        report.created = total
        report.alerts_raised = alerts_raised
        report.notifications_queued = queued
        report.orders = created.drop_columns(["created_total"]).to_pylist()

    def _queue_notifications(
        self, groups: pa.Table, cycle_id: str, now: datetime, policy: core_alerts.RoutingPolicy
    ) -> int:
        """Digest outbox rows for the tier-0 stakeholders of the new alerts: routes are
        decided per (organization, sector, severity) in Python, and the warehouse writes one
        row per (organization, stakeholder, channel) of the cycle listing its alerts, for
        batches of whole organizations (the backend's ``digest_batch_alerts``). Returns how
        many digests were queued."""
        rows: list[dict[str, Any]] = []
        weight: dict[str, int] = {}  # alert rows each organization's digests list
        for combo in groups.to_pylist():
            for route in policy.recipients(
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
                    weight[combo["org_id"]] = weight.get(combo["org_id"], 0) + combo["alerts"]
        if not rows:
            return 0
        # Two routes naming the same stakeholder and channel reach them once.
        rows = list({tuple(r.values()): r for r in rows}.values())
        b = self.backend
        queued = 0
        for batch in _whole_org_batches(rows, weight, b.digest_batch_alerts):
            b.stage("resq_stage_routes", pa.Table.from_pylist(batch, schema=_ROUTES_SCHEMA))
            digests = b.fetch(b._file("queue_notifications", 0), [cycle_id])
            if digests.num_rows:
                b.stage("resq_stage_digests", digests)
                b.execute(b._file("queue_notifications", 1), [now, now])
                queued += digests.num_rows
        return queued

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
        """Mark an order received: its quantity is added to the item's stock, and the
        alerts whose shortfall that ends are resolved (each audited)."""
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
        b = self.backend
        # rendered as resq's own text (cached), not parsed as a user's ad-hoc SQL
        row = b.fetch(
            b.render(
                "SELECT GET_WEATHER_DATA('Bangalore') AS blr, GET_WEATHER_DATA('Delhi') AS del, "
                "GET_VENDOR_STATUS('Blinkit') AS blinkit, GET_VENDOR_STATUS('Dunzo') AS dunzo"
            )
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

    def health(
        self,
        *,
        now: datetime | None = None,
        window: timedelta = timedelta(hours=24),
        config: Any = None,
    ) -> HealthReport:
        """GREEN / AMBER / RED from vendors (now and over ``window``), analysis freshness
        and refresh failures, heal cycles and the outbox (details:
        resq.alerting.check_health). Heal cycles are judged against the watch interval of
        ``config`` (an AlertingConfig; default: ``resq.toml`` found as ``resq watch`` finds
        it), so ``resq health`` and the dashboard always agree."""
        return self.health_snapshot(now=now, window=window, config=config).report

    def health_snapshot(
        self,
        *,
        now: datetime | None = None,
        window: timedelta = timedelta(hours=24),
        config: Any = None,
    ) -> Any:
        """The health report with the inputs it was judged from (``resq health --json``)."""
        from resq.alerting.config import load_config
        from resq.alerting.monitor import check_health

        cfg = config if config is not None else load_config(None)
        return check_health(
            self.backend,
            now=now or self.clock(),
            window=window,
            cycle_interval_s=cfg.watch_interval_s,
        )

    # ------------------------------------------------------------------ demand

    def forecast(
        self,
        *,
        org_id: str | None = None,
        actor: str | None = None,
        dry_run: bool = False,
        **options: Any,
    ) -> pa.Table:
        """Learn each item's daily demand from its ``stock_history`` and write it to
        ``demand_forecast`` (one row per inventory item, replacing the scope's rows), which
        ``stock_analysis`` then uses in place of ``daily_consumption``. Returns the rows.

        The rules are :func:`resq.core.demand.forecast`'s (``options`` are its keywords:
        ``holdout``, ``min_fit_days``, ``alpha``, ``alpha_d``, ``alpha_p``): the
        Syntetos-Boylan class chooses SES, Croston SBA or TSB; MASE on the last 7 days;
        an item with too little history gets method NULL and a reason, and keeps its
        ``daily_consumption``. ``dry_run`` computes without writing. Audited as
        ``demand.forecast`` with the count per method."""
        from resq.core.demand import forecast_table

        now = self.clock()
        with self.backend.transaction():
            items = self.backend.read("inventory_master", org_id=org_id, order_by=("org_id", "sku"))
            history = self.backend.read("stock_history", org_id=org_id)
        table = forecast_table(
            items["org_id"],
            items["sku"],
            history,
            now,
            item_source=items["data_source"],
            **options,
        )
        if dry_run:
            return table
        methods: dict[str, int] = {}
        for m in table["method"].to_pylist():
            methods[m or "none"] = methods.get(m or "none", 0) + 1
        stage = "resq_stage_demand_forecast"
        if table.num_rows:
            # staged before the transaction: creating a stage table inside one would commit
            # it on Snowflake (DDL), which the backend refuses
            self.backend.stage(stage, table)
        with self.backend.transaction():
            # the items whose forecast goes (the scope's) and comes (the new rows) change
            self.backend._note_changes(
                "demand_forecast",
                None
                if org_id is None
                else "SELECT ? AS org_id, sku FROM inventory_master "
                "WHERE org_id = ? UNION SELECT org_id, sku FROM demand_forecast WHERE org_id = ?",
                [org_id, org_id, org_id],
            )
            self.backend.execute(
                self.backend.render("DELETE FROM demand_forecast WHERE (? IS NULL OR org_id = ?)"),
                [org_id, org_id],
            )
            if table.num_rows:
                names = ", ".join(table.column_names)
                self.backend.execute(
                    self.backend.render(
                        f"INSERT INTO demand_forecast ({names}) SELECT {names} FROM {stage}"
                    )
                )
            self.backend.append_audit(
                [
                    {
                        "actor": actor or self.actor,
                        "action": "demand.forecast",
                        "org_id": org_id,
                        "entity_id": "demand_forecast",
                        "details": {"items": table.num_rows, "methods": methods},
                    }
                ],
                now=now,
            )
        return table

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
        replace_real: bool = False,
        batch_orgs: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, int]:
        """Load a deterministic simulated network (labelled SIMULATED), ``days`` of daily
        consumption and stock history per item ending yesterday at the stock it holds now, and
        its signals.

        The network is built and written in batches of ``batch_orgs`` organizations (by
        default about a million history rows each), in one transaction: memory stays flat in
        the network's size, and a failure anywhere writes nothing. The same seed gives the
        same network whatever the batch size. ``progress(rows_done, rows_total)`` is called
        after each batch.

        Seeding never touches REAL rows: when a simulated row has the key of a REAL one,
        nothing is written and :class:`~resq.errors.RealDataError` names the REAL rows.
        ``replace_real=True`` replaces them, audited as ``seed.replaced_real`` with the
        actor and every replaced key. Simulated rows with the same keys are replaced."""
        if n_orgs < 1 or skus_per_org < 1:
            raise ResqError("seed needs at least one organization and one item per organization")
        if days < 0:
            raise ResqError("seed needs days >= 0")
        step = batch_orgs or max(1, _SEED_BATCH_ROWS // (skus_per_org * max(days, 1)))
        now = self.clock()
        start = now.date() - timedelta(days=days)
        names = ["vendors", "vendor_catalog", "organizations", "inventory_master"]
        names += ["stock_history"] if days else []
        b = self.backend
        b.prepare_stages({f"resq_stage_seed_{t}": _key_schema(t) for t in names})
        collisions: dict[str, list[str]] = {}
        batches = _built_ahead(
            (network, simulation.network_history(network, days, seed, start) if days else None)
            for network in simulation.simulate_network_batches(
                n_orgs, skus_per_org, seed, cities, batch_orgs=step
            )
        )
        total, done = 0, 0
        with b.load_batches(names, data_source=simulation.SIMULATED, actor=actor, now=now) as load:
            # Only a table holding REAL rows when the seed starts can collide: the seed
            # writes SIMULATED rows alone, in this one transaction. Joining every batch
            # against the others would cost the whole table's size per batch.
            with_real = {t for t in names if self._has_real_rows(t)}
            for i, (network, history) in enumerate(batches):
                parts = {
                    "organizations": network.organizations,
                    "inventory_master": network.inventory,
                }
                if i == 0:
                    parts = {
                        "vendors": network.vendors,
                        "vendor_catalog": network.vendor_catalog,
                        **parts,
                    }
                    per_org = 1 + skus_per_org * (1 + days)
                    total = network.vendors.num_rows + network.vendor_catalog.num_rows
                    total += n_orgs * per_org
                    if progress is not None:
                        progress(0, total)
                if history is not None:
                    parts["stock_history"] = history
                for table, data in parts.items():
                    if table in with_real:
                        for name, keys in self._real_collisions({table: data}).items():
                            collisions.setdefault(name, []).extend(keys)
                    if not collisions or replace_real:
                        # each batch is organizations of its own (vendors come once)
                        load.write(table, data, trusted=True, new_keys=True)
                    done += data.num_rows
                del parts, network, history
                if progress is not None:
                    progress(done, total)
            if collisions and not replace_real:
                raise RealDataError({t: sorted(k) for t, k in collisions.items()})
            if collisions:  # replaced only with replace_real: say which REAL rows went
                b.append_audit(
                    [
                        {
                            "actor": actor or default_actor(),
                            "action": "seed.replaced_real",
                            "org_id": None,
                            "entity_id": table,
                            "details": {"table": table, "keys": sorted(keys), "rows": len(keys)},
                        }
                        for table, keys in collisions.items()
                    ],
                    now=now,
                )
        b.refresh_signals(now=self.clock())
        order = ("organizations", "inventory_master", "vendors", "vendor_catalog", "stock_history")
        return {t: load.rows.get(t, 0) for t in order if t in names}

    def _has_real_rows(self, table: str) -> bool:
        b = self.backend
        probe = f"SELECT 1 FROM {table} WHERE data_source = 'REAL' LIMIT 1"  # a spec name
        return bool(b.fetch(b.render(probe)).num_rows)

    def _real_collisions(self, tables: dict[str, pa.Table]) -> dict[str, list[str]]:
        """Per table, the keys of REAL rows that simulated ``tables`` would replace
        (``org_id/sku`` joined by ``/``)."""
        from resq.core.validation import table_spec

        b = self.backend
        found: dict[str, list[str]] = {}
        for table, data in tables.items():
            key = list(table_spec(table).key)
            stage = f"resq_stage_seed_{table}"
            with b.transaction():
                b.stage(stage, data.select(key))
                on = " AND ".join(f"t.{k} = s.{k}" for k in key)
                cols = ", ".join(f"t.{k}" for k in key)
                rows = b.fetch(
                    b.render(
                        f"SELECT {cols} FROM {table} AS t JOIN {stage} AS s ON {on} "
                        f"WHERE t.data_source = 'REAL' ORDER BY {cols}"
                    )
                ).to_pylist()
            if rows:
                found[table] = ["/".join(str(r[k]) for k in key) for r in rows]
        return found


def _summarize(report: HealReport, proposals: pa.Table, covered: int) -> None:
    action = proposals["action"]
    status = proposals["order_status"]
    report.candidates = proposals.num_rows
    report.stale, report.stale_items = 0, []
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


#: The proposal columns sql/merge_orders.sql reads from the staged orders.
_STAGED_ORDER_COLUMNS = (
    "idempotency_key", "org_id", "sku", "vendor", "quantity", "unit_price", "order_status",
    "priority", "rank", *reasons.STAGE_COLUMNS, "data_source", *provenance.COLUMNS.values(),
    *DECIDED_ON,
)  # fmt: skip


def _orders_to_stage(proposals: pa.Table) -> pa.Table:
    """The ORDER proposals, with only the columns the keyed MERGE reads, the reason as its
    typed columns (its struct's fields: nothing is serialised). When every proposal is an
    order (the usual case) no row is copied."""
    is_order = pc.equal(proposals["action"], Action.ORDER.value)
    if pc.all(is_order).as_py() is False:
        proposals = proposals.filter(is_order)
    typed = reasons.to_columns(proposals["reason"])
    return pa.table({c: typed[c] if c in typed else proposals[c] for c in _STAGED_ORDER_COLUMNS})


def _order_rows(proposals: pa.Table) -> list[dict[str, Any]]:
    """The orders a dry run would create (first 1000), with the ids they would get."""
    orders = proposals.filter(pc.equal(proposals["action"], Action.ORDER.value)).slice(0, 1000)
    rows = orders.to_pylist()
    for row in rows:
        row["po_id"] = po_id(row["idempotency_key"])
        row["status"], row["analysis_status"] = row.pop("order_status"), row["status"]
    return rows


_ROUTES_SCHEMA = pa.schema(
    [
        ("org_id", pa.string()),
        ("severity", pa.string()),
        ("stakeholder", pa.string()),
        ("channel", pa.string()),
    ]
)


def _whole_org_batches(
    rows: list[dict[str, Any]], weight: dict[str, int], limit: int | None
) -> list[list[dict[str, Any]]]:
    """The route rows in batches of whole organizations (a digest is one organization's),
    each listing about ``limit`` alerts at most (an organization above it alone); one batch
    when ``limit`` is None."""
    if limit is None:
        return [rows]
    by_org: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_org.setdefault(row["org_id"], []).append(row)
    batches: list[list[dict[str, Any]]] = []
    batch: list[dict[str, Any]] = []
    held = 0
    for org, org_rows in by_org.items():
        if batch and held + weight.get(org, 0) > limit:
            batches.append(batch)
            batch, held = [], 0
        batch.extend(org_rows)
        held += weight.get(org, 0)
    if batch:
        batches.append(batch)
    return batches


def _heal_events(b: Any, report: HealReport, actor: str) -> list[dict[str, Any]]:
    """One ``heal.actions`` audit event per organization: how many orders and alerts the
    cycle wrote there, a SHA-256 over their canonical content and how many carried each
    provenance label (resq.core.audit), all of which ``verify_audit`` recomputes from the
    tables."""
    cycle = report.cycle_id
    per_org = b.run_file("heal_audit", [cycle] * 2)
    if not per_org.num_rows:
        return []
    order_rows = b.fetch(b.render(core_audit.content_query("purchase_orders")), [cycle])
    alert_rows = b.fetch(b.render(core_audit.content_query("alerts")), [cycle])
    orders = core_audit.content_digests(order_rows, core_audit.ORDER_CONTENT)
    alerts = core_audit.content_digests(alert_rows, core_audit.ALERT_CONTENT)
    order_labels = core_audit.label_counts(order_rows)
    alert_labels = core_audit.label_counts(alert_rows)
    return [
        {
            "actor": actor,
            "action": "heal.actions",
            "org_id": org,
            "entity_id": cycle,
            "details": core_audit.heal_details(
                cycle,
                orders.get(org),
                alerts.get(org),
                {"orders": order_labels.get(org), "alerts": alert_labels.get(org)},
            ),
        }
        for org in per_org.column("org_id").to_pylist()
    ]


def _resourced_stage(waiting: pa.Table | None, cycle_id: str, now: datetime) -> pa.Table:
    """The re-sourced orders to stage: vendor, price, status, and the reason's vendor
    choice with when and by which cycle it was made (typed columns, resq.core.reasons)."""
    if waiting is None or not waiting.num_rows:
        return RESOURCED_SCHEMA.empty_table()
    chosen = waiting.filter(waiting["resourced"])
    n = chosen.num_rows
    created = chosen["created_at"].cast(pa.timestamp("us"))
    stamp = pa.scalar(now.replace(tzinfo=None), pa.timestamp("us"))
    waited = pc.divide(
        pc.cast(pc.subtract(stamp, created), pa.int64()).cast(pa.float64()), 1_000_000.0
    )
    rejected = chosen["vendors_rejected"].combine_chunks()
    rejected = pc.if_else(rejected.is_null(), pa.scalar([], rejected.type), rejected)
    vendors, whys = reasons.split_rejected(rejected)
    return pa.table(
        {
            "po_id": chosen["po_id"],
            "vendor": chosen["vendor"],
            "unit_price": chosen["unit_price"],
            "order_status": chosen["order_status"],
            "reason_vendor": chosen["vendor"],
            "reason_vendor_latency_ms": chosen["vendor_latency_ms"],
            "reason_rejected_vendors": vendors,
            "reason_rejected_whys": whys,
            "reason_resourced_from": pa.array([OrderStatus.PENDING_VENDOR.value] * n, pa.string()),
            "reason_resourced_to": chosen["order_status"],
            "reason_resourced_cycle_id": pa.array([cycle_id] * n, pa.string()),
            "reason_resourced_at": pa.array([now.isoformat()] * n, pa.string()),
            "reason_resourced_waited_s": waited,
        },
        schema=RESOURCED_SCHEMA,
    )


def _place_resourced(
    b: WarehouseBackend, staged: pa.Table, now: datetime, actor: str, cycle_id: str
) -> list[dict[str, Any]]:
    """Give the waiting orders their vendor (only those still PENDING_VENDOR), resolve their
    NO_VENDOR alerts, and return the audit events (``sql/pending_vendor.sql``)."""
    if not staged.num_rows:
        return []
    b.stage("resq_stage_resourced", staged)
    b.execute(b._file("pending_vendor", 1), [now])
    rows = b.fetch(b._file("pending_vendor", 2)).to_pylist()
    b.execute(b._file("pending_vendor", 3), [now])
    events: list[dict[str, Any]] = []
    seen: set[str] = set()
    for r in rows:
        if r["po_id"] not in seen:
            seen.add(r["po_id"])
            events.append(
                {
                    "actor": actor,
                    "action": "order.resourced",
                    "org_id": r["org_id"],
                    "entity_id": r["po_id"],
                    "details": {
                        "from": OrderStatus.PENDING_VENDOR.value,
                        "to": r["status"],
                        "vendor": r["vendor"],
                        "unit_price": r["unit_price"],
                        "sku": r["sku"],
                        "cycle_id": cycle_id,
                    },
                }
            )
        if r["alert_id"] is not None:
            events.append(
                {
                    "actor": actor,
                    "action": "alert.resolved",
                    "org_id": r["org_id"],
                    "entity_id": r["alert_id"],
                    "details": {
                        "reason": "a vendor was found",
                        "from": r["alert_state"],
                        "kind": "NO_VENDOR",
                        "sku": r["sku"],
                        "po_id": r["po_id"],
                        "vendor": r["vendor"],
                    },
                }
            )
    return events


def _supersede_alerts(
    b: WarehouseBackend, cycle_id: str, now: datetime, actor: str
) -> list[dict[str, Any]]:
    """Resolve the active alerts of earlier shortfall episodes of the items this cycle
    raised new alerts for (``sql/superseded_alerts.sql``); their audit events."""
    rows = b.run_file("superseded_alerts", [cycle_id]).to_pylist()
    if not rows:
        return []
    done = b.resolve_selected_alerts("superseded_alerts", [r["alert_id"] for r in rows], now)
    return [
        {
            "actor": actor,
            "action": "alert.resolved",
            "org_id": r["org_id"],
            "entity_id": r["alert_id"],
            "details": {
                "reason": "superseded",
                "superseded_by": r["superseded_by"],
                "from": r["state"],
                "kind": r["kind"],
                "sku": r["sku"],
                "po_id": r["po_id"],
            },
        }
        for r in rows
        if r["alert_id"] in done
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


_T = TypeVar("_T")


def _built_ahead(items: Iterator[_T]) -> Iterator[_T]:
    """The items of ``items``, each built in a worker thread while the caller writes the
    one before: numpy, Arrow and DuckDB release the GIL, so building a seed's next batch
    overlaps writing this one. At most one item is built ahead; an error raised building
    one is raised here, in order."""
    from concurrent.futures import ThreadPoolExecutor

    end = object()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="resq-seed") as pool:
        future = pool.submit(next, items, end)
        while (item := future.result()) is not end:
            future = pool.submit(next, items, end)
            yield item  # type: ignore[misc]


_SEED_BATCH_ROWS = 1_000_000
"""History rows per seeding batch: big enough for vectorized speed, small enough that a
national network seeds in well under a gigabyte."""


def _key_schema(table: str) -> pa.Schema:
    """The key columns of a loadable table, as the REAL-collision check stages them."""
    from resq.core.validation import table_spec

    spec = table_spec(table)
    return pa.schema([(k, spec.column(k).arrow_type) for k in spec.key])
