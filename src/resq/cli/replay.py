"""``resq replay``: replay policies day by day and compare their service and cost."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resq.cli._runtime import State, UsageProblem

if TYPE_CHECKING:
    from resq.core.replay import ReplayResult

DEFAULT_POLICIES = ("resq", "seed-rule", "service-level")

COLUMNS = [
    ("policy", "Policy"),
    ("fill_rate", "Fill rate"),
    ("cycle_service_level", "Cycle SL"),
    ("stockout_days", "Stockout days"),
    ("first_stockout_day", "First stockout"),
    ("oxygen_zero_days", "O2 days at 0"),
    ("avg_cover_days", "Avg cover (d)"),
    ("orders", "Orders"),
    ("units_ordered", "Units"),
    ("fallback_orders", "Fallback"),
    ("pending_vendor_orders", "Waited"),
]
COST_COLUMNS = [
    ("holding_cost", "Holding"),
    ("ordering_cost", "Ordering"),
    ("shortage_cost", "Shortage"),
    ("total_cost", "Total"),
]


def _fmt(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if key in ("fill_rate", "cycle_service_level"):
        return f"{100 * value:.2f}%"
    if key == "avg_cover_days":
        return f"{value:.1f}"
    if isinstance(value, float):
        return f"{value:,.0f}"
    return str(value)


@contextmanager
def _progress(state: State, total_label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr while the replay runs; nothing in a pipe or with --json."""
    if state.json or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(total_label),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} policy-days"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("replay", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield tick


def replay(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", min=1, max=3650, help="Days to replay.")] = 365,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy",
            "-p",
            metavar="NAME",
            help="A policy to replay (repeat for several): resq, seed-rule, service-level, "
            "cover-below-lead-time, max-stock, months-of-stock, s-S. Default: "
            + ", ".join(DEFAULT_POLICIES)
            + ".",
            show_default=False,
        ),
    ] = None,
    chaos: Annotated[
        Path | None,
        typer.Option(
            "--chaos",
            metavar="FILE",
            help="A chaos schedule (JSON, or YAML): vendors offline, weather, demand "
            "spikes and stock drops by day (see docs/replay.md).",
        ),
    ] = None,
    from_db: Annotated[
        bool,
        typer.Option(
            "--from-db",
            help="Replay the network in --db (its inventory, vendors, signals and sector "
            "rules) instead of the simulated default network.",
        ),
    ] = False,
    history: Annotated[
        bool,
        typer.Option(
            "--history",
            help="With --from-db: replay the consumption recorded in stock_history (every "
            "day it holds; --days is ignored) instead of simulated demand.",
        ),
    ] = False,
    orgs: Annotated[
        int, typer.Option("--orgs", min=1, help="Organizations in the simulated network.")
    ] = 6,
    skus: Annotated[
        int, typer.Option("--skus-per-org", min=1, help="Items per organization (simulated).")
    ] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the network and demand.")] = 42,
    backorders: Annotated[
        bool,
        typer.Option("--backorders", help="Unmet demand waits (default: it is lost)."),
    ] = False,
    holding_cost: Annotated[
        float, typer.Option("--holding-cost", min=0, help="Cost per unit held per day.")
    ] = 0.0,
    order_cost: Annotated[
        float, typer.Option("--order-cost", min=0, help="Cost per order placed.")
    ] = 0.0,
    shortage_cost: Annotated[
        float, typer.Option("--shortage-cost", min=0, help="Cost per unit short.")
    ] = 0.0,
) -> None:
    """Replay policies day by day and compare fill rate, stockouts, cover and cost.

    Every day, orders due arrive, the day's demand is served (lost sales by default),
    and each policy orders; an order arrives after its vendor's lead time plus the
    weather delay, and an offline vendor falls back as the heal cycle does. The `resq`
    policy is the heal cycle's own planning. Prints one comparison table per sector;
    --json prints the summary per policy and per sector and the items that ran short.

    Examples:

    ```
    resq replay --days 365
    resq replay --days 90 --policy resq --policy s-S --chaos chaos.yaml
    resq --json replay --days 30 --policy resq
    resq replay --from-db --history --policy resq --policy s-S
    ```
    """
    from resq import replay as rp

    state = State.of(ctx)
    names = list(policy or DEFAULT_POLICIES)
    unknown = [p for p in names if p not in rp.POLICIES]
    if unknown:
        raise UsageProblem(
            f"unknown policy {unknown[0]!r}; known policies: {', '.join(rp.POLICIES)}"
        )
    if len(set(names)) != len(names):
        raise UsageProblem("each --policy may be given once")
    schedule = rp.ChaosSchedule.load(chaos) if chaos is not None else None
    demand = None
    if history and not from_db:
        raise UsageProblem("--history replays the database's stock_history: add --from-db")
    if from_db:
        if state.org is not None:
            raise UsageProblem("replay --from-db replays the whole network; drop --org")
        network = rp.from_backend(state.backend())
        if history:
            demand, recorded = rp.history_demand(state.backend().read("stock_history"), network)
            days = len(recorded)
    else:
        network = rp.simulated_network(n_orgs=orgs, skus_per_org=skus, seed=seed)
    costs = rp.Costs(holding_cost, order_cost, shortage_cost)
    with _progress(state, f"Replaying {days} days") as tick:
        result = rp.replay(
            network, names, days, demand=demand, seed=seed, chaos=schedule,
            backorders=backorders, costs=costs, progress=tick,
            weather_scales_demand=not history,
        )  # fmt: skip
    if state.json:
        doc = result.as_dict()
        doc["network"] = "database" if from_db else "simulated"
        doc["demand"] = "stock_history" if history else "simulated"
        doc["items"] = network.n
        state.emit(doc)
        return
    show(state, result, costs=any((holding_cost, order_cost, shortage_cost)))
    src = "the network in the database" if from_db else "the simulated network (SIMULATED)"
    state.out.print(
        f"{network.n} items of {src}, {days} days, {'backorders' if backorders else 'lost sales'}.",
        style="dim",
        markup=False,
    )


def show(state: State, result: ReplayResult, *, costs: bool) -> None:
    """One comparison table per sector, then the whole network."""
    from resq.cli import _render

    columns = COLUMNS + (COST_COLUMNS if costs else [])
    formats = {key: (lambda v, k=key: _fmt(k, v)) for key, _ in columns}
    by_sector = result.summary("sector").to_pylist()
    for sector in sorted({r["sector"] for r in by_sector}):
        rows = [r for r in by_sector if r["sector"] == sector]
        n = rows[0]["items"]
        _render.print_table(
            state.out, rows, columns, title=f"{sector} ({n} items)", formats=formats
        )
    _render.print_table(
        state.out, result.summary("policy").to_pylist(), columns, title="All sectors",
        formats=formats,
    )  # fmt: skip
