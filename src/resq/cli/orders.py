"""Purchase orders: ``resq orders`` and the audited manual overrides."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from resq.cli import _listing
from resq.cli._runtime import ActorOption, State, actor_or_default, choice
from resq.cli.heal import ORDER_COLUMNS, OrdersStream
from resq.core.codes import OrderStatus  # the codes alone: `resq --help` loads no numpy

app = typer.Typer(invoke_without_command=True)

PoArgument = Annotated[
    str, typer.Argument(metavar="PO_ID", help="Purchase order id, e.g. PO-5740B7041AED87E7F0CD.")
]

LIST_COLUMNS = [c for c in ORDER_COLUMNS if c[0] != "rank"]


@app.callback()
def orders(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            callback=choice(OrderStatus, "order status"),
            help="Only orders in this status: " + ", ".join(OrderStatus) + ".",
        ),
    ] = None,
    cycle: Annotated[
        str | None,
        typer.Option(
            "--cycle",
            metavar="CYCLE_ID",
            help="Only the orders this heal cycle created (its id, e.g. CY-8A3F...; `resq "
            "heal` prints it).",
        ),
    ] = None,
    limit: _listing.LimitOption = None,
    every: _listing.AllOption = False,
    jsonl: _listing.JsonlOption = False,
) -> None:
    """List purchase orders, or override one by hand (audited with the acting user).

    Without a subcommand, lists the orders most urgent first (waiting for a vendor, then
    for approval, then placed; hospitals first; newest first), with why each was raised:
    the first 50 unless --limit N or --all; a last line says how many were left out.

    Examples:

    ```
    resq orders
    resq orders --status PENDING_VENDOR
    resq orders --cycle CY-8A3F0C2D9E1B4F67 --all
    resq --org HOSP-BLR-001 --json orders
    ```
    """
    if ctx.invoked_subcommand is not None:
        return
    from resq.core import urgency

    state = State.of(ctx)
    n = _listing.limit_of(limit, every)
    org = state.scope()
    backend = state.backend()
    where: dict[str, Any] = {}
    if status is not None:
        where["status"] = status
    if cycle is not None:
        if not backend.count("heal_cycles", where={"cycle_id": cycle})[0]["n"]:
            from resq.errors import NotFoundError

            raise NotFoundError(
                f"no heal cycle {cycle!r}; `resq heal` prints the id of each cycle it runs "
                "(a dry run writes no orders)"
            )
        where["cycle_id"] = cycle
    listing = backend.listing(
        "purchase_orders", org_id=org, where=where, order_by=urgency.ORDERS, limit=n
    )
    head: dict[str, Any] = {"org": org, "status": status}
    if cycle is not None:
        head["cycle_id"] = cycle
    title = "Purchase orders" + (f" for {org}" if org else "") + (f" of {cycle}" if cycle else "")
    stream = None if state.json or jsonl else OrdersStream(state.out, LIST_COLUMNS, title=title)
    _listing.show(
        state,
        listing,
        key="orders",
        head=head,
        hint="use --limit N or --all to see them",
        jsonl=jsonl,
        print_batch=stream.add if stream is not None else lambda rows: None,
        title=title,
        empty="no orders",
    )
    if stream is not None:
        stream.finish()


def _override(
    ctx: typer.Context,
    po_id: str,
    action: str,
    actor: str | None,
    quantity: float | None = None,
) -> None:
    state = State.of(ctx)
    org = state.scope()
    who = actor_or_default(actor)
    if org is not None:  # through the tenant: another organization's order is not found
        extra: dict[str, Any] = {} if quantity is None else {"quantity": quantity}
        order = state.backend().tenant(org).override_order(po_id, action, actor=who, **extra)
    elif quantity is not None:
        order = state.engine().set_quantity(po_id, quantity, actor=who)
    else:
        engine = state.engine()
        by_action = {"approve": engine.approve, "cancel": engine.cancel, "receive": engine.receive}
        order = by_action[action](po_id, actor=who)
    if state.json:
        state.emit({"action": action, "actor": who, "order": order})
        return
    from resq.cli import _text

    state.out.print(
        f"{_text.clean(order['po_id'])} is now {order['status']}: "
        f"{_text.number(order['quantity'])} x {_text.clean(order['sku'])} for "
        f"{_text.clean(order['org_id'])} from {_text.clean(order['vendor'] or '-')}. "
        f"Audited as order.{action} by {_text.clean(who)}.",
        markup=False,
    )


@app.command("approve")
def approve(ctx: typer.Context, po_id: PoArgument, actor: ActorOption = None) -> None:
    """Approve an order held for approval (PENDING_APPROVAL becomes PLACED).

    Examples:

    ```
    resq orders approve PO-5740B7041AED87E7F0CD
    ```
    """
    _override(ctx, po_id, "approve", actor)


@app.command("cancel")
def cancel(ctx: typer.Context, po_id: PoArgument, actor: ActorOption = None) -> None:
    """Cancel an open order.

    Examples:

    ```
    resq orders cancel PO-5740B7041AED87E7F0CD --actor alice
    ```
    """
    _override(ctx, po_id, "cancel", actor)


@app.command("receive")
def receive(ctx: typer.Context, po_id: PoArgument, actor: ActorOption = None) -> None:
    """Mark a placed order received: its quantity is added to the item's stock.

    Examples:

    ```
    resq orders receive PO-5740B7041AED87E7F0CD
    ```
    """
    _override(ctx, po_id, "receive", actor)


@app.command("set-quantity")
def set_quantity(
    ctx: typer.Context,
    po_id: PoArgument,
    quantity: Annotated[
        float, typer.Argument(metavar="QTY", help="The new quantity (> 0).", show_default=False)
    ],
    actor: ActorOption = None,
) -> None:
    """Change an open order's quantity.

    Examples:

    ```
    resq orders set-quantity PO-5740B7041AED87E7F0CD 120
    ```
    """
    _override(ctx, po_id, "set_quantity", actor, quantity)
