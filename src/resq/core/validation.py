"""Input validation for every table users load: one rule per column, checked as a whole.

A load is validated column by column (vectorized); any bad row makes the whole load fail
with a :class:`~resq.errors.ValidationError` that lists every bad row, column and reason.
The same specs validate single records (the core's models), so each rule lives here once.

Text columns are of three kinds: *codes* (``sector``, ``category``, ``data_source``) are
trimmed, upper-cased and must be one of their known values; *names* (ids such as
``org_id``, ``sku``, ``vendor_id``, and ``city``, ``unit``, vendor names) are kept exactly
as given but may not hold control characters; *free text* (``org_name``, ``item_name``) is
kept exactly. Every number is bounded by the plausible ranges below (:data:`LIMITS`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from resq.core.sourcing import DEFAULT_VENDOR_TYPE, VENDOR_TYPES
from resq.errors import RowIssue, ValidationError

if TYPE_CHECKING:
    import pyarrow.compute as pc
else:  # imported on first use: read commands call no compute kernel
    from resq._lazy import LazyModule

    pc = LazyModule("pyarrow.compute")

SECTORS = ("HOSPITAL", "PDS", "NGO")
DATA_SOURCES = ("REAL", "SIMULATED")
CATEGORIES = ("OXYGEN", "MEDICINE", "RICE", "WHEAT", "KIT", "WATER", "OTHER")
"""Item categories. OXYGEN has the hospital rules (never held by a budget, haze uplift),
RICE and WHEAT the PDS allotment cap; any other item is MEDICINE, KIT, WATER or OTHER."""
MAX_TEXT = 1000

# Plausible ranges, one place for loads, chaos and the core's order guard.
MAX_QUANTITY = 1e9
"""Stock, daily consumption and history values: finite, >= 0 and at most a billion units."""
MAX_LEAD_TIME_DAYS = 365.0
"""Lead times: 0 to 365 days."""
MAX_DAYS = 365.0
"""Sector thresholds and targets (critical, warning, target days): 0 to 365 days."""
MAX_PACK_SIZE = 1e6
"""Pack sizes: > 0 and at most a million units a pack."""
MAX_FACTOR = 100.0
"""Demand multipliers and the chaos demand factor: > 0 and at most 100."""
MAX_PRICE = 1e9
"""Unit prices: 0 to a billion."""
MAX_BUDGET = 1e12
"""Budget caps: 0 to a trillion."""
MAX_COUNT = 1e9
"""Counts of people or households: whole numbers, 0 to a billion."""
MAX_PRIORITY = 1000
"""Priorities: whole numbers, 1 (most urgent) to 1000."""
MAX_LATENCY_MS = 600_000
"""Vendor latency set by chaos: 0 to 600000 ms (ten minutes)."""
MAX_ORDER_QUANTITY = 1e12
"""The core never places an order above this (or a non-finite one): it holds the item
with a data-error alert instead. A thousand times the largest stock a load accepts."""

LIMITS: dict[str, tuple[float, float]] = {
    "quantity": (0.0, MAX_QUANTITY),
    "lead_time_days": (0.0, MAX_LEAD_TIME_DAYS),
    "days": (0.0, MAX_DAYS),
    "pack_size": (0.0, MAX_PACK_SIZE),
    "factor": (0.0, MAX_FACTOR),
    "price": (0.0, MAX_PRICE),
    "budget": (0.0, MAX_BUDGET),
    "count": (0.0, MAX_COUNT),
    "priority": (1.0, float(MAX_PRIORITY)),
    "latency_ms": (0.0, float(MAX_LATENCY_MS)),
    "order_quantity": (0.0, MAX_ORDER_QUANTITY),
}
"""Every bound above by name, (low, high); the docs list the same."""

CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
"""C0 and C1 controls, DEL, line and paragraph separators and the Unicode bidirectional
marks and overrides: refused in codes and names (they break messages and headers)."""
_CONTROL_RE2 = (
    "[\\x00-\\x1f\\x7f-\\x{9f}\\x{61c}\\x{200e}\\x{200f}\\x{2028}-\\x{202e}\\x{2066}-\\x{2069}]"
)


def control_character(value: str) -> str | None:
    """The first control character in ``value`` as ``U+XXXX``, or None when it has none.

    >>> control_character("OXY\\nCYL"), control_character("OXY-CYL")
    ('U+000A', None)
    """
    found = CONTROL_CHARACTERS.search(value)
    return f"U+{ord(found.group()):04X}" if found else None


def check_limit(value: Any, what: str, limit: str, *, exclusive_low: bool = False) -> float:
    """``value`` as a float when it is a finite number in the :data:`LIMITS` range named
    ``limit``; else ValueError naming ``what``, the range and the value."""
    low, high = LIMITS[limit]
    rel = ">" if exclusive_low else ">="
    number: float | None = None
    if not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
    if (
        number is None
        or not math.isfinite(number)
        or number > high
        or number < low
        or (exclusive_low and number <= low)
    ):
        raise ValueError(
            f"{what} must be a finite number {rel} {low:g} and <= {high:g}, got {value!r}"
        )
    return number


@dataclass(frozen=True)
class Col:
    """One column's rule: type, whether it is required, and the values it accepts."""

    name: str
    kind: str  # "str" | "float" | "int" | "bool" | "date"
    required: bool = True
    minimum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] | None = None
    default: Any = None
    maximum: float | None = None
    text: str = "name"  # for str: "code" (choices), "name" (no control characters), "free"

    @property
    def arrow_type(self) -> pa.DataType:
        return {
            "str": pa.string(),
            "float": pa.float64(),
            "int": pa.int64(),
            "bool": pa.bool_(),
            "date": pa.date32(),
        }[self.kind]


@dataclass(frozen=True)
class TableSpec:
    """The loadable columns of a warehouse table, its key, and the references it makes."""

    name: str
    columns: tuple[Col, ...]
    key: tuple[str, ...]
    references: Mapping[str, str] | None = None  # column -> referenced table

    def column(self, name: str) -> Col:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


_SOURCE = Col(
    "data_source", "str", required=False, choices=DATA_SOURCES, default="REAL", text="code"
)


def _num(
    name: str,
    kind: str,
    limit: str,
    *,
    required: bool = True,
    default: Any = None,
    exclusive_minimum: bool = False,
) -> Col:
    """A number column bounded by the named :data:`LIMITS` range (pack sizes and
    multipliers exclude their lower bound, 0)."""
    low, high = LIMITS[limit]
    exclusive = exclusive_minimum or limit in {"pack_size", "factor"}
    return Col(name, kind, required, low, exclusive, None, default, high)


TABLES: dict[str, TableSpec] = {
    "organizations": TableSpec(
        "organizations",
        (
            Col("org_id", "str"),
            Col("org_name", "str", text="free"),
            Col("sector", "str", choices=SECTORS, text="code"),
            Col("city", "str"),
            Col("disaster_zone", "bool", required=False, default=False),
            Col("phh_persons", "int", required=False, minimum=0, maximum=MAX_COUNT),
            Col("aay_households", "int", required=False, minimum=0, maximum=MAX_COUNT),
            Col("budget_cap", "float", required=False, minimum=0, maximum=MAX_BUDGET),
            _SOURCE,
        ),
        key=("org_id",),
    ),
    "sector_config": TableSpec(
        "sector_config",
        (
            Col("sector", "str", choices=SECTORS, text="code"),
            _num("critical_days", "float", "days"),
            _num("warning_days", "float", "days"),
            _num("target_days", "float", "days", exclusive_minimum=True),
            _num("priority", "int", "priority"),
            _num("adverse_critical_days", "float", "days", required=False),
            _num("adverse_demand_multiplier", "float", "factor", required=False, default=1.0),
            _num("haze_demand_multiplier", "float", "factor", required=False, default=1.0),
            _num("disaster_priority", "int", "priority", required=False),
            Col("monthly_allotment_cap", "bool", required=False, default=False),
        ),
        key=("sector",),
    ),
    "inventory_master": TableSpec(
        "inventory_master",
        (
            Col("org_id", "str"),
            Col("sku", "str"),
            Col("item_name", "str", text="free"),
            Col(
                "category", "str", required=False, default="OTHER", choices=CATEGORIES, text="code"
            ),
            _num("current_stock", "float", "quantity"),
            _num("daily_consumption", "float", "quantity"),
            Col("unit", "str", required=False, default="unit"),
            Col(
                "pack_size",
                "float",
                required=False,
                minimum=0,
                exclusive_minimum=True,
                maximum=MAX_PACK_SIZE,
                default=1.0,
            ),
            _num("lead_time_days", "float", "lead_time_days", required=False, default=1.0),
            Col("preferred_vendor", "str", required=False),
            _SOURCE,
        ),
        key=("org_id", "sku"),
        references={"org_id": "organizations"},
    ),
    "vendors": TableSpec(
        "vendors",
        (
            Col("vendor_id", "str"),
            Col("vendor_name", "str", required=False),
            Col(
                "vendor_type",
                "str",
                required=False,
                default=DEFAULT_VENDOR_TYPE,
                choices=VENDOR_TYPES,
                text="code",
            ),
            Col("reliability", "float", required=False, minimum=0, maximum=1),
            _SOURCE,
        ),
        key=("vendor_id",),
    ),
    "vendor_catalog": TableSpec(
        "vendor_catalog",
        (
            Col("vendor_id", "str"),
            Col("sku", "str"),
            Col("city", "str"),
            Col("price", "float", minimum=0, maximum=MAX_PRICE),
            _num("lead_time_days", "float", "lead_time_days", required=False, default=1.0),
            _num("min_order_qty", "float", "quantity", required=False, default=0.0),
            Col(
                "pack_size",
                "float",
                required=False,
                minimum=0,
                exclusive_minimum=True,
                maximum=MAX_PACK_SIZE,
            ),
            _SOURCE,
        ),
        key=("vendor_id", "sku", "city"),
        references={"vendor_id": "vendors"},
    ),
    "vendor_authorization": TableSpec(
        "vendor_authorization",
        (
            Col("sector", "str", choices=SECTORS, text="code"),
            Col("category", "str", choices=CATEGORIES, text="code"),
            Col("vendor_type", "str", choices=VENDOR_TYPES, text="code"),
            Col("authorized", "bool", required=False, default=True),
            _SOURCE,
        ),
        key=("sector", "category", "vendor_type"),
    ),
}

TABLES["stock_history"] = TableSpec(
    "stock_history",
    (
        Col("org_id", "str"),
        Col("sku", "str"),
        Col("day", "date"),
        _num("consumption", "float", "quantity"),
        _num("stock", "float", "quantity"),
        Col("stockout", "bool", required=False, default=False),
        _SOURCE,
    ),
    key=("org_id", "sku", "day"),
    references={"org_id": "organizations"},
)

ALIASES = {
    "inventory": "inventory_master",
    "catalog": "vendor_catalog",
    "sectors": "sector_config",
    "authorization": "vendor_authorization",
}


def table_spec(name: str) -> TableSpec:
    """The spec of a loadable table, by name or alias; unknown names list the valid ones."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in TABLES:
        valid = ", ".join(sorted([*TABLES, *ALIASES]))
        raise ValidationError(
            f"cannot load {name!r}",
            [RowIssue(None, "table", f"unknown table; loadable tables: {valid}", name)],
        )
    return TABLES[key]


def validate_table(
    spec: TableSpec | str,
    data: pa.Table,
    *,
    known: Mapping[str, Iterable[str]] | None = None,
    default_source: str = "REAL",
    null_markers: Iterable[str] = (),
) -> pa.Table:
    """Check a whole table against its spec and return it normalized (spec columns, types).

    ``known`` maps a referenced table (for example ``"organizations"``) to the keys that
    exist, so unknown references are caught. An empty text cell is missing (NULL), and so
    is a text cell exactly equal to one of ``null_markers`` (none by default: ``NA`` is a
    value). Dictionary (categorical) columns are read as their values. Rows count from 1.
    Raises ValidationError listing every problem; returns only when there is none.
    """
    spec = table_spec(spec) if isinstance(spec, str) else spec
    issues: list[RowIssue] = []
    n = data.num_rows
    present = set(data.column_names)
    markers = pa.array(sorted({"", *(str(m) for m in null_markers)}), pa.string())
    for name in sorted(present - {c.name for c in spec.columns}):
        issues.extend(_unknown_column(spec, name, data.column(name)))
    out: dict[str, pa.Array] = {}
    for col in spec.columns:
        if col.name not in present:
            if col.required:
                issues.append(RowIssue(None, col.name, "required column is missing"))
                continue
            default = default_source if col.name == "data_source" else col.default
            out[col.name] = pa.array([default] * n, type=col.arrow_type)
            continue
        given = _decoded(data.column(col.name))
        arr, col_issues = _check_column(col, _null_markers(given, markers), given)
        issues.extend(col_issues)
        if arr is not None:
            out[col.name] = arr
    # Row checks run even when some cells were bad, so one error lists every problem;
    # a key or reference column that could not be read at all is skipped.
    issues.extend(_check_rows(spec, out, n, known))
    if issues:
        issues.sort(key=lambda i: (i.row or 0, i.column))
        raise ValidationError(f"loading {spec.name} failed", issues)
    return pa.table(out)


def _unknown_column(spec: TableSpec, name: str, column: pa.ChunkedArray) -> list[RowIssue]:
    """An unknown column, reported at every row that has a value in it (at the header
    when none does)."""
    reason = f"not a column of {spec.name}"
    rows = np.flatnonzero(np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool))
    if not len(rows) or pa.types.is_null(column.type):
        return [RowIssue(None, name, reason)]
    return [RowIssue(int(i) + 1, name, reason) for i in rows]


def _decoded(column: pa.ChunkedArray) -> pa.Array:
    """One array; dictionary (categorical) chunks become their plain values."""
    if pa.types.is_dictionary(column.type):
        value_type = column.type.value_type
        chunks = [c.dictionary_decode() for c in column.chunks]
        return pa.chunked_array(chunks, type=value_type).combine_chunks()
    return column.combine_chunks()


def _null_markers(raw: pa.Array, markers: pa.Array) -> pa.Array:
    """Text cells equal to a null marker (always the empty string) become NULL."""
    if not (pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type)):
        return raw
    hit = pc.is_in(raw, value_set=markers.cast(raw.type))
    if not pc.any(hit).as_py():
        return raw
    return pc.if_else(hit, pa.nulls(len(raw), raw.type), raw)


def validate_record(table: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one record with the same rules as a load; returns the normalized record."""
    spec = table_spec(table)
    data = pa.table(
        {k: column_of([v]) for k, v in record.items() if k in {c.name for c in spec.columns}}
    )
    try:
        checked = validate_table(spec, data, default_source=record.get("data_source") or "REAL")
    except ValidationError as exc:
        issues = [RowIssue(None, i.column, i.reason, i.value) for i in exc.issues]
        raise ValidationError(f"invalid {spec.name} record", issues) from None
    return checked.to_pylist()[0]


def column_of(values: Sequence[Any]) -> pa.Array:
    """An Arrow column from Python values, never guessing: values of one type keep it; a
    mix (numbers and text, booleans and numbers) or an integer beyond 64 bits becomes text
    (``true``, ``12``), so validation reports each bad cell by row instead of Arrow
    failing or turning ``True`` into ``1.0``."""
    kinds = {type(v) for v in values if v is not None}
    if not (bool in kinds and len(kinds) > 1):
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    return pa.array([None if v is None else _as_text(v) for v in values], pa.string())


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _check_column(
    col: Col, raw: pa.Array, given: pa.Array | None = None
) -> tuple[pa.Array | None, list[RowIssue]]:
    """One column checked and normalized; ``given`` is the column as loaded (before null
    markers), shown in messages."""
    distinct = _few_distinct(col, raw, given)
    if distinct is not None:
        return _check_distinct(col, *distinct)
    issues: list[RowIssue] = []
    unreadable: list[int] = []
    arr = _cast(col, raw, issues, unreadable)
    if arr is None:
        return None, issues
    nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    missing = nulls.copy()
    missing[unreadable] = False  # already reported as unreadable, not as empty
    if col.kind == "str":
        return _check_text(col, raw if given is None else given, arr, nulls, missing, issues)
    if col.kind == "bool":
        return (arr.fill_null(col.default) if col.default is not None else arr), issues
    if col.kind == "date":
        if col.required:
            issues.extend(
                RowIssue(int(i) + 1, col.name, "must not be empty") for i in np.flatnonzero(missing)
            )
        return arr, issues
    values = np.asarray(
        arr.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False), dtype=np.float64
    )
    if col.required:
        for i in np.flatnonzero(missing):
            issues.append(RowIssue(int(i) + 1, col.name, "must not be empty"))
    finite_bad = ~nulls & ~np.isfinite(values)
    for i in np.flatnonzero(finite_bad):
        issues.append(
            RowIssue(int(i) + 1, col.name, "must be a finite number", _show(values[int(i)]))
        )
    checked = ~nulls & np.isfinite(values)
    if col.minimum is not None:
        with np.errstate(invalid="ignore"):
            low = values <= col.minimum if col.exclusive_minimum else values < col.minimum
        rel = ">" if col.exclusive_minimum else ">="
        for i in np.flatnonzero(low & checked):
            issues.append(
                RowIssue(
                    int(i) + 1, col.name, f"must be {rel} {col.minimum:g}", _show(values[int(i)])
                )
            )
    if col.maximum is not None:
        with np.errstate(invalid="ignore"):
            high = values > col.maximum
        for i in np.flatnonzero(high & checked):
            issues.append(
                RowIssue(int(i) + 1, col.name, f"must be <= {col.maximum:g}", _show(values[int(i)]))
            )
    if not col.required and col.default is not None:
        arr = arr.fill_null(col.default)
    return arr, issues


_DISTINCT_MIN_ROWS = 4096


def _few_distinct(
    col: Col, raw: pa.Array, given: pa.Array | None
) -> tuple[pa.Array, npt.NDArray[np.int64]] | None:
    """A long text column without missing cells and with few distinct values (ids and codes
    repeated over many rows) as (its distinct values, each row's index into them), so its
    rules run once per value; None when checking row by row is as cheap."""
    if (
        col.kind != "str"
        or len(raw) < _DISTINCT_MIN_ROWS
        or raw.null_count
        or (given is not None and given is not raw)
        or not (pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type))
    ):
        return None
    encoded = pc.dictionary_encode(raw)
    if len(encoded.dictionary) * 2 > len(raw):
        return None
    indices = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return encoded.dictionary, indices


def _check_distinct(
    col: Col, values: pa.Array, indices: npt.NDArray[np.int64]
) -> tuple[pa.Array | None, list[RowIssue]]:
    """A column checked through its distinct values: each problem is reported at every row
    holding the value, exactly as the row-by-row check reports it."""
    arr, found = _check_column(col, values)
    issues: list[RowIssue] = []
    if found:
        order = np.argsort(indices, kind="stable")
        starts = np.searchsorted(indices[order], np.arange(len(values) + 1))
        for issue in found:
            if issue.row is None:
                issues.append(issue)
                continue
            rows = order[starts[issue.row - 1] : starts[issue.row]]
            issues.extend(replace(issue, row=int(r) + 1) for r in rows)
    return (None if arr is None else arr.take(pa.array(indices))), issues


def _check_text(
    col: Col,
    raw: pa.Array,
    arr: pa.Array,
    nulls: npt.NDArray[np.bool_],
    missing: npt.NDArray[np.bool_],
    issues: list[RowIssue],
) -> tuple[pa.Array | None, list[RowIssue]]:
    """Text rules: not empty when required, not too long, no control characters in codes
    and names, and codes trimmed, upper-cased and known."""
    stripped = pc.utf8_trim_whitespace(arr)
    controlled = np.zeros(len(arr), dtype=bool)
    if col.text != "free":
        controlled = np.asarray(
            pc.match_substring_regex(arr, _CONTROL_RE2)
            .fill_null(False)
            .to_numpy(zero_copy_only=False),
            dtype=bool,
        )
        for i in np.flatnonzero(controlled):
            value = arr[int(i)].as_py()
            issues.append(
                RowIssue(
                    int(i) + 1,
                    col.name,
                    f"must not contain control characters (found {control_character(value)})",
                    value,
                )
            )
    empty = np.asarray(
        pc.equal(stripped, "").fill_null(False).to_numpy(zero_copy_only=False), dtype=bool
    )
    if col.required:
        for i in np.flatnonzero((missing | empty) & ~controlled):
            issues.append(RowIssue(int(i) + 1, col.name, "must not be empty", raw[int(i)].as_py()))
    too_long = np.asarray(
        pc.greater(pc.utf8_length(arr), MAX_TEXT).fill_null(False).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    for i in np.flatnonzero(too_long):
        issues.append(RowIssue(int(i) + 1, col.name, f"longer than {MAX_TEXT} characters"))
    if col.choices is not None:
        code = pc.utf8_upper(stripped)
        blank = empty & ~nulls  # blank is missing: reported above when required
        ok = np.asarray(
            pc.is_in(code, value_set=pa.array(col.choices)).to_numpy(zero_copy_only=False),
            dtype=bool,
        )
        for i in np.flatnonzero(~ok & ~nulls & ~controlled & ~blank):
            issues.append(
                RowIssue(
                    int(i) + 1,
                    col.name,
                    f"unknown value; expected one of {', '.join(col.choices)} (any case)",
                    raw[int(i)].as_py(),
                )
            )
        arr = pc.if_else(pa.array(nulls | blank), pa.nulls(len(arr), pa.string()), code)
    if not col.required and col.default is not None:
        arr = arr.fill_null(col.default)
    return arr, issues


_KINDS = {
    "float": "a number",
    "int": "a whole number",
    "bool": "true or false",
    "date": "a date (YYYY-MM-DD)",
}
_EXACT_INT = 2**53


def _cast(
    col: Col, raw: pa.Array, issues: list[RowIssue], unreadable: list[int]
) -> pa.Array | None:
    target = col.arrow_type
    if raw.type == target:
        return raw
    if pa.types.is_null(raw.type):
        return pa.nulls(len(raw), type=target)
    if col.kind == "str" and not (
        pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type)
    ):
        if pa.types.is_integer(raw.type):
            return raw.cast(pa.string())
        issues.extend(
            RowIssue(i + 1, col.name, "must be text", raw[i].as_py())
            for i in range(len(raw))
            if raw[i].is_valid
        )
        return None
    if col.kind in {"float", "int"} and pa.types.is_boolean(raw.type):
        issues.extend(
            RowIssue(
                i + 1, col.name, f"must be {_KINDS[col.kind]}, not true or false", raw[i].as_py()
            )
            for i in range(len(raw))
            if raw[i].is_valid
        )
        return None
    if col.kind == "bool" and pa.types.is_integer(raw.type):
        vals = raw.to_pylist()
        wrong = [i for i, v in enumerate(vals) if v is not None and v not in (0, 1)]
        if wrong:
            issues.extend(
                RowIssue(i + 1, col.name, "must be true or false", vals[i]) for i in wrong
            )
            return None
        return pc.cast(raw, target)
    if col.kind == "bool" and (pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type)):
        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(raw))
        truthy = pa.array(["true", "t", "yes", "y", "1"])
        falsy = pa.array(["false", "f", "no", "n", "0", ""])
        ok = pc.or_(pc.is_in(lowered, value_set=truthy), pc.is_in(lowered, value_set=falsy))
        ok = pc.or_(ok, raw.is_null())  # a missing cell is not a bad one
        bad = np.flatnonzero(
            ~np.asarray(ok.fill_null(True).to_numpy(zero_copy_only=False), dtype=bool)
        )
        if len(bad):
            issues.extend(
                RowIssue(int(i) + 1, col.name, "must be true or false", raw[int(i)].as_py())
                for i in bad
            )
            return None
        return pc.if_else(
            raw.is_null(), pa.nulls(len(raw), pa.bool_()), pc.is_in(lowered, value_set=truthy)
        )
    if col.kind == "float" and pa.types.is_integer(raw.type):
        # an integer beyond 2**53 has no exact float: report it instead of rounding it
        big = [i for i, v in enumerate(raw.to_pylist()) if v is not None and abs(v) > _EXACT_INT]
        if big:
            issues.extend(
                RowIssue(
                    i + 1,
                    col.name,
                    "whole number too large to store exactly (beyond 2**53)",
                    raw[i].as_py(),
                )
                for i in big
            )
            return None
    try:
        if col.kind == "int" and pa.types.is_floating(raw.type):
            return _whole(col, raw, issues, unreadable)
        return pc.cast(raw, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass
    values: list[Any] = []
    for i in range(len(raw)):
        value = raw[i].as_py() if raw[i].is_valid else None
        if value is not None:
            try:
                value = _cast_one(col, value, target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError):
                issues.append(RowIssue(i + 1, col.name, _unreadable(col, value), value))
                unreadable.append(i)
                value = None
        values.append(value)
    # unreadable cells become NULL so the rest of the column is still checked
    return pa.array(values, type=target)


def _whole(col: Col, raw: pa.Array, issues: list[RowIssue], unreadable: list[int]) -> pa.Array:
    """A float column read as whole numbers: a cell with a fraction (or not finite, or
    beyond 64 bits) is reported and read as NULL, so the rest of the column is still
    checked against its range."""
    vals = np.asarray(raw.to_numpy(zero_copy_only=False), dtype=np.float64)
    nulls = np.asarray(raw.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    with np.errstate(invalid="ignore"):
        frac = ~nulls & (
            ~np.isfinite(vals) | (np.mod(np.nan_to_num(vals), 1) != 0) | (np.abs(vals) >= 2**63)
        )
    if frac.any():
        issues.extend(
            RowIssue(int(i) + 1, col.name, "must be a whole number", _show(vals[int(i)]))
            for i in np.flatnonzero(frac)
        )
        unreadable.extend(int(i) for i in np.flatnonzero(frac))
        raw = pc.if_else(pa.array(frac), pa.nulls(len(raw), raw.type), raw)
    return pc.cast(raw, col.arrow_type, safe=False)


def _cast_one(col: Col, value: Any, target: pa.DataType) -> Any:
    """One cell the column-wide cast could not take, or ValueError."""
    if isinstance(value, bool) and col.kind in {"float", "int"}:
        raise ValueError("a boolean is not a number")
    if isinstance(value, int) and col.kind == "float" and abs(value) > _EXACT_INT:
        raise ValueError("too large")
    if isinstance(value, int) and col.kind == "int" and not -(2**63) <= value < 2**63:
        raise ValueError("too large")
    if col.kind == "int" and isinstance(value, str):
        try:
            return pc.cast(pa.array([value]), target)[0].as_py()
        except pa.ArrowInvalid:
            number = float(value)  # "10.0" is the whole number 10
            if not math.isfinite(number) or number != int(number) or abs(number) >= 2**63:
                raise ValueError("not a whole number") from None
            return int(number)
    return pc.cast(pa.array([value]), target)[0].as_py()


def _unreadable(col: Col, value: Any) -> str:
    """Why one cell could not be read as the column's kind."""
    boolean = isinstance(value, bool) or (
        isinstance(value, str) and value.strip().lower() in {"true", "false"}
    )
    if boolean and col.kind in {"float", "int"}:
        return f"must be {_KINDS[col.kind]}, not true or false"
    digits = value.strip().lstrip("+-") if isinstance(value, str) else None
    if isinstance(value, int) or (digits is not None and digits.isdigit()):
        if col.kind == "int":
            return "must be a whole number within the 64-bit range (below 2**63)"
        if col.kind == "float":
            return "whole number too large to store exactly (beyond 2**53)"
    return f"must be {_KINDS[col.kind]}"


def _check_rows(
    spec: TableSpec, cols: dict[str, pa.Array], n: int, known: Mapping[str, Iterable[str]] | None
) -> list[RowIssue]:
    issues: list[RowIssue] = []
    if n and all(k in cols for k in spec.key) and _may_repeat(cols, spec.key, n):
        keyed = pa.table({k: cols[k] for k in spec.key}).append_column(
            "__row", pa.array(np.arange(n, dtype=np.int64))
        )
        for k in spec.key:  # rows with an empty key are reported as empty, not duplicate
            keyed = keyed.filter(
                pc.invert(
                    pc.equal(pc.utf8_trim_whitespace(pc.cast(keyed[k], pa.string())), "").fill_null(
                        True
                    )
                )
            )
        groups = keyed.group_by(list(spec.key)).aggregate([("__row", "min"), ("__row", "count")])
        dups = groups.filter(pc.greater(groups["__row_count"], 1))
        if dups.num_rows:
            joined = keyed.join(dups, list(spec.key)).filter(
                pc.not_equal(pc.field("__row"), pc.field("__row_min"))
            )
            for rec in joined.sort_by("__row").to_pylist():
                shown = ", ".join(f"{k}={rec[k]!r}" for k in spec.key)
                issues.append(
                    RowIssue(
                        rec["__row"] + 1,
                        spec.key[-1],
                        f"duplicate key ({shown}) also in row {rec['__row_min'] + 1}",
                    )
                )
    if spec.name == "sector_config" and n and {"critical_days", "warning_days"} <= set(cols):
        crit = np.asarray(cols["critical_days"].to_numpy(zero_copy_only=False), dtype=np.float64)
        warn = np.asarray(cols["warning_days"].to_numpy(zero_copy_only=False), dtype=np.float64)
        for i in np.flatnonzero(warn < crit):
            issues.append(
                RowIssue(
                    int(i) + 1, "warning_days", "must be >= critical_days", _show(warn[int(i)])
                )
            )
    for column, ref in (spec.references or {}).items():
        if known is None or ref not in known or column not in cols:
            continue
        valid = pa.array(sorted(set(known[ref])), type=pa.string())
        ok = np.asarray(
            pc.or_(pc.is_in(cols[column], value_set=valid), cols[column].is_null())
            .fill_null(True)
            .to_numpy(zero_copy_only=False),
            dtype=bool,
        )
        for i in np.flatnonzero(~ok):
            issues.append(
                RowIssue(
                    int(i) + 1,
                    column,
                    f"unknown {ref[:-1] if ref.endswith('s') else ref}: not in {ref}",
                    cols[column][int(i)].as_py(),
                )
            )
    return issues


def _may_repeat(cols: Mapping[str, pa.Array], key: Sequence[str], n: int) -> bool:
    """Whether any two rows might share a key: False only when every row's key (each
    column's value codes combined into one integer) is provably distinct. Cheap, so the
    exact duplicate report below runs only on input that has a repeat."""
    if n < 2:
        return False
    code = np.zeros(n, dtype=np.int64)
    span = 1
    for k in key:
        encoded = pc.dictionary_encode(cols[k])
        size = len(encoded.dictionary) + 1  # code 0 is NULL
        if span * size >= 2**62:
            return True  # too many combinations to code exactly: check the slow way
        idx = np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False), np.int64)
        code = code * size + (idx + 1)
        span *= size
    code.sort()
    return bool((code[1:] == code[:-1]).any())


def _show(value: float) -> Any:
    if math.isnan(value):
        return float("nan")
    return float(value)  # a plain float: messages show -1.0, not np.float64(-1.0)
