"""Rich tables and labels for the commands (imported only when a command prints)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from resq.cli import _text

# Piped output is not wrapped at 80 columns, so each row stays on one line for grep.
PIPE_WIDTH = 200

STATUS_STYLE = {
    "CRITICAL": "bold red",
    "WARNING": "yellow",
    "OK": "green",
    "PASS": "bold green",
    "FAIL": "bold red",
    "GREEN": "bold green",
    "AMBER": "bold yellow",
    "RED": "bold red",
    "ONLINE": "green",
    "OFFLINE": "bold red",
    "PLACED": "green",
    "PENDING_APPROVAL": "yellow",
    "PENDING_VENDOR": "bold red",
    "RECEIVED": "cyan",
    "CANCELLED": "dim",
    "OPEN": "bold yellow",
    "ACKED": "dim",
    "SEV1": "bold red",
    "SEV2": "red",
    "SEV3": "yellow",
    "SEV4": "dim",
    "SIMULATED": "magenta",
    "REAL": "cyan",
}

Formatter = Callable[[Any], str]

# Prose columns wrap when a terminal is narrow; ids, numbers and labels never break.
WRAPPING = frozenset({"item_name", "org_name", "message", "why", "summary", "check"})


def make_console() -> Console:
    """stdout: colour on a terminal only (Rich honours NO_COLOR), plain wide text in pipes."""
    terminal = sys.stdout.isatty() or bool(os.environ.get("FORCE_COLOR"))
    width = None if terminal else int(os.environ.get("COLUMNS") or PIPE_WIDTH)
    return Console(highlight=False, width=width, soft_wrap=not terminal)


def label(value: object, style: str | None = None) -> Text:
    """A value as literal text (never parsed as Rich markup), styled by its meaning."""
    text = _text.cell(value)
    return Text(text, style=style or STATUS_STYLE.get(text, ""))


def table(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    title: str | None = None,
    formats: Mapping[str, Formatter] | None = None,
    console: Console | None = None,
) -> Table:
    """A table of ``rows`` showing ``columns`` as (key, header); values are styled by
    status where they name one (CRITICAL red, SIMULATED magenta ...)."""
    formats = formats or {}
    plain = console is not None and not console.is_terminal
    t = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=None if plain else box.SIMPLE_HEAD,
        header_style="bold",
        pad_edge=False,
        show_edge=False,
        collapse_padding=not plain,
    )
    for key, header in columns:
        if key in WRAPPING:
            t.add_column(header, overflow="fold", ratio=1)
        else:
            t.add_column(header, no_wrap=True)
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            shown = formats[key](value) if key in formats else _text.cell(value)
            cells.append(Text(shown, style=STATUS_STYLE.get(shown, "")))
        t.add_row(*cells)
    return t


def print_table(
    console: Console,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    title: str | None = None,
    formats: Mapping[str, Formatter] | None = None,
    empty: str = "nothing to show",
) -> None:
    if title and not rows:
        console.print(Text(title, style="bold"))
    if not rows:
        console.print(Text(f"  ({empty})", style="dim"))
        return
    console.print(table(rows, columns, title=title, formats=formats, console=console))


def simulated_note(console: Console, rows: Iterable[Mapping[str, Any]]) -> None:
    """Say plainly when what was shown came from the simulation."""
    if any(r.get("data_source") == "SIMULATED" for r in rows):
        console.print(
            Text.assemble(
                ("SIMULATED", "magenta"),
                " rows come from resq's deterministic simulation, not real measurements.",
            ),
            style="dim",
        )


def heading(console: Console, text: str) -> None:
    console.print()
    console.print(Text(text, style="bold underline"))
