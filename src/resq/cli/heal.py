"""``resq heal``: one self-healing cycle and its report."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resq.cli import _listing, _text
from resq.cli._runtime import State

if TYPE_CHECKING:
    from rich.console import Console

    from resq.backends.warehouse import Listing
    from resq.engine import HealReport

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
    ("source_label", "Source"),
]


def why(reason: object) -> str:
    """An order's machine-readable reason as one line (resq.core.explain_reason)."""
    from resq.core.reasons import explain_reason

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


class OrdersStream:
    """An orders table printed a batch at a time, each batch followed by why each of its
    orders was raised (one line per order: the reasons are too long for a column); then,
    once, the note on simulated rows."""

    def __init__(self, console: Console, columns: Sequence[tuple[str, str]], *, title: str) -> None:
        from resq.cli._listing import TableStream

        self.console = console
        self.table = TableStream(console, columns, title=title)
        self.simulated = False

    def add(self, orders: Sequence[Mapping[str, Any]]) -> None:
        from rich.text import Text

        rows = order_rows(orders)
        self.table.add(rows)
        for r in rows:
            if r["why"] != "-":
                po = _text.clean(r.get("po_id") or r.get("sku"))
                self.console.print(Text.assemble(("  why ", "dim"), (po, "bold"), f": {r['why']}"))
        self.simulated = self.simulated or any(r.get("data_source") == "SIMULATED" for r in rows)

    def finish(self) -> None:
        from resq.cli import _render

        if self.simulated:
            _render.simulated_note(self.console, [{"data_source": "SIMULATED"}])


def print_orders(
    console: Console,
    orders: Sequence[Mapping[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    title: str,
    empty: str,
) -> None:
    """An orders table, then why each order was raised, one line per order."""
    from rich.text import Text

    if not orders:
        console.print(Text(title, style="bold"))
        console.print(Text(f"  ({empty})", style="dim"))
        return
    stream = OrdersStream(console, columns, title=title)
    stream.add(orders)
    stream.finish()


HEAL_TOP = 10
"""Orders ``resq heal`` lists unless told otherwise: the most urgent of the cycle."""


def print_summary(console: Console, report: Mapping[str, Any]) -> None:
    """The counts of one heal cycle, as a table."""
    from resq.cli import _render

    rows = [{"what": label, "n": report.get(key, 0)} for key, label in REPORT_FIELDS]
    title = "Heal cycle " + str(report["cycle_id"]) + (" (dry run)" if report["dry_run"] else "")
    _render.print_table(console, rows, [("what", "What"), ("n", "Count")], title=title)


def _planned(report: HealReport) -> Listing:
    """A dry run's orders (none were written): the most urgent of those the report lists
    (its first 1000 in the plan's order), and how many it plans in all."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from resq.backends.warehouse import Listing
    from resq.core.ordering import Action
    from resq.core.urgency import sort_keys

    proposals = report.proposals
    total = len(report.orders)
    if proposals is not None and proposals.num_rows:
        total = int(pc.sum(pc.equal(proposals["action"], Action.ORDER.value)).as_py() or 0)
    ranked = sorted(report.orders, key=lambda o: sort_keys("orders", o))
    return Listing(
        total=total,
        limit=None,
        counts=[{"n": total}],
        batches=iter(pa.Table.from_pylist(ranked).to_batches()) if ranked else iter(()),
    )


def heal(
    ctx: typer.Context,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Plan the orders and show them, but write nothing."),
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            metavar="N",
            help=f"Show the cycle's N most urgent orders (default {HEAL_TOP}).",
            show_default=False,
        ),
    ] = None,
    every: _listing.AllOption = False,
) -> None:
    """Run one self-healing cycle and show what it did.

    Finds critical stock, orders it from a vendor that is online (an offline preferred
    vendor falls back to the next), in priority order, and raises alerts; every action
    is audited. Re-running never duplicates an order: an open order already covers the
    shortfall. Prints the cycle's counts and its 10 most urgent orders (--limit N,
    --all); every order of the cycle is listed by `resq orders --cycle CYCLE_ID`.

    Examples:

    ```
    resq heal
    resq heal --dry-run
    resq --org HOSP-BLR-001 --json heal
    ```
    """
    from resq.core import urgency

    state = State.of(ctx)
    n = _listing.limit_of(limit, every, default=HEAL_TOP)
    org = state.scope()
    engine = state.engine()
    with state.spinner("Healing: planning and committing orders"):
        report = engine.heal(dry_run=dry_run, org_id=org)
    doc = report.as_dict()
    if dry_run:
        listing = _planned(report)
        listing.limit = n
        if n is not None:
            listing.batches = _first(listing.batches, n)
        hint = "a dry run writes no orders: use --limit N or --all to see them"
        title = "Most urgent orders that would be created"
    else:
        listing = state.backend().listing(
            "purchase_orders",
            org_id=org,
            where={"cycle_id": report.cycle_id},
            order_by=urgency.ORDERS,
            limit=n,
        )
        hint = f"see them all: resq orders --cycle {report.cycle_id} --all"
        title = "Most urgent orders created"
    stream = None
    if not state.json:
        print_summary(state.out, doc)
        stream = OrdersStream(state.out, ORDER_COLUMNS, title=title)
    head = {k: v for k, v in doc.items() if k != "orders"}
    _listing.show(
        state,
        listing,
        key="orders",
        head=head,
        hint=hint,
        jsonl=False,
        print_batch=stream.add if stream is not None else lambda rows: None,
        title=title,
        empty="none",
    )
    if stream is not None:
        stream.finish()


def _first(batches: Iterator[Any], n: int) -> Iterator[Any]:
    left = n
    for batch in batches:
        if left <= 0:
            return
        yield batch.slice(0, left)
        left -= min(batch.num_rows, left)
