"""Conversions between what users pass (scalars, lists, numpy, pyarrow) and numpy columns."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

FloatArray = npt.NDArray[np.float64]


def is_scalar(value: Any) -> bool:
    """True for a single value (None, number, string), False for any column."""
    return value is None or isinstance(value, (int, float, str, bool, np.generic))


def to_float(value: Any) -> FloatArray:
    """A float64 numpy column; NULL becomes NaN."""
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        return np.asarray(value.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    if value is None:
        return np.array([np.nan])
    arr = np.asarray(value, dtype=object if _has_none(value) else None)
    if arr.dtype == object:
        arr = np.array([np.nan if v is None else v for v in arr.ravel()], dtype=np.float64)
    return np.atleast_1d(arr.astype(np.float64, copy=False))


def to_str(value: Any) -> npt.NDArray[np.object_]:
    """An object numpy column of str (None stays None)."""
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        return np.asarray(value.to_numpy(zero_copy_only=False), dtype=object)
    if value is None or isinstance(value, str):
        return np.array([value], dtype=object)
    return np.atleast_1d(np.asarray(value, dtype=object))


def to_bool(value: Any) -> npt.NDArray[np.bool_]:
    """A bool numpy column; NULL becomes False."""
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        return np.asarray(value.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    if isinstance(value, np.ndarray) and value.dtype != object:
        return np.atleast_1d(value.astype(bool))
    arr = np.atleast_1d(np.asarray(value, dtype=object))
    return np.array([bool(v) if v is not None else False for v in arr], dtype=bool)


def broadcast(n: int, column: np.ndarray) -> np.ndarray:
    """Repeat a length-1 column to length n; other lengths must already match."""
    if len(column) == n:
        return column
    if len(column) == 1:
        return np.repeat(column, n)
    raise ValueError(f"column of length {len(column)} does not match {n} rows")


def _has_none(value: Any) -> bool:
    try:
        return any(v is None for v in value)
    except TypeError:
        return False
