"""Looking at the stock and the system: ``resq status``, ``resq validate``, ``resq health``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from resq.cli import _listing, _text
from resq.cli._runtime import EXIT_CHECK_FAILED, State, choice
from resq.cli.watch import ConfigOption


class Sector(StrEnum):
    """The sectors (resq.core.validation.SECTORS; a test keeps the two equal)."""

    HOSPITAL = "HOSPITAL"
    PDS = "PDS"
    NGO = "NGO"


STATUS_COLUMNS = [
    ("org_id", "Org"),
    ("sector", "Sector"),
    ("city", "City"),
    ("sku", "SKU"),
    ("item_name", "Item"),
    ("current_stock", "Stock"),
    ("effective_consumption", "Use/day"),
    ("days_remaining", "Days left"),
    ("status", "Status"),
    ("source_label", "Source"),
]


def status(
    ctx: typer.Context,
    sector: Annotated[
        str | None,
        typer.Option(
            "--sector",
            metavar="SECTOR",
            callback=choice(Sector, "sector"),
            help="Only this sector: " + ", ".join(Sector) + ".",
        ),
    ] = None,
    critical: Annotated[
        bool, typer.Option("--critical", help="Only items in CRITICAL status.")
    ] = False,
    limit: _listing.LimitOption = None,
    every: _listing.AllOption = False,
    jsonl: _listing.JsonlOption = False,
) -> None:
    """The stock analysis: days left and CRITICAL / WARNING / OK per item, with its source.

    Most urgent first (CRITICAL, then WARNING, then OK; sector priority; fewest days left),
    the first 50 unless --limit N or --all; a last line says how many items were left out.
    The counts and sources cover every item that matches. The Source column says where
    each value came from: SIMULATED (resq's deterministic simulation) or REAL (data you
    loaded).

    Examples:

    ```
    resq status
    resq status --sector HOSPITAL --critical
    resq status --all --jsonl > items.jsonl
    resq --org HOSP-BLR-001 --json status
    ```
    """
    from resq.core import urgency

    state = State.of(ctx)
    n = _listing.limit_of(limit, every)
    org = state.scope()
    where: dict[str, Any] = {}
    if sector is not None:
        where["sector"] = sector
    if critical:
        where["status"] = "CRITICAL"
    backend = state.backend()
    with state.spinner("Reading the stock analysis"):
        signals = backend.signals_as_of()
        listing = backend.listing(
            "stock_analysis",
            org_id=org,
            where=where,
            order_by=urgency.ITEMS,
            limit=n,
            by=("status", "data_source"),
        )
    counts = {s: 0 for s in ("CRITICAL", "WARNING", "OK")}
    for c in listing.counts:
        counts[str(c["status"])] = counts.get(str(c["status"]), 0) + int(c["n"])
    sources = sorted({str(c["data_source"]) for c in listing.counts})
    title = "Stock analysis" + (f" for {org}" if org else "")
    table: Any = None
    if not (state.json or jsonl):
        table = _listing.TableStream(
            state.out, STATUS_COLUMNS, title=title, formats={"days_remaining": _text.days}
        )
    _listing.show(
        state,
        listing,
        key="items",
        head={
            "org": org,
            "filters": where,
            "counts": counts,
            "sources": sources,
            "signals": signals,
        },
        hint="use --limit N or --all to see them",
        jsonl=jsonl,
        print_batch=table.add if table is not None else lambda rows: None,
        title=title,
        empty="no items match",
    )
    if table is None:
        return
    from resq.cli import _render

    total = listing.total
    summary = ", ".join(f"{k:,} {s}" for s, k in counts.items())
    state.out.print(
        f"{total:,} item{'s' if total != 1 else ''}: {summary}. "
        f"Data source: {', '.join(sources) or '-'}.",
        markup=False,
    )
    state.out.print(
        f"Signals: weather {_text.when(signals['weather_at'])}, "
        f"vendors {_text.when(signals['vendor_status_at'])}.",
        markup=False,
    )
    _render.simulated_note(state.out, [{"data_source": s} for s in sources])


def validate(ctx: typer.Context) -> None:
    """Run the simulation checks through the warehouse's SQL functions: PASS or FAIL.

    Bangalore is Rain, Delhi is Haze, Blinkit is ONLINE at 12 ms, Dunzo is OFFLINE.
    Exits 1 when any check fails.

    Examples:

    ```
    resq validate
    resq --json validate
    ```
    """
    state = State.of(ctx)
    state.scope()
    checks = state.engine().validate()
    rows = [c.as_dict() for c in checks]
    passed = all(c.passed for c in checks)
    if state.json:
        state.emit({"passed": passed, "checks": rows})
    else:
        from resq.cli import _render

        _render.print_table(
            state.out,
            rows,
            [
                ("check", "Check"),
                ("expected", "Expected"),
                ("actual", "Actual"),
                ("result", "Result"),
                ("data_source", "Source"),
            ],
            title="Validation checks",
        )
        failed = sum(1 for c in checks if not c.passed)
        state.out.print(
            "All checks passed." if passed else f"{failed} check(s) FAILED.", markup=False
        )
    if not passed:
        raise typer.Exit(EXIT_CHECK_FAILED)


def health(
    ctx: typer.Context,
    window: Annotated[
        float,
        typer.Option(
            "--window",
            min=0.01,
            metavar="HOURS",
            help="How far back vendor status, refreshes and deliveries are judged.",
        ),
    ] = 24.0,
    config: ConfigOption = None,
) -> None:
    """System health, GREEN / AMBER / RED, with the reasons a person can act on.

    Judged from vendor API status over time (online or offline, latency), the freshness
    of stock_analysis against its target lag and its refresh failures, the time since the
    last successful heal cycle (against the watch interval of the config), and the
    notification outbox (backlog, retries, failed deliveries). Exits 1 when health is RED.

    Examples:

    ```
    resq health
    resq health --window 6
    resq --json health
    ```
    """
    from datetime import timedelta

    from resq.cli.watch import load_alerting_config

    state = State.of(ctx)
    state.scope()
    cfg = load_alerting_config(config)
    snap = state.engine().health_snapshot(window=timedelta(hours=window), config=cfg)
    doc = snap.as_dict()
    if state.json:
        state.emit(doc)
    else:
        _print_health(state, snap)
    if snap.status == "RED":
        raise typer.Exit(EXIT_CHECK_FAILED)


def _print_health(state: State, snap: Any) -> None:
    from rich.text import Text

    from resq.cli import _render

    out = state.out
    span = _text.number(snap.inputs.window_s / 3600)
    out.print(Text.assemble("Health: ", (snap.status, _render.STATUS_STYLE.get(snap.status, ""))))
    for reason in snap.report.reasons:
        out.print(Text(f"  - {_text.clean(reason)}"))
    rows = [
        {
            **v,
            "online": "-"
            if v["availability"] is None
            else f"{v['online_checks']}/{v['checks']} ({float(v['availability']):.0%})",
        }
        for v in snap.vendors
    ]
    _render.heading(out, f"Vendor APIs (last {span} h)")
    _render.print_table(
        out,
        rows,
        [
            ("vendor_id", "Vendor"),
            ("status", "Now"),
            ("latency_ms", "Latency ms"),
            ("online", "Online checks"),
            ("avg_latency_ms", "Avg ms"),
            ("max_latency_ms", "Max ms"),
            ("status_since", "Since"),
            ("data_source", "Source"),
        ],
        empty="no vendors",
    )
    a, c, o = snap.analysis, snap.cycles, snap.outbox
    _render.heading(out, "Pipeline")
    age = (
        "never refreshed"
        if a["age_s"] is None
        else f"refreshed {_text.number(a['age_s'], 0)} s ago"
    )
    lines = [
        f"stock_analysis: {age} (target lag {_text.number(a['target_lag_s'])} s); "
        f"{a['failed_refreshes_in_window']} of {a['refreshes_in_window']} refreshes failed in "
        f"{span} h" + ("; SUSPENDED" if a["suspended"] else ""),
        "heal cycles: "
        + (
            "none yet"
            if c["age_s"] is None
            else f"last success {_text.number(c['age_s'], 0)} s ago, {c['in_window']} in {span} h"
        ),
        f"outbox: {o['pending']} pending ({o['due']} due, {o['retrying']} retrying), "
        f"{o['failed']} failed, {o['sent_window']} sent in {span} h",
    ]
    for line in lines:
        out.print(Text(f"  {_text.clean(line)}"))
    _render.simulated_note(out, snap.vendors)
