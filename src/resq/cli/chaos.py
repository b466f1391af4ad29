"""The chaos buttons: ``resq chaos stock|vendor|weather|demand``, simulated and audited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from resq.cli._runtime import ActorOption, State, UsageProblem

if TYPE_CHECKING:
    from resq.simulation import ChaosEvent

app = typer.Typer(no_args_is_help=True)


@app.callback()
def chaos() -> None:
    """Chaos buttons: change simulated stock, vendors, weather or demand.

    Every change is labelled SIMULATED and recorded in the audit log as chaos.

    Examples:

    ```
    resq chaos stock HOSP-BLR-001 OXY-CYL --to 0
    resq chaos vendor Blinkit --offline
    ```
    """


OrgArgument = Annotated[
    str, typer.Argument(metavar="ORG", help="Organization id, e.g. HOSP-BLR-001.")
]
SkuArgument = Annotated[str, typer.Argument(metavar="SKU", help="Item code, e.g. OXY-CYL.")]


def _own_org(state: State, org: str) -> None:
    """With --org, chaos may only touch that organization's items."""
    scope = state.scope()
    if scope is not None and org != scope:
        raise UsageProblem(f"organization {org!r} is outside the --org scope ({scope!r})")


def _report(state: State, event: ChaosEvent) -> None:
    if state.json:
        state.emit(event.as_dict())
        return
    state.out.print(event.description + ".", markup=False)
    state.out.print(
        f"Recorded in the audit log as chaos.{event.kind}. Run `resq heal` to react.",
        style="dim",
        markup=False,
    )


@app.command("stock")
def stock(
    ctx: typer.Context,
    org: OrgArgument,
    sku: SkuArgument,
    to: Annotated[float, typer.Option("--to", min=0, help="The new stock level.")] = 0.0,
    actor: ActorOption = None,
) -> None:
    """Set an item's stock (default 0): the demo's chaos button.

    Examples:

    ```
    resq chaos stock HOSP-BLR-001 OXY-CYL --to 0
    ```
    """
    state = State.of(ctx)
    _own_org(state, org)
    _report(state, state.engine().drop_stock(org, sku, to, actor=actor))


@app.command("vendor")
def vendor(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Vendor id, e.g. Blinkit.")],
    online: Annotated[
        bool | None,
        typer.Option(
            "--online/--offline",
            help="Bring the vendor online, or take it offline (one is required).",
            show_default=False,
        ),
    ] = None,
    latency_ms: Annotated[
        int | None,
        typer.Option(
            "--latency-ms", min=0, help="Latency when bringing it online (default: simulated)."
        ),
    ] = None,
    actor: ActorOption = None,
) -> None:
    """Take a vendor offline, or bring it back online.

    Examples:

    ```
    resq chaos vendor Blinkit --offline
    resq chaos vendor Dunzo --online --latency-ms 40
    ```
    """
    state = State.of(ctx)
    state.refuse_org("chaos vendor")
    if online is None:
        raise UsageProblem("say --offline or --online")
    engine = state.engine()
    if online:
        event = engine.vendor_online(name, latency_ms, actor=actor)
    else:
        if latency_ms is not None:
            raise UsageProblem("--latency-ms only applies with --online")
        event = engine.vendor_offline(name, actor=actor)
    _report(state, event)


@app.command("weather")
def weather(
    ctx: typer.Context,
    city: Annotated[str, typer.Argument(metavar="CITY", help="City name, e.g. Bangalore.")],
    condition: Annotated[
        str,
        typer.Argument(
            metavar="CONDITION", help="Clear, Cloudy, Haze, Rain, Storm or Flood (any case)."
        ),
    ],
    actor: ActorOption = None,
) -> None:
    """Set a city's weather.

    Rain adds a day of lead time; rain, storms and floods raise the NGO thresholds.

    Examples:

    ```
    resq chaos weather Delhi Storm
    ```
    """
    state = State.of(ctx)
    state.refuse_org("chaos weather")
    _report(state, state.engine().set_weather(city, condition, actor=actor))


@app.command("demand")
def demand(
    ctx: typer.Context,
    org: OrgArgument,
    sku: SkuArgument,
    factor: Annotated[
        float,
        typer.Option(
            "--factor", help="Multiply daily consumption by this (> 0; below 1 lowers it)."
        ),
    ],
    actor: ActorOption = None,
) -> None:
    """Spike (or lower) an item's daily demand.

    Examples:

    ```
    resq chaos demand NGO-BLR-001 KIT-EMR --factor 3
    ```
    """
    state = State.of(ctx)
    _own_org(state, org)
    _report(state, state.engine().spike_demand(org, sku, factor, actor=actor))
