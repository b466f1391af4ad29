"""Input validation for every table users load: one rule per column, checked as a whole.

A load is validated column by column (vectorized); any bad row makes the whole load fail
with a :class:`~resq.errors.ValidationError` that lists every bad row, column and reason.
The same specs validate single records (the core's models), so each rule lives here once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from resq.errors import RowIssue, ValidationError

SECTORS = ("HOSPITAL", "PDS", "NGO")
DATA_SOURCES = ("REAL", "SIMULATED")
MAX_TEXT = 1000


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


_SOURCE = Col("data_source", "str", required=False, choices=DATA_SOURCES, default="REAL")

TABLES: dict[str, TableSpec] = {
    "organizations": TableSpec(
        "organizations",
        (
            Col("org_id", "str"),
            Col("org_name", "str"),
            Col("sector", "str", choices=SECTORS),
            Col("city", "str"),
            Col("disaster_zone", "bool", required=False, default=False),
            Col("phh_persons", "int", required=False, minimum=0),
            Col("aay_households", "int", required=False, minimum=0),
            Col("budget_cap", "float", required=False, minimum=0),
            _SOURCE,
        ),
        key=("org_id",),
    ),
    "sector_config": TableSpec(
        "sector_config",
        (
            Col("sector", "str", choices=SECTORS),
            Col("critical_days", "float", minimum=0),
            Col("warning_days", "float", minimum=0),
            Col("target_days", "float", minimum=0, exclusive_minimum=True),
            Col("priority", "int", minimum=1),
            Col("adverse_critical_days", "float", required=False, minimum=0),
            Col(
                "adverse_demand_multiplier",
                "float",
                required=False,
                minimum=0,
                exclusive_minimum=True,
                default=1.0,
            ),
            Col(
                "haze_demand_multiplier",
                "float",
                required=False,
                minimum=0,
                exclusive_minimum=True,
                default=1.0,
            ),
            Col("disaster_priority", "int", required=False, minimum=1),
            Col("monthly_allotment_cap", "bool", required=False, default=False),
        ),
        key=("sector",),
    ),
    "inventory_master": TableSpec(
        "inventory_master",
        (
            Col("org_id", "str"),
            Col("sku", "str"),
            Col("item_name", "str"),
            Col("category", "str", required=False, default="OTHER"),
            Col("current_stock", "float", minimum=0),
            Col("daily_consumption", "float", minimum=0),
            Col("unit", "str", required=False, default="unit"),
            Col(
                "pack_size", "float", required=False, minimum=0, exclusive_minimum=True, default=1.0
            ),
            Col("lead_time_days", "float", required=False, minimum=0, default=1.0),
            Col("preferred_vendor", "str", required=False),
            _SOURCE,
        ),
        key=("org_id", "sku"),
        references={"org_id": "organizations"},
    ),
    "vendors": TableSpec(
        "vendors",
        (Col("vendor_id", "str"), Col("vendor_name", "str", required=False), _SOURCE),
        key=("vendor_id",),
    ),
    "vendor_catalog": TableSpec(
        "vendor_catalog",
        (
            Col("vendor_id", "str"),
            Col("sku", "str"),
            Col("city", "str"),
            Col("price", "float", minimum=0),
            Col("lead_time_days", "float", required=False, minimum=0, default=1.0),
            _SOURCE,
        ),
        key=("vendor_id", "sku", "city"),
        references={"vendor_id": "vendors"},
    ),
}

TABLES["stock_history"] = TableSpec(
    "stock_history",
    (
        Col("org_id", "str"),
        Col("sku", "str"),
        Col("day", "date"),
        Col("consumption", "float", minimum=0),
        Col("stock", "float", minimum=0),
        Col("stockout", "bool", required=False, default=False),
        _SOURCE,
    ),
    key=("org_id", "sku", "day"),
    references={"org_id": "organizations"},
)

ALIASES = {"inventory": "inventory_master", "catalog": "vendor_catalog", "sectors": "sector_config"}


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
) -> pa.Table:
    """Check a whole table against its spec and return it normalized (spec columns, types).

    ``known`` maps a referenced table (for example ``"organizations"``) to the keys that
    exist, so unknown references are caught. Rows count from 1. Raises ValidationError
    listing every problem; returns only when there is none.
    """
    spec = table_spec(spec) if isinstance(spec, str) else spec
    issues: list[RowIssue] = []
    n = data.num_rows
    present = set(data.column_names)
    unknown_cols = sorted(present - {c.name for c in spec.columns})
    for name in unknown_cols:
        issues.append(RowIssue(None, name, f"not a column of {spec.name}"))
    out: dict[str, pa.Array] = {}
    for col in spec.columns:
        if col.name not in present:
            if col.required:
                issues.append(RowIssue(None, col.name, "required column is missing"))
                continue
            default = default_source if col.name == "data_source" else col.default
            out[col.name] = pa.array([default] * n, type=col.arrow_type)
            continue
        arr, col_issues = _check_column(col, data.column(col.name).combine_chunks())
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


def validate_record(table: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one record with the same rules as a load; returns the normalized record."""
    spec = table_spec(table)
    data = pa.table(
        {
            k: pa.array([v]) if v is not None else pa.nulls(1)
            for k, v in record.items()
            if k in {c.name for c in spec.columns}
        }
    )
    try:
        checked = validate_table(spec, data, default_source=record.get("data_source") or "REAL")
    except ValidationError as exc:
        issues = [RowIssue(None, i.column, i.reason, i.value) for i in exc.issues]
        raise ValidationError(f"invalid {spec.name} record", issues) from None
    return checked.to_pylist()[0]


def _check_column(col: Col, raw: pa.Array) -> tuple[pa.Array | None, list[RowIssue]]:
    issues: list[RowIssue] = []
    unreadable: list[int] = []
    arr = _cast(col, raw, issues, unreadable)
    if arr is None:
        return None, issues
    nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    missing = nulls.copy()
    missing[unreadable] = False  # already reported as unreadable, not as empty
    if col.kind == "str":
        stripped = pc.utf8_trim_whitespace(arr)
        empty = np.asarray(
            pc.equal(stripped, "").fill_null(False).to_numpy(zero_copy_only=False), dtype=bool
        )
        if col.required:
            for i in np.flatnonzero(missing | empty):
                issues.append(
                    RowIssue(int(i) + 1, col.name, "must not be empty", raw[int(i)].as_py())
                )
        too_long = np.asarray(
            pc.greater(pc.utf8_length(arr), MAX_TEXT)
            .fill_null(False)
            .to_numpy(zero_copy_only=False),
            dtype=bool,
        )
        for i in np.flatnonzero(too_long):
            issues.append(RowIssue(int(i) + 1, col.name, f"longer than {MAX_TEXT} characters"))
        if col.choices is not None:
            upper = pc.utf8_upper(stripped) if col.name != "data_source" else stripped
            ok = np.asarray(
                pc.is_in(upper, value_set=pa.array(col.choices)).to_numpy(zero_copy_only=False),
                dtype=bool,
            )
            for i in np.flatnonzero(~ok & ~nulls):
                issues.append(
                    RowIssue(
                        int(i) + 1,
                        col.name,
                        f"unknown value; expected one of {', '.join(col.choices)}",
                        raw[int(i)].as_py(),
                    )
                )
            arr = pc.if_else(arr.is_null(), arr, upper) if col.name != "data_source" else arr
        if not col.required and col.default is not None:
            arr = arr.fill_null(col.default)
        return arr, issues
    if col.kind == "bool":
        return (arr.fill_null(col.default) if col.default is not None else arr), issues
    if col.kind == "date":
        if col.required:
            issues.extend(
                RowIssue(int(i) + 1, col.name, "must not be empty") for i in np.flatnonzero(missing)
            )
        return arr, issues
    values = np.asarray(arr.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    if col.required:
        for i in np.flatnonzero(missing):
            issues.append(RowIssue(int(i) + 1, col.name, "must not be empty"))
    finite_bad = ~nulls & ~np.isfinite(values)
    for i in np.flatnonzero(finite_bad):
        issues.append(
            RowIssue(int(i) + 1, col.name, "must be a finite number", _show(values[int(i)]))
        )
    if col.minimum is not None:
        with np.errstate(invalid="ignore"):
            low = values <= col.minimum if col.exclusive_minimum else values < col.minimum
        low &= ~nulls & np.isfinite(values)
        rel = ">" if col.exclusive_minimum else ">="
        for i in np.flatnonzero(low):
            issues.append(
                RowIssue(
                    int(i) + 1, col.name, f"must be {rel} {col.minimum:g}", _show(values[int(i)])
                )
            )
    if not col.required and col.default is not None:
        arr = arr.fill_null(col.default)
    return arr, issues


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
    if col.kind == "bool" and (pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type)):
        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(raw))
        truthy = pa.array(["true", "t", "yes", "y", "1"])
        falsy = pa.array(["false", "f", "no", "n", "0", ""])
        ok = pc.or_(pc.is_in(lowered, value_set=truthy), pc.is_in(lowered, value_set=falsy))
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
    try:
        if col.kind == "int" and pa.types.is_floating(raw.type):
            vals = np.asarray(raw.to_numpy(zero_copy_only=False), dtype=np.float64)
            frac = ~np.isnan(vals) & (~np.isfinite(vals) | (np.mod(np.nan_to_num(vals), 1) != 0))
            if frac.any():
                issues.extend(
                    RowIssue(int(i) + 1, col.name, "must be a whole number", _show(vals[int(i)]))
                    for i in np.flatnonzero(frac)
                )
                return None
            return pc.cast(raw, target, safe=False)
        return pc.cast(raw, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass
    kind = {
        "float": "a number",
        "int": "a whole number",
        "bool": "true or false",
        "date": "a date (YYYY-MM-DD)",
    }[col.kind]
    values: list[Any] = []
    for i in range(len(raw)):
        value = raw[i].as_py() if raw[i].is_valid else None
        if value is not None:
            try:
                value = pc.cast(pa.array([value]), target)[0].as_py()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                issues.append(RowIssue(i + 1, col.name, f"must be {kind}", value))
                unreadable.append(i)
                value = None
        values.append(value)
    # unreadable cells become NULL so the rest of the column is still checked
    return pa.array(values, type=target)


def _check_rows(
    spec: TableSpec, cols: dict[str, pa.Array], n: int, known: Mapping[str, Iterable[str]] | None
) -> list[RowIssue]:
    issues: list[RowIssue] = []
    if n and all(k in cols for k in spec.key):
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


def _show(value: float) -> Any:
    if math.isnan(value):
        return float("nan")
    return float(value)  # a plain float: messages show -1.0, not np.float64(-1.0)
