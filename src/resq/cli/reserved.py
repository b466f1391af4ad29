"""Command names reserved for later releases: listed in the help, and saying so when run."""

from __future__ import annotations

from collections.abc import Callable

import typer

from resq.cli._runtime import UsageProblem

RESERVED: dict[str, str] = {}


def help_text(name: str, summary: str) -> str:
    return (
        f"Not available yet: {summary}. The name is reserved; the command arrives in a "
        f"later release and exits 2 until then.\n\n"
        f"Examples:\n\n"
        f"```\nresq {name}\n```"
    )


def not_yet(name: str) -> Callable[[typer.Context], None]:
    """The command body of a reserved name: one clear sentence on stderr, exit 2."""

    def command(ctx: typer.Context) -> None:
        raise UsageProblem(
            f"`resq {name}` is not available in this release yet ({RESERVED[name]}); "
            "the name is reserved and the command arrives in a later release"
        )

    command.__name__ = name
    command.__doc__ = help_text(name, RESERVED[name])
    return command
