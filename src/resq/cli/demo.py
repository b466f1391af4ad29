"""``resq demo``: the main job, end to end, readable at a glance (``make demo`` runs it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resq.cli import _text
from resq.cli._runtime import EXIT_CHECK_FAILED, ActorOption, State

if TYPE_CHECKING:
    from rich.console import Console

DEMO_ORG = "HOSP-BLR-001"
DEMO_SKU = "OXY-CYL"
DEMO_ORGS = 6  # three sectors x two cities (Bangalore, Delhi)
DEMO_SKUS = 3


def _one(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return rows[0] if rows else {}


def demo(
    ctx: typer.Context,
    seed_value: Annotated[
        int, typer.Option("--seed", help="Random seed of the simulated network.")
    ] = 42,
    actor: ActorOption = None,
) -> None:
    """The main job, end to end, on a simulated network (what `make demo` runs).

    Creates the database, seeds hospitals, PDS shops and NGOs in Bangalore and Delhi
    (vendors Blinkit and Dunzo among others), runs the validation checks, presses the
    chaos button on HOSP-BLR-001 / OXY-CYL (stock to 0), heals, and shows the orders with
    their reasons (oxygen from a licensed medical-gas supplier, rice from an authorized
    depot, and the fallback from the offline Dunzo on a relief item), the audit trail and
    the alerts.

    Everything external is simulated and labelled SIMULATED. Exits 1 if a validation
    check fails or the audit chain does not verify.

    Examples:

    ```
    resq --db duckdb:///demo.duckdb demo
    resq --db duckdb:// --json demo
    ```
    """
    state = State.of(ctx)
    state.refuse_org("demo")
    backend = state.backend(need_schema=False)
    with state.spinner("Creating the database"):
        init = backend.init()
    engine = state.engine()
    with state.spinner("Seeding the simulated network"):
        seeded = engine.seed(n_orgs=DEMO_ORGS, skus_per_org=DEMO_SKUS, seed=seed_value, actor=actor)
    organizations = backend.read("organizations", order_by=("city", "org_id")).to_pylist()
    vendors = backend.read("vendor_status", order_by=("vendor_id",)).to_pylist()
    checks = [c.as_dict() for c in engine.validate()]
    item = {"org_id": DEMO_ORG, "sku": DEMO_SKU}
    before = _one(backend.read("stock_analysis", where=item).to_pylist())
    event = engine.drop_stock(DEMO_ORG, DEMO_SKU, 0, actor=actor)
    after = _one(backend.read("stock_analysis", where=item).to_pylist())
    with state.spinner("Healing"):
        report = engine.heal()
    order = _one(
        backend.read(
            "purchase_orders", where=item, order_by=("created_at DESC",), limit=1
        ).to_pylist()
    )
    inventory = _one(backend.read("inventory_master", where=item).to_pylist())
    sourcing = _sourcing_stories(
        backend, backend.read("purchase_orders", order_by=("priority", "rank", "po_id")).to_pylist()
    )
    events = backend.read("audit_log", order_by=("seq",)).to_pylist()
    verified = backend.verify_audit()
    alert_rows = backend.read("alerts", order_by=("severity", "alert_id")).to_pylist()
    health = engine.health()
    # orders and alerts as every other command shows them: provenance parts folded into
    # `provenance` and the `source_label` text (resq.core.provenance)
    from resq.core import provenance

    heal = report.as_dict()
    heal["orders"] = provenance.annotate(heal.get("orders") or [])
    alert_rows = provenance.annotate(alert_rows)
    doc: dict[str, Any] = {
        "db": state.db,
        "init": init,
        "seeded": seeded,
        "organizations": organizations,
        "vendors": vendors,
        "checks": checks,
        "chaos": event.as_dict(),
        "stock_before": before,
        "stock_after": after,
        "heal": heal,
        "order": order,
        "preferred_vendor": inventory.get("preferred_vendor"),
        "sourcing": sourcing,
        "audit": events,
        "audit_verify": verified.as_dict(),
        "alerts": alert_rows,
        "health": health.as_dict(),
    }
    failed = not verified.ok or any(c["result"] != "PASS" for c in checks)
    if state.json:
        state.emit(doc)
    else:
        _show(state.out, doc)
    if failed:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _sourcing_stories(backend: Any, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The orders that show the sourcing rule besides the oxygen (section 6): the
    first of PDS rice (from an authorized depot) and the first of an open item whose
    preferred vendor was offline (the fallback), each with its stored order and the item's
    preferred vendor."""
    from resq.cli._text import parse_json_text

    items = {
        (r["org_id"], r["sku"]): r
        for r in backend.read("inventory_master", order_by=("org_id", "sku")).to_pylist()
    }

    def category(o: Mapping[str, Any]) -> object:
        return items.get((o.get("org_id"), o.get("sku")), {}).get("category")

    def fallback(o: Mapping[str, Any]) -> bool:
        preferred = items.get((o.get("org_id"), o.get("sku")), {}).get("preferred_vendor")
        reason = parse_json_text(o.get("reason"))
        rejected = reason.get("vendors_rejected") if isinstance(reason, Mapping) else None
        return any(
            isinstance(v, Mapping) and v.get("vendor") == preferred and v.get("why") == "OFFLINE"
            for v in rejected or []
        )

    picked = [
        (title, next((o for o in orders if test(o)), None))
        for title, test in (
            ("PDS rice from an authorized depot", lambda o: category(o) == "RICE"),
            ("the preferred vendor is offline", fallback),
        )
    ]
    stories = []
    for title, o in picked:
        if o is None:
            continue
        where = {"org_id": o["org_id"], "sku": o["sku"]}
        order = _one(
            backend.read(
                "purchase_orders", where=where, order_by=("created_at DESC",), limit=1
            ).to_pylist()
        )
        stories.append(
            {
                "story": title,
                "org_id": o["org_id"],
                "sku": o["sku"],
                "order": order,
                "preferred_vendor": items[(o["org_id"], o["sku"])].get("preferred_vendor"),
            }
        )
    return stories


def _show(out: Console, doc: Mapping[str, Any]) -> None:
    from rich.panel import Panel
    from rich.text import Text

    from resq.cli import _render
    from resq.cli.audit import AUDIT_COLUMNS, summary
    from resq.cli.heal import REPORT_FIELDS

    out.print(
        Panel(
            Text.assemble(
                ("ResQ OS demo", "bold"),
                " - a self-healing supply chain\n",
                "Weather, vendor status and stock are ",
                ("SIMULATED", "bold magenta"),
                " (deterministic, reproducible); nothing here is real data.\n",
                f"Database: {_text.clean(doc['db'])}",
            ),
            expand=False,
        )
    )
    init = doc["init"]
    _render.heading(out, "1. The database")
    out.print(
        f"Schema version {init['schema_version']} "
        + ("created." if init["previous_version"] == 0 else "already in place (data kept)."),
        markup=False,
    )

    _render.heading(out, "2. A simulated network (SIMULATED)")
    _render.print_table(
        out,
        doc["organizations"],
        [
            ("org_id", "Org"),
            ("org_name", "Name"),
            ("sector", "Sector"),
            ("city", "City"),
            ("data_source", "Source"),
        ],
    )
    _render.print_table(
        out,
        doc["vendors"],
        [
            ("vendor_id", "Vendor"),
            ("status", "Status"),
            ("latency_ms", "Latency ms"),
            ("data_source", "Source"),
        ],
    )
    seeded = ", ".join(f"{n} {t}" for t, n in doc["seeded"].items())
    out.print(f"Loaded {seeded} rows, all labelled SIMULATED.", style="dim", markup=False)

    _render.heading(out, "3. Validation checks (through the warehouse's SQL functions)")
    _render.print_table(
        out,
        doc["checks"],
        [
            ("check", "Check"),
            ("expected", "Expected"),
            ("actual", "Actual"),
            ("result", "Result"),
            ("data_source", "Source"),
        ],
    )

    _render.heading(out, f"4. Chaos button: {DEMO_ORG} / {DEMO_SKU} stock drops to 0")
    before, after = doc["stock_before"], doc["stock_after"]
    unit = _text.clean(before.get("unit") or "units")
    out.print(
        Text.assemble(
            f"{_text.clean(doc['chaos']['description'])}.\n",
            f"Stock ({unit}) {_text.number(before.get('current_stock'))} -> "
            f"{_text.number(after.get('current_stock'))}; days left "
            f"{_text.days(before.get('days_remaining'))} -> "
            f"{_text.days(after.get('days_remaining'))}; status ",
            _render.label(before.get("status")),
            " -> ",
            _render.label(after.get("status")),
        )
    )

    heal = doc["heal"]
    _render.heading(out, "5. Heal: one self-healing cycle")
    out.print(
        ", ".join(f"{label.lower()}: {heal.get(key, 0)}" for key, label in REPORT_FIELDS),
        markup=False,
    )
    from resq.cli.heal import ORDER_COLUMNS, order_rows

    _render.print_table(
        out,
        order_rows(heal.get("orders") or []),
        ORDER_COLUMNS,
        title="Orders created, in priority order",
        empty="none: open orders already cover every shortfall",
    )

    _render.heading(out, f"6. The order for {DEMO_ORG} / {DEMO_SKU}, and why")
    _show_order(out, doc["order"], doc.get("preferred_vendor"))
    for letter, story in zip("bcd", doc.get("sourcing") or [], strict=False):
        _render.heading(
            out,
            f"6{letter}. Sourcing: {story['story']} "
            f"({_text.clean(story['org_id'])} / {_text.clean(story['sku'])})",
        )
        _show_order(out, story["order"], story.get("preferred_vendor"))

    _render.heading(out, "7. Audit trail (hash-chained)")
    events = [dict(e, summary=summary(e.get("details"), 70)) for e in doc["audit"]]
    _render.print_table(out, events, AUDIT_COLUMNS)
    check = doc["audit_verify"]
    if check["ok"]:
        out.print(
            Text.assemble(
                ("Verified", "bold green"),
                f": {check['checked']} events, hash chain unbroken.",
            )
        )
    else:
        out.print(
            Text.assemble(
                ("TAMPERED", "bold red"),
                f": chain breaks at event {check['broken_seq']}: {check['problem']}",
            )
        )

    _render.heading(out, "8. Alerts")
    _render.print_table(
        out,
        doc["alerts"],
        [
            ("alert_id", "Alert"),
            ("severity", "Severity"),
            ("state", "State"),
            ("org_id", "Org"),
            ("message", "Message"),
            ("data_source", "Source"),
        ],
        empty="no alerts",
    )

    health = doc["health"]
    _render.heading(out, "9. Health")
    out.print(
        Text.assemble(
            _render.label(health["status"]),
            ": ",
            "; ".join(_text.clean(r) for r in health["reasons"]),
        )
    )
    out.print()
    out.print(
        "Next: resq status --critical | resq orders | resq alerts | resq audit --verify",
        style="dim",
        markup=False,
    )


def _show_order(out: Console, order: Mapping[str, Any], preferred: object) -> None:
    """The order's machine-readable reason, laid out for a person."""
    from rich.table import Table
    from rich.text import Text

    from resq.cli import _render

    if not order:
        out.print("No order was raised for this item.", markup=False)
        return
    reason = _text.parse_json_text(order.get("reason"))
    r: Mapping[str, Any] = reason if isinstance(reason, Mapping) else {}
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row(
        "Order",
        Text.assemble(
            f"{_text.clean(order['po_id'])}: {_text.number(order['quantity'])} x "
            f"{_text.clean(order['sku'])} from {_text.clean(order.get('vendor') or '-')}, ",
            _render.label(order["status"]),
            f", priority {order.get('priority')}, ",
            _render.label(order.get("data_source")),
        ),
    )
    grid.add_row(
        "Days remaining",
        Text.assemble(
            f"{_text.days(r.get('days_remaining'))} days, threshold "
            f"{_text.number(r.get('threshold_days'))} days "
            f"(rule {_text.clean(r.get('rule') or '-')}) -> ",
            _render.label(r.get("status")),
        ),
    )
    vendor_lead = r.get("vendor_lead_time_days")
    lead = (
        f"lead time {_text.number(vendor_lead)} d + weather delay "
        f"{_text.number(r.get('weather_delay_days'))} d ({_text.clean(r.get('weather') or '-')})"
        f" = {_text.number(r.get('lead_time_days'))} d"
        if vendor_lead is not None
        else f"lead time {_text.number(r.get('lead_time_days'))} d incl. weather delay "
        f"{_text.number(r.get('weather_delay_days'))} d ({_text.clean(r.get('weather') or '-')})"
    )
    grid.add_row(
        "Order up to",
        f"{_text.number(r.get('target_days'))} days of cover at "
        f"{_text.number(r.get('daily_demand'))}/day; {lead}",
    )
    if r.get("pack_size") is not None:
        moq = r.get("min_order_qty") or 0
        grid.add_row(
            "Quantity",
            f"need {_text.number(r.get('quantity_needed'))}, in packs of "
            f"{_text.number(r.get('pack_size'))}"
            + (f", vendor minimum {_text.number(moq)}" if moq else "")
            + (" (raised to it)" if r.get("min_order_qty_raised") else ""),
        )
    chosen = r.get("vendor") or order.get("vendor")
    latency = r.get("vendor_latency_ms")
    facts = []
    if r.get("vendor_price") is not None:
        facts.append(f"{_text.number(r.get('vendor_price'))}/unit")
    if r.get("vendor_reliability") is not None:
        facts.append(f"reliability {float(r['vendor_reliability']):.2f}")
    if latency is not None:
        facts.append(f"online, {_text.number(latency)} ms")
    grid.add_row(
        "Vendor chosen",
        f"{_text.clean(chosen or '-')}" + (f" ({', '.join(facts)})" if facts else ""),
    )
    rejected = [v for v in r.get("vendors_rejected") or [] if isinstance(v, Mapping)]
    for v in rejected:
        grid.add_row(
            "Vendor rejected",
            f"{_text.clean(v.get('vendor'))}: {_text.clean(v.get('why'))}"
            + (" (the preferred vendor)" if v.get("vendor") == preferred else ""),
        )
    if preferred and chosen and preferred != chosen:
        grid.add_row(
            "Fallback",
            Text(f"preferred vendor {preferred} -> {chosen}", style="bold yellow"),
        )
    caps = r.get("caps_applied") or []
    grid.add_row("Caps applied", ", ".join(map(str, caps)) if caps else "none")
    out.print(grid)
