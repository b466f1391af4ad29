"""Provenance by part: which inputs of a row or a decision were REAL and which SIMULATED.

A row of ``stock_analysis``, a purchase order or an alert rests on several inputs, each of
which may be real (loaded) or simulated (the deterministic simulation, or a chaos edit):

* ``stock``: the item's stock basis (its inventory row and its organization);
* ``weather``: the city's weather, where it changed the row (a demand multiplier, a
  threshold, or, for an order, the delivery delay);
* ``vendor_status``: the vendor statuses the vendor choice consulted (orders and alerts);
* ``demand``: where the consumption figure came from (today the inventory row; a
  forecast's ``data_source`` feeds it through :func:`analysis_parts`'s ``demand_source``).

Each part is REAL or SIMULATED; ``data_source`` stays the overall flag (SIMULATED when any
part is). :func:`labels` turns the parts into the short text the CLI, the dashboard and the
audit show, and :func:`as_json` into the ``--json`` form. A simulated input is never
hidden: every simulated part is named, unless the stock basis itself is simulated (a demo
or a chaos-edited item), when the whole label is ``SIMULATED``.

>>> str(labels("REAL", "SIMULATED", "SIMULATED", "REAL")[0])
'REAL stock · SIMULATED weather, vendor status'
>>> str(labels("REAL", "REAL", "REAL", "REAL")[0]), str(labels("SIMULATED", "REAL")[0])
('REAL', 'SIMULATED')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from resq.core._columns import broadcast, to_bool, to_str

REAL = "REAL"
SIMULATED = "SIMULATED"

PARTS = ("stock", "weather", "vendor_status", "demand")
"""The parts of a provenance, in the order a label names them."""

COLUMNS: dict[str, str] = {part: f"{part}_source" for part in PARTS}
"""The column that holds each part (``stock_source``, ``weather_source``, ...)."""

LABEL_KEY = "source_label"
"""The key under which the CLI's ``--json`` rows carry the label text."""

_NAMES = {
    "stock": "stock",
    "weather": "weather",
    "vendor_status": "vendor status",
    "demand": "demand",
}


def _simulated(value: Any, n: int) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(simulated, known) masks of one part's column; a missing part (None) is REAL."""
    if value is None:
        return np.zeros(n, bool), np.ones(n, bool)
    col = broadcast(n, to_str(value))
    known = (
        np.array([v is not None for v in col], dtype=bool)
        if col.dtype == object
        else (np.ones(n, bool))
    )
    return (col != REAL) & known, known


def analysis_parts(
    inventory_source: Any,
    org_source: Any,
    weather_source: Any,
    weather_applied: Any,
    demand_source: Any = None,
) -> dict[str, npt.NDArray[np.object_]]:
    """The ``stock``, ``weather`` and ``demand`` parts of ``stock_analysis`` rows.

    stock is REAL when the inventory row and its organization are; weather is SIMULATED
    where a simulated condition changed the row (``weather_applied``; no weather row is
    REAL); demand is the source of the consumption figure: ``demand_source`` when given
    (a forecast's), else the inventory row's. ``sql/stock_analysis.sql`` computes the same.
    """
    inv = to_str(inventory_source)
    n = len(inv)
    org = broadcast(n, to_str(org_source))
    wx = broadcast(n, to_str(weather_source))
    applied = broadcast(n, to_bool(weather_applied))
    demand = inv if demand_source is None else broadcast(n, to_str(demand_source))
    stock_real = (inv == REAL) & (org == REAL)
    weather_sim = (wx != REAL) & np.array([w is not None for w in wx], dtype=bool) & applied
    return {
        "stock": np.where(stock_real, REAL, SIMULATED).astype(object),
        "weather": np.where(weather_sim, SIMULATED, REAL).astype(object),
        "demand": np.where(demand == REAL, REAL, SIMULATED).astype(object),
    }


def overall(parts: Mapping[str, Any]) -> npt.NDArray[np.object_]:
    """``data_source``: SIMULATED where any given part is, else REAL."""
    n = max((len(to_str(v)) for v in parts.values() if v is not None), default=1)
    sim = np.zeros(n, bool)
    for value in parts.values():
        sim |= _simulated(value, n)[0]
    return np.where(sim, SIMULATED, REAL).astype(object)


def _label_of(simulated: tuple[bool, ...]) -> str:
    stock, *signals = simulated
    if stock:
        return SIMULATED
    named = [_NAMES[p] for p, s in zip(PARTS[1:], signals, strict=True) if s]
    return f"REAL stock · SIMULATED {', '.join(named)}" if named else REAL


# every combination of simulated parts, coded as bits in PARTS order (stock is bit 0)
_LABELS = np.array(
    [_label_of(tuple(bool(code >> i & 1) for i in range(len(PARTS)))) for code in range(16)],
    dtype=object,
)


def labels(
    stock: Any,
    weather: Any = None,
    vendor_status: Any = None,
    demand: Any = None,
    *,
    data_source: Any = None,
) -> npt.NDArray[np.object_]:
    """The label text of each row from its parts (columns or scalars; a part that is None
    does not apply to the row kind, e.g. vendor status for a stock row).

    A row whose stock part is NULL (stored before parts were recorded) is labelled by its
    ``data_source`` alone.
    """
    columns = (stock, weather, vendor_status, demand)
    n = max((len(to_str(c)) for c in columns if c is not None), default=1)
    code = np.zeros(n, np.int64)
    for bit, column in enumerate(columns):
        code |= _simulated(column, n)[0].astype(np.int64) << bit
    out = _LABELS[code]
    known = _simulated(stock, n)[1]
    if not known.all():
        fallback = (
            np.full(n, None, object) if data_source is None else broadcast(n, to_str(data_source))
        )
        out = np.where(known, out, fallback).astype(object)
    return out


def label_array(parts: Mapping[str, Any], data_source: Any = None, n: int | None = None) -> Any:
    """:func:`labels` in Arrow, for many rows at once without a Python object per row:
    ``parts`` maps each part present (``"stock"``, ...) to its Arrow column, a part that is
    absent does not apply; where the stock part is NULL or absent the label is the
    ``data_source`` column's text, NULL where that is NULL or absent. Returns an Arrow
    string array (``n`` rows; needed only when no column is given).

    >>> import pyarrow as pa
    >>> label_array({"stock": pa.array(["REAL", None]), "weather": pa.array(["X", "REAL"])},
    ...             pa.array(["REAL", "SIMULATED"])).to_pylist()
    ['REAL stock · SIMULATED weather', 'SIMULATED']
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = [c for c in (*parts.values(), data_source) if c is not None]
    rows = len(columns[0]) if columns else (n or 0)
    code = np.zeros(rows, np.int8)
    for bit, part in enumerate(PARTS):
        column = parts.get(part)
        if column is None:
            continue
        # simulated: any known value other than REAL (NULL is not known, so not simulated)
        simulated = pc.fill_null(pc.not_equal(_text(column), REAL), False)
        code |= np.asarray(simulated.to_numpy(zero_copy_only=False), np.int8) << bit
    out = pa.array(_LABELS.tolist(), pa.string()).take(pa.array(code))
    stock = parts.get("stock")
    known = pc.is_valid(stock) if stock is not None else pa.nulls(rows, pa.bool_()).fill_null(False)
    if not pc.all(known).as_py() and rows:
        fallback = pa.nulls(rows, pa.string()) if data_source is None else _text(data_source)
        out = pc.if_else(known, out, fallback)
    return out


def _text(column: Any) -> Any:
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column if pa.types.is_string(column.type) else column.cast(pa.string())


def row_label(row: Mapping[str, Any]) -> str | None:
    """The label of one row (a dict with the part columns, or only ``data_source``)."""
    parts = [[row[COLUMNS[p]]] if COLUMNS[p] in row else None for p in PARTS]
    if parts[0] is None:
        parts[0] = [None]  # no stock part at all: labelled by data_source
    value = labels(*parts, data_source=[row.get("data_source")])[0]
    return None if value is None else str(value)


def as_json(row: Mapping[str, Any]) -> dict[str, str | None]:
    """The parts of one row as ``{"stock": "REAL", "weather": "SIMULATED", ...}`` (only the
    parts its kind has)."""
    return {p: row[COLUMNS[p]] for p in PARTS if COLUMNS[p] in row}


def annotate(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for people and ``--json``: the part columns folded into ``provenance`` (their
    JSON form) next to ``source_label`` (their text, computed for all rows at once);
    ``data_source`` is kept. Rows without parts are returned as they are."""
    rows = list(rows)
    if not rows or not any(c in rows[0] for c in _PART_COLUMNS):
        return rows
    parts = [[r.get(COLUMNS[p]) for r in rows] if COLUMNS[p] in rows[0] else None for p in PARTS]
    text = labels(*parts, data_source=[r.get("data_source") for r in rows])
    out = []
    for row, label in zip(rows, text, strict=True):
        shown = {k: v for k, v in row.items() if k not in _PART_COLUMNS}
        shown["provenance"] = as_json(row)
        shown[LABEL_KEY] = None if label is None else str(label)
        out.append(shown)
    return out


_PART_COLUMNS = frozenset(COLUMNS.values())
