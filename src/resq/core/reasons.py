"""An order's reason, stored as typed columns and read back as the reason object.

A heal cycle's reason (the struct :func:`resq.core.ordering.plan_orders` builds) is stored
in ``purchase_orders`` as one typed ``reason_<key>`` column per key: numbers as FLOAT,
text as VARCHAR, ``min_order_qty_raised`` as BOOLEAN, and the two lists as ``ARRAY(VARCHAR)``
columns (``caps_applied``, and ``vendors_rejected`` as the parallel lists
``reason_rejected_vendors`` / ``reason_rejected_whys``). Typed scalar and ``ARRAY(VARCHAR)``
columns mean the same thing on DuckDB (``VARCHAR[]``) and Snowflake (a structured ARRAY,
https://docs.snowflake.com/en/sql-reference/data-types-structured), so one schema serves
both; a heal cycle stages them straight from the struct's fields (no JSON is built per
row, in Python or in SQL).

A re-sourced order (``order.resourced``) also has ``reason_resourced_*`` (from, to,
cycle_id, at, waited_s). ``reason_legacy`` holds, verbatim, a reason converted from an older
schema whose text the typed columns cannot reproduce exactly (fewer keys, other keys, not an
object); it is NULL for every reason written since.

Readers get the reason object of before: :func:`objects` / :func:`reason_text` give, per
row, exactly what the JSON text column held (keys in the struct's order; a re-sourced
reason's keys sorted, as it was written).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    import pyarrow.compute as pc
else:  # imported on first use: read commands call no compute kernel
    from resq._lazy import LazyModule

    pc = LazyModule("pyarrow.compute")

_F, _S = pa.float64(), pa.string()
_LIST = pa.list_(pa.string())

# The reason's keys in the order plan_orders builds them, and each key's Arrow type.
KEYS: tuple[tuple[str, pa.DataType], ...] = (
    ("rule", _S),
    ("status", _S),
    ("days_remaining", _F),
    ("threshold_days", _F),
    ("target_days", _F),
    ("daily_demand", _F),
    ("lead_time_days", _F),
    ("weather_delay_days", _F),
    ("weather", _S),
    ("quantity_needed", _F),
    ("open_order_qty", _F),
    ("vendor", _S),
    ("vendor_latency_ms", _F),
    ("vendors_rejected", pa.list_(pa.struct([("vendor", _S), ("why", _S)]))),
    ("caps_applied", _LIST),
    ("action", _S),
    ("vendor_lead_time_days", _F),
    ("vendor_price", _F),
    ("vendor_reliability", _F),
    ("pack_size", _F),
    ("min_order_qty", _F),
    ("min_order_qty_raised", pa.bool_()),
)
KEY_NAMES: tuple[str, ...] = tuple(k for k, _ in KEYS)

REJECTED = ("reason_rejected_vendors", "reason_rejected_whys")
RESOURCED: tuple[tuple[str, pa.DataType], ...] = (
    ("from", _S),
    ("to", _S),
    ("cycle_id", _S),
    ("at", _S),
    ("waited_s", _F),
)
LEGACY = "reason_legacy"


def _column(key: str) -> str:
    return f"reason_{key}"


def _stage_fields() -> list[pa.Field]:
    fields: list[pa.Field] = []
    for key, kind in KEYS:
        if key == "vendors_rejected":
            fields += [pa.field(REJECTED[0], _LIST), pa.field(REJECTED[1], _LIST)]
        else:
            fields.append(pa.field(_column(key), kind))
    return fields


STAGE_SCHEMA = pa.schema(_stage_fields())
"""The typed columns a heal cycle stages for each order's reason."""

SCHEMA = pa.schema(
    [
        *STAGE_SCHEMA,
        *(pa.field(f"reason_resourced_{k}", t) for k, t in RESOURCED),
        pa.field(LEGACY, _S),
    ]
)
"""Every reason column of ``purchase_orders`` (sql/schema.sql), in table order."""

COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)
STAGE_COLUMNS: tuple[str, ...] = tuple(STAGE_SCHEMA.names)
RESOURCE_COLUMNS: tuple[str, ...] = (
    _column("vendor"),
    _column("vendor_latency_ms"),
    *REJECTED,
    *(f"reason_resourced_{k}" for k, _ in RESOURCED),
)
"""The reason columns re-sourcing a waiting order writes (sql/pending_vendor.sql)."""


def split_rejected(rejected: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """``list<struct<vendor, why>>`` as two parallel ``list<string>`` (offsets shared)."""
    if isinstance(rejected, pa.ChunkedArray):
        rejected = rejected.combine_chunks()
    if not len(rejected):
        return pa.array([], _LIST), pa.array([], _LIST)
    rejected = rejected.cast(KEYS[13][1])
    offsets = pc.subtract(rejected.offsets, rejected.offsets[0])
    values = rejected.flatten()
    mask = rejected.is_null() if rejected.null_count else None
    return (
        pa.ListArray.from_arrays(offsets, pc.struct_field(values, "vendor"), mask=mask),
        pa.ListArray.from_arrays(offsets, pc.struct_field(values, "why"), mask=mask),
    )


def to_columns(
    reason: pa.StructArray | pa.ChunkedArray,
) -> dict[str, pa.Array | pa.ChunkedArray]:
    """The typed stage columns of a reason struct column (its fields, unchanged: nothing is
    serialised, and a field of the reason's type is not copied). Keys the struct lacks are
    NULL."""
    if isinstance(reason, pa.ChunkedArray):
        chunks = [_chunk_columns(c) for c in reason.chunks]
        if not chunks:
            return _chunk_columns(pa.array([], reason.type))
        return {
            c: pa.chunked_array([part[c] for part in chunks], STAGE_SCHEMA.field(c).type)
            for c in STAGE_COLUMNS
        }
    return _chunk_columns(reason)


def _chunk_columns(reason: pa.StructArray) -> dict[str, pa.Array]:
    n = len(reason)
    names = {reason.type.field(i).name for i in range(reason.type.num_fields)}
    out: dict[str, pa.Array] = {}
    for key, kind in KEYS:
        value = reason.field(key) if key in names else pa.nulls(n, kind)
        if key == "vendors_rejected":
            out[REJECTED[0]], out[REJECTED[1]] = split_rejected(value)
        else:
            out[_column(key)] = value if value.type == kind else value.cast(kind)
    return out


# ---------------------------------------------------------------- reading


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, str):  # a semi-structured ARRAY a driver returned as JSON text
        value = json.loads(value)
    return None if value is None else list(value)


def _from_typed(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, _ in KEYS:
        if key == "vendors_rejected":
            vendors, whys = _as_list(row.get(REJECTED[0])), _as_list(row.get(REJECTED[1]))
            out[key] = (
                None
                if vendors is None
                else [{"vendor": v, "why": w} for v, w in zip(vendors, whys or [], strict=False)]
            )
        elif key == "caps_applied":
            out[key] = _as_list(row.get(_column(key)))
        else:
            out[key] = row.get(_column(key))
    return out


def reason_text(row: Mapping[str, Any]) -> str:
    """The reason's JSON text, exactly as the ``reason`` column held it before version 6
    (from a row holding the :data:`COLUMNS`)."""
    legacy = row.get(LEGACY)
    if row.get("reason_resourced_from") is None:
        if legacy is not None:
            return str(legacy)
        return json.dumps(_from_typed(row), separators=(",", ":"), default=str)
    # re-sourced: the reason it had, updated with the vendor choice, keys sorted
    if legacy is not None:
        try:
            base = json.loads(legacy)
        except ValueError:
            base = {}
        base = base if isinstance(base, dict) else {}
    else:
        base = _from_typed(row)
    typed = _from_typed(row)
    base.update(
        vendor=typed["vendor"],
        vendor_latency_ms=typed["vendor_latency_ms"],
        vendors_rejected=typed["vendors_rejected"] or [],
        resourced={k: row.get(f"reason_resourced_{k}") for k, _ in RESOURCED},
    )
    return json.dumps(base, sort_keys=True, default=str)


def objects(table: pa.Table) -> list[Any]:
    """Each row's reason object (what ``json.loads`` of the old column gave)."""
    return [json.loads(reason_text(row)) for row in table.select(list(COLUMNS)).to_pylist()]


def fold(table: pa.Table | pa.RecordBatch) -> pa.Table | pa.RecordBatch:
    """``table`` with its :data:`COLUMNS` replaced by the ``reason`` JSON text column, after
    ``rank`` (else where the first of them was); a table without all of them as it is."""
    names = table.schema.names
    if not set(COLUMNS) <= set(names):
        return table
    texts = _strings([reason_text(row) for row in table.select(list(COLUMNS)).to_pylist()])
    keep = [i for i, n in enumerate(names) if n not in set(COLUMNS)]
    arrays = [table.column(i) for i in keep]
    kept = [names[i] for i in keep]
    # where the text column stood in purchase_orders: after rank (on an upgraded database
    # the typed columns were appended at the end)
    at = kept.index("rank") + 1 if "rank" in kept else names.index(COLUMNS[0])
    arrays.insert(at, texts)
    kept.insert(at, "reason")
    if isinstance(table, pa.RecordBatch):
        return pa.RecordBatch.from_arrays(arrays, names=kept)
    return pa.Table.from_arrays(arrays, names=kept)


def _strings(texts: list[str]) -> pa.Array:
    """``texts`` as an Arrow string array, built from its buffers: ``pa.array`` of Python
    objects imports pandas (to look for pandas types), which a read command never needs."""
    import numpy as np

    data = [t.encode() for t in texts]
    offsets = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum([len(d) for d in data], out=offsets[1:])
    body = pa.py_buffer(b"".join(data))
    if offsets[-1] < 2**31:
        return pa.StringArray.from_buffers(len(data), pa.py_buffer(offsets.astype(np.int32)), body)
    return pa.LargeStringArray.from_buffers(len(data), pa.py_buffer(offsets), body)


# ---------------------------------------------------------------- converting


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values, NaN equal to NaN, an int and a float never equal."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _fits(kind: pa.DataType, value: Any) -> bool:
    if value is None:
        return True
    if kind == _F:
        return isinstance(value, float)
    if kind == _S:
        return isinstance(value, str)
    if kind == pa.bool_():
        return isinstance(value, bool)
    if kind == _LIST:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return (
        isinstance(value, list)
        and all(isinstance(v, dict) and list(v) == ["vendor", "why"] for v in value)
        and all(_fits(_S, v["vendor"]) and _fits(_S, v["why"]) for v in value)
    )


def from_text(text: str | None) -> dict[str, Any]:
    """The :data:`COLUMNS` of one stored JSON reason (converting a version-5 database):
    every key that fits its typed column is stored there; where the typed columns do not
    give back this very object (keys, their order and every value), the text is also kept,
    verbatim, in ``reason_legacy``. Never lossy: what :func:`reason_text` gives back parses
    to the object ``text`` held (and is ``text`` itself for a legacy row)."""
    out: dict[str, Any] = dict.fromkeys(COLUMNS)
    try:
        value = json.loads(text) if text is not None else None
    except ValueError:
        value = None
    if isinstance(value, dict):
        for key, kind in KEYS:
            v = value.get(key)
            if not _fits(kind, v):
                continue
            if key == "vendors_rejected":
                if v is not None:
                    out[REJECTED[0]] = [r["vendor"] for r in v]
                    out[REJECTED[1]] = [r["why"] for r in v]
            else:
                out[_column(key)] = v
        resourced = value.get("resourced")
        if (
            isinstance(resourced, dict)
            and sorted(resourced) == sorted(k for k, _ in RESOURCED)
            and isinstance(resourced["from"], str)
            and all(_fits(t, resourced[k]) for k, t in RESOURCED)
        ):
            for k, _ in RESOURCED:
                out[f"reason_resourced_{k}"] = resourced[k]
    if text is not None and isinstance(value, dict) and _same(json.loads(reason_text(out)), value):
        return out
    out[LEGACY] = text if text is not None else "null"
    if reason_text(out) != out[LEGACY]:
        # not re-sourced as resq writes it: the verbatim text alone, nothing laid over it
        out.update(dict.fromkeys(f"reason_resourced_{k}" for k, _ in RESOURCED))
    return out


def from_texts(texts: Sequence[str | None]) -> pa.Table:
    """:func:`from_text` of each text, as a table of :data:`SCHEMA`."""
    rows = [from_text(t) for t in texts]
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def explain_reason(reason: Any) -> str:
    """A proposal's reason (the struct :func:`resq.core.ordering.plan_orders` builds, or the
    reason object an order's listing holds) as one line a person reads: status, days left,
    the rule that fired and its threshold, the vendor chosen, the vendors passed over and
    why, the caps applied. Empty when there is nothing to say. The CLI and the dashboard
    both show this (also importable from :mod:`resq.core.ordering`).

    >>> explain_reason({"status": "CRITICAL", "days_remaining": 0.0, "threshold_days": 3.0,
    ...     "vendor": "Blinkit", "vendors_rejected": [{"vendor": "Dunzo", "why": "OFFLINE"}]})
    'CRITICAL: 0.0 days left (threshold 3 days); vendor Blinkit; passed over Dunzo (OFFLINE)'
    """
    if isinstance(reason, str):
        try:
            reason = json.loads(reason)
        except ValueError:
            return ""
    if not isinstance(reason, Mapping):
        return ""
    parts = []
    if "days_remaining" in reason:
        days = reason.get("days_remaining")
        left = "never runs out" if days is None or days != days else f"{days:.1f} days left"
        threshold = reason.get("threshold_days")
        why = [f"rule {reason['rule']}"] if reason.get("rule") else []
        why += [f"threshold {threshold:g} days"] if threshold is not None else []
        because = f" ({', '.join(why)})" if why else ""
        parts.append(f"{reason.get('status', '?')}: {left}{because}")
    if reason.get("vendor"):
        parts.append(f"vendor {reason['vendor']}")
    if reason.get("min_order_qty_raised") and reason.get("min_order_qty"):
        parts.append(f"raised to the vendor's minimum order of {reason['min_order_qty']:g}")
    rejected = [v for v in reason.get("vendors_rejected") or [] if isinstance(v, Mapping)]
    if rejected:
        passed = ", ".join(f"{v.get('vendor')} ({v.get('why')})" for v in rejected)
        parts.append(f"passed over {passed}")
    if reason.get("caps_applied"):
        parts.append("caps " + ", ".join(map(str, reason["caps_applied"])))
    return "; ".join(parts)
