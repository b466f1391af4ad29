"""Rich tables and labels for the commands (imported only when a command prints)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
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

# When a table is wider than the terminal, these columns are left out, first to last,
# until it fits; every other column (ids, quantities, vendor, status, the REAL/SIMULATED
# label) is always shown whole. A note says which were left out.
DROP_ORDER = (
    "city",
    "sector",
    "priority",
    "rank",
    "created_at",
    "item_name",
    "org_name",
    "effective_consumption",
    "current_stock",
    "message",
    "actor",
    "summary",
)
WRAP_MIN = 12  # the narrowest a prose column is folded to
LABEL = "source_label"  # the provenance label (resq.core.provenance): wraps, never cut
LABEL_MIN = len("SIMULATED weather,")
WORD_WRAPPING = frozenset({"vendor", "preferred_vendor"})
"""Names that wrap between their words when a table cannot fit otherwise."""


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
    fit: bool = True,
) -> Table:
    """A table of ``rows`` showing ``columns`` as (key, header); values are styled by
    status where they name one (CRITICAL red, SIMULATED magenta ...). On a console, the
    columns of DROP_ORDER are left out (first to last) while the table would not fit its
    width, so no id, quantity, vendor or label is ever cut; a caption says which
    (``fit=False``: every column is kept, as a continued table has chosen them already)."""
    formats = formats or {}
    cells = [
        [
            formats[key](row.get(key)) if key in formats else _text.cell(row.get(key))
            for key, _ in columns
        ]
        for row in rows
    ]
    shown = list(range(len(columns)))
    t = _build(cells, columns, shown, title, console)
    if console is None or not fit:
        return t
    widest = _widest(cells, columns)
    # tight: one space between columns, as a last resort; fold: the provenance label
    # wraps between its words (before any value is cut)
    for fold, tight in ((False, False), (True, False), (True, True)):
        shown = list(range(len(columns)))
        t = _build(cells, columns, shown, title, console, tight=tight, fold=fold)
        # each layout is measured once (a measure is a layout), unless it surely fits
        fits = _surely_fits(t, widest, shown, console) or _fits(t, console)
        for key in DROP_ORDER:
            if fits:
                break
            if any(columns[i][0] == key for i in shown):
                shown = [i for i in shown if columns[i][0] != key]
                t = _build(cells, columns, shown, title, console, tight=tight, fold=fold)
                fits = _surely_fits(t, widest, shown, console) or _fits(t, console)
        if fits:
            break
    hidden = [header for i, (_, header) in enumerate(columns) if i not in shown]
    if hidden:
        t.caption = f"left out to fit {console.width} columns: {', '.join(hidden)} (see --json)"
    return t


def _widest(cells: Sequence[Sequence[str]], columns: Sequence[tuple[str, str]]) -> list[int]:
    """Each column's widest line, header included, in terminal cells (as rich measures a
    text: the widest of its lines, once the control codes it drops are gone, so that a
    carriage return does not split a line rich keeps whole)."""
    from rich.cells import cell_len
    from rich.control import strip_control_codes

    def width(text: str) -> int:
        return max(map(cell_len, strip_control_codes(text).splitlines()), default=0)

    return [
        max([width(header), *(width(row[i]) for row in cells)])
        for i, (_, header) in enumerate(columns)
    ]


def _surely_fits(t: Table, widest: Sequence[int], shown: Sequence[int], console: Console) -> bool:
    """Whether the layout ``t`` (of the ``shown`` columns) fits ``console`` for certain,
    from an upper bound of rich's measure (no cell measured by rich): every column at its
    widest line or its minimum width, with the table's full padding on both sides, plus
    one rule between columns when it has a box. False means only "measure it": rich then
    decides (:func:`_fits`)."""
    _, right, _, left = t.padding
    rules = max(len(t.columns) - 1, 0) if t.box else 0
    bound = rules + sum(
        max(widest[i], column.min_width or 0) + left + right
        for i, column in zip(shown, t.columns, strict=True)
    )
    return bound <= console.width


def _fits(t: Table, console: Console) -> bool:
    """Whether ``t`` rendered unconstrained is no wider than ``console``: measured (each
    cell's width, as rich lays the table out), not rendered, since fitting tries several
    layouts per table."""
    from rich.measure import Measurement

    probe = _probe(console.is_terminal)
    return Measurement.get(probe, probe.options, t).maximum <= console.width


@cache
def _probe(terminal: bool) -> Console:
    import io

    return Console(file=io.StringIO(), width=100_000, force_terminal=terminal, color_system=None)


def _build(
    cells: Sequence[Sequence[str]],
    columns: Sequence[tuple[str, str]],
    shown: Sequence[int],
    title: str | None,
    console: Console | None,
    *,
    tight: bool = False,
    fold: bool = False,
) -> Table:
    plain = console is not None and not console.is_terminal
    t = Table(
        padding=(0, 0) if tight and not plain else (0, 1),
        title=title,
        title_justify="left",
        title_style="bold",
        box=None if plain else box.SIMPLE_HEAD,
        header_style="bold",
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
        caption_justify="left",
        caption_style="dim",
    )
    for i in shown:
        key, header = columns[i]
        if key in WRAPPING:
            t.add_column(header, overflow="fold", ratio=1, min_width=WRAP_MIN)
        elif key == LABEL and fold:
            # the provenance label wraps between its words when it must, never cut
            t.add_column(header, overflow="fold", max_width=LABEL_MIN)
        elif key in WORD_WRAPPING and fold:
            # a many-word name (a vendor such as "Civil Supplies Depot") wraps between its
            # words, never inside one
            words = [w for row_cells in cells for w in row_cells[i].split()]
            t.add_column(header, overflow="fold", max_width=max([len(header), *map(len, words)]))
        else:
            t.add_column(header, no_wrap=True)
    for row_cells in cells:
        t.add_row(*(Text(row_cells[i], style=STATUS_STYLE.get(row_cells[i], "")) for i in shown))
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
