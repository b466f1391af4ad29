"""Sector rules: thresholds, target cover, priority and how weather and disasters change them.

The defaults below seed the warehouse's ``sector_config`` table; users edit that table and
the core reads it back, so every number here is a default, not a constant.

Documented numbers:

* HOSPITAL: critical <= 3 days, warning <= 7, order up to 14 days of cover, priority 1.
  Haze raises respiratory (OXYGEN) demand by ``haze_demand_multiplier`` = 1.25 (25 %).
  Oxygen is ordered in whole cylinders and never held back by a budget cap.
* PDS: critical <= 3 days, warning <= 7, order up to 30 days (the month's allotment), in
  50 kg bags, never above the remaining monthly NFSA allotment; priority 2.
* NGO: critical <= 3 days, raised to <= 5 days while the city has adverse weather (Rain,
  Storm, Flood), when demand is also scaled by 1.5; priority 3, raised to 1 in an active
  disaster zone.
* Weather adds logistics delay to every sector: Rain +1 day, Storm +2, Flood +3.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from resq.core._columns import (
    FloatArray,
    as_arrow,
    broadcast,
    in_mask,
    is_scalar,
    lookup_codes,
    to_bool,
    to_float,
)
from resq.core.stock import classify_codes, days_remaining_array, status_labels


class Sector(StrEnum):
    """The three kinds of organization resq serves."""

    HOSPITAL = "HOSPITAL"
    PDS = "PDS"
    NGO = "NGO"


ADVERSE_WEATHER = frozenset({"Rain", "Storm", "Flood"})
"""Conditions that count as adverse weather for NGO thresholds and demand."""

WEATHER_DELAY_DAYS: dict[str, float] = {"Rain": 1.0, "Storm": 2.0, "Flood": 3.0}
"""Extra lead time, in days, that each weather condition adds to a delivery."""

RESPIRATORY_CATEGORIES = frozenset({"OXYGEN"})
"""Item categories whose demand rises with haze."""

BUDGET_EXEMPT_CATEGORIES = frozenset({"OXYGEN"})
"""Item categories never held back by a budget cap."""

NFSA_PHH_KG_PER_PERSON_MONTH = 5.0
"""NFSA entitlement: 5 kg of grain per person per month in priority households."""

NFSA_AAY_KG_PER_HOUSEHOLD_MONTH = 35.0
"""NFSA entitlement: 35 kg of grain per Antyodaya Anna Yojana household per month."""

ENTITLED_CATEGORIES = frozenset({"RICE", "WHEAT"})
"""PDS categories capped by the remaining monthly allotment."""


@dataclass(frozen=True)
class SectorConfig:
    """One row of ``sector_config``: the thresholds and rules of a sector."""

    sector: str
    critical_days: float = 3.0
    warning_days: float = 7.0
    target_days: float = 14.0
    priority: int = 3
    adverse_critical_days: float | None = None
    adverse_demand_multiplier: float = 1.0
    haze_demand_multiplier: float = 1.0
    disaster_priority: int | None = None
    monthly_allotment_cap: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not _VALIDATE_CONFIGS:
            return  # the built-in defaults: checked by the tests, not at import
        from resq.core.validation import validate_record

        validate_record("sector_config", self.as_row())

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("extra")
        return row


# Building the defaults must not touch pyarrow: any pyarrow array construction imports
# pandas when it is installed, and `import resq.core` must stay free of pandas.
_VALIDATE_CONFIGS = False

DEFAULT_SECTOR_CONFIG: dict[str, SectorConfig] = {
    Sector.HOSPITAL: SectorConfig("HOSPITAL", 3.0, 7.0, 14.0, 1, haze_demand_multiplier=1.25),
    Sector.PDS: SectorConfig("PDS", 3.0, 7.0, 30.0, 2, monthly_allotment_cap=True),
    Sector.NGO: SectorConfig(
        "NGO",
        3.0,
        7.0,
        14.0,
        3,
        adverse_critical_days=5.0,
        adverse_demand_multiplier=1.5,
        disaster_priority=1,
    ),
}
_VALIDATE_CONFIGS = True


def monthly_allotment_kg(phh_persons: Any, aay_households: Any) -> Any:
    """NFSA monthly grain allotment in kg: 5 kg per PHH person plus 35 kg per AAY household.

    >>> float(monthly_allotment_kg(100, 10)[0])
    850.0
    """
    phh = np.nan_to_num(to_float(phh_persons))
    aay = np.nan_to_num(to_float(aay_households))
    n = max(len(phh), len(aay))
    return (
        broadcast(n, phh) * NFSA_PHH_KG_PER_PERSON_MONTH
        + broadcast(n, aay) * NFSA_AAY_KG_PER_HOUSEHOLD_MONTH
    )


@dataclass(frozen=True)
class Analysis:
    """The columnar analysis of inventory rows under their sector rules and weather."""

    effective_consumption: FloatArray
    days_remaining: FloatArray
    critical_days: FloatArray
    warning_days: FloatArray
    target_days: FloatArray
    status_code: npt.NDArray[np.int8]
    priority: npt.NDArray[np.int64]
    weather_delay_days: FloatArray
    adverse_weather: npt.NDArray[np.bool_]
    weather_applied: npt.NDArray[np.bool_]

    @cached_property
    def status(self) -> npt.NDArray[np.object_]:
        """CRITICAL / WARNING / OK per row (``status_code`` 0 / 1 / 2 as text)."""
        return status_labels(self.status_code)


def config_columns(sector: Any, configs: dict[str, SectorConfig]) -> dict[str, np.ndarray]:
    """Look each row's sector up in ``configs``; an unknown sector is a ValueError."""
    names = sorted(configs)
    arr = as_arrow(sector, type=pa.string())
    codes = lookup_codes(arr, {name: i for i, name in enumerate(names)})
    if len(codes) and codes.min() < 0:
        bad = arr[int(np.flatnonzero(codes < 0)[0])].as_py()
        raise ValueError(f"unknown sector {bad!r}; known sectors: {', '.join(names)}")
    table = [configs[n] for n in names]

    def col(attr: str, dtype: Any, missing: float = np.nan) -> np.ndarray:
        values = [getattr(c, attr) for c in table]
        out = np.array([missing if v is None else v for v in values], dtype=dtype)
        return out[codes]

    return {
        "critical_days": col("critical_days", np.float64),
        "warning_days": col("warning_days", np.float64),
        "target_days": col("target_days", np.float64),
        "priority": col("priority", np.int64),
        "adverse_critical_days": col("adverse_critical_days", np.float64),
        "adverse_demand_multiplier": col("adverse_demand_multiplier", np.float64),
        "haze_demand_multiplier": col("haze_demand_multiplier", np.float64),
        "disaster_priority": col("disaster_priority", np.float64),
        "monthly_allotment_cap": col("monthly_allotment_cap", bool, False),
    }


def analyse(
    current_stock: Any,
    daily_consumption: Any,
    sector: Any,
    *,
    category: Any = None,
    weather: Any = None,
    disaster_zone: Any = False,
    configs: dict[str, SectorConfig] | None = None,
) -> Analysis:
    """Days remaining, thresholds, status and priority of each row, with weather applied.

    Effective consumption is ``daily_consumption`` times the adverse-weather multiplier
    (when the city's weather is adverse) times the haze multiplier (for respiratory items
    under Haze). The critical threshold becomes ``adverse_critical_days`` under adverse
    weather where the sector defines one. Priority becomes ``disaster_priority`` in an
    active disaster zone where the sector defines one. The ``stock_analysis`` SQL computes
    exactly this; property tests hold the two together. Text columns stay in Arrow.
    """
    configs = configs or DEFAULT_SECTOR_CONFIG
    stock = to_float(current_stock)
    rate = to_float(daily_consumption)
    n = max(len(stock), len(rate), 1 if is_scalar(sector) else len(sector))
    stock, rate = broadcast(n, stock), broadcast(n, rate)
    sectors = as_arrow(sector, n, pa.string())
    cat = as_arrow(category, n, pa.string())
    wx = as_arrow(weather, n, pa.string())
    zone = broadcast(n, to_bool(disaster_zone))
    cfg = config_columns(sectors, configs)

    weather_code = lookup_codes(wx, _WEATHER_CODES, missing=len(_WEATHER_CODES))
    adverse = _ADVERSE_BY_CODE[weather_code]
    haze = (weather_code == _WEATHER_CODES["Haze"]) & in_mask(cat, RESPIRATORY_CATEGORIES)
    multiplier = np.where(adverse, cfg["adverse_demand_multiplier"], 1.0) * np.where(
        haze, cfg["haze_demand_multiplier"], 1.0
    )
    effective = rate * multiplier
    days = days_remaining_array(stock, effective)
    critical = np.where(
        adverse & ~np.isnan(cfg["adverse_critical_days"]),
        cfg["adverse_critical_days"],
        cfg["critical_days"],
    )
    warning = np.maximum(cfg["warning_days"], critical)
    status = classify_codes(days, critical, warning)
    priority = np.where(
        zone & ~np.isnan(cfg["disaster_priority"]), cfg["disaster_priority"], cfg["priority"]
    ).astype(np.int64)
    delay = _DELAY_BY_CODE[weather_code]
    applied = (multiplier != 1.0) | (adverse & ~np.isnan(cfg["adverse_critical_days"]))
    return Analysis(
        effective,
        days,
        critical,
        warning,
        cfg["target_days"],
        status,
        priority,
        delay,
        adverse,
        applied,
    )


# Conditions that change something, coded for lookup; any other condition has no effect.
_WEATHER_CODES = {
    w: i for i, w in enumerate(sorted({"Haze", *ADVERSE_WEATHER, *WEATHER_DELAY_DAYS}))
}
# one extra slot for NULL / unknown conditions (no effect)
_ADVERSE_BY_CODE = np.array([w in ADVERSE_WEATHER for w in _WEATHER_CODES] + [False])
_DELAY_BY_CODE = np.array([WEATHER_DELAY_DAYS.get(w, 0.0) for w in _WEATHER_CODES] + [0.0])


def derived_source(
    inventory_source: Any,
    org_source: Any,
    weather_source: Any,
    weather_applied: Any,
    demand_source: Any = None,
) -> npt.NDArray[np.object_]:
    """REAL only when every part of the row's provenance is REAL; otherwise SIMULATED
    (the overall ``data_source`` of :func:`resq.core.provenance.analysis_parts`).

    Weather counts only where it changed the row (a multiplier or a threshold applied).
    ``demand_source`` is the forecast's data_source where the row's demand is a forecast
    (None: the inventory row's, where it is the typed daily consumption).
    """
    from resq.core import provenance

    parts = provenance.analysis_parts(
        inventory_source, org_source, weather_source, weather_applied, demand_source
    )
    return provenance.overall(parts)
