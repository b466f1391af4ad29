"""resq.core.demand: the OpenLMIS adjustment, the Syntetos-Boylan classes, and the forecasts
held to statsforecast (the oracle) on random series.

Oracle parameters: ``SimpleExponentialSmoothing(alpha)`` for SES, ``CrostonSBA()`` (SES at
alpha 0.1 on sizes and intervals, times 0.95), ``TSB(alpha_d, alpha_p)``; alphas drawn in
[0.05, 1]. resq's forecast of a series with stock-out days equals the oracle's forecast of
the series with those days cut out. Agreement: 1e-6 absolute.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resq.core import demand

ALPHAS = st.floats(0.05, 1.0)
AMOUNTS = st.one_of(
    st.just(0.0),
    st.integers(1, 500).map(float),
    st.floats(0.01, 1e4, allow_nan=False, allow_infinity=False),
)


@st.composite
def series(draw: st.DrawFn, min_days: int = 1, max_days: int = 40) -> tuple[Any, Any]:
    """One item's consumption and stock-out days, with at least one in-stock day."""
    n = draw(st.integers(min_days, max_days))
    zero_share = draw(st.sampled_from([0.0, 0.3, 0.7, 0.95]))
    values = [0.0 if draw(st.floats(0, 1)) < zero_share else draw(AMOUNTS) for _ in range(n)]
    out = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    keep = draw(st.integers(0, n - 1))
    out[keep] = False
    return np.array(values), np.array(out)


def _oracle(model: Any, y: np.ndarray) -> float:
    return float(model.forecast(y, h=1)["mean"][0])


@pytest.fixture(scope="module")
def models() -> Any:
    sf = pytest.importorskip("statsforecast.models")
    return sf


# --- the oracle -------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(s=series(), alpha=ALPHAS)
def test_ses_equals_statsforecast(models: Any, s: tuple[Any, Any], alpha: float) -> None:
    y, out = s
    want = _oracle(models.SimpleExponentialSmoothing(alpha=alpha), y[~out])
    assert demand.ses(y, out, alpha=alpha)[0] == pytest.approx(want, abs=1e-6, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(s=series())
def test_croston_sba_equals_statsforecast(models: Any, s: tuple[Any, Any]) -> None:
    y, out = s
    want = _oracle(models.CrostonSBA(), y[~out])
    assert demand.croston_sba(y, out)[0] == pytest.approx(want, abs=1e-6, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(s=series(), alpha_d=ALPHAS, alpha_p=ALPHAS)
def test_tsb_equals_statsforecast(
    models: Any, s: tuple[Any, Any], alpha_d: float, alpha_p: float
) -> None:
    y, out = s
    want = _oracle(models.TSB(alpha_d=alpha_d, alpha_p=alpha_p), y[~out])
    got = demand.tsb(y, out, alpha_d=alpha_d, alpha_p=alpha_p)[0]
    assert got == pytest.approx(want, abs=1e-6, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), n_items=st.integers(1, 8), alpha=ALPHAS)
def test_many_items_at_once_equal_each_alone(data: Any, n_items: int, alpha: float) -> None:
    """The columnar recursions give every item what it gets alone, whatever its neighbours."""
    n = data.draw(st.integers(1, 30))
    rows = [data.draw(series(n, n)) for _ in range(n_items)]
    y = np.stack([r[0] for r in rows])
    out = np.stack([r[1] for r in rows])
    together = (
        demand.ses(y, out, alpha=alpha),
        demand.croston_sba(y, out),
        demand.tsb(y, out, alpha_d=alpha, alpha_p=alpha),
    )
    for i in range(n_items):
        alone = (
            demand.ses(y[i], out[i], alpha=alpha)[0],
            demand.croston_sba(y[i], out[i])[0],
            demand.tsb(y[i], out[i], alpha_d=alpha, alpha_p=alpha)[0],
        )
        assert [t[i] for t in together] == list(alone)


# --- the stock-out adjustment ---------------------------------------------------------------


def test_the_openlmis_golden_value() -> None:
    # 90 units over one 30-day month with 10 stock-out days: ceil(90 x 30 / 20) = 135
    assert demand.stockout_adjusted(90, 10, 30).tolist() == [135.0]


@given(
    consumed=st.integers(0, 100_000),
    months=st.integers(1, 12),
    data=st.data(),
)
def test_adjustment_is_openlmis_formula_in_whole_numbers(
    consumed: int, months: int, data: Any
) -> None:
    """For whole months, resq's window formula is OpenLMIS's ceil(C x 30M / (30M - X)),
    computed here in exact integer arithmetic; an all-stock-out window has no estimate."""
    days = 30 * months
    stockouts = data.draw(st.integers(0, days))
    got = demand.stockout_adjusted(consumed, stockouts, days)[0]
    if stockouts == days:
        assert math.isnan(got)
    else:
        exact = -((-consumed * days) // (days - stockouts))  # integer ceiling
        assert got == exact
        assert got >= consumed


def test_forecast_reports_the_adjustment_and_no_estimate_when_always_out() -> None:
    y = np.array([[3.0] * 20 + [0.0] * 10, [1.0] * 30])
    out = np.array([[False] * 20 + [True] * 10, [True] * 30])
    f = demand.forecast(y, out)
    assert f.consumed.tolist() == [60.0, 30.0]
    assert f.stockout_days.tolist() == [10, 30]
    assert f.adjusted[0] == 90.0  # ceil(60 x 30 / 20)
    assert math.isnan(f.adjusted[1]) and not np.isinf(f.adjusted).any()
    assert f.method[1] is None and "out of stock on every recorded day" in f.reason[1]


# --- classification -----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(s=series(max_days=60))
def test_classification_follows_the_cutoffs(s: tuple[Any, Any]) -> None:
    y, out = s
    adi, cv2, code = demand.classify_demand(y, out)
    sizes = y[~out][y[~out] > 0]
    if not len(sizes):
        assert code[0] == -1 and math.isnan(adi[0]) and math.isnan(cv2[0])
        return
    want_adi = (~out).sum() / len(sizes)
    want_cv2 = float(np.var(sizes) / np.mean(sizes) ** 2)
    assert adi[0] == pytest.approx(want_adi)
    assert cv2[0] == pytest.approx(want_cv2, rel=1e-9, abs=1e-12)
    label = demand.class_labels(code)[0]
    intermittent, variable = adi[0] >= 1.32, cv2[0] >= 0.49
    assert (
        label
        == {
            (False, False): "SMOOTH",
            (True, False): "INTERMITTENT",
            (False, True): "ERRATIC",
            (True, True): "LUMPY",
        }[(bool(intermittent), bool(variable))]
    )


@pytest.mark.parametrize(
    ("pattern", "label", "method"),
    [
        ([5.0, 5.0, 6.0, 5.0], "SMOOTH", "SES"),  # ADI 1, CV² small
        ([1.0, 30.0, 2.0, 40.0], "ERRATIC", "SES"),  # ADI 1, CV² large
        ([5.0, 0.0, 0.0, 6.0], "INTERMITTENT", "CROSTON_SBA"),  # ADI 2
        ([1.0, 0.0, 0.0, 40.0], "LUMPY", "TSB"),
    ],
)
def test_each_class_gets_its_method(pattern: list[float], label: str, method: str) -> None:
    y = np.tile(pattern, 7)[None, :]  # 28 days
    f = demand.forecast(y)
    assert (f.demand_class[0], f.method[0]) == (label, method)
    assert f.reason[0] is None and f.demand[0] > 0 and f.std[0] > 0


def test_cutoffs_are_inclusive_at_the_boundary() -> None:
    codes = demand._class_codes(np.array([1.32, 1.3199, 1.32]), np.array([0.1, 0.49, 0.49]))
    assert demand.class_labels(codes).tolist() == ["INTERMITTENT", "ERRATIC", "LUMPY"]


# --- the forecast as a whole --------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(s=series(min_days=14, max_days=45), alpha=ALPHAS)
def test_forecast_uses_the_chosen_method_and_measures_it_on_the_last_week(
    s: tuple[Any, Any], alpha: float
) -> None:
    y, out = s
    f = demand.forecast(y, out, alpha=alpha, alpha_d=alpha, alpha_p=alpha)
    method = f.method[0]
    obs = ~out
    if method is None:
        assert isinstance(f.reason[0], str) and math.isnan(f.demand[0])
        return
    assert f.reason[0] is None
    fit = {
        "SES": lambda yy, oo: demand.ses(yy, oo, alpha=alpha)[0],
        "CROSTON_SBA": lambda yy, oo: demand.croston_sba(yy, oo)[0],
        "TSB": lambda yy, oo: demand.tsb(yy, oo, alpha_d=alpha, alpha_p=alpha)[0],
    }[method]
    assert f.demand[0] == fit(y, out)
    # MASE: the fit on all but the last 7 days, against the in-stock days among them
    head = fit(y[:-7], out[:-7])
    held = y[-7:][obs[-7:]]
    train = y[:-7][obs[:-7]]
    scale = np.mean(np.abs(np.diff(train))) if len(train) > 1 else math.nan
    if len(held) and scale > 0:
        assert f.mase[0] == pytest.approx(np.mean(np.abs(held - head)) / scale)
    else:
        assert math.isnan(f.mase[0])
    assert f.std[0] == pytest.approx(np.std(y[obs], ddof=1))


@pytest.mark.parametrize(
    ("y", "out", "reason"),
    [
        ([2.0] * 13, None, "fewer than 14 days of history"),
        ([0.0] * 20, None, "no demand on any in-stock day"),
        ([2.0] * 20, [True] * 10 + [False] * 10, "fewer than 7 in-stock days before the last 7"),
        ([2.0] * 20, [True] * 20, "out of stock on every recorded day"),
        ([np.nan] * 10 + [2.0] * 10, None, "fewer than 14 days of history"),
    ],
)
def test_short_or_empty_histories_give_no_forecast_and_say_why(
    y: list[float], out: list[bool] | None, reason: str
) -> None:
    f = demand.forecast(np.array([y]), None if out is None else np.array([out]))
    assert f.method.tolist() == [None] and f.method_code.tolist() == [-1]
    assert math.isnan(f.demand[0]) and math.isnan(f.mase[0])
    assert reason in f.reason[0]


@pytest.mark.parametrize("bad", [-1.0, math.inf])
def test_bad_consumption_is_an_error_naming_row_and_day(bad: float) -> None:
    y = np.ones((3, 20))
    y[2, 5] = bad
    with pytest.raises(ValueError, match="row 2, day 5"):
        demand.forecast(y)
