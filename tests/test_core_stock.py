"""Days remaining and stock status (seed plan property 4, and critical detection)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resq.core import Status, classify, days_remaining

stock_values = st.floats(0.0, 1e9, allow_nan=False, allow_infinity=False)
# Zero, or a realistic rate: a subnormal rate overflows the division to inf (with a numpy
# RuntimeWarning), which is still "never runs out in practice" but not a useful property.
consumption_values = st.one_of(
    st.just(0.0), st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False)
)


@settings(max_examples=200, deadline=None)
@given(stock=stock_values, consumption=consumption_values)
def test_property_4_days_remaining_accuracy(stock: float, consumption: float) -> None:
    got = days_remaining(stock, consumption)
    if consumption == 0:
        assert got is None  # never runs out
    else:
        # the same IEEE division, unrounded: exact equality, not approximate
        assert got == stock / consumption
        assert isinstance(got, float)
        if stock == 0:
            assert got == 0.0


@settings(max_examples=100, deadline=None)
@given(pairs=st.lists(st.tuples(stock_values, consumption_values), max_size=40))
def test_property_4_scalar_numpy_and_arrow_agree(pairs: list[tuple[float, float]]) -> None:
    stock = [s for s, _ in pairs]
    rate = [c for _, c in pairs]
    scalar = [days_remaining(s, c) for s, c in pairs]

    as_numpy = days_remaining(np.array(stock, dtype=np.float64), np.array(rate, dtype=np.float64))
    assert isinstance(as_numpy, np.ndarray)
    assert as_numpy.dtype == np.float64
    assert [None if math.isnan(v) else float(v) for v in as_numpy] == scalar

    as_arrow = days_remaining(pa.array(stock, pa.float64()), pa.array(rate, pa.float64()))
    assert isinstance(as_arrow, pa.Array)
    assert as_arrow.to_pylist() == scalar  # zero consumption is a NULL, not NaN
    assert as_arrow.null_count == sum(c == 0 for c in rate)

    chunked = days_remaining(
        pa.chunked_array([pa.array(stock, pa.float64())]), pa.array(rate, pa.float64())
    )
    assert chunked.to_pylist() == scalar


def test_zero_consumption_never_runs_out_in_every_form() -> None:
    assert days_remaining(12, 0) is None
    assert days_remaining(0, 0) is None
    assert np.isnan(days_remaining(np.array([12.0]), np.array([0.0]))[0])
    assert days_remaining(pa.array([12.0]), pa.array([0.0])).to_pylist() == [None]


def test_zero_stock_with_positive_consumption_is_zero_days() -> None:
    assert days_remaining(0, 5) == 0.0
    assert days_remaining(np.array([0.0, 0.0]), np.array([5.0, 0.001])).tolist() == [0.0, 0.0]
    assert classify(days_remaining(0, 5)) == Status.CRITICAL


def test_ints_and_broadcasting() -> None:
    assert days_remaining(30, 10) == 3.0
    out = days_remaining(np.array([10.0, 20.0, 0.0]), 4)
    assert out.tolist() == [2.5, 5.0, 0.0]
    with pytest.raises(ValueError, match="does not match"):
        days_remaining(np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0]))


BAD_VALUES = [-1.0, -1e-9, float("nan"), float("inf"), float("-inf")]


@pytest.mark.parametrize("bad", BAD_VALUES)
@pytest.mark.parametrize("column", ["current_stock", "daily_consumption"])
@pytest.mark.parametrize("form", ["scalar", "numpy", "arrow"])
def test_bad_values_are_rejected_naming_the_column(bad: float, column: str, form: str) -> None:
    values = {"current_stock": 10.0, "daily_consumption": 2.0, column: bad}
    stock, rate = values["current_stock"], values["daily_consumption"]
    if form == "numpy":
        stock, rate = np.array([1.0, stock]), np.array([1.0, rate])
    elif form == "arrow":
        stock, rate = pa.array([1.0, stock]), pa.array([1.0, rate])
    with pytest.raises(ValueError, match=column) as info:
        days_remaining(stock, rate)
    message = str(info.value)
    assert "finite number >= 0" in message
    if form != "scalar":
        assert "position 1" in message  # which element was bad


def test_null_stock_in_a_column_is_rejected() -> None:
    with pytest.raises(ValueError, match="current_stock"):
        days_remaining(pa.array([1.0, None]), pa.array([1.0, 1.0]))


# ---------------------------------------------------------------- critical detection


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (0.0, "CRITICAL"),
        (2.9999, "CRITICAL"),
        (3.0, "CRITICAL"),  # inclusive
        (3.0001, "WARNING"),
        (7.0, "WARNING"),  # inclusive
        (7.0001, "OK"),
        (1e9, "OK"),
        (None, "OK"),  # never runs out
        (float("nan"), "OK"),
    ],
)
def test_critical_detection_at_default_boundaries(days: float | None, expected: str) -> None:
    assert classify(days) == expected


def test_critical_detection_through_days_remaining() -> None:
    # exactly 3.0 days from stock / consumption, and just over it
    assert classify(days_remaining(30, 10)) == "CRITICAL"
    assert classify(days_remaining(30.003, 10)) == "WARNING"
    assert classify(days_remaining(30, 0)) == "OK"


def test_classify_columns_keep_their_form() -> None:
    days = [1.0, 3.0, 3.0001, None]
    as_arrow = classify(pa.array(days, pa.float64()))
    assert isinstance(as_arrow, pa.Array)
    assert as_arrow.to_pylist() == ["CRITICAL", "CRITICAL", "WARNING", "OK"]
    as_numpy = classify(np.array([1.0, 3.0, 3.0001, np.nan]))
    assert list(as_numpy) == ["CRITICAL", "CRITICAL", "WARNING", "OK"]


thresholds = st.floats(0.0, 60.0, allow_nan=False).flatmap(
    lambda c: st.tuples(st.just(c), st.floats(c, 90.0, allow_nan=False))
)
days_values = st.one_of(st.none(), st.floats(0.0, 100.0, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(limits=thresholds, days=st.lists(days_values, min_size=1, max_size=30), data=st.data())
def test_property_critical_detection_random_thresholds(
    limits: tuple[float, float], days: list[float | None], data: st.DataObject
) -> None:
    critical, warning = limits
    # put some values exactly on and just around the thresholds
    days = [*days, critical, warning, np.nextafter(critical, np.inf)]
    expected = []
    for d in days:
        if d is None:
            expected.append("OK")
        elif d <= critical:
            expected.append("CRITICAL")
        elif d <= warning:
            expected.append("WARNING")
        else:
            expected.append("OK")
    column = pa.array(days, pa.float64())
    assert classify(column, critical, warning).to_pylist() == expected
    # scalar and columnar agree, and per-row thresholds work like scalar thresholds
    i = data.draw(st.integers(0, len(days) - 1))
    assert classify(days[i], critical, warning) == expected[i]
    n = len(days)
    per_row = classify(column, np.full(n, critical), np.full(n, warning))
    assert per_row.to_pylist() == expected


def test_warning_threshold_below_critical_is_treated_as_critical() -> None:
    # a config whose warning is below its critical threshold never hides a critical item
    assert classify(4.0, critical_days=5.0, warning_days=2.0) == "CRITICAL"
    assert classify(5.5, critical_days=5.0, warning_days=2.0) == "OK"
