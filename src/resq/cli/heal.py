"""``resq heal``: one self-healing cycle and its report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resq.cli import _text
from resq.cli._runtime import State

if TYPE_CHECKING:
    from rich.console import Console

REPORT_FIELDS = [
    ("candidates", "Items needing a decision"),
    ("created", "Orders created"),
    ("covered", "Already covered by an open order"),
    ("pending_vendor", "Waiting for a vendor"),
    ("held_for_approval", "Held for approval (budget)"),
    ("capped", "Capped"),
    ("stale", "Skipped as stale (decided again next cycle)"),
    ("alerts_raised", "Alerts raised"),
    ("notifications_queued", "Notifications queued"),
]

ORDER_COLUMNS = [
    ("rank", "#"),
    ("po_id", "PO"),
    ("org_id", "Org"),
    ("sku", "SKU"),
    ("quantity", "Qty"),
    ("vendor", "Vendor"),
    ("status", "Status"),
    ("priority", "Priority"),
    ("data_source", "Source"),
]


def why(reason: object) -> str:
    """An order's machine-readable reason as one line (resq.core.explain_reason)."""
    from resq.core.ordering import explain_reason

    return _text.clean(explain_reason(reason)) or "-"


def order_rows(orders: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Orders with their reason summarized for a table (JSON output keeps the reason)."""
    rows = []
    for o in orders:
        row = dict(o)
        row["status"] = o.get("status") if "order_status" not in o else o["order_status"]
        row["why"] = why(o.get("reason"))
        rows.append(row)
    return rows


def print_orders(
    console: Console,
    orders: Sequence[Mapping[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    title: str,
    empty: str,
) -> None:
    """An orders table, then why each order was raised, one line per order (the reasons
    are too long for a column)."""
    from rich.text import Text

    from resq.cli import _render

    rows = order_rows(orders)
    _render.print_table(console, rows, columns, title=title, empty=empty)
    reasons = [(r.get("po_id") or r.get("sku"), r["why"]) for r in rows if r["why"] != "-"]
    for po, text in reasons:
        console.print(Text.assemble(("  why ", "dim"), (_text.clean(po), "bold"), f": {text}"))
    _render.simulated_note(console, rows)


def print_report(console: Console, report: Mapping[str, Any]) -> None:
    from resq.cli import _render

    rows = [{"what": label, "n": report.get(key, 0)} for key, label in REPORT_FIELDS]
    title = "Heal cycle " + str(report["cycle_id"]) + (" (dry run)" if report["dry_run"] else "")
    _render.print_table(console, rows, [("what", "What"), ("n", "Count")], title=title)
    print_orders(
        console,
        report.get("orders") or [],
        ORDER_COLUMNS,
        title="Orders that would be created" if report["dry_run"] else "Orders created",
        empty="none",
    )


def heal(
    ctx: typer.Context,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Plan the orders and show them, but write nothing."),
    ] = False,
) -> None:
    """Run one self-healing cycle and show what it did.

    Finds critical stock, orders it from a vendor that is online (an offline preferred
    vendor falls back to the next), in priority order, and raises alerts; every action
    is audited. Re-running never duplicates an order: an open order already covers the
    shortfall.

    Examples:

    ```
    resq heal
    resq heal --dry-run
    resq --org HOSP-BLR-001 --json heal
    ```
    """
    state = State.of(ctx)
    org = state.scope()
    engine = state.engine()
    with state.spinner("Healing: planning and committing orders"):
        report = engine.heal(dry_run=dry_run, org_id=org)
    doc = report.as_dict()
    if state.json:
        state.emit(doc)
        return
    print_report(state.out, doc)
