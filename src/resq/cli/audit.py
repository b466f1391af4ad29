"""``resq audit``: the hash-chained audit log, and checking it for tampering."""

from __future__ import annotations

from typing import Annotated

import typer

from resq.cli import _text
from resq.cli._runtime import EXIT_CHECK_FAILED, State

AUDIT_COLUMNS = [
    ("seq", "#"),
    ("event_ts", "When"),
    ("actor", "Actor"),
    ("action", "Action"),
    ("org_id", "Org"),
    ("entity_id", "Entity"),
    ("summary", "Details"),
]


def summary(details: object, width: int = 90) -> str:
    """An event's JSON details as one short line (its description or message if it has one)."""
    d = _text.parse_json_text(details)
    if isinstance(d, dict):
        told = d.get("description") or d.get("message")
        shown = {k: v for k, v in d.items() if k != "data_source"}  # labelled elsewhere
        text = str(told) if told else ", ".join(f"{k}={v}" for k, v in shown.items())
    else:
        text = str(d)
    text = _text.clean(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def audit(
    ctx: typer.Context,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Walk the whole hash chain and report the first edited, deleted or "
            "re-linked event; exits 1 when the log was tampered with.",
        ),
    ] = False,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="Show the newest N events (0: all).")
    ] = 50,
) -> None:
    """Show the audit log: every automated and manual action, who did it, and when.

    Examples:

    ```
    resq audit --limit 20
    resq audit --verify
    ```
    """
    state = State.of(ctx)
    org = state.scope()
    backend = state.backend()
    if verify:
        with state.spinner("Verifying the audit chain"):
            check = backend.verify_audit()
        doc = check.as_dict()
        if state.json:
            state.emit(doc)
        elif check.ok:
            state.out.print(
                f"Audit log intact: {check.checked} events verified, hash chain unbroken"
                + (" (the chain is shared, so it is verified in full)." if org else "."),
                markup=False,
            )
        else:
            from rich.text import Text

            state.out.print(
                Text.assemble(
                    ("TAMPERED", "bold red"),
                    f": the audit chain breaks at event {check.broken_seq}: "
                    f"{_text.clean(check.problem)} ({check.checked} events verified before it).",
                )
            )
        if not check.ok:
            raise typer.Exit(EXIT_CHECK_FAILED)
        return
    rows = backend.read(
        "audit_log", org_id=org, order_by=("seq DESC",), limit=limit or None
    ).to_pylist()
    rows.reverse()
    if state.json:
        state.emit({"org": org, "events": rows})
        return
    from resq.cli import _render

    for row in rows:
        row["summary"] = summary(row.get("details"))
    _render.print_table(
        state.out,
        rows,
        AUDIT_COLUMNS,
        title="Audit log" + (f" for {org}" if org else ""),
        empty="no events",
    )
