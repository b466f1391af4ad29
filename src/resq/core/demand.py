"""Demand learned from history: stock-out-adjusted consumption, the Syntetos-Boylan class of
each item, and a forecast of daily demand chosen by it. Columnar across items.

The input is one 2-D array, items x days (one row per item, one column per day, oldest
first): the consumption recorded that day, NaN where the day has no record. A second
boolean array of the same shape marks stock-out days (the item was at zero). A stock-out
day's consumption is what there was to consume, not what was demanded, so every rule here
treats it as *unobserved*: the forecasts run over the in-stock days only, exactly as if the
stock-out days had been cut out of the series. Recursions loop over days (a few numpy
operations on whole columns per day), never over items: a million items of 90 days take
seconds (``benchmarks/forecast.py``).

**Stock-out-adjusted consumption** (:func:`stockout_adjusted`) follows OpenLMIS's Adjusted
Consumption: ``N = ceil(C x 30M / (30M - X))`` for ``C`` units consumed over ``M`` months
with ``X`` stock-out days, rounded up (OpenLMIS 3 uses ``Math.ceil``; OLMIS-4967, and the
"Adjusted Consumption calculations and 360-day calendar" notes, where a month is 30 days).
resq generalises the 30M-day period to the history window of ``D`` recorded days:
``N = ceil(C x D / (D - X))``; ``C = 90``, ``D = 30``, ``X = 10`` gives 135. A window that
was out of stock every day gives no estimate (NaN), never infinity.

**Classification** (:func:`classify_demand`, Syntetos & Boylan 2005) over the in-stock days:
ADI, the average inter-demand interval, is in-stock days / days with demand (> 0); CV² is
the squared coefficient of variation of the non-zero demand sizes (population variance over
the squared mean). Cut-offs ADI 1.32 and CV² 0.49: SMOOTH (ADI < 1.32, CV² < 0.49),
ERRATIC (ADI < 1.32, CV² >= 0.49), INTERMITTENT (ADI >= 1.32, CV² < 0.49), LUMPY (both at
or above).

**Forecast methods** (:data:`METHOD_BY_CLASS`), each matching statsforecast's model of the
same name to 1e-6 on the in-stock series (property tests hold them together):

- ``SES``, simple exponential smoothing for SMOOTH and ERRATIC demand: statsforecast's
  ``SimpleExponentialSmoothing(alpha)`` (level starts at the first value; default alpha 0.1).
- ``CROSTON_SBA`` for INTERMITTENT demand: statsforecast's ``CrostonSBA()``, SES with alpha
  0.1 on the demand sizes and on the intervals between demands (the first interval counts
  from the start of the series), forecast ``0.95 x size / interval``.
- ``TSB`` for LUMPY demand: statsforecast's ``TSB(alpha_d, alpha_p)`` (default 0.1 and
  0.1), SES on the demand sizes times SES on the 0/1 demand indicator, each starting at its
  first value.

**Accuracy** is MASE on the held-out last ``holdout`` (7) days: the method is fitted on the
days before them, its flat forecast compared with the in-stock held-out days (mean absolute
error), scaled by the in-sample mean absolute error of the naive one-step forecast (each
in-stock day predicted by the previous in-stock day) on the fitting days. Below 1 beats the
naive forecast. NaN when no held-out day was in stock or the naive error is zero.

The forecast itself is then refitted on the whole history, with the sample standard
deviation of daily demand on in-stock days (for safety stock).

**Too little history** gives no forecast: method None and a reason, and the caller keeps
its typed ``daily_consumption``. Reasons: fewer than ``holdout + min_fit_days`` recorded
days; out of stock every day; fewer than ``min_fit_days`` in-stock days before the held-out
week; no demand on any in-stock day.

``replay`` and notebooks call :func:`forecast` directly::

    result = forecast(history, stockout)  # arrays, one value per item
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from resq.core._columns import FloatArray

ADI_CUTOFF = 1.32
"""Syntetos-Boylan: ADI at or above this is intermittent (or lumpy)."""
CV2_CUTOFF = 0.49
"""Syntetos-Boylan: CV² at or above this is erratic (or lumpy)."""
SBA_FACTOR = 0.95
"""Syntetos-Boylan approximation: Croston's size / interval times 1 - alpha / 2, alpha 0.1."""
CROSTON_ALPHA = 0.1
"""statsforecast's CrostonSBA smooths sizes and intervals with SES at alpha 0.1."""
DEFAULT_ALPHA = 0.1
DEFAULT_HOLDOUT = 7
DEFAULT_MIN_FIT_DAYS = 7


class DemandClass(StrEnum):
    """Syntetos-Boylan demand classes."""

    SMOOTH = "SMOOTH"
    INTERMITTENT = "INTERMITTENT"
    ERRATIC = "ERRATIC"
    LUMPY = "LUMPY"


class Method(StrEnum):
    """Forecast methods."""

    SES = "SES"
    CROSTON_SBA = "CROSTON_SBA"
    TSB = "TSB"


CLASS_CODES = (DemandClass.SMOOTH, DemandClass.INTERMITTENT, DemandClass.ERRATIC, DemandClass.LUMPY)
"""Class code c (0..3) is CLASS_CODES[c]; -1 means no class (no demand on in-stock days)."""
METHOD_CODES = (Method.SES, Method.CROSTON_SBA, Method.TSB)
"""Method code m (0..2) is METHOD_CODES[m]; -1 means no forecast."""
METHOD_BY_CLASS = {
    DemandClass.SMOOTH: Method.SES,
    DemandClass.ERRATIC: Method.SES,
    DemandClass.INTERMITTENT: Method.CROSTON_SBA,
    DemandClass.LUMPY: Method.TSB,
}
_METHOD_OF_CLASS = np.array([0, 1, 0, 2], dtype=np.int8)  # by class code

BoolArray = npt.NDArray[np.bool_]


# ---------------------------------------------------------------- stock-out adjustment


def stockout_adjusted(consumed: Any, stockout_days: Any, window_days: Any) -> FloatArray:
    """OpenLMIS adjusted consumption ``ceil(C x D / (D - X))`` per item (NaN when X >= D).

    >>> stockout_adjusted(90, 10, 30).tolist()
    [135.0]
    >>> stockout_adjusted([90, 7], [30, 0], [30, 30]).tolist()
    [nan, 7.0]
    """
    c = np.atleast_1d(np.asarray(consumed, dtype=np.float64))
    x = np.atleast_1d(np.asarray(stockout_days, dtype=np.float64))
    d = np.atleast_1d(np.asarray(window_days, dtype=np.float64))
    c, x, d = np.broadcast_arrays(c, x, d)
    in_stock = d - x
    out = np.full(c.shape, np.nan)
    ok = in_stock > 0
    np.divide(c * d, in_stock, out=out, where=ok)
    return np.ceil(out)


# ---------------------------------------------------------------- classification


def classify_demand(
    history: Any, stockout: Any = None
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int8]]:
    """``(adi, cv2, class_code)`` per item over its in-stock days (see the module doc).

    ADI and CV² are NaN, and the class code -1, for an item with no demand on any in-stock
    day. One demand size gives CV² 0.
    """
    y, observed = _prepare(history, stockout)
    demand = observed & (y > 0)
    n_obs = observed.sum(axis=1)
    n_dem = demand.sum(axis=1)
    sizes = np.where(demand, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        adi = np.where(n_dem > 0, n_obs / np.maximum(n_dem, 1), np.nan)
        mean = sizes.sum(axis=1) / np.maximum(n_dem, 1)
        var = np.where(demand, (y - mean[:, None]) ** 2, 0.0).sum(axis=1) / np.maximum(n_dem, 1)
        cv2 = np.where(n_dem > 0, var / (mean * mean), np.nan)
    return adi, cv2, _class_codes(adi, cv2)


def _class_codes(adi: FloatArray, cv2: FloatArray) -> npt.NDArray[np.int8]:
    intermittent = adi >= ADI_CUTOFF
    variable = cv2 >= CV2_CUTOFF
    code = np.where(intermittent, np.where(variable, 3, 1), np.where(variable, 2, 0)).astype(
        np.int8
    )
    code[np.isnan(adi) | np.isnan(cv2)] = -1
    return code


def class_labels(codes: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.object_]:
    """Class text per code (None for -1)."""
    labels = np.array([c.value for c in CLASS_CODES] + [None], dtype=object)
    return labels[np.where(codes < 0, len(CLASS_CODES), codes)]


def method_labels(codes: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.object_]:
    """Method text per code (None for -1)."""
    labels = np.array([m.value for m in METHOD_CODES] + [None], dtype=object)
    return labels[np.where(codes < 0, len(METHOD_CODES), codes)]


# ---------------------------------------------------------------- the three methods


def ses(history: Any, stockout: Any = None, *, alpha: float = DEFAULT_ALPHA) -> FloatArray:
    """Simple exponential smoothing per item over its in-stock days: the level starts at the
    first in-stock value and each later one moves it by ``alpha`` (statsforecast's
    ``SimpleExponentialSmoothing(alpha)`` forecast). NaN for an item with no in-stock day."""
    y, observed = _prepare(history, stockout)
    return _ses_rows(y, observed, alpha)


def croston_sba(history: Any, stockout: Any = None) -> FloatArray:
    """Croston's method with the Syntetos-Boylan approximation per item (statsforecast's
    ``CrostonSBA()``): ``0.95 x SES(sizes) / SES(intervals)``, alpha 0.1. 0 for an item
    without demand on an in-stock day; NaN for an item with no in-stock day."""
    y, observed = _prepare(history, stockout)
    return _croston_rows(y, observed)


def tsb(
    history: Any,
    stockout: Any = None,
    *,
    alpha_d: float = DEFAULT_ALPHA,
    alpha_p: float = DEFAULT_ALPHA,
) -> FloatArray:
    """Teunter-Syntetos-Babai per item (statsforecast's ``TSB(alpha_d, alpha_p)``): SES of
    the demand sizes (``alpha_d``) times SES of the 0/1 demand indicator (``alpha_p``). 0 for
    an item without demand on an in-stock day; NaN for an item with no in-stock day."""
    y, observed = _prepare(history, stockout)
    return _tsb_rows(y, observed, alpha_d, alpha_p)


def _ses_rows(y: FloatArray, observed: BoolArray, alpha: float) -> FloatArray:
    return _ses_days(_by_day(y), _by_day(observed), alpha)[1]


def _croston_rows(y: FloatArray, observed: BoolArray) -> FloatArray:
    return _croston_days(_by_day(y), _by_day(observed))[1]


def _tsb_rows(y: FloatArray, observed: BoolArray, alpha_d: float, alpha_p: float) -> FloatArray:
    return _tsb_days(_by_day(y), _by_day(observed), alpha_d, alpha_p)[1]


def _by_day(a: np.ndarray) -> np.ndarray:
    """Days x items, each day contiguous: the recursions read one whole day at a time."""
    return np.ascontiguousarray(a.T)


# The recursions take days x items (contiguous days) and return the forecast after the first
# ``cut`` days and after all of them, in one pass. States update in place under masks.


def _ses_days(
    y: FloatArray, observed: BoolArray, alpha: float, cut: int | None = None
) -> tuple[FloatArray, FloatArray]:
    n = y.shape[1]
    level = np.full(n, np.nan)
    started = np.zeros(n, dtype=bool)
    step = np.empty(n)
    later = np.empty(n, dtype=bool)
    beta = 1.0 - alpha
    at_cut = level.copy()
    for t in range(y.shape[0]):
        if t == cut:
            at_cut = level.copy()
        obs, x = observed[t], y[t]
        np.multiply(x, alpha, out=step)
        step += beta * level
        np.logical_and(obs, started, out=later)
        np.copyto(level, step, where=later)
        np.copyto(level, x, where=obs & ~started)
        started |= obs
    if cut is None or cut >= y.shape[0]:
        at_cut = level.copy()
    return at_cut, level


def _croston_days(
    y: FloatArray, observed: BoolArray, cut: int | None = None
) -> tuple[FloatArray, FloatArray]:
    n = y.shape[1]
    a, b = CROSTON_ALPHA, 1.0 - CROSTON_ALPHA
    size = np.full(n, np.nan)
    interval = np.full(n, np.nan)
    since = np.zeros(n)  # in-stock days since the last demand (or the start)
    seen = np.zeros(n, dtype=bool)  # any in-stock day
    started = np.zeros(n, dtype=bool)  # any demand
    snap = None

    def result() -> FloatArray:
        with np.errstate(invalid="ignore"):
            out = SBA_FACTOR * (size / interval)
        # no demand: statsforecast falls back to the naive forecast, the last value (0)
        return np.where(started, out, np.where(seen, 0.0, np.nan))

    for t in range(y.shape[0]):
        if t == cut:
            snap = result()
        obs, x = observed[t], y[t]
        since += obs
        seen |= obs
        dem = obs & (x > 0)
        later = dem & started
        first = dem & ~started
        np.copyto(size, a * x + b * size, where=later)
        np.copyto(size, x, where=first)
        np.copyto(interval, a * since + b * interval, where=later)
        np.copyto(interval, since, where=first)
        since[dem] = 0.0
        started |= dem
    final = result()
    return (final if snap is None else snap), final


def _tsb_days(
    y: FloatArray, observed: BoolArray, alpha_d: float, alpha_p: float, cut: int | None = None
) -> tuple[FloatArray, FloatArray]:
    n = y.shape[1]
    size = np.full(n, np.nan)
    prob = np.full(n, np.nan)
    seen = np.zeros(n, dtype=bool)
    started = np.zeros(n, dtype=bool)
    bd, bp = 1.0 - alpha_d, 1.0 - alpha_p
    snap = None

    def result() -> FloatArray:
        return np.where(started, prob * size, np.where(seen, 0.0, np.nan))

    for t in range(y.shape[0]):
        if t == cut:
            snap = result()
        obs, x = observed[t], y[t]
        dem = obs & (x > 0)
        p = dem.astype(np.float64)
        np.copyto(prob, alpha_p * p + bp * prob, where=obs & seen)
        np.copyto(prob, p, where=obs & ~seen)
        np.copyto(size, alpha_d * x + bd * size, where=dem & started)
        np.copyto(size, x, where=dem & ~started)
        seen |= obs
        started |= dem
    final = result()
    return (final if snap is None else snap), final


def _fit(
    code: npt.NDArray[np.int8],
    y: FloatArray,
    observed: BoolArray,
    cut: int,
    alpha: float,
    alpha_d: float,
    alpha_p: float,
) -> tuple[FloatArray, FloatArray]:
    """Each item's forecast by its method code (-1: NaN) after ``cut`` days and after all
    days (``y`` days x items); each method runs on its items only."""
    n = y.shape[1]
    at_cut, final = np.full(n, np.nan), np.full(n, np.nan)
    for m in range(len(METHOD_CODES)):
        cols = np.flatnonzero(code == m)
        if not len(cols):
            continue
        yy, oo = y[:, cols], observed[:, cols]
        if m == 0:
            got = _ses_days(yy, oo, alpha, cut)
        elif m == 1:
            got = _croston_days(yy, oo, cut)
        else:
            got = _tsb_days(yy, oo, alpha_d, alpha_p, cut)
        at_cut[cols], final[cols] = got
    return at_cut, final


# ---------------------------------------------------------------- the forecast


@dataclass(frozen=True)
class Forecast:
    """One value per item (arrays of the same length as the history's rows).

    ``method_code`` / ``class_code`` are -1 where there is none; ``method`` / ``demand_class``
    give them as text (None). ``demand`` is the forecast daily demand, ``std`` the sample
    standard deviation of daily demand on in-stock days, ``mase`` the accuracy on the
    held-out days, ``adjusted`` the OpenLMIS adjusted consumption over the window,
    ``reason`` why there is no forecast (None where there is one)."""

    method_code: npt.NDArray[np.int8]
    class_code: npt.NDArray[np.int8]
    demand: FloatArray
    std: FloatArray
    adi: FloatArray
    cv2: FloatArray
    mase: FloatArray
    window_days: npt.NDArray[np.int64]
    stockout_days: npt.NDArray[np.int64]
    consumed: FloatArray
    adjusted: FloatArray
    reason: npt.NDArray[np.object_]

    @property
    def method(self) -> npt.NDArray[np.object_]:
        return method_labels(self.method_code)

    @property
    def demand_class(self) -> npt.NDArray[np.object_]:
        return class_labels(self.class_code)


def forecast(
    history: Any,
    stockout: Any = None,
    *,
    holdout: int = DEFAULT_HOLDOUT,
    min_fit_days: int = DEFAULT_MIN_FIT_DAYS,
    alpha: float = DEFAULT_ALPHA,
    alpha_d: float = DEFAULT_ALPHA,
    alpha_p: float = DEFAULT_ALPHA,
) -> Forecast:
    """Classify, choose the method, measure it on the held-out days and forecast each item.

    ``history`` is items x days (NaN: no record that day); ``stockout`` the same shape, True
    on stock-out days (None: none). See the module doc for every rule.

    >>> import numpy as np
    >>> days = np.tile([4.0, 6.0], 10)[None, :]  # 20 days, steady demand
    >>> f = forecast(days)
    >>> (str(f.method[0]), str(f.demand_class[0]), round(float(f.demand[0]), 2))
    ('SES', 'SMOOTH', 4.92)
    """
    if holdout < 1 or min_fit_days < 1:
        raise ValueError("holdout and min_fit_days must be at least 1")
    for name, value in (("alpha", alpha), ("alpha_d", alpha_d), ("alpha_p", alpha_p)):
        if not 0.0 < value <= 1.0:
            raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    y, observed = _prepare(history, stockout)
    recorded = ~np.isnan(y)
    stocked_out = recorded & ~observed
    n_items, n_days = y.shape

    window = recorded.sum(axis=1).astype(np.int64)
    outs = stocked_out.sum(axis=1).astype(np.int64)
    consumed = np.where(recorded, y, 0.0).sum(axis=1)
    adjusted = stockout_adjusted(consumed, outs, window)

    adi, cv2, class_code = classify_demand(y, ~observed)  # unrecorded days: unobserved
    fit_days = max(n_days - holdout, 0)
    in_stock_fit = observed[:, :fit_days].sum(axis=1)
    n_obs = observed.sum(axis=1)

    reason = np.full(n_items, None, dtype=object)
    need = holdout + min_fit_days
    reason[class_code < 0] = "no demand on any in-stock day"
    reason[in_stock_fit < min_fit_days] = (
        f"fewer than {min_fit_days} in-stock days before the last {holdout}"
    )
    reason[n_obs == 0] = "out of stock on every recorded day"
    reason[window < need] = f"fewer than {need} days of history ({holdout} held out)"
    ok = np.array([r is None for r in reason], dtype=bool)
    method = np.where(ok, _METHOD_OF_CLASS[np.maximum(class_code, 0)], -1).astype(np.int8)

    # one pass over the days: the fit before the held-out days, and the final forecast
    y_days, o_days = _by_day(y), _by_day(observed)
    fitted, demand = _fit(method, y_days, o_days, fit_days, alpha, alpha_d, alpha_p)
    held, h_obs = y[:, fit_days:], observed[:, fit_days:]
    n_held = h_obs.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mae = np.where(h_obs, np.abs(held - fitted[:, None]), 0.0).sum(axis=1) / n_held
        scale = _naive_mae(y_days[:fit_days], o_days[:fit_days])
        mase = np.where((n_held > 0) & (scale > 0) & ok, mae / scale, np.nan)

    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(observed, y, 0.0)
        mean = values.sum(axis=1) / n_obs
        ss = np.where(observed, (y - mean[:, None]) ** 2, 0.0).sum(axis=1)
        std = np.where(ok & (n_obs > 1), np.sqrt(ss / (n_obs - 1)), np.nan)
    return Forecast(
        method_code=method,
        class_code=class_code,
        demand=np.where(ok, demand, np.nan),
        std=std,
        adi=adi,
        cv2=cv2,
        mase=mase,
        window_days=window,
        stockout_days=outs,
        consumed=consumed,
        adjusted=adjusted,
        reason=reason,
    )


def _naive_mae(y: FloatArray, observed: BoolArray) -> FloatArray:
    """Mean |y_t - y_prev| over consecutive in-stock days (NaN with fewer than two);
    ``y`` days x items."""
    n = y.shape[1]
    prev = np.full(n, np.nan)
    total = np.zeros(n)
    count = np.zeros(n)
    for t in range(y.shape[0]):
        obs, x = observed[t], y[t]
        step = obs & ~np.isnan(prev)
        total += np.where(step, np.abs(x - prev), 0.0)
        count += step
        prev = np.where(obs, x, prev)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _prepare(history: Any, stockout: Any) -> tuple[FloatArray, BoolArray]:
    """``(y, observed)``: a float64 items x days matrix and where it is an in-stock day.

    A day without a record (NaN) is unobserved; negative or infinite consumption is a
    ValueError naming the item row and day column."""
    y = np.asarray(history, dtype=np.float64)
    if y.ndim == 1:
        y = y[None, :]
    if y.ndim != 2:
        raise ValueError(f"history must be items x days (2-D), got {y.ndim} dimensions")
    bad = np.isinf(y) | (y < 0)
    if bad.any():
        i, t = (int(v) for v in np.argwhere(bad)[0])
        raise ValueError(
            f"history row {i}, day {t}: consumption must be a finite number >= 0, "
            f"got {float(y[i, t])!r}"
        )
    observed = ~np.isnan(y)
    if stockout is not None:
        s = np.asarray(stockout, dtype=bool)
        if s.ndim == 1:
            s = s[None, :]
        if s.shape != y.shape:
            raise ValueError(f"stockout has shape {s.shape}, history {y.shape}")
        observed &= ~s
    return y, observed


# ---------------------------------------------------------------- from rows to a forecast table


def history_matrix(
    item_org: Any, item_sku: Any, history: Any
) -> tuple[FloatArray, BoolArray, npt.NDArray[np.bool_]]:
    """``stock_history`` rows (Arrow: org_id, sku, day, consumption, stockout, data_source)
    as the items x days matrices :func:`forecast` takes, one row per ``(item_org[i],
    item_sku[i])``: ``(consumption, stockout, simulated)``. Days run from the earliest to the
    latest day in ``history``; a day without a row is NaN. ``simulated`` is True for an item
    with any SIMULATED history row. Rows of other items are ignored."""
    import pyarrow as pa
    import pyarrow.compute as pc

    orgs = pa.array(item_org, type=pa.string())
    skus = pa.array(item_sku, type=pa.string())
    n = len(orgs)
    if history.num_rows == 0 or n == 0:
        return np.full((n, 0), np.nan), np.zeros((n, 0), bool), np.zeros(n, bool)
    sep = "\x1f"
    keys = pc.binary_join_element_wise(orgs, skus, sep)
    hist_keys = pc.binary_join_element_wise(
        history["org_id"].cast(pa.string()), history["sku"].cast(pa.string()), sep
    )
    index = pc.index_in(hist_keys, value_set=keys)
    known = np.asarray(pc.is_valid(index).to_numpy(zero_copy_only=False), dtype=bool)
    rows = np.asarray(index.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)[known]
    days = history["day"].cast(pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False)
    days = np.asarray(days, dtype=np.int64)
    first = int(days.min())
    width = int(days.max()) - first + 1
    cols = days[known] - first
    consumption = np.full((n, width), np.nan)
    stockout = np.zeros((n, width), dtype=bool)
    values = history["consumption"].cast(pa.float64()).to_numpy(zero_copy_only=False)
    consumption[rows, cols] = np.asarray(values, dtype=np.float64)[known]
    outs = history["stockout"].fill_null(False).to_numpy(zero_copy_only=False)
    stockout[rows, cols] = np.asarray(outs, dtype=bool)[known]
    simulated = np.zeros(n, dtype=bool)
    sim = pc.not_equal(history["data_source"].cast(pa.string()), "REAL").fill_null(True)
    np.logical_or.at(simulated, rows, np.asarray(sim.to_numpy(zero_copy_only=False))[known])
    return consumption, stockout, simulated


def forecast_table(
    item_org: Any,
    item_sku: Any,
    history: Any,
    computed_at: Any,
    *,
    item_source: Any = None,
    **options: Any,
) -> Any:
    """The ``demand_forecast`` rows (Arrow) of the given items from their ``stock_history``
    rows: :func:`history_matrix`, then :func:`forecast` (``options`` are its keywords).
    ``data_source`` is SIMULATED where any history row is, else REAL; an item with no history
    takes ``item_source`` (its inventory row's label; REAL when not given). NaN is NULL."""
    import pyarrow as pa

    orgs = pa.array(item_org, type=pa.string())
    n = len(orgs)
    y, out, simulated = history_matrix(item_org, item_sku, history)
    f = forecast(y, out, **options)
    has_history = f.window_days > 0
    fallback = (
        np.full(n, "REAL", dtype=object)
        if item_source is None
        else np.asarray(
            pa.array(item_source, type=pa.string()).fill_null("REAL").to_pylist(), dtype=object
        )
    )
    source = np.where(has_history, np.where(simulated, "SIMULATED", "REAL"), fallback)

    def floats(values: FloatArray) -> Any:
        return pa.array(values, type=pa.float64(), from_pandas=True)

    return pa.table(
        {
            "org_id": orgs,
            "sku": pa.array(item_sku, type=pa.string()),
            "method": pa.array(f.method.tolist(), type=pa.string()),
            "forecast_daily_demand": floats(f.demand),
            "demand_std": floats(f.std),
            "demand_class": pa.array(f.demand_class.tolist(), type=pa.string()),
            "adi": floats(f.adi),
            "cv2": floats(f.cv2),
            "mase": floats(f.mase),
            "history_days": pa.array(f.window_days, type=pa.int64()),
            "stockout_days": pa.array(f.stockout_days, type=pa.int64()),
            "consumed": floats(f.consumed),
            "adjusted_consumption": floats(f.adjusted),
            "reason": pa.array(f.reason.tolist(), type=pa.string()),
            "data_source": pa.array(source.tolist(), type=pa.string()),
            "computed_at": pa.array([computed_at] * n, type=pa.timestamp("us")),
        }
    )
