"""``resq forecast``: learn each item's daily demand from its history."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from resq.cli import _text
from resq.cli._runtime import State

FORECAST_COLUMNS = [
    ("org_id", "Org"),
    ("sku", "SKU"),
    ("demand_class", "Class"),
    ("method", "Method"),
    ("forecast_daily_demand", "Demand/day"),
    ("demand_std", "Std dev"),
    ("mase", "MASE"),
    ("stockout_days", "Out days"),
    ("adjusted_consumption", "Adjusted"),
    ("data_source", "Source"),
]


def forecast(
    ctx: typer.Context,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Compute and show the forecasts, but write nothing."),
    ] = False,
) -> None:
    """Forecast each item's daily demand from its stock history; `status` then uses it.

    Stock-out days are left out (what was consumed then is not what was demanded). Each
    item's demand is classed SMOOTH, ERRATIC, INTERMITTENT or LUMPY (Syntetos-Boylan) and
    forecast by simple exponential smoothing, Croston SBA or TSB to match; MASE is its
    error on the last 7 days against the naive forecast's (below 1 is better). Adjusted is
    the history window's consumption adjusted for stock-out days (OpenLMIS). An item with
    too little history gets no forecast, says why, and keeps its daily_consumption.

    Examples:

    ```
    resq forecast
    resq forecast --dry-run
    resq --org PDS-BLR-001 --json forecast
    ```
    """
    state = State.of(ctx)
    org = state.scope()
    engine = state.engine()
    with state.spinner("Forecasting demand from the stock history"):
        table = engine.forecast(org_id=org, dry_run=dry_run)
    rows: list[dict[str, Any]] = table.to_pylist()
    methods: dict[str, int] = {}
    for r in rows:
        key = r["method"] or "none"
        methods[key] = methods.get(key, 0) + 1
    doc = {"dry_run": dry_run, "items": len(rows), "methods": methods, "forecasts": rows}
    if state.json:
        state.emit(doc)
        return
    from rich.text import Text

    from resq.cli import _render

    title = "Demand forecasts" + (" (dry run: nothing written)" if dry_run else "")
    _render.print_table(state.out, rows, FORECAST_COLUMNS, title=title, empty="no inventory items")
    for r in rows:
        if r["reason"]:
            state.out.print(
                Text.assemble(
                    ("  no forecast ", "dim"),
                    (_text.clean(f"{r['org_id']}/{r['sku']}"), "bold"),
                    f": {_text.clean(r['reason'])} (keeps its daily_consumption)",
                )
            )
    _render.simulated_note(state.out, rows)
