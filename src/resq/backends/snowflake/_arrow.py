"""Arrow in and out of Snowflake: results normalized to what the shared code expects, and
Arrow tables staged as one bound JSON document (plain DML, so it stays in a transaction).

Results: column names are lower-cased (Snowflake upper-cases unquoted names), fixed-point
numbers become int64 (scale 0) or float64, timestamps microseconds, and OBJECT columns
(and VARIANT columns holding objects) become Arrow structs, as DuckDB returns them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

# Snowflake caps a bound VARCHAR at 16 MB; stay well below it per statement.
MAX_STAGE_BYTES = 8 * 1024 * 1024

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


# --------------------------------------------------------------------------- results


def normalize(table: pa.Table) -> pa.Table:
    """A Snowflake result as the shared code reads it (see the module docstring)."""
    names, columns = [], []
    for field, column in zip(table.schema, table.columns, strict=True):
        names.append(field.name.lower())
        columns.append(_normalize_column(field, column))
    return pa.table(columns, names=names)


def _logical_type(field: pa.Field) -> str:
    meta = field.metadata or {}
    return (meta.get(b"logicalType") or b"").decode().upper()


def _normalize_column(field: pa.Field, column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    kind = field.type
    if pa.types.is_integer(kind) and kind != pa.int64():
        return pc.cast(column, pa.int64())  # Snowflake's NUMBER(38, 0)
    if pa.types.is_decimal(kind):
        return pc.cast(column, pa.int64() if kind.scale == 0 else pa.float64())
    if pa.types.is_timestamp(kind) and kind.unit != "us":
        return pc.cast(column, pa.timestamp("us", kind.tz))
    if pa.types.is_string(kind) and _logical_type(field) in {"OBJECT", "VARIANT", "ARRAY"}:
        return _parse_semi_structured(column, _logical_type(field))
    return column


def _parse_semi_structured(column: pa.ChunkedArray, logical: str) -> pa.ChunkedArray | pa.Array:
    """OBJECT (always) and VARIANT / ARRAY values that are all objects or all arrays become
    Arrow structs or lists; anything else (scalars, mixed shapes) stays JSON text."""
    texts = column.to_pylist()
    try:
        values = [None if t is None else json.loads(t) for t in texts]
    except (TypeError, ValueError):
        return column
    shapes = {type(v) for v in values if v is not None}
    if not shapes or not (shapes <= {dict} or shapes <= {list}):
        return column
    if logical == "VARIANT" and shapes != {dict}:
        return column
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return column


def from_rows(rows: list[tuple[Any, ...]], names: list[str]) -> pa.Table:
    """Arrow from plain rows (for results the driver cannot hand over as Arrow)."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = []
    for values in columns:
        try:
            arrays.append(pa.array(list(values)))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.array([None if v is None else str(v) for v in values], pa.string()))
    return pa.table(arrays, names=[n.lower() for n in names])


# --------------------------------------------------------------------------- staging


def snowflake_type(kind: pa.DataType) -> str:
    """The Snowflake column type that holds an Arrow type without loss."""
    if pa.types.is_boolean(kind):
        return "BOOLEAN"
    if pa.types.is_integer(kind):
        return "NUMBER(38, 0)"
    if pa.types.is_floating(kind):
        return "FLOAT"
    if pa.types.is_decimal(kind):
        return f"NUMBER({kind.precision}, {kind.scale})"
    if pa.types.is_timestamp(kind):
        return "TIMESTAMP_NTZ" if kind.tz is None else "TIMESTAMP_TZ"
    if pa.types.is_date(kind):
        return "DATE"
    if pa.types.is_time(kind):
        return "TIME"
    if pa.types.is_struct(kind) or pa.types.is_map(kind):
        return "OBJECT"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return "ARRAY"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return "BINARY"
    return "VARCHAR"


def column_types(schema: pa.Schema) -> dict[str, str]:
    """Stage column name -> Snowflake type; names must be plain lower-case identifiers
    (they come from resq's code and table specs, never from data)."""
    out = {}
    for field in schema:
        if not _NAME.match(field.name):
            raise ValueError(f"cannot stage a column named {field.name!r}")
        out[field.name] = snowflake_type(field.type)
    return out


def create_stage_sql(name: str, types: dict[str, str]) -> str:
    """The temporary table a stage lives in (one per session and stage name)."""
    columns = ", ".join(f"{c} {t}" for c, t in types.items())
    return f"CREATE OR REPLACE TEMPORARY TABLE {name} ({columns})"


def insert_stage_sql(name: str, types: dict[str, str], columns: list[str]) -> str:
    """INSERT the rows of one bound JSON array into the stage: ``FLATTEN`` yields one row
    per element, each column read by key and cast to its type. Missing keys are NULL."""
    reads = ", ".join(_read(c, types[c]) for c in columns)
    return (
        f"INSERT INTO {name} ({', '.join(columns)}) "
        f"SELECT {reads} FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?)))"
    )


def _read(column: str, kind: str) -> str:
    if kind in {"OBJECT", "ARRAY", "VARIANT"}:
        return f"value:{column}"
    if kind.startswith(("TIMESTAMP", "DATE", "TIME")):
        # through text: the ISO string the JSON holds, and NULL when the key is absent
        return f"value:{column}::VARCHAR::{kind}"
    return f"value:{column}::{kind}"


def json_batches(data: pa.Table, limit: int = MAX_STAGE_BYTES) -> Iterator[str]:
    """The rows as JSON arrays of objects, each at most about ``limit`` bytes.

    NULLs (and NaN) are left out of a row's object, so every engine reads them as SQL NULL.
    """
    batch: list[str] = []
    size = 2
    for row in data.to_pylist():
        text = json.dumps(
            {k: _jsonable(v) for k, v in row.items() if not _is_null(v)},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        if batch and size + len(text) + 1 > limit:
            yield "[" + ",".join(batch) + "]"
            batch, size = [], 2
        batch.append(text)
        size += len(text) + 1
    if batch:
        yield "[" + ",".join(batch) + "]"


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
