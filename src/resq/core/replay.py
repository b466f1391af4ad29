"""Replay: run replenishment policies day by day over a network and compare what they achieve.

Every day, for all items at once (columns, no per-item loop), in this order:

1. orders due today arrive (an order placed on day ``t`` with lead time ``L`` arrives at
   the start of day ``t + L``; ``L`` is the vendor's lead time plus the weather delay of
   the order day in the item's city, rounded up to whole days, at least 1);
2. chaos stock drops apply;
3. the day's demand is served from stock: lost sales by default (what is not there is
   lost), or backorders (stock goes negative and the backlog is served first);
4. orders waiting for a vendor (PENDING_VENDOR) are re-sourced;
5. the policy looks at the end-of-day state and orders; the vendor is the one the core's
   rule (:func:`resq.core.ordering.choose_vendors`) chooses among those authorized for the
   item's sector and category (the network's ``authorization``) and online today (an
   offline preferred vendor falls back to the next), or none: the order waits as
   PENDING_VENDOR, re-sourced every day.

This is stockpyl's single-stage convention for periodic review with backorders: the
inventory position after the period's demand is compared with the policy, and an order
of lead time L is received in period t + L before that period's demand is served.

The demand faced is the demand series (the simulation's by default) times any chaos spike
and the sector's weather multiplier (NGO demand under adverse weather, oxygen under haze:
:func:`resq.core.sectors.analyse`). Day numbers users see are 1-based.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from resq.core._columns import FloatArray
from resq.core.ordering import choose_vendors, resource_pending
from resq.core.policies import POLICIES, DayState, Orders, Policy, get_policy
from resq.core.sectors import DEFAULT_SECTOR_CONFIG, WEATHER_DELAY_DAYS, SectorConfig, analyse
from resq.core.sourcing import DEFAULT_VENDOR_TYPE, authorization_table

ITEM_COLUMNS = (
    "org_id", "org_name", "sector", "city", "sku", "item_name", "category", "unit", "pack_size",
    "lead_time_days", "preferred_vendor", "current_stock", "daily_consumption", "disaster_zone",
    "phh_persons", "aay_households", "budget_cap", "data_source",
)  # fmt: skip
"""The columns of :attr:`ReplayNetwork.items`: inventory joined with its organization."""


# ---------------------------------------------------------------- the network


@dataclass(frozen=True)
class ReplayNetwork:
    """The static network a replay runs over: one row per item (``ITEM_COLUMNS``), the
    vendor catalog (``vendor_id, sku, city, price, lead_time_days``, optionally
    ``min_order_qty, pack_size``), each vendor's usual status (``vendor_id, status,
    latency_ms``), each city's usual weather, the sector rules, the vendors
    (``vendor_id, vendor_type, reliability``; a vendor not listed is of the type
    ``GENERAL``) and the ``vendor_authorization`` rules (:mod:`resq.core.sourcing`; the
    defaults when None). Vendors are chosen, and quantities rounded to the vendor's packs
    and minimums, by the heal cycle's own rule over these."""

    items: pa.Table
    vendor_catalog: pa.Table
    vendor_status: pa.Table
    weather: Mapping[str, str]
    configs: Mapping[str, SectorConfig] = field(default_factory=lambda: DEFAULT_SECTOR_CONFIG)
    vendors: pa.Table | None = None
    authorization: pa.Table | None = None

    def __post_init__(self) -> None:
        items = self.items.combine_chunks()
        missing = [c for c in ("org_id", "sku", "sector", "city") if c not in items.column_names]
        if missing:
            raise ValueError(f"items lack the columns {', '.join(missing)}")
        n = items.num_rows
        defaults: dict[str, Any] = {
            "org_name": pa.nulls(n, pa.string()),
            "item_name": pa.nulls(n, pa.string()),
            "category": pa.array(["OTHER"] * n, pa.string()),
            "unit": pa.array(["unit"] * n, pa.string()),
            "pack_size": pa.array(np.ones(n)),
            "lead_time_days": pa.array(np.ones(n)),
            "preferred_vendor": pa.nulls(n, pa.string()),
            "current_stock": pa.array(np.zeros(n)),
            "daily_consumption": pa.array(np.zeros(n)),
            "disaster_zone": pa.array(np.zeros(n, bool)),
            "phh_persons": pa.nulls(n, pa.int64()),
            "aay_households": pa.nulls(n, pa.int64()),
            "budget_cap": pa.nulls(n, pa.float64()),
            "data_source": pa.array(["SIMULATED"] * n, pa.string()),
        }
        cols = {c: items[c] if c in items.column_names else defaults[c] for c in ITEM_COLUMNS}
        for name in ("org_id", "sku", "sector", "city", "category", "preferred_vendor"):
            cols[name] = cols[name].cast(pa.string())
        for name in ("pack_size", "lead_time_days", "current_stock", "daily_consumption"):
            cols[name] = cols[name].cast(pa.float64())
        table = pa.table(cols).combine_chunks()
        keys = pc.binary_join_element_wise(table["org_id"], table["sku"], "\x1f")
        if pc.count_distinct(keys).as_py() != n:
            raise ValueError("items must have one row per (org_id, sku)")
        object.__setattr__(self, "items", table)
        object.__setattr__(self, "_keys", keys.combine_chunks())
        for name, arr in (
            ("pack_size", _num(table["pack_size"], 1.0)),
            ("lead_time", _num(table["lead_time_days"], 1.0)),
            ("initial_stock", _num(table["current_stock"], 0.0)),
            ("base_rate", _num(table["daily_consumption"], 0.0)),
        ):
            object.__setattr__(self, name, arr)
        pack = self.pack_size
        object.__setattr__(self, "pack_size", np.where(pack > 0, pack, 1.0))
        bad = (self.initial_stock < 0) | (self.base_rate < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"item {i + 1} ({table['org_id'][i]}/{table['sku'][i]}): current_stock and "
                "daily_consumption must be >= 0"
            )
        sector = table["sector"].combine_chunks()
        encoded = sector.dictionary_encode()
        object.__setattr__(self, "sector_names", encoded.dictionary.to_pylist())
        object.__setattr__(
            self, "sector_code", np.asarray(encoded.indices.to_numpy(zero_copy_only=False))
        )
        unknown = set(self.sector_names) - set(self.configs)
        if unknown:
            raise ValueError(f"unknown sector {sorted(unknown)[0]!r} in items")
        city = table["city"].combine_chunks().dictionary_encode()
        object.__setattr__(self, "city_names", city.dictionary.to_pylist())
        object.__setattr__(
            self, "city_code", np.asarray(city.indices.to_numpy(zero_copy_only=False))
        )
        vendors = sorted(
            set(self.vendor_catalog["vendor_id"].to_pylist())
            | set(self.vendor_status["vendor_id"].to_pylist())
        )
        object.__setattr__(self, "vendor_names", vendors)
        if self.authorization is None:
            object.__setattr__(self, "authorization", authorization_table())

    # set in __post_init__
    pack_size: FloatArray = field(init=False, repr=False)
    lead_time: FloatArray = field(init=False, repr=False)
    initial_stock: FloatArray = field(init=False, repr=False)
    base_rate: FloatArray = field(init=False, repr=False)
    sector_names: list[str] = field(init=False, repr=False)
    sector_code: npt.NDArray[np.int64] = field(init=False, repr=False)
    city_names: list[str] = field(init=False, repr=False)
    city_code: npt.NDArray[np.int64] = field(init=False, repr=False)
    vendor_names: list[str] = field(init=False, repr=False)
    _keys: pa.Array = field(init=False, repr=False)

    @property
    def n(self) -> int:
        return self.items.num_rows

    @property
    def sector(self) -> pa.Array:
        return self.items["sector"].chunk(0)

    @property
    def category(self) -> pa.Array:
        return self.items["category"].chunk(0)

    @property
    def disaster_zone(self) -> pa.Array:
        return self.items["disaster_zone"].chunk(0)

    def position_of(self, org_id: Any, sku: Any) -> npt.NDArray[np.int64]:
        """The item index of each (org_id, sku); a pair not in the network is a KeyError."""
        keys = pc.binary_join_element_wise(
            pa.array(org_id, pa.string()) if not isinstance(org_id, pa.ChunkedArray) else org_id,
            pa.array(sku, pa.string()) if not isinstance(sku, pa.ChunkedArray) else sku,
            "\x1f",
        )
        idx = pc.index_in(keys, value_set=self._keys)
        if idx.null_count:
            raise KeyError("an (org_id, sku) pair is not an item of the network")
        return np.asarray(idx.to_numpy(zero_copy_only=False), dtype=np.int64)


def _num(col: pa.ChunkedArray, missing: float) -> FloatArray:
    return np.nan_to_num(
        np.asarray(col.to_numpy(), dtype=np.float64), nan=missing, posinf=np.inf
    ).copy()


# ---------------------------------------------------------------- chaos schedule


@dataclass(frozen=True)
class ChaosSchedule:
    """What goes wrong when, in 1-based days (inclusive ranges).

    ``vendor_offline``: ``(vendor, first_day, last_day)``; ``weather``: ``(city, condition,
    first_day, last_day)``; ``demand_spikes``: ``(org_id or None, sku or None, factor,
    first_day, last_day)`` (None matches every organization / item); ``stock_drops``:
    ``(org_id, sku or None, day, to)`` (stock falls to ``to`` at the start of the day)."""

    vendor_offline: tuple[tuple[str, int, int], ...] = ()
    weather: tuple[tuple[str, str, int, int], ...] = ()
    demand_spikes: tuple[tuple[str | None, str | None, float, int, int], ...] = ()
    stock_drops: tuple[tuple[str, str | None, int, float], ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChaosSchedule:
        """A schedule from JSON/YAML-shaped data::

        {"vendor_offline": [{"vendor": "Dunzo", "from": 1, "to": 10}],
         "weather": [{"city": "Bangalore", "condition": "Rain", "from": 20, "to": 26}],
         "demand_spikes": [{"org_id": "NGO-BLR-001", "factor": 2, "from": 5, "to": 9}],
         "stock_drops": [{"org_id": "HOSP-BLR-001", "sku": "OXY-CYL", "day": 3, "to": 0}]}

        A bad entry is a ValueError naming the section, the entry (1-based) and the field.
        """
        if not isinstance(data, Mapping):
            raise ValueError("a chaos schedule must be a mapping of sections")
        known = {"vendor_offline", "weather", "demand_spikes", "stock_drops"}
        extra = sorted(set(data) - known)
        if extra:
            raise ValueError(
                f"chaos: unknown section {extra[0]!r}; expected {', '.join(sorted(known))}"
            )

        def entries(section: str) -> list[tuple[int, Mapping[str, Any]]]:
            value = data.get(section) or []
            if not isinstance(value, list):
                raise ValueError(f"chaos.{section} must be a list of entries")
            out = []
            for i, entry in enumerate(value, 1):
                if not isinstance(entry, Mapping):
                    raise ValueError(f"chaos.{section}[{i}] must be a mapping")
                out.append((i, entry))
            return out

        def text(section: str, i: int, e: Mapping[str, Any], key: str, optional: bool = False):
            v = e.get(key)
            if v is None and optional:
                return None
            if not isinstance(v, str) or not v.strip():
                raise ValueError(f"chaos.{section}[{i}].{key}: expected a non-empty name")
            return v.strip()

        def day(section: str, i: int, e: Mapping[str, Any], key: str) -> int:
            v = e.get(key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"chaos.{section}[{i}].{key}: expected a day number >= 1")
            return v

        def number(section: str, i: int, e: Mapping[str, Any], key: str) -> float:
            v = e.get(key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"chaos.{section}[{i}].{key}: expected a finite number")
            if v < 0:
                raise ValueError(f"chaos.{section}[{i}].{key}: must be >= 0")
            return float(v)

        def span(section: str, i: int, e: Mapping[str, Any]) -> tuple[int, int]:
            a, b = day(section, i, e, "from"), day(section, i, e, "to")
            if b < a:
                raise ValueError(f"chaos.{section}[{i}]: 'to' ({b}) is before 'from' ({a})")
            return a, b

        from resq.simulation import WEATHER_CONDITIONS

        off = tuple(
            (text("vendor_offline", i, e, "vendor"), *span("vendor_offline", i, e))
            for i, e in entries("vendor_offline")
        )
        wx = []
        for i, e in entries("weather"):
            cond = text("weather", i, e, "condition")
            if cond not in WEATHER_CONDITIONS:
                raise ValueError(
                    f"chaos.weather[{i}].condition: {cond!r} is not one of "
                    f"{', '.join(WEATHER_CONDITIONS)}"
                )
            wx.append((text("weather", i, e, "city"), cond, *span("weather", i, e)))
        spikes = tuple(
            (
                text("demand_spikes", i, e, "org_id", True),
                text("demand_spikes", i, e, "sku", True),
                number("demand_spikes", i, e, "factor"),
                *span("demand_spikes", i, e),
            )
            for i, e in entries("demand_spikes")
        )
        drops = tuple(
            (
                text("stock_drops", i, e, "org_id"),
                text("stock_drops", i, e, "sku", True),
                day("stock_drops", i, e, "day"),
                number("stock_drops", i, e, "to") if "to" in e else 0.0,
            )
            for i, e in entries("stock_drops")
        )
        return cls(off, tuple(wx), spikes, drops)

    @classmethod
    def load(cls, path: str | Path) -> ChaosSchedule:
        """A schedule from a JSON or YAML file (by suffix: .json, else YAML)."""
        p = Path(path)
        try:
            raw = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read chaos file {p}: {exc.strerror}") from None
        try:
            if p.suffix.lower() == ".json":
                data = json.loads(raw)
            else:
                try:
                    import yaml
                except ImportError:
                    raise ValueError(
                        f"chaos file {p}: reading YAML needs pyyaml (pip install pyyaml); "
                        "or write the schedule as .json"
                    ) from None
                data = yaml.safe_load(raw)
        except Exception as exc:  # the parser's message names line and column
            raise ValueError(f"chaos file {p} is not valid: {exc}") from None
        return cls.from_dict(data or {})

    def as_dict(self) -> dict[str, Any]:
        return {
            "vendor_offline": [
                {"vendor": v, "from": a, "to": b} for v, a, b in self.vendor_offline
            ],
            "weather": [
                {"city": c, "condition": w, "from": a, "to": b} for c, w, a, b in self.weather
            ],
            "demand_spikes": [
                {"org_id": o, "sku": s, "factor": f, "from": a, "to": b}
                for o, s, f, a, b in self.demand_spikes
            ],
            "stock_drops": [
                {"org_id": o, "sku": s, "day": d, "to": t} for o, s, d, t in self.stock_drops
            ],
        }


# ---------------------------------------------------------------- costs and results


@dataclass(frozen=True)
class Costs:
    """Cost rates: holding per unit per day, per order placed, per unit short."""

    holding_per_unit_day: float = 0.0
    per_order: float = 0.0
    per_unit_short: float = 0.0


ORDER_LOG_SCHEMA = pa.schema(
    [
        ("policy", pa.string()),
        ("day", pa.int32()),
        ("org_id", pa.string()),
        ("sku", pa.string()),
        ("quantity", pa.float64()),
        ("vendor", pa.string()),
        ("event", pa.string()),  # ORDER (new), RESOURCED (a waiting order got a vendor)
        ("order_status", pa.string()),
        ("fallback", pa.bool_()),
        ("arrival_day", pa.int32()),
    ]
)

_SUMS = (
    "initial_stock", "demanded", "served", "short", "received", "dropped", "final_stock",
    "stockout_days", "zero_days", "oxygen_zero_days", "orders", "units_ordered",
    "fallback_orders", "pending_vendor_orders", "cycles", "cycles_without_stockout",
    "onhand_sum", "holding_cost", "ordering_cost", "shortage_cost", "purchase_cost",
)  # fmt: skip


_COUNTS = frozenset(
    {"stockout_days", "zero_days", "oxygen_zero_days", "orders", "fallback_orders",
     "pending_vendor_orders", "cycles", "cycles_without_stockout"}
)  # fmt: skip


_NONE = np.zeros(0, dtype=np.int64)


@dataclass
class ReplayResult:
    """Per-item outcomes of every policy (:attr:`items`), the order log (:attr:`orders`)
    and each vendor's status by day (:attr:`vendor_days`); :meth:`summary` aggregates."""

    days: int
    policies: list[str]
    items: pa.Table
    orders: pa.Table
    vendor_days: pa.Table
    chaos: ChaosSchedule
    levels: dict[str, FloatArray] = field(default_factory=dict)
    """With ``record_levels``: per policy, the (days, items) inventory level at the end of
    each day (negative while backordered)."""

    def summary(self, by: str | Sequence[str] = "sector") -> pa.Table:
        """Per policy and ``by`` (``"sector"``, ``"org_id"``, ``"item"``, ``"policy"`` or a
        list of item columns): fill rate, cycle service level, stockout days, first stockout
        day, oxygen days at zero, average cover in days, orders, units and costs."""
        keys = ["policy"]
        if by == "item":
            keys += ["sector", "org_id", "sku"]
        elif by != "policy":
            keys += [by] if isinstance(by, str) else list(by)
        t = self.items
        agg = [(c, "sum") for c in _SUMS] + [
            ("first_stockout_day", "min"),
            ("expected_demand", "sum"),
            ("sku", "count"),
        ]
        g = t.group_by(keys, use_threads=False).aggregate(agg)
        g = g.rename_columns([n.removesuffix("_sum").removesuffix("_min") for n in g.column_names])
        g = g.rename_columns(["items" if n == "sku_count" else n for n in g.column_names])
        if by == "item":
            g = g.drop_columns(["items"])
        demanded = g["demanded"].to_numpy()
        served = g["served"].to_numpy()
        cycles = g["cycles"].to_numpy()
        expected = g["expected_demand"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            fill = np.where(demanded > 0, served / demanded, 1.0)
            csl = np.where(cycles > 0, g["cycles_without_stockout"].to_numpy() / cycles, 1.0)
            cover = np.where(
                expected > 0, g["onhand_sum"].to_numpy() / (expected * self.days), np.nan
            )
        g = g.append_column("fill_rate", pa.array(fill))
        g = g.append_column("cycle_service_level", pa.array(csl))
        g = g.append_column("avg_cover_days", pa.array(cover, from_pandas=True))
        # the inventory costs of the policy (what is bought is in purchase_cost)
        total = pc.add(pc.add(g["holding_cost"], g["ordering_cost"]), g["shortage_cost"])
        g = g.append_column("total_cost", total)
        front = [*keys[1:], "policy"]
        metrics = [
            "fill_rate", "cycle_service_level", "stockout_days", "first_stockout_day",
            "oxygen_zero_days", "avg_cover_days", "orders", "units_ordered", "fallback_orders",
            "pending_vendor_orders", "holding_cost", "ordering_cost", "shortage_cost",
            "purchase_cost", "total_cost", "demanded", "served", "short",
        ]  # fmt: skip
        if by != "item":
            metrics.insert(0, "items")
        g = g.select([*front, *metrics])
        order = self.policies
        rank = pc.index_in(g["policy"], value_set=pa.array(order))
        g = g.append_column("__rank", rank)
        return g.sort_by([(k, "ascending") for k in front[:-1]] + [("__rank", "ascending")]).drop(
            ["__rank"]
        )

    def stocked_out(self) -> pa.Table:
        """The items that ran short at least once, per policy, most stockout days first."""
        t = self.items.filter(pc.greater(self.items["stockout_days"], 0))
        cols = ["policy", "sector", "org_id", "sku", "category", "stockout_days",
                "first_stockout_day", "zero_days", "short"]  # fmt: skip
        return t.select(cols).sort_by([("stockout_days", "descending"), ("policy", "ascending")])

    def to_markdown(self, by: str = "policy", sector: str | None = None) -> str:
        """The summary as a Markdown table (fill rate, cycle service level, stockout days,
        oxygen days at zero, average cover, orders, fallback orders), for reports."""
        rows = self.summary(by).to_pylist()
        if sector is not None:
            rows = [r for r in rows if r.get("sector") == sector]
        head = ["policy", "fill rate", "cycle service level", "stockout days",
                "oxygen days at 0", "avg cover (days)", "orders", "fallback orders"]  # fmt: skip
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            cover = r["avg_cover_days"]
            cells = [
                r["policy"], f"{100 * r['fill_rate']:.2f}%",
                f"{100 * r['cycle_service_level']:.2f}%", str(r["stockout_days"]),
                str(r["oxygen_zero_days"]), "-" if cover is None else f"{cover:.1f}",
                str(r["orders"]), str(r["fallback_orders"]),
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_pandas(self, by: str | Sequence[str] = "sector") -> Any:
        return self.summary(by).to_pandas()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the settings, the summary per policy and per sector, the stockouts."""
        return {
            "days": self.days,
            "policies": self.policies,
            "chaos": self.chaos.as_dict(),
            "by_policy": _rows(self.summary("policy")),
            "by_sector": _rows(self.summary("sector")),
            "stocked_out": _rows(self.stocked_out()),
        }


def _rows(t: pa.Table) -> list[dict[str, Any]]:
    out = t.to_pylist()
    for row in out:
        for k, v in row.items():
            if isinstance(v, float) and not math.isfinite(v):
                row[k] = None
    return out


# ---------------------------------------------------------------- the replay


@dataclass
class _Config:
    """Per distinct (vendor statuses, city weathers): what the day's signals decide."""

    weather: pa.Array  # per item
    delay: FloatArray  # per item
    multiplier: FloatArray  # demand multiplier per item
    options: pa.Table  # vendor options with today's statuses
    has_vendor: npt.NDArray[np.bool_]
    vendor_code: npt.NDArray[np.int64]  # -1 none
    lead: FloatArray
    price: FloatArray
    scaled: bool = True  # some item's demand multiplier is not 1


def replay(
    network: ReplayNetwork,
    policies: Iterable[str | tuple[str, Policy]] = ("resq",),
    days: int = 365,
    *,
    demand: Any = None,
    seed: int = 42,
    chaos: ChaosSchedule | None = None,
    backorders: bool = False,
    costs: Costs | None = None,
    budget: float | None = None,
    start_date: date = date(2026, 1, 1),
    record_orders: bool = True,
    record_levels: bool = False,
    weather_scales_demand: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Run each policy over the same ``days`` of demand and return the comparison.

    ``policies`` are registered names (:data:`POLICIES`) or ``(name, policy)`` pairs.
    ``demand`` is an array of shape (items, days) in the order of ``network.items``; by
    default the simulation's demand for the items (:func:`resq.simulation.simulated_demand`
    with ``seed``). The sectors' weather multipliers scale it unless
    ``weather_scales_demand`` is False (recorded consumption already carries the weather it
    was recorded under). ``progress(done, total)`` is called after every replayed day.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a whole number >= 1, got {days!r}")
    chaos = chaos or ChaosSchedule()
    named: list[tuple[str, Policy]] = []
    for p in policies:
        named.append((p, get_policy(p)) if isinstance(p, str) else (p[0], p[1]))
    if not named:
        raise ValueError("replay needs at least one policy")
    if len({n for n, _ in named}) != len(named):
        raise ValueError("each policy may be replayed once")
    base = _demand_matrix(network, demand, days, seed, start_date)
    plan = _Plan(network, days, chaos, start_date)
    plan.scale_demand = weather_scales_demand
    results, logs = [], []
    levels: dict[str, FloatArray] = {}
    total = days * len(named)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    for name, policy in named:
        trace = np.zeros((days, network.n)) if record_levels else None
        items, log = _run(
            network, name, policy, base, plan, backorders, costs or Costs(), budget,
            record_orders, tick, trace,
        )  # fmt: skip
        if trace is not None:
            levels[name] = trace
        results.append(items)
        logs.append(log)
    return ReplayResult(
        days,
        [name for name, _ in named],
        pa.concat_tables(results),
        pa.concat_tables(logs) if logs else ORDER_LOG_SCHEMA.empty_table(),
        plan.vendor_days(),
        chaos,
        levels,
    )


def initial_state(
    network: ReplayNetwork,
    *,
    chaos: ChaosSchedule | None = None,
    budget: float | None = None,
    start_date: date = date(2026, 1, 1),
) -> DayState:
    """The state a policy would see before the first replayed day: the network's current
    stock, nothing on order, the usual signals. ``policy(initial_state(net))`` is what the
    policy decides now (what a heal cycle decides now, for the ``resq`` policy)."""
    plan = _Plan(network, 1, chaos or ChaosSchedule(), start_date)
    cfg = plan.config(0)
    n = network.n
    rate = network.base_rate
    return DayState(
        0, start_date, network, network.initial_stock.copy(), np.zeros(n),
        np.zeros(n, np.int64), rate, cfg.weather, cfg.delay, cfg.lead,
        cfg.options, np.zeros(n), budget,
    )  # fmt: skip


def _demand_matrix(
    network: ReplayNetwork, demand: Any, days: int, seed: int, start_date: date
) -> FloatArray:
    """The (days, items) demand before chaos and weather, validated."""
    n = network.n
    if demand is None:
        from resq.simulation import simulated_demand

        items = network.items
        arr = simulated_demand(
            items["org_id"], items["sku"], days, seed, network.base_rate, start_date,
            sectors=items["sector"].to_pylist(),
        )  # fmt: skip
    else:
        arr = np.asarray(demand, dtype=np.float64)
    if arr.shape != (n, days):
        raise ValueError(f"demand must have shape (items, days) = ({n}, {days}), got {arr.shape}")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        i, t = (int(x[0]) for x in np.nonzero(bad))
        raise ValueError(
            f"demand of item {i + 1} on day {t + 1} must be finite and >= 0, got {arr[i, t]!r}"
        )
    return np.ascontiguousarray(arr.T)


class _Plan:
    """The day-by-day signals and chaos, resolved to per-day config ids and item arrays."""

    def __init__(
        self, net: ReplayNetwork, days: int, chaos: ChaosSchedule, start_date: date
    ) -> None:
        self.net = net
        self.days = days
        self.scale_demand = True
        self.start = start_date
        vendors = net.vendor_names
        status = dict(
            zip(
                net.vendor_status["vendor_id"].to_pylist(),
                net.vendor_status["status"].to_pylist(),
                strict=True,
            )
        )
        online = np.array([status.get(v) == "ONLINE" for v in vendors], dtype=bool)
        self.online = np.repeat(online[None, :], days, axis=0)  # (days, V)
        for v, a, b in chaos.vendor_offline:
            if v not in vendors:
                raise ValueError(f"chaos: unknown vendor {v!r}; known: {', '.join(vendors)}")
            self.online[a - 1 : b, vendors.index(v)] = False
        cities = net.city_names
        norm = {c.strip().lower(): i for i, c in enumerate(cities)}
        wx = [net.weather.get(c) for c in cities]
        self.weather = np.array([wx] * days, dtype=object).reshape(days, len(cities))
        known = sorted({*cities, *net.weather})
        for c, cond, a, b in chaos.weather:
            if c.strip().lower() not in {k.strip().lower() for k in known}:
                raise ValueError(f"chaos: unknown city {c!r}; known: {', '.join(known)}")
            if c.strip().lower() in norm:  # a known city without items: nothing changes
                self.weather[a - 1 : b, norm[c.strip().lower()]] = cond
        keys: dict[tuple[Any, ...], int] = {}
        self.config_of = np.zeros(days, dtype=np.int64)
        for t in range(days):
            k = (tuple(self.online[t]), tuple(self.weather[t]))
            self.config_of[t] = keys.setdefault(k, len(keys))
        self._configs: dict[int, _Config] = {}
        self._keys = {i: k for k, i in keys.items()}
        # spikes: (day, item) factors, sparse by day
        org = net.items["org_id"]
        sku = net.items["sku"]
        self.spikes: dict[int, FloatArray] = {}
        for o, s, f, a, b in chaos.demand_spikes:
            mask = np.ones(net.n, dtype=bool)
            if o is not None:
                mask &= np.asarray(pc.equal(org, o).to_numpy(zero_copy_only=False), bool)
            if s is not None:
                mask &= np.asarray(pc.equal(sku, s).to_numpy(zero_copy_only=False), bool)
            if not mask.any():
                raise ValueError(f"chaos: demand spike matches no item ({o!r}, {s!r})")
            for t in range(a - 1, min(b, days)):
                factor = self.spikes.setdefault(t, np.ones(net.n))
                factor[mask] *= f
        self.drops: dict[int, list[tuple[npt.NDArray[np.bool_], float]]] = {}
        for o, s, d, to in chaos.stock_drops:
            mask = np.asarray(pc.equal(org, o).to_numpy(zero_copy_only=False), bool)
            if s is not None:
                mask &= np.asarray(pc.equal(sku, s).to_numpy(zero_copy_only=False), bool)
            if not mask.any():
                raise ValueError(f"chaos: stock drop matches no item ({o!r}, {s!r})")
            if d <= days:
                self.drops.setdefault(d - 1, []).append((mask, to))
        baseline = self._choice(np.ones(len(vendors), dtype=bool))
        self.first_choice = baseline[1]

    def date(self, t: int) -> date:
        return self.start + timedelta(days=t)

    def _options(self, online: npt.NDArray[np.bool_]) -> pa.Table:
        net = self.net
        cat = net.vendor_catalog
        vs = net.vendor_status
        latency = dict(
            zip(
                vs["vendor_id"].to_pylist(),
                vs["latency_ms"].to_pylist() if "latency_ms" in vs.column_names else [],
                strict=False,
            )
        )
        names = net.vendor_names
        vid = cat["vendor_id"].to_pylist()
        status = {v: "ONLINE" if on else "OFFLINE" for v, on in zip(names, online, strict=True)}
        kind: dict[Any, Any] = {}
        reliability: dict[Any, Any] = {}
        if net.vendors is not None:
            vt = net.vendors
            ids = vt["vendor_id"].to_pylist()
            if "vendor_type" in vt.column_names:
                kind = dict(zip(ids, vt["vendor_type"].to_pylist(), strict=True))
            if "reliability" in vt.column_names:
                reliability = dict(zip(ids, vt["reliability"].to_pylist(), strict=True))

        def catalog(name: str) -> pa.Array:
            if name in cat.column_names:
                return cat[name].cast(pa.float64())
            return pa.nulls(cat.num_rows, pa.float64())

        # the columns of sql/vendor_options.sql, which the heal cycle chooses among
        return pa.table(
            {
                "vendor_id": cat["vendor_id"].cast(pa.string()),
                "sku": cat["sku"].cast(pa.string()),
                "city": cat["city"].cast(pa.string()),
                "price": cat["price"].cast(pa.float64()),
                "lead_time_days": cat["lead_time_days"].cast(pa.float64()),
                "status": pa.array([status[v] for v in vid], pa.string()),
                "latency_ms": pa.array([latency.get(v) for v in vid], pa.float64()),
                "data_source": cat["data_source"]
                if "data_source" in cat.column_names
                else pa.array(["SIMULATED"] * cat.num_rows, pa.string()),
                "vendor_type": pa.array(
                    [kind.get(v) or DEFAULT_VENDOR_TYPE for v in vid], pa.string()
                ),
                "reliability": pa.array([reliability.get(v) for v in vid], pa.float64()),
                "min_order_qty": catalog("min_order_qty"),
                "pack_size": catalog("pack_size"),
            }
        )

    def _choice(
        self, online: npt.NDArray[np.bool_]
    ) -> tuple[pa.Table, npt.NDArray[np.int64], FloatArray, FloatArray]:
        net = self.net
        options = self._options(online)
        items = net.items
        choice = choose_vendors(
            items["sku"],
            items["city"],
            items["preferred_vendor"],
            options,
            sector=items["sector"],
            category=items["category"],
            authorization=net.authorization,
        )
        vendor = choice.vendor_id()
        code = pc.index_in(vendor, value_set=pa.array(net.vendor_names, pa.string()))
        codes = np.asarray(code.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
        lead = np.where(choice.chosen & ~np.isnan(choice.lead_time_days), choice.lead_time_days,
                        net.lead_time)  # fmt: skip
        return options, codes, lead, np.where(choice.chosen, choice.price, np.nan)

    def config(self, t: int) -> _Config:
        cid = int(self.config_of[t])
        if cid not in self._configs:
            online, weather = self._keys[cid]
            net = self.net
            wx_city = pa.array(list(weather), pa.string())
            wx = wx_city.take(pa.array(net.city_code, pa.int64()))
            a = analyse(
                np.ones(net.n), np.ones(net.n), net.sector, category=net.category, weather=wx,
                disaster_zone=net.disaster_zone, configs=dict(net.configs),
            )  # fmt: skip
            options, codes, lead, price = self._choice(np.array(online, dtype=bool))
            mult = a.effective_consumption
            self._configs[cid] = _Config(
                wx, a.weather_delay_days, mult, options, codes >= 0, codes, lead, price,
                bool((mult != 1.0).any()),
            )  # fmt: skip
        return self._configs[cid]

    def vendor_days(self) -> pa.Table:
        d, v = np.nonzero(np.ones_like(self.online))
        return pa.table(
            {
                "day": pa.array((d + 1).astype(np.int32)),
                "vendor_id": pa.array(np.asarray(self.net.vendor_names, dtype=object)[v]),
                "online": pa.array(self.online[d, v]),
            }
        )


def _run(
    net: ReplayNetwork,
    name: str,
    policy: Policy,
    base: FloatArray,
    plan: _Plan,
    backorders: bool,
    costs: Costs,
    budget: float | None,
    record: bool,
    tick: Callable[[], None],
    trace: FloatArray | None = None,
) -> tuple[pa.Table, pa.Table]:
    """One policy over every day. The hot loop keeps to whole-array numpy operations on
    preallocated buffers; per-order work touches only the rows that order."""
    n, days = net.n, plan.days
    horizon = int(
        max(
            np.nanmax(net.lead_time, initial=1.0),
            np.nanmax(net.vendor_catalog["lead_time_days"].to_numpy(), initial=1.0),
        )
        + max(WEATHER_DELAY_DAYS.values(), default=0.0)
        + 2
    )
    pipeline = np.zeros((horizon, n))
    due_count = np.zeros((horizon, n), dtype=np.int64)
    on_hand = net.initial_stock.copy()
    on_order = np.zeros(n)
    open_orders = np.zeros(n, dtype=np.int64)
    pending = np.zeros(n)  # quantity waiting for a vendor (or an approval)
    alloc_used = np.zeros(n)
    month = plan.date(0).month
    s1 = np.zeros(n)
    s2 = np.zeros(n)
    received = np.zeros(n)
    dropped = np.zeros(n)
    short_sum = np.zeros(n)
    stockout_days = np.zeros(n, dtype=np.int64)
    zero_days = np.zeros(n, dtype=np.int64)
    onhand_sum = np.zeros(n)
    cycles = np.zeros(n, dtype=np.int64)
    good_cycles = np.zeros(n, dtype=np.int64)
    orders = np.zeros(n, dtype=np.int64)
    units = np.zeros(n)
    fallback = np.zeros(n, dtype=np.int64)
    pending_orders = np.zeros(n, dtype=np.int64)
    purchase = np.zeros(n)
    first_out = np.full(n, -1, dtype=np.int64)
    cycle_short = np.zeros(n, dtype=bool)
    # scratch buffers, reused every day
    d_buf, served, short, tmp = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    out, got, zero = np.empty(n, bool), np.empty(n, bool), np.empty(n, bool)
    log: list[tuple[Any, ...]] = []
    resq_like = isinstance(policy, _resq_type())
    memo: dict[str, Any] = {}
    vendor_value_set = pa.array(net.vendor_names, pa.string())
    first_choice = plan.first_choice

    def codes_of(vendors: Any) -> npt.NDArray[np.int64]:
        idx = pc.index_in(pa.array(vendors, pa.string()), value_set=vendor_value_set)
        return np.asarray(idx.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)

    def place(t: int, rows: Any, qty: Any, lead: Any, vcode: Any, event: str, status: Any) -> None:
        ld = np.maximum(np.ceil(np.nan_to_num(lead, nan=1.0) - 1e-9), 1).astype(np.int64)
        slot = (t + ld) % horizon
        pipeline[slot, rows] += qty  # rows are distinct within one call
        due_count[slot, rows] += 1
        fell_back = vcode != first_choice[rows]
        if event == "ORDER":
            fallback[rows] += fell_back
        if record:
            log.append((t + 1, rows, qty, vcode, event, status, t + ld + 1, fell_back))

    for t in range(days):
        cfg = plan.config(t)
        if plan.date(t).month != month:
            month = plan.date(t).month
            alloc_used[:] = 0.0
        # 1. arrivals
        slot = t % horizon
        arrived, due = pipeline[slot], due_count[slot]
        on_hand += arrived
        on_order -= arrived
        received += arrived
        open_orders -= due
        np.greater(due, 0, out=got)
        cycles += got
        good_cycles += got & ~cycle_short
        cycle_short &= ~got
        arrived[:] = 0.0
        due[:] = 0
        # 2. chaos stock drops
        for mask, to in plan.drops.get(t, ()):
            drop = np.where(mask, np.maximum(on_hand - to, 0.0), 0.0)
            on_hand -= drop
            dropped += drop
        # 3. demand
        spike = plan.spikes.get(t)
        d = base[t]
        if cfg.scaled and plan.scale_demand:
            d = np.multiply(d, cfg.multiplier, out=d_buf)
        if spike is not None:
            d = np.multiply(d, spike, out=d_buf)
        if backorders:
            np.maximum(on_hand, 0.0, out=tmp)
            np.minimum(tmp, d, out=served)
            on_hand -= d
        else:
            np.minimum(on_hand, d, out=served)
            on_hand -= served
        np.subtract(d, served, out=short)
        short_sum += short
        np.greater(short, 1e-9, out=out)
        stockout_days += out
        if out.any():
            first_out[out & (first_out < 0)] = t + 1
        np.less_equal(on_hand, 1e-9, out=zero)
        zero_days += zero
        onhand_sum += np.maximum(on_hand, 0.0, out=tmp)
        cycle_short |= out
        if trace is not None:
            trace[t] = on_hand
        s1 += d
        s2 += np.multiply(d, d, out=tmp)
        rate = net.base_rate if spike is None else net.base_rate * spike

        # 4. orders waiting for a vendor (or an approval)
        waiting = np.flatnonzero(pending > 0) if pending.any() else _NONE
        if len(waiting):
            if resq_like:
                vendors, lead, status = _resource(net, waiting, pending, on_hand, rate, cfg, budget)
                vcode = codes_of(vendors)
            else:
                vcode = cfg.vendor_code[waiting]
                lead = cfg.lead[waiting] + cfg.delay[waiting]
                status = np.full(len(waiting), "PLACED", dtype=object)
            ok = vcode >= 0
            if ok.any():
                rows = waiting[ok]
                qty = pending[rows].copy()
                pending[rows] = 0.0
                place(t, rows, qty, lead[ok], vcode[ok], "RESOURCED", status[ok])

        # 5. the policy
        state = DayState(
            t, plan.date(t), net, on_hand, on_order, open_orders, rate, cfg.weather, cfg.delay,
            cfg.lead, cfg.options, alloc_used, budget, memo, s1, s2, t + 1,
        )  # fmt: skip
        decision = policy(state)
        if isinstance(decision, Orders):
            qty_all = np.asarray(decision.quantity, dtype=np.float64)
            rows = np.flatnonzero(qty_all > 0)
            if len(rows):
                vcode = codes_of(decision.vendor[rows])
                status = np.asarray(decision.status[rows], dtype=object)
                lead = np.asarray(decision.lead_time_days, dtype=np.float64)[rows]
                price = np.asarray(decision.unit_price, dtype=np.float64)[rows]
                wait = (vcode < 0) | (status == "PENDING_APPROVAL")
        else:
            qty_all = np.asarray(decision, dtype=np.float64)
            if qty_all.shape != (n,):
                raise ValueError(f"policy {name!r} returned {qty_all.shape}, expected ({n},)")
            rows = np.flatnonzero(qty_all > 0)  # NaN compares False: never ordered
            if len(rows):
                vcode = cfg.vendor_code[rows]
                wait = vcode < 0
                status = np.where(wait, "PENDING_VENDOR", "PLACED").astype(object)
                lead = cfg.lead[rows] + cfg.delay[rows]
                price = cfg.price[rows]
        if len(rows):
            q = qty_all[rows]
            if not np.isfinite(q).all():
                raise ValueError(f"policy {name!r} ordered a quantity that is not finite")
            on_order[rows] += q
            open_orders[rows] += 1
            alloc_used[rows] += q
            orders[rows] += 1
            units[rows] += q
            purchase[rows] += np.nan_to_num(q * price)
            pending_orders[rows] += status == "PENDING_VENDOR"
            go = ~wait
            if go.all():
                place(t, rows, q, lead, vcode, "ORDER", status)
            else:
                if go.any():
                    place(t, rows[go], q[go], lead[go], vcode[go], "ORDER", status[go])
                w = rows[wait]
                pending[w] += q[wait]
                if record:
                    k = len(w)
                    log.append(
                        (t + 1, w, q[wait], np.full(k, -1), "ORDER", status[wait],
                         np.full(k, -1), np.zeros(k, bool))
                    )  # fmt: skip
        tick()

    cycles += 1  # the cycle still open at the end
    good_cycles += ~cycle_short
    served_sum = s1 - short_sum
    oxygen = np.asarray(pc.equal(net.category, "OXYGEN").to_numpy(zero_copy_only=False), bool)
    acc = {
        "demanded": s1, "served": served_sum, "short": short_sum, "received": received,
        "dropped": dropped, "stockout_days": stockout_days, "zero_days": zero_days,
        "oxygen_zero_days": np.where(oxygen, zero_days, 0), "orders": orders,
        "units_ordered": units, "fallback_orders": fallback,
        "pending_vendor_orders": pending_orders, "cycles": cycles,
        "cycles_without_stockout": good_cycles, "onhand_sum": onhand_sum,
        "holding_cost": onhand_sum * costs.holding_per_unit_day,
        "ordering_cost": orders * costs.per_order,
        "shortage_cost": short_sum * costs.per_unit_short, "purchase_cost": purchase,
    }  # fmt: skip
    items = net.items
    mean_rate = s1 / days
    cols: dict[str, Any] = {
        "policy": pa.array([name] * n, pa.string()),
        "org_id": items["org_id"],
        "sku": items["sku"],
        "sector": items["sector"],
        "city": items["city"],
        "category": items["category"],
        "initial_stock": pa.array(net.initial_stock),
        "final_stock": pa.array(on_hand.copy()),
        "pending_at_end": pa.array(pending.copy()),
        "in_transit_at_end": pa.array(pipeline.sum(axis=0)),
        "first_stockout_day": pa.array(first_out, mask=first_out < 0, type=pa.int64()),
        "expected_demand": pa.array(mean_rate),  # for cover: on-hand sum / mean daily demand
    }
    for name_, values in acc.items():
        whole = name_ in _COUNTS
        cols[name_] = pa.array(np.asarray(values, dtype=np.int64 if whole else np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        cols["fill_rate"] = pa.array(np.where(s1 > 0, served_sum / s1, 1.0))
        cols["avg_cover_days"] = pa.array(
            np.where(mean_rate > 0, onhand_sum / days / mean_rate, np.nan), from_pandas=True
        )
    return pa.table(cols), _log_table(net, name, log)


def _resq_type() -> type:
    from resq.core.policies import ResqPolicy

    return ResqPolicy


def _resource(
    net: ReplayNetwork,
    rows: npt.NDArray[np.int64],
    pending: FloatArray,
    on_hand: FloatArray,
    rate: FloatArray,
    cfg: _Config,
    budget: float | None,
) -> tuple[list[Any], FloatArray, npt.NDArray[np.object_]]:
    """Re-source waiting orders with the heal cycle's rule (:func:`resource_pending`)."""
    items = net.items.take(pa.array(rows, pa.int64()))
    with np.errstate(divide="ignore", invalid="ignore"):
        days_left = np.where(rate[rows] > 0, np.maximum(on_hand[rows], 0) / rate[rows], np.nan)
    table = pa.table(
        {
            "po_id": pa.array([str(r) for r in rows], pa.string()),
            "org_id": items["org_id"],
            "sku": items["sku"],
            "city": items["city"],
            "preferred_vendor": items["preferred_vendor"],
            "sector": items["sector"],
            "category": items["category"],
            "quantity": pa.array(pending[rows]),
            "priority": pa.array(
                np.array([net.configs[s].priority for s in net.sector_names])[net.sector_code[rows]]
            ),
            "days_remaining": pa.array(days_left, from_pandas=True),
            "budget_cap": items["budget_cap"],
        }
    )
    decided = resource_pending(
        table,
        cfg.options,
        None if budget is None else _options(budget),
        authorization=net.authorization,
    )
    vendor = decided["vendor"].to_pylist()
    placed = np.asarray(decided["order_status"].to_pylist(), dtype=object)
    vendor = [v if s == "PLACED" else None for v, s in zip(vendor, placed, strict=True)]
    lead = cfg.lead[rows] + cfg.delay[rows]
    return vendor, lead, placed


def _options(budget: float) -> Any:
    from resq.core.ordering import PlanOptions

    return PlanOptions(budget)


def _log_table(net: ReplayNetwork, name: str, log: list[tuple[Any, ...]]) -> pa.Table:
    """The order log from the per-day (day, rows, qty, vendor code, event, status,
    arrival day, fallback) entries."""
    if not log:
        return ORDER_LOG_SCHEMA.empty_table()
    sizes = np.array([len(e[1]) for e in log])
    rows = np.concatenate([e[1] for e in log])
    take = pa.array(rows, pa.int64())
    vcode = np.concatenate([np.asarray(e[3], np.int64) for e in log])
    arrival = np.concatenate([np.broadcast_to(e[6], len(e[1])) for e in log])
    vendor = pa.DictionaryArray.from_arrays(
        pa.array(vcode.astype(np.int32), mask=vcode < 0), pa.array(net.vendor_names, pa.string())
    ).dictionary_decode()
    return pa.table(
        {
            "policy": pa.repeat(pa.scalar(name, pa.string()), len(rows)),
            "day": pa.array(np.repeat([e[0] for e in log], sizes).astype(np.int32)),
            "org_id": net.items["org_id"].take(take),
            "sku": net.items["sku"].take(take),
            "quantity": pa.array(np.concatenate([e[2] for e in log]).astype(np.float64)),
            "vendor": vendor,
            "event": pa.array(np.repeat([e[4] for e in log], sizes).astype(object), pa.string()),
            "order_status": pa.array(
                np.concatenate([np.asarray(e[5], dtype=object) for e in log]), pa.string()
            ),
            "fallback": pa.array(np.concatenate([e[7] for e in log]), pa.bool_()),
            "arrival_day": pa.array(
                np.where(arrival < 0, 0, arrival).astype(np.int32), mask=arrival < 0
            ),
        },
        schema=ORDER_LOG_SCHEMA,
    )


__all__ = [
    "ITEM_COLUMNS",
    "ORDER_LOG_SCHEMA",
    "POLICIES",
    "ChaosSchedule",
    "Costs",
    "DayState",
    "Orders",
    "ReplayNetwork",
    "ReplayResult",
    "initial_state",
    "replay",
]
