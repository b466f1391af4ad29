"""Sector rules (seed plan property 12): thresholds, weather, disaster zones, NFSA allotment."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as rst
from resq.core import (
    ADVERSE_WEATHER,
    DEFAULT_SECTOR_CONFIG,
    WEATHER_DELAY_DAYS,
    SectorConfig,
    analyse,
    classify,
    days_remaining,
    monthly_allotment_kg,
    validate_record,
)
from resq.errors import ValidationError

rates = st.floats(0.01, 1e4, allow_nan=False, allow_infinity=False)
stocks = st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False)
weathers = st.one_of(st.none(), st.sampled_from(rst.CORE_WEATHER))
categories = st.sampled_from(["OXYGEN", "MEDICINE", "RICE", "KIT", None])
sectors = st.sampled_from(["HOSPITAL", "PDS", "NGO"])


def one(
    stock: float,
    rate: float,
    sector: str,
    category: str | None = None,
    weather: str | None = None,
    disaster_zone: bool = False,
) -> dict[str, object]:
    """The analysis of a single row, as plain values."""
    a = analyse(
        stock, rate, sector, category=category, weather=weather, disaster_zone=disaster_zone
    )
    days = float(a.days_remaining[0])
    return {
        "effective": float(a.effective_consumption[0]),
        "days": None if np.isnan(days) else days,
        "critical": float(a.critical_days[0]),
        "warning": float(a.warning_days[0]),
        "target": float(a.target_days[0]),
        "status": str(a.status[0]),
        "priority": int(a.priority[0]),
        "delay": float(a.weather_delay_days[0]),
    }


# ---------------------------------------------------------------- defaults


def test_documented_default_numbers() -> None:
    h, p, n = (DEFAULT_SECTOR_CONFIG[s] for s in ("HOSPITAL", "PDS", "NGO"))
    assert (h.critical_days, h.warning_days, h.target_days, h.priority) == (3.0, 7.0, 14.0, 1)
    assert h.haze_demand_multiplier == 1.25
    assert (p.critical_days, p.target_days, p.priority, p.monthly_allotment_cap) == (
        3.0,
        30.0,
        2,
        True,
    )
    assert (n.critical_days, n.adverse_critical_days, n.adverse_demand_multiplier) == (
        3.0,
        5.0,
        1.5,
    )
    assert (n.priority, n.disaster_priority) == (3, 1)
    assert frozenset({"Rain", "Storm", "Flood"}) == ADVERSE_WEATHER
    assert WEATHER_DELAY_DAYS["Rain"] == 1.0


@pytest.mark.parametrize("sector", ["HOSPITAL", "PDS", "NGO"])
def test_default_configs_pass_their_own_validation(sector: str) -> None:
    # the defaults are built without validation at import (no pyarrow, hence no pandas, on
    # `import resq.core`), so hold them to the sector_config rules here
    row = validate_record("sector_config", DEFAULT_SECTOR_CONFIG[sector].as_row())
    assert row["sector"] == sector


def test_user_sector_configs_are_still_validated() -> None:
    with pytest.raises(ValidationError, match="critical_days") as info:
        SectorConfig("HOSPITAL", critical_days=-1.0)
    assert "-1" in str(info.value)
    with pytest.raises(ValidationError, match="sector"):
        SectorConfig("CLINIC")
    with pytest.raises(ValidationError, match="warning_days"):
        SectorConfig("NGO", critical_days=5.0, warning_days=2.0)


# ---------------------------------------------------------------- NGO and weather


@pytest.mark.parametrize("weather", ["Rain", "Storm", "Flood"])
def test_ngo_adverse_weather_raises_threshold_and_demand(weather: str) -> None:
    clear = one(49.0, 10.0, "NGO", "KIT", "Clear")
    bad = one(49.0, 10.0, "NGO", "KIT", weather)
    assert clear["critical"] == 3.0
    assert bad["critical"] == 5.0
    assert bad["effective"] == 15.0  # demand x 1.5
    assert bad["days"] == 49.0 / 15.0
    assert clear["status"] == "WARNING"  # 4.9 days
    assert bad["status"] == "CRITICAL"  # 3.27 days <= 5


def test_ngo_five_day_threshold_is_inclusive_under_rain() -> None:
    # 75 kits at 10/day x 1.5 = 5.0 days exactly: critical under rain
    assert one(75.0, 10.0, "NGO", "KIT", "Rain")["status"] == "CRITICAL"
    assert one(75.01, 10.0, "NGO", "KIT", "Rain")["status"] == "WARNING"


@pytest.mark.parametrize("sector", ["HOSPITAL", "PDS"])
@pytest.mark.parametrize("weather", ["Rain", "Storm", "Flood"])
def test_adverse_weather_does_not_change_other_sectors_thresholds(
    sector: str, weather: str
) -> None:
    row = one(40.0, 10.0, sector, "MEDICINE", weather)
    assert row["critical"] == 3.0
    assert row["effective"] == 10.0
    assert row["status"] == "WARNING"


def test_haze_multiplier_only_for_hospital_oxygen() -> None:
    assert one(100.0, 10.0, "HOSPITAL", "OXYGEN", "Haze")["effective"] == 12.5
    assert one(100.0, 10.0, "HOSPITAL", "OXYGEN", "Clear")["effective"] == 10.0
    assert one(100.0, 10.0, "HOSPITAL", "MEDICINE", "Haze")["effective"] == 10.0
    assert one(100.0, 10.0, "NGO", "OXYGEN", "Haze")["effective"] == 10.0
    assert one(100.0, 10.0, "PDS", "RICE", "Haze")["effective"] == 10.0
    # haze pushes a hospital's oxygen over the edge: 35 / (10 * 1.25) = 2.8 days
    assert one(35.0, 10.0, "HOSPITAL", "OXYGEN", "Haze")["status"] == "CRITICAL"
    assert one(35.0, 10.0, "HOSPITAL", "OXYGEN", "Clear")["status"] == "WARNING"


@pytest.mark.parametrize(
    ("weather", "delay"),
    [("Rain", 1.0), ("Storm", 2.0), ("Flood", 3.0), ("Clear", 0.0), ("Haze", 0.0), (None, 0.0)],
)
def test_weather_delay(weather: str | None, delay: float) -> None:
    for sector in ("HOSPITAL", "PDS", "NGO"):
        assert one(10.0, 1.0, sector, None, weather)["delay"] == delay


# ---------------------------------------------------------------- priority


def test_disaster_zone_raises_ngo_priority_to_the_top() -> None:
    assert one(1.0, 1.0, "NGO", "KIT", disaster_zone=False)["priority"] == 3
    assert one(1.0, 1.0, "NGO", "KIT", disaster_zone=True)["priority"] == 1
    # sectors without a disaster priority keep theirs
    assert one(1.0, 1.0, "PDS", "RICE", disaster_zone=True)["priority"] == 2
    assert one(1.0, 1.0, "HOSPITAL", "OXYGEN", disaster_zone=True)["priority"] == 1


# ---------------------------------------------------------------- NFSA allotment


def test_pds_allotment_golden_value() -> None:
    # 100 persons x 5 kg + 10 Antyodaya households x 35 kg = 850 kg a month
    assert float(monthly_allotment_kg(100, 10)[0]) == 850.0
    assert monthly_allotment_kg(np.array([0, 1, 0]), np.array([0, 0, 1])).tolist() == [
        0.0,
        5.0,
        35.0,
    ]
    assert monthly_allotment_kg(None, None).tolist() == [0.0]  # unknown counts entitle nothing


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**5)), min_size=1, max_size=30))
def test_property_12_pds_allotment_formula(counts: list[tuple[int, int]]) -> None:
    phh = np.array([p for p, _ in counts])
    aay = np.array([a for _, a in counts])
    got = monthly_allotment_kg(phh, aay)
    assert got.tolist() == [5.0 * p + 35.0 * a for p, a in counts]


# ---------------------------------------------------------------- the whole rule, columnar


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(stocks, rates, sectors, categories, weathers, st.booleans()),
        min_size=1,
        max_size=25,
    )
)
def test_property_12_sector_rules(
    rows: list[tuple[float, float, str, str | None, str | None, bool]],
) -> None:
    a = analyse(
        np.array([r[0] for r in rows]),
        np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows], dtype=object),
        category=np.array([r[3] for r in rows], dtype=object),
        weather=np.array([r[4] for r in rows], dtype=object),
        disaster_zone=np.array([r[5] for r in rows]),
    )
    for i, (stock, rate, sector, category, weather, zone) in enumerate(rows):
        adverse = weather in ADVERSE_WEATHER
        factor = 1.0
        if sector == "NGO" and adverse:
            factor = 1.5
        if sector == "HOSPITAL" and category == "OXYGEN" and weather == "Haze":
            factor = 1.25
        critical = 5.0 if sector == "NGO" and adverse else 3.0
        priority = {"HOSPITAL": 1, "PDS": 2, "NGO": 1 if zone else 3}[sector]
        target = {"HOSPITAL": 14.0, "PDS": 30.0, "NGO": 14.0}[sector]
        assert a.effective_consumption[i] == rate * factor
        assert a.critical_days[i] == critical
        assert a.warning_days[i] == 7.0
        assert a.target_days[i] == target
        assert a.priority[i] == priority
        assert a.weather_delay_days[i] == WEATHER_DELAY_DAYS.get(weather or "", 0.0)
        # days and status are exactly the stock rules on the effective consumption
        assert a.days_remaining[i] == days_remaining(stock, rate * factor)
        assert a.status[i] == classify(a.days_remaining[i], critical, 7.0)
        assert bool(a.adverse_weather[i]) == adverse
        assert bool(a.weather_applied[i]) == (factor != 1.0 or critical != 3.0)


def test_analyse_scalar_and_column_agree() -> None:
    column = analyse(
        np.array([10.0, 10.0]),
        np.array([2.0, 4.0]),
        np.array(["NGO", "NGO"], dtype=object),
        weather="Rain",
    )
    scalar = [one(10.0, r, "NGO", weather="Rain") for r in (2.0, 4.0)]
    assert column.days_remaining.tolist() == [s["days"] for s in scalar]
    assert column.status.tolist() == [s["status"] for s in scalar]


def test_zero_consumption_is_ok_in_every_sector() -> None:
    for sector in ("HOSPITAL", "PDS", "NGO"):
        row = one(0.0, 0.0, sector, "KIT", "Flood", disaster_zone=True)
        assert row["days"] is None
        assert row["status"] == "OK"


def test_unknown_sector_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="'CLINIC'") as info:
        analyse(1.0, 1.0, "CLINIC")
    assert "HOSPITAL" in str(info.value)  # lists the known sectors


def test_custom_configs_are_used() -> None:
    configs = {
        **DEFAULT_SECTOR_CONFIG,
        "HOSPITAL": SectorConfig("HOSPITAL", 5.0, 10.0, 21.0, 1, haze_demand_multiplier=2.0),
    }
    a = analyse(45.0, 10.0, "HOSPITAL", category="OXYGEN", weather="Haze", configs=configs)
    assert a.effective_consumption[0] == 20.0
    assert a.critical_days[0] == 5.0
    assert a.target_days[0] == 21.0
    assert a.status[0] == "CRITICAL"  # 2.25 days
