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
    if isinstance(value, np.ndarray) and value.dtype != object:
        # a typed numpy column cannot hold None: no per-element scan
        return np.atleast_1d(value.astype(np.float64, copy=False))
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


# ---------------------------------------------------------------- Arrow-native helpers
# The hot paths keep text in Arrow (C++) and turn it into small integer codes or boolean
# masks; numpy object arrays of Python strings are what makes columnar code slow.


def as_arrow(value: Any, n: int | None = None, type: pa.DataType | None = None) -> pa.Array:
    """A contiguous Arrow array from a scalar (repeated to n), list, numpy or Arrow column."""
    if isinstance(value, pa.ChunkedArray):
        arr: pa.Array = value.combine_chunks() if value.num_chunks != 1 else value.chunk(0)
    elif isinstance(value, pa.Array):
        arr = value
    elif is_scalar(value):
        arr = pa.array([value] * (n if n is not None else 1), type=type)
    else:
        arr = pa.array(value, type=type, from_pandas=True)
    if type is not None and arr.type != type:
        arr = arr.cast(type)
    if n is not None and len(arr) == 1 and n != 1:
        arr = pa.array([arr[0].as_py()] * n, type=arr.type)
    return arr


def eq_mask(arr: pa.Array, value: str) -> npt.NDArray[np.bool_]:
    """Where a text column equals ``value`` (NULL is False)."""
    import pyarrow.compute as pc

    return np.asarray(pc.equal(arr, value).fill_null(False).to_numpy(zero_copy_only=False), bool)


def in_mask(arr: pa.Array, values: Any) -> npt.NDArray[np.bool_]:
    """Where a text column is one of ``values`` (NULL is False)."""
    import pyarrow.compute as pc

    value_set = pa.array(sorted(values), type=arr.type if pa.types.is_string(arr.type) else None)
    return np.asarray(pc.is_in(arr, value_set=value_set).to_numpy(zero_copy_only=False), bool)


def lookup_codes(arr: pa.Array, table: dict[str, int], missing: int = -1) -> npt.NDArray[np.int64]:
    """Integer code per row from a small mapping, via dictionary encoding (one Python lookup
    per distinct value, not per row). NULL and values not in ``table`` get ``missing``."""
    encoded = arr.dictionary_encode() if not pa.types.is_dictionary(arr.type) else arr
    mapping = np.array(
        [table.get(v, missing) for v in encoded.dictionary.to_pylist()] + [missing],
        dtype=np.int64,
    )
    indices = encoded.indices.cast(pa.int64()).fill_null(len(mapping) - 1)
    return mapping[np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64)]


def sorted_codes(arr: pa.Array) -> npt.NDArray[np.int64]:
    """Dense ranks of a text column in sorted order (equal text, equal code), in C++: the
    distinct values are ranked once and spread to the rows (NULL sorts last)."""
    import pyarrow.compute as pc

    if len(arr) == 0:
        return np.zeros(0, dtype=np.int64)
    encoded = arr.dictionary_encode() if not pa.types.is_dictionary(arr.type) else arr
    ranks = np.asarray(
        pc.rank(encoded.dictionary, sort_keys="ascending", tiebreaker="dense").to_numpy(),
        np.int64,
    )
    ranks = np.append(ranks, len(ranks) + 1)  # NULL after every value
    indices = encoded.indices.cast(pa.int64()).fill_null(len(ranks) - 1)
    return ranks[np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64)]


def from_codes(codes: npt.NDArray[np.integer[Any]], labels: list[str]) -> pa.Array:
    """A text column from integer codes into ``labels``; negative codes are NULL."""
    codes = np.asarray(codes)
    indices = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(
        indices, pa.array(labels, pa.string())
    ).dictionary_decode()


def key_codes(*columns: pa.Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """One integer per row for the tuple of ``columns`` (equal tuples, equal code), and
    where any of them is NULL. Codes are dense per column and combined, re-densified
    when the product of the column sizes would overflow."""
    n = len(columns[0]) if columns else 0
    code = np.zeros(n, dtype=np.int64)
    null = np.zeros(n, dtype=bool)
    size = 1
    for column in columns:
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        encoded = column if pa.types.is_dictionary(column.type) else column.dictionary_encode()
        width = len(encoded.dictionary) + 1
        null |= np.asarray(encoded.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        part = np.asarray(
            encoded.indices.cast(pa.int64()).fill_null(width - 1).to_numpy(zero_copy_only=False),
            dtype=np.int64,
        )
        if size * width >= 2**62:
            code = np.unique(code, return_inverse=True)[1].astype(np.int64)
            size = int(code.max()) + 1 if n else 1
        code = code * width + part
        size *= width
    return code, null


def inner_join_indices(
    left: list[pa.Array], right: list[pa.Array]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The row pairs of an inner equi-join on the key columns ``left[i] = right[i]`` (NULL
    matches nothing, as in SQL): left row indices ascending, each left row's matches in
    right-row order. The right side (the small one: vendor options) is dictionary-encoded,
    each left column is looked up in its dictionary (a hash lookup in C++), and the
    combined codes are matched in numpy, by a table of where each code's matches start
    (binary search when the code space is large): no Acero engine, whose import alone
    (~40 ms) is a short command's share."""
    import pyarrow.compute as pc

    nl = len(left[0])
    right_code = np.zeros(len(right[0]), dtype=np.int64)
    left_code = np.zeros(nl, dtype=np.int64)
    right_null = np.zeros(len(right[0]), dtype=bool)
    left_null = np.zeros(nl, dtype=bool)
    for lcol, rcol in zip(left, right, strict=True):
        lcol = lcol.combine_chunks() if isinstance(lcol, pa.ChunkedArray) else lcol
        rcol = rcol.combine_chunks() if isinstance(rcol, pa.ChunkedArray) else rcol
        encoded = rcol.cast(pa.string()).dictionary_encode()
        width = len(encoded.dictionary)
        right_null |= np.asarray(encoded.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        rpart = np.asarray(encoded.indices.fill_null(0).to_numpy(zero_copy_only=False), np.int64)
        found = pc.index_in(lcol.cast(pa.string()), value_set=encoded.dictionary)
        left_null |= np.asarray(found.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        lpart = np.asarray(found.fill_null(0).to_numpy(zero_copy_only=False), np.int64)
        if int(right_code.max(initial=0) + 1) * max(width, 1) >= 2**62:
            # re-densify over the right side's distinct codes (left codes map into them)
            uniq, right_code = np.unique(right_code, return_inverse=True)
            at = np.searchsorted(uniq, left_code)
            hit = at < len(uniq)
            hit[hit] = uniq[at[hit]] == left_code[hit]
            left_null |= ~hit
            left_code = np.where(hit, at, 0)
        right_code = right_code * max(width, 1) + rpart
        left_code = left_code * max(width, 1) + lpart
    candidates = np.flatnonzero(~right_null)
    order = candidates[np.argsort(right_code[candidates], kind="stable")]
    sorted_rc = right_code[order]
    space = int(sorted_rc[-1]) + 1 if len(sorted_rc) else 0
    if space <= max(1 << 22, 4 * len(sorted_rc)):
        # a small code space: where each code's matches start, and how many, by table
        per_code = np.bincount(sorted_rc, minlength=space)
        begins = np.cumsum(per_code) - per_code
        inside = left_code < space
        counts = np.zeros(nl, dtype=np.int64)
        start = np.zeros(nl, dtype=np.int64)
        counts[inside] = per_code[left_code[inside]]
        start[inside] = begins[left_code[inside]]
    else:
        start = np.searchsorted(sorted_rc, left_code, side="left")
        counts = np.searchsorted(sorted_rc, left_code, side="right") - start
    counts[left_null] = 0
    left_idx = np.repeat(np.arange(nl, dtype=np.int64), counts)
    firsts = np.cumsum(counts) - counts
    pos = np.arange(len(left_idx), dtype=np.int64) - np.repeat(firsts - start, counts)
    return left_idx, order[pos].astype(np.int64)


def group_counts(*columns: pa.Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The distinct tuples of ``columns`` (NULL is a value of its own here, as in GROUP
    BY): the index of each tuple's first row and how many rows have it, in first-row order."""
    code, _ = key_codes(*columns)
    n = len(code)
    if not n:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    space = int(code.max()) + 1
    if space <= max(1 << 22, 4 * n):
        # a small code space: counts and first rows by table, no sort of the rows
        counts = np.bincount(code, minlength=space)
        firsts = np.full(space, n, dtype=np.int64)
        np.minimum.at(firsts, code, np.arange(n, dtype=np.int64))
        present = np.flatnonzero(counts)
        first, counts = firsts[present], counts[present]
    else:
        _, first, counts = np.unique(code, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")
    return first[order].astype(np.int64), counts[order].astype(np.int64)
