"""Alerts: ``resq alerts`` and ``resq ack``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from resq.cli import _listing
from resq.cli._runtime import ActorOption, State, actor_or_default, choice
from resq.core.codes import AlertState, Severity  # the codes alone: `--help` loads no numpy

ALERT_STATES = tuple(s.value for s in AlertState)
SEVERITIES = tuple(s.value for s in Severity)

ALERT_COLUMNS = [
    ("alert_id", "Alert"),
    ("severity", "Severity"),
    ("state", "State"),
    ("org_id", "Org"),
    ("sku", "SKU"),
    ("message", "Message"),
    ("created_at", "Raised"),
    ("source_label", "Source"),
]


def alerts(
    ctx: typer.Context,
    state_filter: Annotated[
        str | None,
        typer.Option(
            "--state",
            metavar="STATE",
            callback=choice(ALERT_STATES, "alert state"),
            help="Only alerts in this state: " + ", ".join(ALERT_STATES) + ".",
        ),
    ] = None,
    severity: Annotated[
        str | None,
        typer.Option(
            "--severity",
            metavar="SEV",
            callback=choice(SEVERITIES, "severity"),
            help="Only this severity: " + ", ".join(SEVERITIES) + " (SEV1 is the most urgent).",
        ),
    ] = None,
    limit: _listing.LimitOption = None,
    every: _listing.AllOption = False,
    jsonl: _listing.JsonlOption = False,
) -> None:
    """List alerts, most severe first: which stock needs attention, and why.

    Open before acknowledged before resolved, SEV1 first, newest first: the first 50
    unless --limit N or --all; a last line says how many were left out.

    Examples:

    ```
    resq alerts
    resq alerts --state OPEN --severity SEV1
    resq alerts --all --jsonl > alerts.jsonl
    ```
    """
    from resq.core import urgency

    state = State.of(ctx)
    n = _listing.limit_of(limit, every)
    org = state.scope()
    where: dict[str, Any] = {}
    if state_filter:
        where["state"] = state_filter
    if severity:
        where["severity"] = severity
    listing = state.backend().listing(
        "alerts", org_id=org, where=where, order_by=urgency.ALERTS, limit=n
    )
    title = "Alerts" + (f" for {org}" if org else "")
    table = None
    if not (state.json or jsonl):
        table = _listing.TableStream(state.out, ALERT_COLUMNS, title=title)
    simulated = False

    def add(rows: list[dict[str, Any]]) -> None:
        nonlocal simulated
        if table is not None:
            table.add(rows)
        simulated = simulated or any(r.get("data_source") == "SIMULATED" for r in rows)

    _listing.show(
        state,
        listing,
        key="alerts",
        head={"org": org, "filters": where},
        hint="use --limit N or --all to see them",
        jsonl=jsonl,
        print_batch=add,
        title=title,
        empty="no alerts",
    )
    if table is not None and simulated:
        from resq.cli import _render

        _render.simulated_note(state.out, [{"data_source": "SIMULATED"}])


def ack(
    ctx: typer.Context,
    alert_id: Annotated[
        str,
        typer.Argument(metavar="ALERT_ID", help="Alert id, e.g. AL-8C001F6C8B5462388B28."),
    ],
    actor: ActorOption = None,
) -> None:
    """Acknowledge an alert, audited with the acting user.

    Acknowledging an alert twice is harmless.

    Examples:

    ```
    resq ack AL-8C001F6C8B5462388B28 --actor alice
    ```
    """
    state = State.of(ctx)
    org = state.scope()
    who = actor_or_default(actor)
    backend = state.backend()
    if org is not None:
        alert = backend.tenant(org).ack_alert(alert_id, actor=who)
    else:
        alert = backend.ack_alert(alert_id, actor=who)
    if state.json:
        state.emit({"actor": who, "alert": alert})
        return
    from resq.cli import _text

    state.out.print(
        f"Alert {_text.clean(alert['alert_id'])} is {alert['state']} "
        f"(acknowledged by {_text.clean(alert.get('acked_by') or who)}).",
        markup=False,
    )
