"""The ``resq`` command line: a thin typer layer over the library, one module per group.

Every command calls :mod:`resq`'s backend or engine and only decides how to show the
result (Rich tables on a terminal, plain text in a pipe, one JSON document with
``--json``). Library errors become one sentence on stderr and exit code 2 (bad input) or
1 (a failed check or warehouse failure). Imports stay light so ``resq --help`` is fast.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resq.cli._runtime import DEFAULT_DB, GLOBAL_VALUED, ResqGroup, State

SET_UP = "Set up"
LOOK = "Look"
ACT = "Act"
LATER = "Coming later"


def _version(value: bool) -> None:
    if value:
        from resq import __version__

        typer.echo(f"resq {__version__}")
        raise typer.Exit()


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


# Every command: (name, module of resq.cli, attribute, help panel). An attribute named
# ``app`` is a group of subcommands. The order is the help's.
COMMANDS: tuple[tuple[str, str, str, str], ...] = (
    ("init", "setup", "init", SET_UP),
    ("seed", "setup", "seed", SET_UP),
    ("load", "setup", "load", SET_UP),
    ("demo", "demo", "demo", SET_UP),
    ("deploy", "deploy", "app", SET_UP),
    ("status", "stock", "status", LOOK),
    ("orders", "orders", "app", LOOK),
    ("alerts", "alerts", "alerts", LOOK),
    ("audit", "audit", "app", LOOK),
    ("validate", "stock", "validate", LOOK),
    ("health", "stock", "health", LOOK),
    ("dashboard", "dashboard", "dashboard", LOOK),
    ("replay", "replay", "replay", LOOK),
    ("chaos", "chaos", "app", ACT),
    ("forecast", "forecast", "forecast", ACT),
    ("heal", "heal", "heal", ACT),
    ("ack", "alerts", "ack", ACT),
    ("watch", "watch", "watch", ACT),
)


def build_app(only: str | None = None) -> typer.Typer:
    """The ``resq`` application with every command, or with the one named ``only``.

    A command line names one command: building just that one imports its module alone
    and turns only its signature into options, which is most of what typer costs before
    a command starts. Its options, usage line, help and errors are the same either way."""
    from resq.cli import reserved

    application = typer.Typer(
        name="resq",
        cls=ResqGroup,
        help=(
            "ResQ OS: a self-healing supply chain for hospitals (oxygen), the public "
            "distribution system (rice) and NGOs (emergency kits).\n\n"
            "Global options go before or after the command. Exit codes: 0 success; 1 a check "
            "failed (validate, audit --verify, health RED) or the warehouse failed; 2 bad "
            "input or usage.\n\n"
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
    application.callback()(root)
    for name, module, attribute, panel in COMMANDS:
        if only is not None and name != only:
            continue
        target = getattr(importlib.import_module(f"resq.cli.{module}"), attribute)
        if attribute == "app":
            application.add_typer(target, name=name, rich_help_panel=panel)
        else:
            application.command(rich_help_panel=panel)(target)
    for _name, _summary in reserved.RESERVED.items():
        if only is not None and _name != only:
            continue
        application.command(
            _name,
            rich_help_panel=LATER,
            help=reserved.help_text(_name, _summary),
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        )(reserved.not_yet(_name))
    return application


def command_named(args: list[str]) -> str | None:
    """The command a command line names, found as the root group finds it (global options
    and their values may come first); None when it names none that exists."""
    from resq.cli import reserved

    names = {c[0] for c in COMMANDS} | set(reserved.RESERVED)
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            return None
        if token in GLOBAL_VALUED:
            i += 2
            continue
        if token in names:
            return token
        if not token.startswith("-"):
            return None  # not a command: the whole application reports it
        i += 1
    return None


_APP: typer.Typer | None = None
if TYPE_CHECKING:
    app: typer.Typer  # built on first use (__getattr__)


def __getattr__(name: str) -> Any:
    """``resq.cli.app`` (every command) is built on first use; ``resq.cli.<module>``
    imports that module."""
    global _APP
    if name == "app":
        if _APP is None:
            _APP = build_app()
        return _APP
    if not name.startswith("_"):
        try:
            module: ModuleType = importlib.import_module(f"resq.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"resq.cli.{name}":
                raise
        else:
            return module
    raise AttributeError(f"module 'resq.cli' has no attribute {name!r}")


def main() -> None:
    """The ``resq`` console script."""
    args = sys.argv[1:]
    only = command_named(args)
    if only is None or any(a in ("-h", "--help") for a in args[: args.index(only)]):
        application = __getattr__("app")
    else:
        from resq.cli._without_pandas import hide_pandas

        hide_pandas(only, args)
        application = build_app(only)
    application(prog_name="resq")


__all__ = ["app", "main"]
