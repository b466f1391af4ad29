"""The ``resq`` command line: a thin typer layer over the library, one module per group.

Every command calls :mod:`resq`'s backend or engine and only decides how to show the
result (Rich tables on a terminal, plain text in a pipe, one JSON document with
``--json``). Library errors become one sentence on stderr and exit code 2 (bad input) or
1 (a failed check or warehouse failure). Imports stay light so ``resq --help`` is fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from resq.cli import (
    alerts,
    audit,
    chaos,
    dashboard,
    demo,
    deploy,
    forecast,
    heal,
    orders,
    replay,
    reserved,
    setup,
    stock,
    watch,
)
from resq.cli._runtime import DEFAULT_DB, ResqGroup, State

SET_UP = "Set up"
LOOK = "Look"
ACT = "Act"
LATER = "Coming later"

app = typer.Typer(
    name="resq",
    cls=ResqGroup,
    help=(
        "ResQ OS: a self-healing supply chain for hospitals (oxygen), the public "
        "distribution system (rice) and NGOs (emergency kits).\n\n"
        "Global options go before or after the command. Exit codes: 0 success; 1 a check failed "
        "(validate, audit --verify, health RED) or the warehouse failed; 2 bad input or "
        "usage.\n\n"
        "Examples:\n\n"
        "```\n"
        "resq --db duckdb:///demo.duckdb demo\n"
        "resq init && resq seed && resq status --critical\n"
        "resq --org HOSP-BLR-001 --json orders\n"
        "```"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from resq import __version__

        typer.echo(f"resq {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str,
        typer.Option(
            "--db",
            envvar="RESQ_DB",
            metavar="URL",
            help="Warehouse URL: duckdb:///path.db (a file here), duckdb:// (in memory) "
            "or snowflake://...",
        ),
    ] = DEFAULT_DB,
    org: Annotated[
        str | None,
        typer.Option(
            "--org",
            envvar="RESQ_ORG",
            metavar="ORG_ID",
            help="Scope every command to one organization: other tenants' rows are not "
            "shown and cannot be changed.",
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", help="Print exactly one JSON document on stdout, nothing else there."
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when something fails.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the resq version and exit.",
        ),
    ] = False,
) -> None:
    """ResQ OS command line."""
    state = State(db=db, org=org or None, json=json_output, debug=debug)
    ctx.obj = state
    ctx.call_on_close(state.close)


app.command(rich_help_panel=SET_UP)(setup.init)
app.command(rich_help_panel=SET_UP)(setup.seed)
app.command(rich_help_panel=SET_UP)(setup.load)
app.command(rich_help_panel=SET_UP)(demo.demo)
app.add_typer(deploy.app, name="deploy", rich_help_panel=SET_UP)
app.command(rich_help_panel=LOOK)(stock.status)
app.add_typer(orders.app, name="orders", rich_help_panel=LOOK)
app.command(rich_help_panel=LOOK)(alerts.alerts)
app.add_typer(audit.app, name="audit", rich_help_panel=LOOK)
app.command(rich_help_panel=LOOK)(stock.validate)
app.command(rich_help_panel=LOOK)(stock.health)
app.command(rich_help_panel=LOOK)(dashboard.dashboard)
app.command(rich_help_panel=LOOK)(replay.replay)
app.add_typer(chaos.app, name="chaos", rich_help_panel=ACT)
app.command(rich_help_panel=ACT)(forecast.forecast)
app.command(rich_help_panel=ACT)(heal.heal)
app.command(rich_help_panel=ACT)(alerts.ack)
app.command(rich_help_panel=ACT)(watch.watch)
for _name, _summary in reserved.RESERVED.items():
    app.command(
        _name,
        rich_help_panel=LATER,
        help=reserved.help_text(_name, _summary),
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )(reserved.not_yet(_name))


def main() -> None:
    """The ``resq`` console script."""
    app(prog_name="resq")


__all__ = ["app", "main"]
