"""Sorted listings read a page at a time (keyset pagination), so an engine that sorts in the
reader's own process (embedded DuckDB) holds one page of the sort, never the whole result.

Each page is ``ORDER BY <the ordering> LIMIT page`` over the rows that come after the last
row of the page before: ``(k1, k2, ...) > (v1, v2, ...)`` in the ordering's own sense (each
term's direction and NULLS placement), written out term by term with every value bound.
The ordering ends in the table's unique key (:data:`UNIQUE_KEYS`; appended when it does
not), so it is total: rows tied on every other term are told apart by the key, and no row is
lost or repeated at a page boundary. The SQL is Snowflake dialect like every other query.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

UNIQUE_KEYS: dict[str, tuple[str, ...]] = {
    "stock_analysis": ("org_id", "sku"),
    "inventory_master": ("org_id", "sku"),
    "purchase_orders": ("po_id",),
    "alerts": ("alert_id",),
    "notifications": ("notification_id",),
    "audit_log": ("seq",),
}
"""The columns that tell each row of a table apart (the primary keys of sql/schema.sql; for
stock_analysis, inventory_master's). A table missing here is read in one sorted query."""

_TERM = re.compile(
    r"(?P<expr>.+?)(?:\s+(?P<direction>ASC|DESC))?\s+NULLS\s+(?P<nulls>FIRST|LAST)",
    re.IGNORECASE | re.DOTALL,
)

KEY_PREFIX = "resq_k"
"""The page query returns each term's value as ``resq_k0``, ``resq_k1``, ...: the cursor is
read from them, and they are dropped before the rows are handed over."""


@dataclass(frozen=True)
class Term:
    """One ``ORDER BY`` item: its expression, direction and where NULLs go."""

    expr: str
    descending: bool = False
    nulls_last: bool = False

    @classmethod
    def parse(cls, item: str) -> Term:
        """An item whose NULLS placement is spelled out (``warehouse.order_items``).

        >>> Term.parse("created_at DESC NULLS LAST")
        Term(expr='created_at', descending=True, nulls_last=True)
        """
        match = _TERM.fullmatch(item.strip())
        if match is None:
            raise ValueError(f"an ORDER BY item must end in NULLS FIRST or LAST: {item!r}")
        direction = (match["direction"] or "ASC").upper()
        return cls(match["expr"], direction == "DESC", match["nulls"].upper() == "LAST")

    def sql(self, name: str) -> str:
        """This term's order applied to the column ``name``."""
        direction = "DESC" if self.descending else "ASC"
        return f"{name} {direction} NULLS {'LAST' if self.nulls_last else 'FIRST'}"


def terms_of(table: str, items: Sequence[str]) -> tuple[Term, ...] | None:
    """The ordering as terms ending in the table's unique key (appended where it is not
    named), or None for a table without a known key (read it in one sorted query)."""
    key = UNIQUE_KEYS.get(table)
    if key is None:
        return None
    terms = [Term.parse(item) for item in items]
    named = {t.expr for t in terms}
    terms += [Term(column) for column in key if column not in named]
    return tuple(terms)


def _name(i: int) -> str:
    return f"{KEY_PREFIX}{i}"


def _beyond(term: Term, name: str, value: Any) -> tuple[str, list[Any]] | None:
    """Rows strictly after ``value`` on this term, or None when nothing comes after it."""
    if value is None:
        return None if term.nulls_last else (f"{name} IS NOT NULL", [])
    op = "<" if term.descending else ">"
    if term.nulls_last:
        return f"({name} {op} ? OR {name} IS NULL)", [value]
    return f"{name} {op} ?", [value]


def after(terms: Sequence[Term], values: Sequence[Any]) -> tuple[str, list[Any]]:
    """The condition "after the row whose terms are ``values``", nested term by term:
    ``beyond(k0) OR (k0 = v0 AND (beyond(k1) OR (k1 = v1 AND ...)))``, a NULL matched with
    IS NULL, every value bound.

    >>> after([Term("a"), Term("b", descending=True, nulls_last=True)], [1, None])
    ('resq_k0 > ?', [1])
    >>> after([Term("a"), Term("b", descending=True, nulls_last=True)], [1, 2.5])
    ('(resq_k0 > ? OR (resq_k0 = ? AND (resq_k1 < ? OR resq_k1 IS NULL)))', [1, 1, 2.5])
    >>> after([Term("a", nulls_last=True), Term("b")], [None, "x"])
    ('resq_k0 IS NULL AND resq_k1 > ?', ['x'])
    """
    condition: str | None = None  # None: no row comes after
    params: list[Any] = []
    for i in reversed(range(len(terms))):
        name, value = _name(i), values[i]
        beyond = _beyond(terms[i], name, value)
        tail: tuple[str, list[Any]] | None = None
        if condition is not None:
            equal, bound = (f"{name} IS NULL", []) if value is None else (f"{name} = ?", [value])
            tail = f"{equal} AND {condition}", [*bound, *params]
        if beyond is not None and tail is not None:
            condition = f"({beyond[0]} OR ({tail[0]}))"
            params = [*beyond[1], *tail[1]]
        elif beyond is not None or tail is not None:
            condition, params = beyond or tail  # type: ignore[misc]
    return condition or "FALSE", params


def page_text(
    table: str,
    where: str,
    terms: Sequence[Term],
    values: Sequence[Any] | None,
    limit: int,
) -> tuple[str, list[Any]]:
    """One page: ``limit`` rows of ``table`` filtered by ``where`` (`` WHERE ...`` with
    bound values, or empty) in the terms' order, after the row whose terms are ``values``
    (from the first row for None), each term's value returned as ``resq_k<i>``; the values
    to bind after ``where``'s.

    >>> page_text("alerts", " WHERE org_id = ?", [Term("alert_id")], ["AL-1"], 2)[0]
    'SELECT * FROM (SELECT *, alert_id AS resq_k0 FROM alerts WHERE org_id = ?) AS resq_page \
WHERE resq_k0 > ? ORDER BY resq_k0 ASC NULLS FIRST LIMIT 2'
    """
    keys = ", ".join(f"{t.expr} AS {_name(i)}" for i, t in enumerate(terms))
    inner = f"SELECT *, {keys} FROM {table}{where}"
    text = f"SELECT * FROM ({inner}) AS resq_page"
    params: list[Any] = []
    if values is not None:
        condition, params = after(terms, values)
        text += f" WHERE {condition}"
    text += " ORDER BY " + ", ".join(t.sql(_name(i)) for i, t in enumerate(terms))
    return text + f" LIMIT {int(limit)}", params


Fetch = Callable[[str, Sequence[Any]], Iterable[pa.RecordBatch]]
"""Runs one rendered query with bound values; its rows as Arrow record batches."""


def pages(
    fetch: Fetch,
    render: Callable[[str], str],
    table: str,
    where: str,
    params: Sequence[Any],
    terms: Sequence[Term],
    *,
    limit: int | None,
    page_rows: int,
) -> Iterator[pa.RecordBatch]:
    """The first ``limit`` rows (all for None) of ``table`` filtered by ``where`` (its
    values: ``params``) in the terms' order, a page of at most ``page_rows`` at a time, each
    page starting after the last row of the one before. ``fetch`` runs each page (on one
    snapshot where the backend can); ``render`` renders its Snowflake-dialect text."""
    if page_rows < 1:
        raise ValueError(f"page_rows must be 1 or more, got {page_rows}")
    names = [_name(i) for i in range(len(terms))]
    values: tuple[Any, ...] | None = None
    left = limit
    while left is None or left > 0:
        wanted = page_rows if left is None else min(page_rows, left)
        text, bound = page_text(table, where, terms, values, wanted)
        got, last = 0, None
        for batch in fetch(render(text), [*params, *bound]):
            if not batch.num_rows:
                continue
            got += batch.num_rows
            last = batch
            yield batch.drop_columns(names)
        if last is None or got < wanted:
            return
        values = tuple(last.column(name)[last.num_rows - 1].as_py() for name in names)
        if left is not None:
            left -= got
