"""``resq audit``: the hash-chained audit log, and checking it for tampering."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resq.cli import _listing, _text
from resq.cli._runtime import EXIT_CHECK_FAILED, State

if TYPE_CHECKING:
    from resq.core.audit import Anchor

app = typer.Typer(invoke_without_command=True)

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
    """An event's JSON details as one short line (its description or message if it has one);
    a heal event's provenance labels (resq.core.audit.describe_labels) whole, never cut."""
    from resq.core.audit import describe_labels

    d = _text.parse_json_text(details)
    labelled = describe_labels(d)
    if labelled is not None:
        return _text.clean(labelled)
    if isinstance(d, dict):
        told = d.get("description") or d.get("message")
        shown = {k: v for k, v in d.items() if k != "data_source"}  # labelled elsewhere
        text = str(told) if told else ", ".join(f"{k}={v}" for k, v in shown.items())
    else:
        text = str(d)
    text = _text.clean(text)
    return text if len(text) <= width else text[: width - 1] + "…"


@app.callback()
def audit(
    ctx: typer.Context,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Walk the whole hash chain and report the first edited, deleted or "
            "re-linked event, a missing or rewound head, or a chain that no longer extends "
            "--anchor; exits 1 when the log was tampered with.",
        ),
    ] = False,
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            metavar="ANCHOR",
            help="With --verify: an anchor from `resq audit anchor` (its JSON, SEQ:HASH, or "
            "a file holding either); the chain must still contain that event with that hash.",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="Show the newest N events (0: all).")
    ] = 50,
    every: _listing.AllOption = False,
    jsonl: _listing.JsonlOption = False,
) -> None:
    """Show the audit log: every automated and manual action, who did it, and when.

    Examples:

    ```
    resq audit --limit 20
    resq audit --verify
    resq audit --verify --anchor anchor.json
    ```
    """
    if ctx.invoked_subcommand is not None:
        return
    if anchor is not None and not verify:
        raise typer.BadParameter("--anchor needs --verify", param_hint="--anchor")
    parsed = _anchor(anchor) if anchor is not None else None
    state = State.of(ctx)
    org = state.scope()
    backend = state.backend()
    if verify:
        with state.spinner("Verifying the audit chain"):
            check = backend.verify_audit(parsed)
        doc = check.as_dict()
        if state.json:
            state.emit(doc)
        elif check.ok:
            state.out.print(
                f"Audit log intact: {check.checked} events verified, hash chain unbroken"
                + (f", extends the anchor at event {check.anchored}" if check.anchored else "")
                + (f", keyed from event {check.keyed_from}" if check.keyed_from else "")
                + (
                    f", the orders and alerts of {check.content_checked} heal event(s) match "
                    "their digests"
                    if check.content_checked
                    else ""
                )
                + (" (the chain is shared, so it is verified in full)." if org else "."),
                markup=False,
            )
            for seq in check.repairs:
                state.out.print(
                    f"Note: event {seq} repaired a missing or rewound chain head; rows deleted "
                    "before it cannot be told apart from a chain that ended there "
                    "(an older anchor can).",
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
    listing = _events(backend, org, None if every or not limit else limit)
    title = "Audit log" + (f" for {org}" if org else "")
    table = None
    if not (state.json or jsonl):
        table = _listing.TableStream(state.out, AUDIT_COLUMNS, title=title)

    def add(rows: list[dict[str, Any]]) -> None:
        if table is not None:
            for row in rows:
                row["summary"] = summary(row.get("details"))
            table.add(rows)

    _listing.show(
        state,
        listing,
        key="events",
        head={"org": org},
        hint="earlier events: use --limit N or --all",
        jsonl=jsonl,
        print_batch=add,
        title=title,
        empty="no events",
    )


def _events(backend: Any, org: str | None, limit: int | None) -> Any:
    """The newest ``limit`` events, oldest first (all of them, streamed, for None)."""
    if limit is None:
        return backend.listing("audit_log", org_id=org, order_by=("seq",))
    listing = backend.listing("audit_log", org_id=org, order_by=("seq DESC",), limit=limit)
    batches = list(listing.batches)  # at most `limit` rows, turned oldest first
    if batches:
        import pyarrow as pa

        newest = pa.Table.from_batches(batches)
        oldest = newest.take(pa.array(range(newest.num_rows - 1, -1, -1), pa.int64()))
        listing.batches = iter(oldest.to_batches())
    return listing


def _anchor(value: str) -> Anchor:
    from resq.core.audit import Anchor

    text = value
    path = Path(value)
    if not value.lstrip().startswith("{") and path.is_file():
        text = path.read_text(encoding="utf-8")
    try:
        return Anchor.parse(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--anchor") from None


@app.command("anchor")
def anchor_command(
    ctx: typer.Context,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Also write the anchor to this file (kept outside the database)."
        ),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(
            "--webhook",
            metavar="URL",
            help="Also POST the anchor as JSON to this URL (redirects and deadline as for "
            "alert webhooks).",
        ),
    ] = None,
) -> None:
    """Print the head of the audit chain (event number, hash, time) to keep elsewhere.

    A copy kept outside the database lets `resq audit --verify --anchor` detect a chain that
    was cut back and had its head rewound to match.

    Examples:

    ```
    resq audit anchor
    resq audit anchor --output /safe/place/resq-anchor.json
    resq audit --verify --anchor /safe/place/resq-anchor.json
    ```
    """
    state = State.of(ctx)
    taken = state.backend().audit_anchor()
    if output is not None:
        output.write_text(taken.text() + "\n", encoding="utf-8")
    if webhook is not None:
        from resq.alerting.channels import DeliveryError, post_json

        try:
            post_json(webhook, taken.as_dict())
        except DeliveryError as exc:
            typer.echo(f"error: the anchor was not sent: {exc}", err=True)
            raise typer.Exit(EXIT_CHECK_FAILED) from None
    if state.json:
        state.emit(taken.as_dict())
    else:
        state.out.print(taken.text(), markup=False, soft_wrap=True)
