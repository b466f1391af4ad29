"""Days remaining and stock status: the rule every other part (SQL included) must agree with.

Days remaining is ``current_stock / daily_consumption``, unrounded. The consumption is the
item's forecast daily demand where it has one (learned from its history by
:mod:`resq.core.demand`), its typed ``daily_consumption`` otherwise (:func:`demand_basis`).
Zero consumption means the stock never runs out: days remaining is NULL and the status OK.
Zero stock with positive consumption is 0 days. A status is CRITICAL when days remaining is
at most the critical threshold (inclusive: exactly 3.0 days is critical), WARNING when at
most the warning threshold, OK otherwise.
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from resq.core._columns import FloatArray, broadcast, is_scalar, to_float
from resq.core.codes import Status

STATUS_RANK = {Status.CRITICAL: 0, Status.WARNING: 1, Status.OK: 2}


@overload
def days_remaining(current_stock: float | int, daily_consumption: float | int) -> float | None: ...
@overload
def days_remaining(current_stock: Any, daily_consumption: Any) -> Any: ...
def days_remaining(current_stock: Any, daily_consumption: Any) -> Any:
    """How many days the stock lasts at the given daily consumption.

    Scalars give a float, or None when consumption is zero. Numpy input gives a float64
    array with NaN for "never runs out"; pyarrow input gives a pyarrow array with nulls.

    >>> days_remaining(30, 10)
    3.0
    >>> days_remaining(0, 5)
    0.0
    >>> days_remaining(12, 0) is None
    True
    """
    stock = to_float(current_stock)
    rate = to_float(daily_consumption)
    n = max(len(stock), len(rate))
    stock, rate = broadcast(n, stock), broadcast(n, rate)
    _check_non_negative("current_stock", stock)
    _check_non_negative("daily_consumption", rate)
    out = days_remaining_array(stock, rate)
    if is_scalar(current_stock) and is_scalar(daily_consumption):
        value = float(out[0])
        return None if np.isnan(value) else value
    if isinstance(current_stock, (pa.Array, pa.ChunkedArray)) or isinstance(
        daily_consumption, (pa.Array, pa.ChunkedArray)
    ):
        return pa.array(out, type=pa.float64(), from_pandas=True)
    return out


def days_remaining_array(stock: FloatArray, rate: FloatArray) -> FloatArray:
    """The columnar kernel: float64 in, float64 out, NaN where consumption is zero."""
    out = np.full(stock.shape, np.nan, dtype=np.float64)
    positive = rate > 0
    np.divide(stock, rate, out=out, where=positive)
    return out


FORECAST = "FORECAST"
DAILY_CONSUMPTION = "DAILY_CONSUMPTION"


def demand_basis(
    daily_consumption: Any, forecast_daily_demand: Any
) -> tuple[FloatArray, npt.NDArray[np.object_]]:
    """The daily demand days remaining divides by, and its basis, per row: the forecast
    where there is one (not NULL / NaN), else the typed daily consumption. The basis is
    ``FORECAST`` or ``DAILY_CONSUMPTION``, as ``stock_analysis.demand_basis``.

    >>> rate, basis = demand_basis([10.0, 10.0], [12.5, None])
    >>> rate.tolist(), basis.tolist()
    ([12.5, 10.0], ['FORECAST', 'DAILY_CONSUMPTION'])
    """
    typed = to_float(daily_consumption)
    fc = to_float(forecast_daily_demand)
    n = max(len(typed), len(fc))
    typed, fc = broadcast(n, typed), broadcast(n, fc)
    has = ~np.isnan(fc)
    return np.where(has, fc, typed), np.where(has, FORECAST, DAILY_CONSUMPTION).astype(object)


def classify_codes(
    days: FloatArray, critical_days: FloatArray, warning_days: FloatArray
) -> npt.NDArray[np.int8]:
    """Status per row as a code: 0 CRITICAL, 1 WARNING, 2 OK (NaN days never run out: OK).
    Small integers compare and filter far faster than text; :func:`status_labels` names
    them."""
    known = ~np.isnan(days)
    codes = np.full(days.shape, 2, dtype=np.int8)
    codes[known & (days <= np.maximum(warning_days, critical_days))] = 1
    codes[known & (days <= critical_days)] = 0
    return codes


def status_labels(codes: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.object_]:
    """The status text of :func:`classify_codes` codes, as an object array of str."""
    return _STATUS_LABELS[codes]


_STATUS_LABELS = np.array([s.value for s in Status], dtype=object)


def classify(days: Any, critical_days: Any = 3.0, warning_days: Any = 7.0) -> Any:
    """CRITICAL / WARNING / OK from days remaining and the thresholds (inclusive).

    >>> classify(3.0)
    'CRITICAL'
    >>> classify(3.0001)
    'WARNING'
    >>> classify(None)
    'OK'
    """
    d = to_float(days)
    n = len(d)
    crit = broadcast(n, to_float(critical_days))
    warn = broadcast(n, to_float(warning_days))
    out = status_labels(classify_codes(d, crit, warn))
    if is_scalar(days):
        return str(out[0])
    if isinstance(days, (pa.Array, pa.ChunkedArray)):
        return pa.array(out, type=pa.string())
    return out


def _check_non_negative(name: str, values: FloatArray) -> None:
    bad = np.isinf(values) | (values < 0)
    if np.isnan(values).any():
        idx = int(np.flatnonzero(np.isnan(values))[0])
        raise ValueError(f"{name} must be a finite number >= 0, got NaN at position {idx}")
    if bad.any():
        idx = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} must be a finite number >= 0, got {float(values[idx])!r} at position {idx}"
        )
