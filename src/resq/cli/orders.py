"""Purchase orders: ``resq orders`` and the audited manual overrides."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from resq.cli._runtime import ActorOption, State, actor_or_default, choice
from resq.cli.heal import ORDER_COLUMNS, print_orders


class OrderStatus(StrEnum):
    """Order statuses (resq.core.ordering.OrderStatus; a test keeps the two equal)."""

    PLACED = "PLACED"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    PENDING_VENDOR = "PENDING_VENDOR"
    RECEIVED = "RECEIVED"
    CANCELLED = "CANCELLED"


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
) -> None:
    """List purchase orders, or override one by hand (audited with the acting user).

    Without a subcommand, lists the orders most urgent first (waiting for a vendor, then
    for approval, then placed; hospitals first; newest first), with why each was raised.

    Examples:

    ```
    resq orders
    resq orders --status PENDING_VENDOR
    resq --org HOSP-BLR-001 --json orders
    ```
    """
    if ctx.invoked_subcommand is not None:
        return
    from resq.core import urgency

    state = State.of(ctx)
    org = state.scope()
    where = {"status": status} if status is not None else None
    rows = (
        state.backend()
        .read(
            "purchase_orders",
            org_id=org,
            where=where,
            order_by=urgency.ORDERS,
        )
        .to_pylist()
    )
    if state.json:
        state.emit({"org": org, "status": status, "orders": rows})
        return
    print_orders(
        state.out,
        rows,
        LIST_COLUMNS,
        title="Purchase orders" + (f" for {org}" if org else ""),
        empty="no orders",
    )


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
