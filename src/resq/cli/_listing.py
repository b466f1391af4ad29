"""Listing rows on the command line, at any scale.

Every listing shows the ``DEFAULT_LIMIT`` most urgent rows (the warehouse orders and limits
them: :mod:`resq.core.urgency`), ``--limit N`` or ``--all``, and says how many rows it left
out. Rows arrive as Arrow record batches and are printed a batch at a time, as a table, as
one JSON document (``--json``) or as JSON Lines (``--jsonl``), so memory stays flat in the
number of rows. Only the standard library and typer are imported at module level.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resq.cli import _text

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from resq.backends.warehouse import Listing
    from resq.cli._runtime import State

DEFAULT_LIMIT = 50
"""Rows a listing shows unless told otherwise (``--limit N``, ``--all``)."""

LimitOption = Annotated[
    int | None,
    typer.Option(
        "--limit",
        metavar="N",
        help=f"Show the N most urgent rows (default {DEFAULT_LIMIT}).",
        show_default=False,
    ),
]
AllOption = Annotated[
    bool,
    typer.Option("--all", help="Show every row (streamed: memory stays flat however many)."),
]
JsonlOption = Annotated[
    bool,
    typer.Option(
        "--jsonl",
        help="JSON Lines: one JSON object per row on stdout and nothing else there; how "
        "many rows were left out goes to stderr.",
    ),
]


def limit_of(limit: int | None, every: bool, default: int = DEFAULT_LIMIT) -> int | None:
    """The number of rows to show: ``--limit`` (at least 1), None for ``--all``."""
    if every and limit is not None:
        raise typer.BadParameter("use either --limit or --all, not both", param_hint="--limit")
    if limit is not None and limit < 1:
        raise typer.BadParameter(
            f"{limit} is not a number of rows; use 1 or more (or --all)", param_hint="--limit"
        )
    return None if every else (limit if limit is not None else default)


def more_line(more: int, total: int, hint: str) -> str:
    """``… 211,204 more not shown (211,254 in all); use --limit N or --all``."""
    return f"… {more:,} more not shown ({total:,} in all); {hint}"


def listing_info(listing: Listing, shown: int, hint: str) -> dict[str, Any]:
    """The ``listing`` key of ``--json``: how many rows were shown, matched and left out."""
    return {
        "limit": listing.limit,
        "shown": shown,
        "total": listing.total,
        "more": listing.more(shown),
        "see_more": hint if listing.more(shown) else None,
    }


# ---------------------------------------------------------------------- JSON


def _dumps(value: Any, indent: int) -> str:
    text = json.dumps(_text.jsonable(value), indent=2, ensure_ascii=False)
    return text.replace("\n", "\n" + " " * indent)


def json_rows(batches: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """The rows of Arrow record batches as ``_text.jsonable`` makes them, converting only
    the columns that need it (timestamps, decimals, JSON text, non-finite floats): text,
    integers and booleans are JSON already, so a million rows are not walked value by
    value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for batch in batches:
        convert = []
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            kind = column.type
            plain = (
                pa.types.is_string(kind)
                or pa.types.is_large_string(kind)
                or pa.types.is_integer(kind)
                or pa.types.is_boolean(kind)
                or pa.types.is_null(kind)
            )
            if pa.types.is_floating(kind):
                finite = pc.is_finite(column).fill_null(True)
                plain = bool(pc.all(finite).as_py() in (True, None))
            if name in _text.JSON_TEXT_COLUMNS or not plain:
                convert.append(name)
        rows = batch.to_pylist()
        for row in rows:
            for name in convert:
                value = row[name]
                if name in _text.JSON_TEXT_COLUMNS:
                    value = _text.parse_json_text(value)
                row[name] = _text.jsonable(value)
        yield from annotate(rows)


def stream_document(
    out: Any,
    head: Mapping[str, Any],
    key: str,
    rows: Iterable[Mapping[str, Any]],
    tail: Callable[[int], Mapping[str, Any]],
    *,
    ready: bool = False,
) -> int:
    """Write one JSON document ``{**head, key: [rows...], **tail(shown)}`` row by row,
    exactly as ``json.dumps(..., indent=2)`` would write it whole; the number of rows.
    ``ready``: the rows are JSON already (`json_rows`)."""
    out.write("{")
    for name, value in head.items():
        out.write(f"\n  {json.dumps(name, ensure_ascii=False)}: {_dumps(value, 2)},")
    out.write(f"\n  {json.dumps(key, ensure_ascii=False)}: [")
    shown = 0
    for row in rows:
        text = (
            json.dumps(row, indent=2, ensure_ascii=False).replace("\n", "\n    ")
            if ready
            else _dumps(row, 4)
        )
        out.write(("," if shown else "") + "\n    " + text)
        shown += 1
    out.write("\n  ]" if shown else "]")
    for name, value in tail(shown).items():
        out.write(f",\n  {json.dumps(name, ensure_ascii=False)}: {_dumps(value, 2)}")
    out.write("\n}\n")
    return shown


def stream_lines(out: Any, rows: Iterable[Mapping[str, Any]], *, ready: bool = False) -> int:
    """JSON Lines: one compact object per row; the number of rows."""
    shown = 0
    for row in rows:
        value = row if ready else _text.jsonable(row)
        out.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
        out.write("\n")
        shown += 1
    return shown


# ---------------------------------------------------------------------- tables


class TableStream:
    """A table printed a batch at a time: the first batch chooses the columns that fit the
    console (``resq.cli._render.table``) and prints the title and header; later batches
    continue it with the same columns, each never narrower than before."""

    def __init__(
        self,
        console: Console,
        columns: Sequence[tuple[str, str]],
        *,
        title: str | None,
        formats: Mapping[str, Callable[[Any], str]] | None = None,
    ) -> None:
        self.console = console
        self.columns = list(columns)
        self.title = title
        self.formats = dict(formats or {})
        self.shown: list[tuple[str, str]] | None = None
        self.widths: dict[str, int] = {}
        self.rows = 0

    def add(self, rows: Sequence[Mapping[str, Any]]) -> None:
        from resq.cli import _render

        if not rows:
            return
        if self.shown is None:
            table = _render.table(
                rows, self.columns, title=self.title, formats=self.formats, console=self.console
            )
            headers = [str(c.header) for c in table.columns]
            self.shown = [c for c in self.columns if c[1] in headers]
            self.widths = {key: len(header) for key, header in self.shown}
        else:
            table = _render.table(
                rows, self.shown, formats=self.formats, console=self.console, fit=False
            )
            table.show_header = False
            self._pin(table)
        self._measure(rows)
        self.console.print(table)
        self.rows += len(rows)

    def _measure(self, rows: Sequence[Mapping[str, Any]]) -> None:
        from rich.cells import cell_len

        for key, _ in self.shown or ():
            fmt = self.formats.get(key, _text.cell)
            widest = max(cell_len(fmt(r.get(key))) for r in rows)
            self.widths[key] = max(self.widths.get(key, 0), widest)

    def _pin(self, table: Table) -> None:
        from resq.cli import _render

        for (key, _), column in zip(self.shown or (), table.columns, strict=True):
            if key not in _render.WRAPPING:
                column.min_width = self.widths.get(key)


# ---------------------------------------------------------------------- one listing


def show(
    state: State,
    listing: Listing,
    *,
    key: str,
    head: Mapping[str, Any],
    hint: str,
    jsonl: bool,
    print_batch: Callable[[list[dict[str, Any]]], None],
    title: str,
    empty: str,
) -> int:
    """Print ``listing`` as ``--jsonl`` lines, one ``--json`` document (``head``, then the
    rows under ``key``, then a ``listing`` object saying how many were left out), or a
    table a batch at a time (``print_batch``); then say how many rows were not shown and
    ``hint`` how to see them. Returns the number of rows shown."""
    if jsonl:
        shown = stream_lines(sys.stdout, json_rows(listing.batches), ready=True)
        sys.stdout.flush()
        if listing.more(shown):
            sys.stderr.write(more_line(listing.more(shown), listing.total, hint) + "\n")
        return shown
    if state.json:
        return stream_document(
            sys.stdout,
            head,
            key,
            json_rows(listing.batches),
            lambda shown: {"listing": listing_info(listing, shown, hint)},
            ready=True,
        )
    from rich.text import Text

    shown = 0
    for batch in _pylists(listing.batches):
        print_batch(batch)
        shown += len(batch)
    if not shown:
        state.out.print(Text(title, style="bold"))
        state.out.print(Text(f"  ({empty})", style="dim"))
    more = listing.more(shown)
    if more:
        state.out.print(Text(more_line(more, listing.total, hint), style="bold"))
    return shown


def annotate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with their provenance parts folded into a label and ``provenance``
    (resq.core.provenance.annotate)."""
    from resq.core import provenance

    return provenance.annotate(rows)


def _pylists(batches: Iterable[Any]) -> Iterator[list[dict[str, Any]]]:
    for batch in batches:
        if batch.num_rows:
            yield annotate(batch.to_pylist())
