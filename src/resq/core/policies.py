"""Replenishment policies for the replay, each a small function of one day's state.

A policy looks at :class:`DayState` (every item at once, as columns) and says how much to
order of each item today. The replay then places the orders with the vendor the core's
vendor rule chooses (:func:`resq.core.ordering.choose_vendors`), unless the policy chose
itself (the ``resq`` policy: it runs the heal cycle's planning, :func:`plan_orders`).

Seven policies are registered; :func:`register_policy` adds a user's own::

    @register_policy("double-seed")
    def double_seed(state):
        return seed_rule(state) * 2
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from resq.core._columns import FloatArray, from_codes
from resq.core.ordering import PlanOptions, needs_decision, plan_orders, reorder_point
from resq.core.sectors import SectorConfig, analyse

if TYPE_CHECKING:
    from resq.core.replay import ReplayNetwork

_STATUS_TEXT = ["CRITICAL", "WARNING", "OK"]


@dataclass
class DayState:
    """What a policy sees at the end of one replayed day, after that day's demand.

    Arrays have one value per item, in the order of ``network.items``. ``rate`` is the
    daily consumption on record (the inventory's, times any demand spike of the day):
    what the heal cycle would read; :attr:`mean_demand` / :attr:`sd_demand` are what was
    observed so far. ``vendor_lead`` is the lead time of the vendor the core would choose
    today (the item's own lead time where no vendor is online), ``weather_delay`` the delay
    the day's weather adds. ``memo`` survives from day to day (one policy's scratch)."""

    day: int  # 0-based
    date: date
    network: ReplayNetwork
    on_hand: FloatArray
    on_order: FloatArray  # in transit + waiting for a vendor
    open_orders: npt.NDArray[np.int64]
    rate: FloatArray
    weather: pa.Array
    weather_delay: FloatArray
    vendor_lead: FloatArray
    vendor_options: pa.Table
    allotment_used: FloatArray
    budget: float | None = None
    memo: dict[str, Any] = field(default_factory=dict)
    demand_sum: FloatArray | None = None  # over the days observed
    demand_sq_sum: FloatArray | None = None
    days_observed: int = 0
    _cache: dict[str, FloatArray] = field(default_factory=dict, repr=False)

    MIN_HISTORY_DAYS = 7
    """Below this many observed days, demand is taken as the rate on record (at least),
    with a standard deviation of a quarter of it (the simulation's noise)."""

    @property
    def position(self) -> FloatArray:
        """Inventory position: on hand plus on order."""
        return self.on_hand + self.on_order

    @property
    def cover_days(self) -> FloatArray:
        """Days of cover at ``rate`` (infinite where nothing is consumed)."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.where(self.rate > 0, np.maximum(self.on_hand, 0.0) / self.rate, np.inf)

    @property
    def mean_demand(self) -> FloatArray:
        """Mean daily demand observed so far (see :attr:`MIN_HISTORY_DAYS`)."""
        if "mean" not in self._cache:
            k = self.days_observed
            if k == 0 or self.demand_sum is None:
                mean = self.rate
            else:
                mean = self.demand_sum / k
                if k < self.MIN_HISTORY_DAYS:
                    mean = np.maximum(mean, self.rate)
            self._cache["mean"] = mean
        return self._cache["mean"]

    @property
    def sd_demand(self) -> FloatArray:
        """Standard deviation of daily demand observed so far."""
        if "sd" not in self._cache:
            mean = self.mean_demand
            k = self.days_observed
            if k < self.MIN_HISTORY_DAYS or self.demand_sq_sum is None:
                sd = 0.25 * mean
            else:
                sd = np.sqrt(np.maximum(self.demand_sq_sum / k - mean * mean, 0.0))
            self._cache["sd"] = sd
        return self._cache["sd"]


@dataclass(frozen=True)
class Orders:
    """A policy's decision with the vendor already chosen (what the ``resq`` policy
    returns): quantity per item (0 for none), the vendor id per item (None while none is
    online: PENDING_VENDOR), the order status, and the lead time including weather."""

    quantity: FloatArray
    vendor: npt.NDArray[np.object_]
    status: npt.NDArray[np.object_]
    lead_time_days: FloatArray
    unit_price: FloatArray


class Policy(Protocol):
    def __call__(self, state: DayState) -> FloatArray | Orders: ...


PolicyFactory = Callable[..., Policy]
POLICIES: dict[str, PolicyFactory] = {}
"""The registry: policy name -> factory taking the policy's parameters as keywords."""


def register_policy(name: str) -> Callable[[Any], Any]:
    """Register a policy (a function of :class:`DayState`) or a policy factory (a class
    whose keywords are the policy's parameters) under ``name``."""

    def wrap(obj: Any) -> Any:
        if isinstance(obj, type):
            POLICIES[name] = obj
        else:
            POLICIES[name] = lambda: obj
        return obj

    return wrap


def get_policy(name: str, **params: Any) -> Policy:
    """The registered policy ``name`` built with ``params``; an unknown name is a
    ValueError listing the known ones."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; known policies: {', '.join(sorted(POLICIES))}")
    return POLICIES[name](**params)


def _up_to(state: DayState, level: FloatArray, when: npt.NDArray[np.bool_]) -> FloatArray:
    """Order up to ``level`` (counting what is on order) where ``when``, in whole packs."""
    pack = state.network.pack_size
    need = np.where(when, np.maximum(level - state.position, 0.0), 0.0)
    return np.ceil(need / pack - 1e-9) * pack


# ---------------------------------------------------------------- the heal cycle's rules


@register_policy("resq")
@dataclass(frozen=True)
class ResqPolicy:
    """The heal cycle itself: the configured sector rules through the core's own
    :func:`analyse`, :func:`needs_decision` and :func:`plan_orders` (quantity, vendor,
    PDS allotment cap, priority, budget), on the rows a heal cycle would read (no open
    order)."""

    configs: dict[str, SectorConfig] | None = None

    def __call__(self, state: DayState) -> Orders:
        net = state.network
        configs = dict(self.configs or net.configs)
        stock_all = np.maximum(state.on_hand, 0.0)
        n = len(stock_all)
        qty = np.zeros(n)
        vendor = np.full(n, None, dtype=object)
        order_status = np.full(n, None, dtype=object)
        lead = np.zeros(n)
        price = np.full(n, np.nan)
        # Only rows that could need a decision go through the rules: no open order, and
        # stock within the widest warning threshold at the highest demand multiplier
        # (a superset: the rules below decide exactly).
        widest = max(
            max(c.warning_days, c.critical_days, c.adverse_critical_days or 0.0)
            for c in configs.values()
        )
        steepest = max(
            max(c.adverse_demand_multiplier, 1.0) * max(c.haze_demand_multiplier, 1.0)
            for c in configs.values()
        )
        maybe = np.flatnonzero(
            (state.open_orders == 0)
            & (state.rate > 0)
            & (stock_all <= state.rate * (steepest * widest * (1 + 1e-9)))
        )
        if not len(maybe):
            return Orders(qty, vendor, order_status, lead, price)
        at = pa.array(maybe, pa.int64())
        stock = stock_all[maybe]
        a = analyse(
            stock,
            state.rate[maybe],
            net.sector.take(at),
            category=net.category.take(at),
            weather=state.weather.take(at),
            disaster_zone=net.disaster_zone.take(at),
            configs=configs,
        )
        status = from_codes(a.status_code.astype(np.int64), _STATUS_TEXT)
        decide = needs_decision(
            status, a.days_remaining, net.lead_time[maybe], a.weather_delay_days, a.critical_days
        )
        local = np.flatnonzero(decide)
        if not len(local):
            return Orders(qty, vendor, order_status, lead, price)
        rows = maybe[local]
        take = pa.array(rows, pa.int64())
        lt = pa.array(local, pa.int64())
        t = net.items.take(take)
        cand = {
            **{name: t[name] for name in t.column_names},
            "current_stock": pa.array(stock[local]),
            "daily_consumption": pa.array(state.rate[rows]),
            "effective_consumption": pa.array(a.effective_consumption[local]),
            "days_remaining": pa.array(a.days_remaining[local], from_pandas=True),
            "critical_days": pa.array(a.critical_days[local]),
            "warning_days": pa.array(a.warning_days[local]),
            "target_days": pa.array(a.target_days[local]),
            "status": status.take(lt),
            "priority": pa.array(a.priority[local]),
            "weather": state.weather.take(take),
            "weather_delay_days": pa.array(a.weather_delay_days[local]),
            "monthly_allotment_cap": pa.array(
                np.array([configs[s].monthly_allotment_cap for s in net.sector_names])[
                    net.sector_code[rows]
                ]
            ),
            "open_orders": pa.array(np.zeros(len(rows), np.int64)),
            "open_order_qty": pa.array(np.zeros(len(rows))),
            "episode": pa.array(np.zeros(len(rows), np.int64)),
            "allotment_used": pa.array(state.allotment_used[rows]),
        }
        proposals = plan_orders(
            pa.table(cand),
            state.vendor_options,
            PlanOptions(state.budget),
            authorization=net.authorization,
        )
        placed = proposals.filter(pc.equal(proposals["action"], "ORDER"))
        if placed.num_rows:
            # back to the item rows, through the candidates' own keys (few, not all items)
            sent = pc.binary_join_element_wise(t["org_id"], t["sku"], "\x1f")
            got = pc.binary_join_element_wise(placed["org_id"], placed["sku"], "\x1f")
            idx = pc.index_in(got, value_set=sent.combine_chunks())
            pos = rows[np.asarray(idx.to_numpy(zero_copy_only=False), dtype=np.int64)]
            qty[pos] = placed["quantity"].to_numpy(zero_copy_only=False)
            vendor[pos] = np.asarray(placed["vendor"].to_pylist(), dtype=object)
            order_status[pos] = np.asarray(placed["order_status"].to_pylist(), dtype=object)
            lead[pos] = (
                placed["reason"]
                .combine_chunks()
                .field("lead_time_days")
                .to_numpy(zero_copy_only=False)
            )
            price[pos] = placed["unit_price"].to_numpy(zero_copy_only=False)
        return Orders(qty, vendor, order_status, lead, price)


# ---------------------------------------------------------------- simple rules


@register_policy("seed-rule")
@dataclass(frozen=True)
class SeedRule:
    """The seed plan's rule: order at <= ``critical_days`` of cover, up to ``target_days``
    of cover, when no order is open."""

    critical_days: float = 3.0
    target_days: float = 14.0

    def __call__(self, state: DayState) -> FloatArray:
        when = (state.cover_days <= self.critical_days) & (state.open_orders == 0)
        return _up_to(state, state.rate * self.target_days, when)


def seed_rule(state: DayState) -> FloatArray:
    """:class:`SeedRule` with its defaults, as a plain function."""
    return SeedRule()(state)


@register_policy("service-level")
@dataclass(frozen=True)
class ServiceLevel:
    """Reorder point with safety stock (:func:`resq.core.ordering.reorder_point`): order
    when the inventory position falls to the reorder point of the observed demand and the
    lead time (weather included), up to that point plus ``cycle_days`` of demand."""

    service_level: float = 0.95
    cycle_days: float = 14.0

    def __call__(self, state: DayState) -> FloatArray:
        lead = state.vendor_lead + state.weather_delay
        rop = reorder_point(state.mean_demand, state.sd_demand, lead, 0.0, self.service_level)
        when = (state.position <= rop) & (state.mean_demand > 0)
        return _up_to(state, rop + state.mean_demand * self.cycle_days, when)


@register_policy("cover-below-lead-time")
@dataclass(frozen=True)
class CoverBelowLeadTime:
    """Order when the days of cover fall below the lead time, up to ``target_days`` of
    cover (the rule of the Snowflake hackathon projects for this brief)."""

    target_days: float = 14.0

    def __call__(self, state: DayState) -> FloatArray:
        when = (state.cover_days < state.vendor_lead) & (state.open_orders == 0)
        return _up_to(state, state.rate * self.target_days, when)


@register_policy("max-stock")
@dataclass(frozen=True)
class MaxStock:
    """OpenLMIS max-stock: each review (every ``review_days``), order
    ``I = max(0, H - SOH)`` where ``H = max_periods * AMC`` (average monthly consumption,
    observed) and SOH the stock on hand; what is on order is not counted, as in OpenLMIS's
    calculated order quantity."""

    max_periods: float = 1.0
    review_days: int = 30

    def __call__(self, state: DayState) -> FloatArray:
        n = len(state.on_hand)
        if state.day % self.review_days:
            return np.zeros(n)
        amc = state.mean_demand * 30.0
        need = np.maximum(self.max_periods * amc - np.maximum(state.on_hand, 0.0), 0.0)
        pack = state.network.pack_size
        return np.ceil(need / pack - 1e-9) * pack


@register_policy("months-of-stock")
@dataclass(frozen=True)
class MonthsOfStock:
    """mSupply months of stock: order when ``MOS = SOH / AMC`` falls below
    ``threshold_months``, up to ``target_months`` of AMC (on order counted)."""

    threshold_months: float = 0.25
    target_months: float = 0.75

    def __call__(self, state: DayState) -> FloatArray:
        amc = state.mean_demand * 30.0
        with np.errstate(divide="ignore", invalid="ignore"):
            mos = np.where(amc > 0, np.maximum(state.on_hand, 0.0) / amc, np.inf)
        when = (mos < self.threshold_months) & (state.open_orders == 0)
        return _up_to(state, amc * self.target_months, when)


@register_policy("s-S")
@dataclass(frozen=True)
class FixedSS:
    """Fixed ``(s, S)``: when the inventory position is at or below ``s``, order up to
    ``S`` (``S - position``), in units, not rounded to packs. ``s`` and ``S`` are units per
    item (a number or one per item); by default ``s_days`` / ``S_days`` of the daily
    consumption on record. Inventory position counts every open order, as stockpyl does."""

    s: Any = None
    S: Any = None
    s_days: float = 5.0
    S_days: float = 20.0

    def __call__(self, state: DayState) -> FloatArray:
        memo = state.memo
        if "s" not in memo:
            base = state.network.base_rate
            memo["s"] = np.broadcast_to(
                np.asarray(self.s if self.s is not None else base * self.s_days, float),
                base.shape,
            )
            memo["S"] = np.broadcast_to(
                np.asarray(self.S if self.S is not None else base * self.S_days, float),
                base.shape,
            )
        position = state.position
        return np.where(position <= memo["s"], memo["S"] - position, 0.0)
