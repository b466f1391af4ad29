"""Deterministic, clearly labelled simulation of the outside world: weather, vendors, demand.

Every draw is a pure function of (seed, names, day, stream) through a counter-based mixer,
so results are bit-identical across runs and machines; every value is labelled SIMULATED.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from resq.core.sectors import ADVERSE_WEATHER, monthly_allotment_kg
from resq.core.sourcing import authorized
from resq.core.validation import MAX_LATENCY_MS, check_limit, control_character

__all__ = [
    "ADVERSE_WEATHER",
    "OFFLINE",
    "ONLINE",
    "REAL",
    "SIMULATED",
    "WEATHER_CONDITIONS",
    "WEEKLY_PROFILE",
    "ChaosEvent",
    "SimulatedNetwork",
    "VendorStatus",
    "drop_stock",
    "generate_realistic_simulation",
    "get_vendor_status",
    "get_vendor_status_batch",
    "get_weather_data",
    "get_weather_data_batch",
    "network_history",
    "set_weather",
    "simulate_network",
    "simulate_network_batches",
    "spike_demand",
    "vendor_offline",
    "vendor_online",
]

SIMULATED = "SIMULATED"
REAL = "REAL"
WEATHER_CONDITIONS = ("Clear", "Cloudy", "Haze", "Rain", "Storm", "Flood")

U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

# ---------------------------------------------------------------------------------------
# Counter-based randomness: splitmix64 over uint64 arrays. Only integer ops and IEEE basic
# arithmetic (+ - * /) touch the draws, never exp/log/cos, whose last bit can differ
# between CPUs and numpy builds.
# ---------------------------------------------------------------------------------------

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_MASK64 = (1 << 64) - 1

# One stream constant per independent draw, so draws never share a counter.
_S_WEATHER, _S_VENDOR_UP, _S_VENDOR_LATENCY = 1, 2, 3
_S_BASE, _S_NOISE, _S_SURGE, _S_PHASE, _S_PERIOD, _S_MISS, _S_LEVEL, _S_START = range(10, 18)
_S_ORG_SIZE, _S_DISASTER, _S_PHH, _S_AAY = range(20, 24)
_S_ZERO, _S_CRIT, _S_COVER, _S_SCALE, _S_LEAD = range(30, 35)
_S_PRICE_SKU, _S_PRICE_VENDOR, _S_SERVES = range(40, 43)


_SHIFTS = (np.uint64(30), np.uint64(27), np.uint64(31))


def _mix64(x: U64) -> U64:
    """The splitmix64 finalizer: a bijective, well-mixed uint64 -> uint64 map (in place on
    one new array, so a history batch of millions of draws makes two temporaries, not nine)."""
    with np.errstate(over="ignore"):
        return _finalize(np.asarray(x + _GAMMA, dtype=np.uint64))


def _finalize(z: U64) -> U64:
    """The rest of :func:`_mix64` after adding the gamma, in place on ``z``."""
    with np.errstate(over="ignore"):
        t = np.right_shift(z, _SHIFTS[0])
        z ^= t
        z *= _M1
        np.right_shift(z, _SHIFTS[1], out=t)
        z ^= t
        z *= _M2
        np.right_shift(z, _SHIFTS[2], out=t)
        z ^= t
        return z


def _u64(values: int | Sequence[int] | npt.NDArray[Any]) -> U64:
    """Integers (any sign, any size) as a uint64 array, wrapping modulo 2**64."""
    if isinstance(values, np.ndarray):
        return values.astype(np.uint64) if values.dtype != np.uint64 else values
    if isinstance(values, int):
        return np.array([values & _MASK64], dtype=np.uint64)
    return np.array([int(v) & _MASK64 for v in values], dtype=np.uint64)


def _key(*parts: U64 | int) -> U64:
    """Chain parts (seed, ids, day, ...) into one well-mixed counter, broadcasting arrays."""
    h = _mix64(_u64(0))
    for part in parts:
        h = _mix64(h ^ (_u64(part) if isinstance(part, int) else part))
    return h


def _uniform(key: U64, stream: int) -> F64:
    """Uniform draws in [0, 1) for each counter, independent per stream."""
    bits = np.asarray(key ^ np.uint64(stream), dtype=np.uint64)  # new: mixed in place
    with np.errstate(over="ignore"):
        bits += _GAMMA
    _finalize(bits)
    bits >>= np.uint64(11)
    out = bits.astype(np.float64)
    out *= 1.0 / 9007199254740992.0
    return out


def _normalize(name: str) -> str:
    return name.strip().casefold()


def _stable_ids(names: Iterable[str], *, normalize: bool = True) -> U64:
    """A 64-bit id per name from sha256 of the (normalized) name, never Python's hash()."""
    return np.array(
        [
            int.from_bytes(
                hashlib.sha256(
                    (_normalize(n) if normalize else n).encode("utf-8", "surrogatepass")
                ).digest()[:8],
                "little",
            )
            for n in names
        ],
        dtype=np.uint64,
    )


def _string_array(values: Any, what: str) -> pa.Array:
    """Any list / pyarrow (chunked, dictionary, large) string column as a pa.string() Array."""
    if isinstance(values, pa.ChunkedArray):
        values = pa.concat_arrays(values.chunks) if values.num_chunks else pa.array([], values.type)
    elif not isinstance(values, pa.Array):
        if isinstance(values, str):
            raise TypeError(f"{what} must be a column of strings, not one string {values!r}")
        items = list(values)
        bad = [v for v in items if v is not None and not isinstance(v, str)]
        if bad:
            raise TypeError(f"{what} must contain strings, got {bad[0]!r}")
        values = pa.array(items, type=pa.string())
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    t = values.type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)):
        if pa.types.is_null(t):
            return values.cast(pa.string())
        raise TypeError(f"{what} must be a string column, got {t}")
    return values.cast(pa.string())


def _encode(values: pa.Array) -> tuple[list[str], pa.Array]:
    """The distinct strings and, per row, the index of its string (null where null)."""
    encoded = pc.dictionary_encode(values)
    return encoded.dictionary.to_pylist(), encoded.indices


# ---------------------------------------------------------------------------------------
# Weather
# ---------------------------------------------------------------------------------------

_KNOWN_WEATHER = {"bangalore": "Rain", "bengaluru": "Rain", "delhi": "Haze", "new delhi": "Haze"}
_ORDINARY_WEATHER = ("Clear", "Cloudy", "Haze", "Rain")


def _weather_rule(names: Sequence[str]) -> list[str]:
    """The one weather rule: fixed for known cities, else a sha256-keyed ordinary condition."""
    u = _uniform(_stable_ids(names), _S_WEATHER)
    pick = (u * len(_ORDINARY_WEATHER)).astype(np.int64)
    return [
        _KNOWN_WEATHER.get(_normalize(n), _ORDINARY_WEATHER[int(p)])
        for n, p in zip(names, pick, strict=True)
    ]


def get_weather_data(city: str) -> str:
    """Today's simulated condition in `city`: Bangalore is Rain, Delhi is Haze, others fixed.

    Case and surrounding whitespace are ignored. Other cities get one of Clear, Cloudy, Haze
    or Rain from sha256 of the name, the same on every run and machine.
    """
    if not isinstance(city, str):
        raise TypeError(f"city must be a string, got {city!r}")
    return _weather_rule([city])[0]


def get_weather_data_batch(cities: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> pa.Array:
    """`get_weather_data` over a column (a vectorized UDF); null cities stay null."""
    arr = _string_array(cities, "cities")
    distinct, indices = _encode(arr)
    return pa.array(_weather_rule(distinct), type=pa.string()).take(indices)


# ---------------------------------------------------------------------------------------
# Vendors
# ---------------------------------------------------------------------------------------

ONLINE = "ONLINE"
OFFLINE = "OFFLINE"
_KNOWN_VENDORS: dict[str, tuple[bool, int | None]] = {"blinkit": (True, 12), "dunzo": (False, None)}
_ONLINE_SHARE = 0.85
_LATENCY_MIN, _LATENCY_MAX = 15, 400


@dataclass(frozen=True)
class VendorStatus:
    """A vendor's simulated availability: ONLINE with a latency, or OFFLINE (latency None)."""

    status: str
    latency_ms: int | None
    data_source: str = SIMULATED

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "latency_ms": self.latency_ms,
            "data_source": self.data_source,
        }


def _vendor_latency(names: Sequence[str]) -> I64:
    """Latency each vendor has when online: 15..400 ms, skewed towards fast (12 for Blinkit)."""
    u = _uniform(_stable_ids(names), _S_VENDOR_LATENCY)
    span = _LATENCY_MAX - _LATENCY_MIN + 1
    latency = _LATENCY_MIN + (u * u * span).astype(np.int64)
    for i, n in enumerate(names):
        known = _KNOWN_VENDORS.get(_normalize(n))
        if known is not None and known[1] is not None:
            latency[i] = known[1]
    return latency


def _vendor_rule(names: Sequence[str]) -> tuple[B, I64]:
    """The one vendor rule: (online, latency when online) per name."""
    online = _uniform(_stable_ids(names), _S_VENDOR_UP) < _ONLINE_SHARE
    for i, n in enumerate(names):
        known = _KNOWN_VENDORS.get(_normalize(n))
        if known is not None:
            online[i] = known[0]
    return online, _vendor_latency(names)


def get_vendor_status(vendor: str) -> VendorStatus:
    """A vendor's simulated status: Blinkit ONLINE at 12 ms, Dunzo OFFLINE, others fixed.

    Other vendors are ONLINE about 85 % of the time (by name, from sha256) with a latency
    of 15 to 400 ms. Case and surrounding whitespace are ignored.
    """
    if not isinstance(vendor, str):
        raise TypeError(f"vendor must be a string, got {vendor!r}")
    online, latency = _vendor_rule([vendor])
    if online[0]:
        return VendorStatus(ONLINE, int(latency[0]))
    return VendorStatus(OFFLINE, None)


_VENDOR_STATUS_TYPE = pa.struct(
    [("status", pa.string()), ("latency_ms", pa.int64()), ("data_source", pa.string())]
)


def get_vendor_status_batch(
    vendors: pa.Array | pa.ChunkedArray | Sequence[str | None],
) -> pa.StructArray:
    """`get_vendor_status` over a column: a struct of status, latency_ms, data_source.

    A null vendor gives a null struct.
    """
    arr = _string_array(vendors, "vendors")
    distinct, indices = _encode(arr)
    online, latency = _vendor_rule(distinct)
    status = pa.array(np.where(online, ONLINE, OFFLINE).tolist(), type=pa.string())
    lat = pa.array(latency, type=pa.int64(), mask=~online)
    source = pa.array([SIMULATED] * len(distinct), type=pa.string())
    return pa.StructArray.from_arrays(
        [status.take(indices), lat.take(indices), source.take(indices)],
        fields=list(_VENDOR_STATUS_TYPE),
        mask=pc.is_null(indices),
    )


# ---------------------------------------------------------------------------------------
# Consumption and stock series
# ---------------------------------------------------------------------------------------

# Demand multiplier by weekday (Monday first), by sector:
# * HOSPITAL: weekends are busier (road accidents, fewer outpatient discharges): +15 %.
# * PDS: fair price shops distribute mostly on weekdays; Saturday is slower, many close Sunday.
# * NGO: relief work barely follows the week: a small weekend dip.
# * anything else: a mild weekday/weekend pattern.
WEEKLY_PROFILE: dict[str, tuple[float, ...]] = {
    "HOSPITAL": (1.0, 1.0, 1.0, 1.0, 1.0, 1.15, 1.15),
    "PDS": (1.1, 1.1, 1.1, 1.1, 1.1, 0.8, 0.4),
    "NGO": (1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 0.95),
    "OTHER": (1.05, 1.05, 1.05, 1.05, 1.05, 0.9, 0.85),
}
_SECTOR_PREFIXES = (("HOSP", "HOSPITAL"), ("PDS", "PDS"), ("NGO", "NGO"))
_NOISE_SIGMA = 0.2  # multiplicative demand noise: mean 1, standard deviation 0.2
_SURGE_PROB, _SURGE_FACTOR = 0.02, 2.0  # rare surge days (an outbreak, a festival)
_MISSED_DELIVERY_PROB = 0.1
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _sector_of(org_id: str) -> str:
    """The sector an org id names by its prefix (HOSP-, PDS-, NGO-), else OTHER."""
    upper = org_id.strip().upper()
    for prefix, sector in _SECTOR_PREFIXES:
        if upper.startswith(prefix):
            return sector
    return "OTHER"


def _column_ids(values: pa.Array) -> U64:
    """Stable ids per row (of the exact string), hashing each distinct value once."""
    distinct, indices = _encode(values)
    return _stable_ids(distinct, normalize=False)[
        np.asarray(indices.to_numpy(zero_copy_only=False), np.int64)
    ]


def _noise(key: U64) -> F64:
    """Mean-1 multiplicative noise (Irwin-Hall of 4 uniforms, sd `_NOISE_SIGMA`), >= 0.31."""
    total = _uniform(key, _S_NOISE)
    for k in range(1, 4):
        total += _uniform(key, _S_NOISE + 100 * k)
    total -= 2.0  # in place, the same operations in the same order
    total *= _NOISE_SIGMA * math.sqrt(3.0)
    total += 1.0
    return total


def generate_realistic_simulation(
    org_ids: Sequence[str] | pa.Array,
    skus: Sequence[str] | pa.Array,
    days: int,
    seed: int,
    base_consumption: float | Sequence[float] | npt.NDArray[Any] | None = None,
    start_date: date = date(2026, 1, 1),
    *,
    sectors: Sequence[str] | pa.Array | None = None,
    end_stock: float | Sequence[float] | npt.NDArray[Any] | None = None,
    _demand_only: bool = False,
) -> Any:
    """A seeded daily consumption and stock series for each item (org_ids[i], skus[i]).

    `org_ids` and `skus` are paired item by item (a length-1 column is repeated). Demand is
    `base_consumption` (default: 2..50 a day, drawn per item) times a weekly profile
    (`WEEKLY_PROFILE`, by sector from the org id prefix unless `sectors` is given), times
    mean-1 noise, with rare surge days. Deliveries arrive every 5..10 days (10 % are missed)
    and fill stock up to an order-up-to level of 1.1..1.8 cycles of demand; stock never goes
    below 0, and a day that ends at 0 is a stock-out (consumption capped by what was there).
    With `end_stock` (one value per item), each series ends exactly there: the days since
    the item's last delivery (all days, if none arrived) are worked back from it, so the
    history leads to the stock the inventory holds now.

    Returns one row per item and day: org_id, sku, day (date32), consumption, stock (end of
    day), stockout, data_source. Every draw is keyed by (seed, org_id, sku, calendar day,
    stream), so the same seed (any integer, taken modulo 2**64) gives bit-identical output
    on every run and machine.
    """
    if isinstance(days, bool) or not isinstance(days, int | np.integer) or days < 0:
        raise ValueError(f"days must be a whole number >= 0, got {days!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if not isinstance(start_date, date):
        raise ValueError(f"start_date must be a date, got {start_date!r}")
    orgs = _string_array(org_ids, "org_ids")
    items = _string_array(skus, "skus")
    n = max(len(orgs), len(items))
    if len(orgs) != len(items):
        if len(orgs) == 1:
            orgs = orgs.take(np.zeros(n, dtype=np.int64))
        elif len(items) == 1:
            items = items.take(np.zeros(n, dtype=np.int64))
        else:
            raise ValueError(
                f"org_ids ({len(orgs)}) and skus ({len(items)}) must have the same length"
            )
    if orgs.null_count or items.null_count:
        raise ValueError("org_ids and skus must not contain nulls")
    days = int(days)

    org_id = _column_ids(orgs)
    sku_id = _column_ids(items)
    item_key = _key(int(seed), org_id, sku_id)  # (n,)

    if base_consumption is None:
        base = 2.0 + 48.0 * _uniform(item_key, _S_BASE) ** 2
    else:
        base = np.asarray(base_consumption, dtype=np.float64).reshape(-1)
        if len(base) == 1:
            base = np.repeat(base, n)
        if len(base) != n:
            raise ValueError(f"base_consumption has {len(base)} values for {n} items")
        bad = ~np.isfinite(base) | (base < 0)
        if bad.any():
            raise ValueError(
                f"base_consumption must be finite and >= 0, got {base[bad][0]!r} "
                f"for item {int(np.flatnonzero(bad)[0]) + 1}"
            )

    if sectors is None:
        distinct, indices = _encode(orgs)
        sector_of = np.array([_sector_of(o) for o in distinct], dtype=object)
        sector = sector_of[np.asarray(indices.to_numpy(zero_copy_only=False), np.int64)]
    else:
        given = _string_array(sectors, "sectors")
        if len(given) == 1:
            given = given.take(np.zeros(n, dtype=np.int64))
        if len(given) != n:
            raise ValueError(f"sectors has {len(given)} values for {n} items")
        distinct, indices = _encode(given)
        known = np.array([s if s in WEEKLY_PROFILE else "OTHER" for s in distinct], dtype=object)
        sector = known[np.asarray(indices.fill_null(0).to_numpy(zero_copy_only=False), np.int64)]
    profile_names = list(WEEKLY_PROFILE)
    profiles = np.array([WEEKLY_PROFILE[s] for s in profile_names], dtype=np.float64)
    distinct_sectors, sector_pos = np.unique(sector.astype(str), return_inverse=True)
    sector_idx = np.array([profile_names.index(s) for s in distinct_sectors], dtype=np.int64)[
        sector_pos.reshape(-1)
    ]

    day0 = start_date.toordinal() - _EPOCH_ORDINAL  # days since 1970-01-01
    day_num = np.arange(day0, day0 + days, dtype=np.int64)  # (days,)
    weekday = (day_num + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    # The same counter as _key(seed, org_id, sku_id, day): _key chains its parts.
    day_key = _mix64(item_key[:, None] ^ _u64(day_num)[None, :])

    surge = np.where(_uniform(day_key, _S_SURGE) < _SURGE_PROB, _SURGE_FACTOR, 1.0)
    demand = base[:, None] * profiles[sector_idx][:, weekday] * _noise(day_key) * surge
    if _demand_only:  # simulated_demand: what is asked for, before any stock-out caps it
        return demand

    # Deliveries: every `period` days at a per-item phase, some missed; each fills to `level`.
    period = 5 + (_uniform(item_key, _S_PERIOD) * 6).astype(np.int64)  # 5..10 days
    phase = (_uniform(item_key, _S_PHASE) * period).astype(np.int64)
    scheduled = (day_num[None, :] + phase[:, None]) % period[:, None] == 0
    restock = scheduled & (_uniform(day_key, _S_MISS) >= _MISSED_DELIVERY_PROB)
    level = base * period * (1.1 + 0.7 * _uniform(item_key, _S_LEVEL))
    start_level = level * (0.4 + 0.6 * _uniform(item_key, _S_START))

    # Stock within a delivery cycle is its fill level minus demand since it started, >= 0.
    cum = np.cumsum(demand, axis=1)
    cum_before = np.zeros_like(cum)
    cum_before[:, 1:] = cum[:, :-1]
    cols = np.arange(days, dtype=np.int64)[None, :]
    last = np.maximum.accumulate(np.where(restock, cols, -1), axis=1)
    fill = np.where(last >= 0, level[:, None], start_level[:, None])
    spent = np.take_along_axis(cum_before, np.maximum(last, 0), axis=1)
    available = np.maximum(fill - (cum_before - spent), 0.0)
    stock = np.maximum(fill - (cum - spent), 0.0)
    consumption = available - stock
    if end_stock is not None and days:
        end = _per_item(end_stock, n, "end_stock")
        since = np.maximum(last[:, -1], 0)  # the last delivery's day (0: none arrived)
        tail = cols >= since[:, None]
        worked_back = end[:, None] + (cum[:, -1:] - cum)  # what is left + what is still used
        stock = np.where(tail, worked_back, stock)
        consumption = np.where(tail, demand, consumption)

    rows = n * days
    item_index = np.repeat(np.arange(n, dtype=np.int64), days)
    return pa.table(
        {
            "org_id": orgs.take(item_index),
            "sku": items.take(item_index),
            "day": pa.array(np.tile(day_num, n).astype(np.int32), type=pa.date32()),
            "consumption": pa.array(consumption.reshape(-1), type=pa.float64()),
            "stock": pa.array(stock.reshape(-1), type=pa.float64()),
            "stockout": pa.array((stock == 0.0).reshape(-1), type=pa.bool_()),
            "data_source": pa.repeat(pa.scalar(SIMULATED), rows).cast(pa.string()),
        }
    )


def simulated_demand(
    org_ids: Sequence[str] | pa.Array | pa.ChunkedArray,
    skus: Sequence[str] | pa.Array | pa.ChunkedArray,
    days: int,
    seed: int,
    base_consumption: float | Sequence[float] | npt.NDArray[Any] | None = None,
    start_date: date = date(2026, 1, 1),
    *,
    sectors: Sequence[str] | None = None,
) -> npt.NDArray[np.float64]:
    """The daily demand behind :func:`generate_realistic_simulation` (same seed, same
    draws), as an (items, days) array: what is asked for each day, before stock-outs cap
    what is consumed. The replay's default demand."""
    if isinstance(org_ids, pa.ChunkedArray):
        org_ids = org_ids.combine_chunks()
    if isinstance(skus, pa.ChunkedArray):
        skus = skus.combine_chunks()
    out = generate_realistic_simulation(
        org_ids, skus, days, seed, base_consumption, start_date, sectors=sectors,
        _demand_only=True,
    )  # fmt: skip
    return np.asarray(out, dtype=np.float64).reshape(-1, days)


def _per_item(values: Any, n: int, what: str) -> npt.NDArray[np.float64]:
    """One finite value >= 0 per item (a single value is repeated)."""
    out = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(out) == 1:
        out = np.repeat(out, n)
    if len(out) != n:
        raise ValueError(f"{what} has {len(out)} values for {n} items")
    bad = ~np.isfinite(out) | (out < 0)
    if bad.any():
        raise ValueError(
            f"{what} must be finite and >= 0, got {out[bad][0]!r} "
            f"for item {int(np.flatnonzero(bad)[0]) + 1}"
        )
    return out


# ---------------------------------------------------------------------------------------
# A simulated multi-sector network
# ---------------------------------------------------------------------------------------


class _Item(NamedTuple):
    sku: str
    name: str
    category: str
    unit: str
    pack_size: float
    lead_time: float
    low: float  # daily consumption range for an average-sized organization
    high: float


# Named items per sector, then the numbered variant that extends the list when needed.
_SECTOR_ITEMS: dict[str, tuple[tuple[_Item, ...], _Item]] = {
    "HOSPITAL": (
        (
            _Item("OXY-CYL", "Medical oxygen cylinder", "OXYGEN", "cylinder", 1.0, 1.0, 4, 30),
            _Item("PARA-500", "Paracetamol 500 mg", "MEDICINE", "strip", 1.0, 2.0, 20, 150),
            _Item("AMOX-500", "Amoxicillin 500 mg", "MEDICINE", "strip", 1.0, 2.0, 10, 80),
            _Item("NS-IV", "Normal saline 0.9% IV", "MEDICINE", "litre", 1.0, 2.0, 10, 100),
        ),
        _Item("MED-{n:04d}", "Medicine {n:04d}", "MEDICINE", "strip", 1.0, 2.0, 5, 60),
    ),
    "PDS": (
        (
            _Item("RICE", "Rice", "RICE", "kg", 50.0, 4.0, 0, 0),  # NFSA entitlement, below
            _Item("WHEAT", "Wheat", "WHEAT", "kg", 50.0, 4.0, 50, 400),
            _Item("SUGAR", "Sugar", "OTHER", "kg", 1.0, 4.0, 10, 60),
        ),
        _Item("PDS-{n:04d}", "Staple {n:04d}", "OTHER", "kg", 1.0, 4.0, 5, 50),
    ),
    "NGO": (
        (
            _Item("KIT-EMR", "Emergency relief kit", "KIT", "kit", 1.0, 3.0, 5, 60),
            _Item("WATER-PUR", "Water purification", "WATER", "litre", 1.0, 2.0, 200, 2000),
            _Item("KIT-HYG", "Hygiene kit", "KIT", "kit", 1.0, 3.0, 5, 40),
        ),
        _Item("REL-{n:04d}", "Relief supply {n:04d}", "KIT", "kit", 1.0, 3.0, 2, 30),
    ),
}
_SECTORS = ("HOSPITAL", "PDS", "NGO")
_ORG_PREFIX = {"HOSPITAL": "HOSP", "PDS": "PDS", "NGO": "NGO"}
_ORG_NAME = {"HOSPITAL": "District Hospital", "PDS": "Fair Price Shop", "NGO": "Relief Trust"}
# The vendor an organization prefers for the items a quick-commerce app may supply (see
# resq.core.sourcing); none for PDS and for the restricted items (grains, oxygen).
_PREFERRED_VENDOR = {"HOSPITAL": "Dunzo", "PDS": None, "NGO": "Dunzo"}
_CITY_CODES = {
    "bangalore": "BLR",
    "bengaluru": "BLR",
    "delhi": "DEL",
    "new delhi": "DEL",
    "mumbai": "BOM",
    "chennai": "MAA",
    "kolkata": "CCU",
    "hyderabad": "HYD",
    "pune": "PNQ",
}
_DISASTER_ZONE_SHARE = 0.1  # of NGOs
_ZERO_CONSUMPTION_SHARE = 0.01
_CRITICAL_DAYS, _MIN_OK_COVER, _MAX_COVER = 3.0, 3.01, 60.0


class _Vendor(NamedTuple):
    name: str
    vendor_type: str  # resq.core.sourcing.VENDOR_TYPES: what it is authorized to supply
    lead_time: float
    price_low: float  # price factor range against the list price
    price_high: float
    serves: tuple[str, ...]  # the sectors it sells to
    coverage: float  # share of its (sku, city) pairs it lists
    reliability: float  # share of orders delivered complete and on time
    min_order_qty: float
    pack_size: float | None  # None: the item's own pack
    categories: tuple[str, ...] | None = None  # None: every category it is authorized for


# The simulated vendors. Each lists only what resq.core.sourcing authorizes its type to
# supply by default: quick-commerce apps the open categories (kits, water, medicines, other
# consumables); depots the PDS grains; licensed medical-gas suppliers oxygen. Dunzo is
# priced at 85..95 % of Blinkit (its price range here is not used).
_VENDORS: tuple[_Vendor, ...] = (
    _Vendor("Blinkit", "QUICK_COMMERCE", 1.0, 0.95, 1.10, _SECTORS, 1.0, 0.93, 0.0, None),
    _Vendor("Dunzo", "QUICK_COMMERCE", 1.0, 0.0, 0.0, _SECTORS, 1.0, 0.90, 0.0, None),
    _Vendor("Zepto", "QUICK_COMMERCE", 1.0, 0.95, 1.15, ("HOSPITAL",), 0.6, 0.92, 0.0, None),
    _Vendor(
        "Apollo Supply",
        "DISTRIBUTOR",
        2.0,
        0.90,
        1.20,
        ("HOSPITAL",),
        1.0,
        0.97,
        0.0,
        None,
        ("MEDICINE",),
    ),
    _Vendor(
        "MedGas Oxygen",
        "MEDICAL_GAS",
        1.0,
        0.90,
        1.05,
        _SECTORS,
        1.0,
        0.98,
        10.0,
        1.0,
        ("OXYGEN",),
    ),
    _Vendor(
        "OxyCare Supply",
        "MEDICAL_GAS",
        2.0,
        0.85,
        1.00,
        _SECTORS,
        1.0,
        0.96,
        5.0,
        1.0,
        ("OXYGEN",),
    ),
    _Vendor(
        "Civil Supplies Depot",
        "DEPOT",
        2.0,
        0.85,
        0.95,
        ("PDS",),
        1.0,
        0.95,
        500.0,
        50.0,
        ("RICE", "WHEAT"),
    ),
    _Vendor(
        "FCI Depot",
        "DEPOT",
        3.0,
        0.80,
        0.95,
        ("PDS",),
        1.0,
        0.97,
        1000.0,
        50.0,
        ("RICE", "WHEAT"),
    ),
)
# List price per unit (INR) by category.
_LIST_PRICE = {
    "OXYGEN": 350.0,
    "MEDICINE": 25.0,
    "RICE": 32.0,
    "WHEAT": 28.0,
    "KIT": 1200.0,
    "WATER": 2.0,
    "OTHER": 60.0,
}


@dataclass(frozen=True)
class SimulatedNetwork:
    """A simulated network as Arrow tables with the warehouse's columns."""

    organizations: pa.Table
    inventory: pa.Table
    vendors: pa.Table
    vendor_catalog: pa.Table

    def tables(self) -> dict[str, pa.Table]:
        """The tables by warehouse table name, in load order."""
        return {
            "organizations": self.organizations,
            "inventory_master": self.inventory,
            "vendors": self.vendors,
            "vendor_catalog": self.vendor_catalog,
        }


def _sector_item_list(sector: str, k: int) -> list[_Item]:
    named, variant = _SECTOR_ITEMS[sector]
    out = list(named[:k])
    for j in range(len(out), k):
        n = j + 1
        out.append(variant._replace(sku=variant.sku.format(n=n), name=variant.name.format(n=n)))
    return out


def _city_codes(cities: Sequence[str]) -> list[str]:
    codes = []
    for c in cities:
        code = _CITY_CODES.get(_normalize(c))
        if code is None:
            letters = "".join(ch for ch in c.upper() if "A" <= ch <= "Z")
            code = (letters[:3] or "CTY").ljust(3, "X")
        codes.append(code)
    # Distinct cities sharing a code (Bangalore and Bangor) get a number to keep ids unique.
    return [f"{c}{i + 1}" if codes.count(c) > 1 else c for i, c in enumerate(codes)]


def _repeat_str(value: str, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), n)


def _check_count(value: object, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{what} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


class _Catalog(NamedTuple):
    """What every batch of a network shares: the item list (row s * k + j is sector s's
    j-th item) with its per-item columns, and the (whole, small) vendors and catalog."""

    sku_ids: U64
    low: F64
    high: F64
    lead_time: F64
    pack_size: F64
    rice: npt.NDArray[np.bool_]
    sku: pa.Array
    item_name: pa.Array
    category: pa.Array
    unit: pa.Array
    preferred_vendor: pa.Array
    vendors: pa.Table
    vendor_catalog: pa.Table


@functools.lru_cache(maxsize=8)
def _catalog(k: int, seed: int, city_list: tuple[str, ...]) -> _Catalog:
    """The shared part of a network of ``k`` items per organization, built once for all of
    its batches (its arrays are read-only: the cache hands the same ones to every batch)."""
    n_cities = len(city_list)
    city_arr = pa.array(list(city_list), type=pa.string())
    # The item list: row s * k + j is sector s's j-th item ----------------------------
    catalog_items = [it for s in _SECTORS for it in _sector_item_list(s, k)]
    item_sector = np.repeat(np.arange(3, dtype=np.int64), k)
    item_skus = [it.sku for it in catalog_items]
    item_sku_ids = _stable_ids(item_skus, normalize=False)

    item_categories = [it.category for it in catalog_items]
    item_sectors = [_SECTORS[s] for s in item_sector.tolist()]
    # an item only some vendor types may supply (grains, oxygen) has no preferred app
    item_restricted = (
        ~authorized(item_sectors, item_categories, ["QUICK_COMMERCE"] * len(catalog_items))
    ).tolist()

    # Vendors and what they sell where ------------------------------------------------
    vendor_names = [v.name for v in _VENDORS]
    vendors = pa.table(
        {
            "vendor_id": pa.array(vendor_names, type=pa.string()),
            "vendor_name": pa.array(vendor_names, type=pa.string()),
            "vendor_type": pa.array([v.vendor_type for v in _VENDORS], type=pa.string()),
            "reliability": pa.array([v.reliability for v in _VENDORS], type=pa.float64()),
            "data_source": _repeat_str(SIMULATED, len(vendor_names)),
        }
    )
    n_items = len(catalog_items)
    grid_item = np.repeat(np.arange(n_items, dtype=np.int64), n_cities)
    grid_city = np.tile(np.arange(n_cities, dtype=np.int64), n_items)
    city_ids = _stable_ids(city_list)
    grid_key = _key(seed, item_sku_ids[grid_item], city_ids[grid_city])
    list_price = np.array([_LIST_PRICE[it.category] for it in catalog_items])[grid_item]
    list_price = (
        list_price * (0.7 + 0.8 * _uniform(_key(seed, item_sku_ids), _S_PRICE_SKU))[grid_item]
    )
    item_category = np.array(item_categories, dtype=object)
    parts: list[tuple[_Vendor, I64, F64]] = []
    blinkit_price = np.zeros(0)
    for v in _VENDORS:
        vkey = _mix64(grid_key ^ _stable_ids([v.name]))
        u_price = _uniform(vkey, _S_PRICE_VENDOR)
        if v.name == "Dunzo":
            price = np.minimum(
                np.round(blinkit_price * (0.85 + 0.10 * u_price), 2), blinkit_price - 0.01
            )
        else:
            price = np.round(list_price * (v.price_low + (v.price_high - v.price_low) * u_price), 2)
        if v.name == "Blinkit":
            blinkit_price = price
        # what the vendor may list: its sectors, its categories, what its type may supply
        may = np.isin(item_sector, [_SECTORS.index(s) for s in v.serves])
        may &= authorized(item_sectors, item_categories, [v.vendor_type] * n_items)
        if v.categories is not None:
            may &= np.isin(item_category, v.categories)
        mask = may[grid_item] & (_uniform(vkey, _S_SERVES) < v.coverage)
        parts.append((v, np.flatnonzero(mask), price[mask]))
    total = sum(len(ix) for _, ix, _ in parts)
    sku_arr = pa.array(item_skus, type=pa.string())

    def per_vendor(value: Any, type_: pa.DataType) -> pa.Array:
        return pa.array(
            np.concatenate([np.full(len(ix), value(v), dtype=object) for v, ix, _ in parts])
            if parts
            else [],
            type=type_,
        )

    vendor_catalog = pa.table(
        {
            "vendor_id": pa.concat_arrays([_repeat_str(v.name, len(ix)) for v, ix, _ in parts]),
            "sku": sku_arr.take(pa.array(np.concatenate([grid_item[ix] for _, ix, _ in parts]))),
            "city": city_arr.take(pa.array(np.concatenate([grid_city[ix] for _, ix, _ in parts]))),
            "price": pa.array(np.concatenate([p for _, _, p in parts]), type=pa.float64()),
            "lead_time_days": per_vendor(lambda v: v.lead_time, pa.float64()),
            "min_order_qty": per_vendor(lambda v: v.min_order_qty, pa.float64()),
            "pack_size": per_vendor(lambda v: v.pack_size, pa.float64()),
            "data_source": _repeat_str(SIMULATED, total),
        }
    )

    def item_col(values: list[Any]) -> pa.Array:
        return pa.array(values, type=pa.string())

    def item_num(attr: str) -> F64:
        return np.array([getattr(it, attr) for it in catalog_items], dtype=np.float64)

    out = _Catalog(
        sku_ids=item_sku_ids,
        low=item_num("low"),
        high=item_num("high"),
        lead_time=item_num("lead_time"),
        pack_size=item_num("pack_size"),
        rice=np.array([it.sku == "RICE" for it in catalog_items]),
        sku=sku_arr,
        item_name=item_col([it.name for it in catalog_items]),
        category=item_col([it.category for it in catalog_items]),
        unit=item_col([it.unit for it in catalog_items]),
        preferred_vendor=item_col(
            [
                _PREFERRED_VENDOR[_SECTORS[s]] if restricted is False else None
                for s, restricted in zip(item_sector.tolist(), item_restricted, strict=True)
            ]
        ),
        vendors=vendors,
        vendor_catalog=vendor_catalog,
    )
    for value in out:
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    return out


def simulate_network(
    n_orgs: int = 6,
    skus_per_org: int = 3,
    seed: int = 42,
    cities: Sequence[str] = ("Bangalore", "Delhi"),
    critical_share: float = 0.15,
    *,
    orgs: tuple[int, int] | None = None,
) -> SimulatedNetwork:
    """A deterministic network of hospitals, PDS shops and NGOs, their stock and vendors.

    Sectors cycle HOSPITAL, PDS, NGO and cities cycle every three organizations, so the
    first organization is a hospital in `cities[0]` (Bangalore) whose first item is
    OXY-CYL. PDS rice demand is the NFSA entitlement, (5 * phh_persons + 35 *
    aay_households) / 30 kg a day. Stock covers 0..3 days of demand on about
    `critical_share` of the items (never the first) and 3..60 days on the rest; about 1 %
    of items (never rice, never the first) have no consumption. Blinkit and Dunzo serve
    the open items (kits, water, medicines, other) in every city, Dunzo cheaper; PDS rice and
    wheat come from depots and oxygen from licensed medical-gas suppliers only (the default
    authorization of resq.core.sourcing). Vectorized: 3,000,000 items take seconds.

    ``orgs=(lo, hi)`` builds only organizations lo..hi-1 of the ``n_orgs`` (with their
    inventory; vendors and catalog are always whole): every row is the one the whole network
    has, so batches concatenated are the network (see :func:`simulate_network_batches`).
    """
    n_orgs = _check_count(n_orgs, "n_orgs", 1)
    k = _check_count(skus_per_org, "skus_per_org", 1)
    org_lo, org_hi = (0, n_orgs) if orgs is None else (int(orgs[0]), int(orgs[1]))
    if not 0 <= org_lo < org_hi <= n_orgs:
        raise ValueError(f"orgs must be a range within 0..{n_orgs}, got {orgs!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if isinstance(cities, str):
        raise ValueError(f"cities must be a sequence of city names, not one string {cities!r}")
    city_list = list(cities)
    if not city_list or any(not isinstance(c, str) or not c.strip() for c in city_list):
        raise ValueError(f"cities must be non-empty city names, got {city_list!r}")
    city_list = [c.strip() for c in city_list]
    if len({_normalize(c) for c in city_list}) != len(city_list):
        raise ValueError(f"cities must be distinct, got {city_list!r}")
    share = float(critical_share)
    if not 0.0 <= share <= 1.0:  # also rejects NaN
        raise ValueError(f"critical_share must be between 0 and 1, got {critical_share!r}")
    seed = int(seed)

    # Organizations -----------------------------------------------------------------
    n_cities = len(city_list)
    org_index = np.arange(org_lo, org_hi, dtype=np.int64)
    batch_orgs = org_hi - org_lo
    sector_idx = org_index % 3
    city_idx = (org_index // 3) % n_cities
    seq = org_index // (3 * n_cities) + 1
    codes = _city_codes(city_list)
    org_ids = [
        f"{_ORG_PREFIX[_SECTORS[s]]}-{codes[c]}-{q:03d}"
        for s, c, q in zip(sector_idx.tolist(), city_idx.tolist(), seq.tolist(), strict=True)
    ]
    org_names = [
        f"{city_list[c]} {_ORG_NAME[_SECTORS[s]]} {q:03d}"
        for s, c, q in zip(sector_idx.tolist(), city_idx.tolist(), seq.tolist(), strict=True)
    ]
    org_key = _key(seed, _stable_ids(org_ids, normalize=False))
    is_pds = sector_idx == 1
    is_ngo = sector_idx == 2
    phh = 1500 + (_uniform(org_key, _S_PHH) * 4501).astype(np.int64)  # 1500..6000 persons
    aay = 20 + (_uniform(org_key, _S_AAY) * 181).astype(np.int64)  # 20..200 households
    disaster = is_ngo & (_uniform(org_key, _S_DISASTER) < _DISASTER_ZONE_SHARE)
    city_arr = pa.array(city_list, type=pa.string())
    sector_arr = pa.array(_SECTORS, type=pa.string())
    organizations = pa.table(
        {
            "org_id": pa.array(org_ids, type=pa.string()),
            "org_name": pa.array(org_names, type=pa.string()),
            "sector": sector_arr.take(sector_idx),
            "city": city_arr.take(city_idx),
            "disaster_zone": pa.array(disaster, type=pa.bool_()),
            "phh_persons": pa.array(phh, type=pa.int64(), mask=~is_pds),
            "aay_households": pa.array(aay, type=pa.int64(), mask=~is_pds),
            "budget_cap": pa.nulls(batch_orgs, type=pa.float64()),
            "data_source": _repeat_str(SIMULATED, batch_orgs),
        }
    )

    cat = _catalog(k, seed, tuple(city_list))
    # Inventory: k rows per organization, all by index arithmetic -----------------------
    rows = batch_orgs * k
    row_org = np.repeat(np.arange(batch_orgs, dtype=np.int64), k)  # position in this batch
    row_item = sector_idx[row_org] * k + np.tile(np.arange(k, dtype=np.int64), batch_orgs)
    key = _mix64(org_key[row_org] ^ cat.sku_ids[row_item])

    low, high = cat.low[row_item], cat.high[row_item]
    org_size = 0.5 + 1.5 * _uniform(org_key, _S_ORG_SIZE)  # 0.5..2x an average organization
    u_scale = _uniform(key, _S_SCALE)
    consumption = (low + (high - low) * u_scale * u_scale) * org_size[row_org]
    rice_item = cat.rice[row_item]
    entitlement = np.asarray(monthly_allotment_kg(phh, aay), dtype=np.float64) / 30.0  # NFSA
    consumption = np.where(rice_item, entitlement[row_org], consumption)

    first = np.arange(org_lo * k, org_lo * k + rows) == 0  # the network's first item
    critical = (_uniform(key, _S_CRIT) < share) & ~first
    u_cover = _uniform(key, _S_COVER)
    cover = np.where(
        critical,
        _CRITICAL_DAYS * u_cover,
        _MIN_OK_COVER + (_MAX_COVER - _MIN_OK_COVER) * (1.0 - u_cover),
    )
    stock = consumption * cover
    dormant = (_uniform(key, _S_ZERO) < _ZERO_CONSUMPTION_SHARE) & ~rice_item & ~first
    consumption = np.where(dormant, 0.0, consumption)  # stocked, but nobody uses it now

    lead = cat.lead_time[row_item] + (_uniform(key, _S_LEAD) * 3).astype(np.int64)
    take_idx = pa.array(row_item)
    inventory = pa.table(
        {
            "org_id": organizations.column("org_id").combine_chunks().take(pa.array(row_org)),
            "sku": cat.sku.take(take_idx),
            "item_name": cat.item_name.take(take_idx),
            "category": cat.category.take(take_idx),
            "current_stock": pa.array(stock, type=pa.float64()),
            "daily_consumption": pa.array(consumption, type=pa.float64()),
            "unit": cat.unit.take(take_idx),
            "pack_size": pa.array(cat.pack_size[row_item], type=pa.float64()),
            "lead_time_days": pa.array(lead.astype(np.float64), type=pa.float64()),
            "preferred_vendor": cat.preferred_vendor.take(take_idx),
            "data_source": _repeat_str(SIMULATED, rows),
        }
    )

    return SimulatedNetwork(organizations, inventory, cat.vendors, cat.vendor_catalog)


def simulate_network_batches(
    n_orgs: int = 6,
    skus_per_org: int = 3,
    seed: int = 42,
    cities: Sequence[str] = ("Bangalore", "Delhi"),
    critical_share: float = 0.15,
    *,
    batch_orgs: int = 100,
) -> Iterator[SimulatedNetwork]:
    """:func:`simulate_network` in slices of ``batch_orgs`` organizations, so a national
    network is built (and loaded) with memory bounded by the batch, not the network. The
    batches concatenated equal the whole network whatever the batch size; each batch
    carries the (whole, small) vendors and catalog."""
    n_orgs = _check_count(n_orgs, "n_orgs", 1)
    step = _check_count(batch_orgs, "batch_orgs", 1)
    for lo in range(0, n_orgs, step):
        yield simulate_network(
            n_orgs, skus_per_org, seed, cities, critical_share, orgs=(lo, min(lo + step, n_orgs))
        )


HISTORY_COLUMNS = ("org_id", "sku", "day", "consumption", "stock", "stockout", "data_source")


def network_history(network: SimulatedNetwork, days: int, seed: int, start_date: date) -> pa.Table:
    """The ``days`` of daily history (stock_history's columns) of a network's (or a
    batch's) inventory, from ``start_date``, each series ending at the item's current stock
    and following its organization's sector."""
    items = network.inventory
    orgs = network.organizations
    where = pc.index_in(items["org_id"], value_set=orgs["org_id"].combine_chunks())
    sectors = orgs["sector"].combine_chunks().take(where.combine_chunks())
    history = generate_realistic_simulation(
        items["org_id"].combine_chunks(),
        items["sku"].combine_chunks(),
        days,
        seed,
        base_consumption=items["daily_consumption"].to_numpy(),
        start_date=start_date,
        sectors=sectors,
        end_stock=items["current_stock"].to_numpy(),
    )
    return history.select(list(HISTORY_COLUMNS))


# ---------------------------------------------------------------------------------------
# Chaos: descriptions of edits; the backend applies them with bound parameters
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChaosEvent:
    """One chaos edit: set `values` on the `table` row matching `key` (insert if `upsert`)."""

    kind: str
    table: str
    key: dict[str, object] = field(hash=False)
    values: dict[str, object] = field(hash=False)
    upsert: bool
    description: str

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form for the audit log."""
        return {
            "kind": self.kind,
            "table": self.table,
            "key": dict(self.key),
            "values": dict(self.values),
            "upsert": self.upsert,
            "description": self.description,
            "data_source": SIMULATED,
        }


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    found = control_character(value)
    if found:
        raise ValueError(f"{what} must not contain control characters (found {found})")
    return value.strip()


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{what} must be a number, got {value!r}")
    return float(value)


def drop_stock(org_id: str, sku: str, to: float = 0.0) -> ChaosEvent:
    """Set an item's current stock to `to` (default 0), as the demo's chaos button does."""
    org, item = _name(org_id, "org_id"), _name(sku, "sku")
    _number(to, "to")
    level = check_limit(to, "drop_stock: stock", "quantity")
    return ChaosEvent(
        kind="stock",
        table="inventory_master",
        key={"org_id": org, "sku": item},
        values={"current_stock": level, "data_source": SIMULATED},
        upsert=False,
        description=f"Chaos (simulated): stock of {item} at {org} dropped to {level:g}",
    )


def vendor_offline(vendor: str) -> ChaosEvent:
    """Take a vendor offline until a `vendor_online` event for it."""
    name = _name(vendor, "vendor")
    return ChaosEvent(
        kind="vendor",
        table="vendor_status_overrides",
        key={"vendor": name},
        values={"status": OFFLINE, "latency_ms": None, "data_source": SIMULATED},
        upsert=True,
        description=f"Chaos (simulated): vendor {name} taken offline",
    )


def vendor_online(vendor: str, latency_ms: int | None = None) -> ChaosEvent:
    """Bring a vendor online at `latency_ms` (default: its simulated latency when online)."""
    name = _name(vendor, "vendor")
    if latency_ms is None:
        latency = int(_vendor_latency([name])[0])
    else:
        if isinstance(latency_ms, bool) or not isinstance(latency_ms, int | np.integer):
            raise ValueError(f"latency_ms must be a whole number of ms >= 0, got {latency_ms!r}")
        if not 0 <= latency_ms <= MAX_LATENCY_MS:
            raise ValueError(
                f"latency_ms must be a whole number of ms from 0 to {MAX_LATENCY_MS}, "
                f"got {latency_ms!r}"
            )
        latency = int(latency_ms)
    return ChaosEvent(
        kind="vendor",
        table="vendor_status_overrides",
        key={"vendor": name},
        values={"status": ONLINE, "latency_ms": latency, "data_source": SIMULATED},
        upsert=True,
        description=f"Chaos (simulated): vendor {name} back online at {latency} ms",
    )


def set_weather(city: str, condition: str) -> ChaosEvent:
    """Override a city's weather with one of WEATHER_CONDITIONS (any case)."""
    name = _name(city, "city")
    canonical = {c.casefold(): c for c in WEATHER_CONDITIONS}
    chosen = canonical.get(condition.strip().casefold()) if isinstance(condition, str) else None
    if chosen is None:
        raise ValueError(
            f"unknown weather condition {condition!r}; valid: {', '.join(WEATHER_CONDITIONS)}"
        )
    return ChaosEvent(
        kind="weather",
        table="weather_overrides",
        key={"city": name},
        values={"condition": chosen, "data_source": SIMULATED},
        upsert=True,
        description=f"Chaos (simulated): weather in {name} set to {chosen}",
    )


def spike_demand(org_id: str, sku: str, factor: float) -> ChaosEvent:
    """Multiply an item's daily consumption by `factor` (> 0 and at most
    resq.core.validation.MAX_FACTOR, 100; below 1 lowers demand)."""
    org, item = _name(org_id, "org_id"), _name(sku, "sku")
    _number(factor, "factor")
    value = check_limit(factor, "spike_demand: factor", "factor", exclusive_low=True)
    return ChaosEvent(
        kind="demand",
        table="inventory_master",
        key={"org_id": org, "sku": item},
        values={"demand_factor": value, "data_source": SIMULATED},
        upsert=False,
        description=(
            f"Chaos (simulated): daily consumption of {item} at {org} multiplied by {value:g}"
        ),
    )
