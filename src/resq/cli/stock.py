"""Looking at the stock and the system: ``resq status``, ``resq validate``, ``resq health``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from resq.cli import _text
from resq.cli._runtime import EXIT_CHECK_FAILED, State


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
    ("data_source", "Source"),
]

# The order engine.analyse uses: most urgent first.
URGENT_FIRST = ("priority", "days_remaining NULLS LAST", "org_id", "sku")


def status(
    ctx: typer.Context,
    sector: Annotated[
        Sector | None,
        typer.Option(
            "--sector",
            case_sensitive=False,
            metavar="SECTOR",
            help="Only this sector: HOSPITAL, PDS or NGO.",
        ),
    ] = None,
    critical: Annotated[
        bool, typer.Option("--critical", help="Only items in CRITICAL status.")
    ] = False,
) -> None:
    """The stock analysis: days left and CRITICAL / WARNING / OK per item, with its source.

    Most urgent first. The Source column says where each value came from: SIMULATED
    (resq's deterministic simulation) or REAL (data you loaded).

    Examples:

    ```
    resq status
    resq status --sector HOSPITAL --critical
    resq --org HOSP-BLR-001 --json status
    ```
    """
    state = State.of(ctx)
    org = state.scope()
    where: dict[str, Any] = {}
    if sector is not None:
        where["sector"] = sector.value
    if critical:
        where["status"] = "CRITICAL"
    with state.spinner("Reading the stock analysis"):
        rows = (
            state.backend()
            .read("stock_analysis", org_id=org, where=where, order_by=URGENT_FIRST)
            .to_pylist()
        )
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("CRITICAL", "WARNING", "OK")}
    sources = sorted({str(r["data_source"]) for r in rows})
    if state.json:
        state.emit(
            {"org": org, "filters": where, "counts": counts, "sources": sources, "items": rows}
        )
        return
    from resq.cli import _render

    _render.print_table(
        state.out,
        rows,
        STATUS_COLUMNS,
        title="Stock analysis" + (f" for {org}" if org else ""),
        formats={"days_remaining": _text.days},
        empty="no items match",
    )
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    state.out.print(
        f"{len(rows)} item{'s' if len(rows) != 1 else ''}: {summary}. "
        f"Data source: {', '.join(sources) or '-'}.",
        markup=False,
    )
    _render.simulated_note(state.out, rows)


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


def health(ctx: typer.Context) -> None:
    """System health, GREEN / AMBER / RED, with the reasons a person can act on.

    Judged from the vendors online, the freshness of stock_analysis, the last heal
    cycle and the notification outbox. Exits 1 when health is RED.

    Examples:

    ```
    resq health
    resq --json health
    ```
    """
    state = State.of(ctx)
    state.scope()
    report = state.engine().health()
    doc = report.as_dict()
    if state.json:
        state.emit(doc)
    else:
        from rich.text import Text

        from resq.cli import _render

        colour = _render.STATUS_STYLE.get(str(doc["status"]), "")
        state.out.print(Text.assemble("Health: ", (str(doc["status"]), colour)))
        for reason in report.reasons:
            state.out.print(Text(f"  - {_text.clean(reason)}"))
    if str(doc["status"]) == "RED":
        raise typer.Exit(EXIT_CHECK_FAILED)
