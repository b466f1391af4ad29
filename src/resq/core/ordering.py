"""Order planning: quantity, vendor, priority, caps and reason for every item that needs one.

Everything here is columnar: :func:`plan_orders` takes the candidate rows of a heal cycle and
the vendor options as Arrow tables and returns one proposal per candidate as an Arrow
table, with no per-row Python loop on the hot path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from resq.core import provenance
from resq.core import reasons as _reasons
from resq.core._columns import (
    FloatArray,
    as_arrow,
    broadcast,
    eq_mask,
    from_codes,
    in_mask,
    inner_join_indices,
    is_scalar,
    sorted_codes,
    to_bool,
    to_float,
)
from resq.core.codes import CLOSED_STATUSES as CLOSED_STATUSES  # re-exported
from resq.core.codes import OPEN_STATUSES, OrderStatus
from resq.core.reasons import explain_reason as explain_reason  # re-exported
from resq.core.sectors import BUDGET_EXEMPT_CATEGORIES, ENTITLED_CATEGORIES, monthly_allotment_kg
from resq.core.validation import MAX_ORDER_QUANTITY

if TYPE_CHECKING:
    import pyarrow.compute as pc
else:  # imported on first use: read commands call no compute kernel
    from resq._lazy import LazyModule

    pc = LazyModule("pyarrow.compute")


class Action(StrEnum):
    """What a heal cycle does for one candidate item."""

    ORDER = "ORDER"  # a new purchase order (placed, held for approval, or pending a vendor)
    COVERED = "COVERED"  # an open order already covers this shortfall
    CAPPED = "CAPPED"  # a compliance cap leaves nothing to order (alerted, not ordered)
    HELD = "HELD"  # the item's numbers give no plausible quantity (a data-error alert, no order)


# ---------------------------------------------------------------- safety stock


def _z(service_level: Any) -> FloatArray:
    level = to_float(service_level)
    if np.any((level <= 0) | (level >= 1) | np.isnan(level)):
        raise ValueError(
            f"service_level must be between 0 and 1 (exclusive), got {service_level!r}"
        )
    return np.array([NormalDist().inv_cdf(float(v)) for v in level], dtype=np.float64)


def safety_stock(
    mean_daily_demand: Any,
    sd_daily_demand: Any,
    lead_time_days: Any,
    sd_lead_time_days: Any = 0.0,
    service_level: Any = 0.95,
) -> Any:
    """Safety stock for a service level, with demand and lead-time variability.

    ``z * sqrt(L * sd_d**2 + d**2 * sd_L**2)``, where z is the standard normal quantile of
    the service level. For d=50, sd=5, L=6, sd_L=2 at 90 %: z=1.2816, sigma=100.75,
    safety stock ≈ 129.1.

    >>> round(safety_stock(50, 5, 6, 2, 0.90), 1)
    129.1
    >>> round(safety_stock(50, 5, 6, 0, 0.90), 1)
    15.7
    """
    d, sd, lt, sdl = (
        to_float(x) for x in (mean_daily_demand, sd_daily_demand, lead_time_days, sd_lead_time_days)
    )
    n = max(len(d), len(sd), len(lt), len(sdl))
    d, sd, lt, sdl = (broadcast(n, x) for x in (d, sd, lt, sdl))
    for name, col in (
        ("mean_daily_demand", d),
        ("sd_daily_demand", sd),
        ("lead_time_days", lt),
        ("sd_lead_time_days", sdl),
    ):
        bad = ~np.isfinite(col) | (col < 0)
        if np.any(bad):
            raise ValueError(f"{name} must be a finite number >= 0, got {float(col[bad][0])!r}")
    z = broadcast(n, _z(service_level))
    sigma = np.sqrt(lt * sd**2 + d**2 * sdl**2)
    out = z * sigma
    return (
        float(out[0])
        if all(
            is_scalar(x)
            for x in (mean_daily_demand, sd_daily_demand, lead_time_days, sd_lead_time_days)
        )
        else out
    )


def reorder_point(
    mean_daily_demand: Any,
    sd_daily_demand: Any,
    lead_time_days: Any,
    sd_lead_time_days: Any = 0.0,
    service_level: Any = 0.95,
) -> Any:
    """Reorder point: expected demand over the lead time plus :func:`safety_stock`.

    >>> round(reorder_point(50, 5, 6, 2, 0.90), 1)
    429.1
    """
    ss = safety_stock(
        mean_daily_demand, sd_daily_demand, lead_time_days, sd_lead_time_days, service_level
    )
    return (
        to_float(mean_daily_demand) * to_float(lead_time_days) + ss
        if not is_scalar(ss)
        else float(mean_daily_demand) * float(lead_time_days) + ss
    )


# ---------------------------------------------------------------- what needs a decision


def needs_decision(
    status: Any,
    days_remaining: Any,
    lead_time_days: Any,
    weather_delay_days: Any,
    critical_days: Any,
) -> npt.NDArray[np.bool_]:
    """Which analysed rows a heal cycle decides on: CRITICAL, or WARNING and below the
    critical threshold before an order could arrive (days remaining minus lead time and
    weather delay). ``sql/candidates.sql`` selects exactly these rows in the warehouse.

    >>> needs_decision(["CRITICAL", "WARNING", "WARNING", "OK"], [1, 5, 9, 30], 2, 1, 3).tolist()
    [True, True, False, False]
    """
    st = as_arrow(status, type=pa.string())
    n = len(st)
    days = broadcast(n, to_float(days_remaining))
    late = days - (
        broadcast(n, to_float(lead_time_days)) + broadcast(n, to_float(weather_delay_days))
    )
    with np.errstate(invalid="ignore"):
        soon = late <= broadcast(n, to_float(critical_days))
    return eq_mask(st, "CRITICAL") | (eq_mask(st, "WARNING") & soon)


# ---------------------------------------------------------------- keys


def idempotency_key(org_id: str, sku: str, episode: int) -> str:
    """The key of one shortfall episode of one item: the same while an order is open.

    The episode counts the item's closed (received or cancelled) orders, so a new shortfall
    after a cancellation or a delivery gets a new key, and a re-run gets the same one. The
    parts are length-prefixed, so no id can forge another's key.

    >>> idempotency_key("HOSP-BLR-001", "OXY-CYL", 0)
    '12:HOSP-BLR-001|7:OXY-CYL|0'
    """
    return str(idempotency_keys([org_id], [sku], [episode])[0])


def idempotency_keys(org_id: Any, sku: Any, episode: Any) -> pa.Array:
    """Columnar :func:`idempotency_key`, built in Arrow (no per-row Python)."""
    org = as_arrow(org_id, type=pa.string())
    item = as_arrow(sku, len(org), pa.string())
    ep = as_arrow(
        np.asarray(np.nan_to_num(to_float(episode)), dtype=np.int64), len(org), pa.int64()
    )
    return pc.binary_join_element_wise(
        pc.cast(pc.utf8_length(org), pa.string()),
        ":",
        org,
        "|",
        pc.cast(pc.utf8_length(item), pa.string()),
        ":",
        item,
        "|",
        pc.cast(ep, pa.string()),
        "",
    )


def po_id(key: str) -> str:
    """The purchase order id of an idempotency key: ``PO-`` and 20 hex digits of its
    SHA-256. The warehouse computes the same in ``sql/merge_orders.sql``.

    >>> po_id("12:HOSP-BLR-001|7:OXY-CYL|0")[:3]
    'PO-'
    """
    return "PO-" + hashlib.sha256(key.encode()).hexdigest()[:20].upper()


# ---------------------------------------------------------------- planning


@dataclass(frozen=True)
class PlanOptions:
    """Knobs of one planning pass (per-organization budgets come from the data)."""

    budget: float | None = None  # cycle-wide budget across all organizations, or None


PROPOSAL_SCHEMA = pa.schema(
    [
        ("org_id", pa.string()),
        ("sku", pa.string()),
        ("action", pa.string()),
        ("order_status", pa.string()),
        ("idempotency_key", pa.string()),
        ("vendor", pa.string()),
        ("quantity", pa.float64()),
        ("unit_price", pa.float64()),
        ("cost", pa.float64()),
        ("priority", pa.int64()),
        ("rank", pa.int64()),
        ("status", pa.string()),
        ("days_remaining", pa.float64()),
        ("data_source", pa.string()),
        ("stock_source", pa.string()),
        ("weather_source", pa.string()),
        ("vendor_status_source", pa.string()),
        ("demand_source", pa.string()),
    ]
)

PASS_THROUGH = ("sector", "city", "category", "item_name", "unit", "disaster_zone")
"""Candidate columns copied onto each proposal, for alerts and reports."""

DECIDED_ON = ("current_stock", "daily_consumption", "episode")
"""Candidate columns copied onto each proposal as the state its decision rests on: the
commit places an order only if they still hold (``sql/merge_orders.sql``)."""

REJECTED_TYPE = pa.list_(pa.struct([("vendor", pa.string()), ("why", pa.string())]))

_ACTIONS = [a.value for a in (Action.ORDER, Action.COVERED, Action.CAPPED, Action.HELD)]
_ORDER_STATUSES = [
    s.value for s in (OrderStatus.PLACED, OrderStatus.PENDING_APPROVAL, OrderStatus.PENDING_VENDOR)
]
_RULES = ["days_remaining <= critical_days", "days_remaining - lead_time <= critical_days"]


@np.errstate(over="ignore", invalid="ignore")  # implausible numbers are held, not warned
def plan_orders(
    candidates: pa.Table,
    vendor_options: pa.Table,
    options: PlanOptions | None = None,
    *,
    authorization: pa.Table | None = None,
) -> pa.Table:
    """One proposal per candidate row: ORDER, COVERED or CAPPED, ranked, with its reason.

    ``candidates`` has the ``stock_analysis`` columns of the rows needing a decision plus
    ``open_orders``, ``open_order_qty``, ``episode`` and ``allotment_used`` (see
    ``sql/candidates.sql``). ``vendor_options`` has ``vendor_id, sku, city, price,
    lead_time_days, status, latency_ms`` (and ``data_source``, ``vendor_type``,
    ``reliability``, ``min_order_qty``, ``pack_size``: ``sql/vendor_options.sql``), and
    ``authorization`` the ``vendor_authorization`` rules (the defaults when None); the vendor
    is chosen by :func:`choose_vendors`. The result has :data:`PROPOSAL_SCHEMA` columns plus
    ``reason``, a struct column the backend stores as typed columns
    (:mod:`resq.core.reasons`), most urgent first (by ``rank``).

    The quantity, in order of precedence (each step only where there is something to
    order): the need over the target cover plus the effective lead time, rounded up to
    whole packs (the chosen vendor's pack, else the item's); raised to the vendor's minimum
    order quantity (in whole packs); then the PDS monthly allotment, a compliance cap that
    always wins: it rounds down to whole packs, and where that leaves less than the
    vendor's minimum nothing is ordered (CAPPED, both recorded). A budget never changes a
    quantity: it holds the order for approval. Above MAX_ORDER_QUANTITY the item is HELD.
    """
    options = options or PlanOptions()
    t = candidates.combine_chunks()
    n = t.num_rows
    names = set(t.column_names)

    def text(name: str) -> pa.Array:
        return as_arrow(t[name], type=pa.string()) if name in names else pa.nulls(n, pa.string())

    def num(name: str) -> FloatArray:
        return to_float(t[name]) if name in names else np.full(n, np.nan)

    org, sku, category = text("org_id"), text("sku"), text("category")
    stock, rate, days = num("current_stock"), num("effective_consumption"), num("days_remaining")
    target, critical = num("target_days"), num("critical_days")
    item_pack = num("pack_size")
    item_pack = np.where(np.isnan(item_pack) | (item_pack <= 0), 1.0, item_pack)
    item_lead = np.nan_to_num(num("lead_time_days"))
    delay = np.nan_to_num(num("weather_delay_days"))
    priority = np.nan_to_num(num("priority"), nan=99).astype(np.int64)
    open_qty = np.nan_to_num(num("open_order_qty"))
    covered = np.nan_to_num(num("open_orders")) > 0

    vendor = choose_vendors(
        sku,
        text("city"),
        text("preferred_vendor"),
        vendor_options,
        sector=text("sector"),
        category=category,
        authorization=authorization,
    )
    has_vendor = vendor.chosen
    assert vendor.pack_size is not None and vendor.min_order_qty is not None
    vendor_pack = np.where(has_vendor, vendor.pack_size, np.nan)
    pack = np.where(np.isnan(vendor_pack) | (vendor_pack <= 0), item_pack, vendor_pack)
    moq = np.where(has_vendor, np.nan_to_num(vendor.min_order_qty), 0.0)
    moq_qty = np.ceil(np.maximum(moq, 0.0) / pack - 1e-9) * pack

    vendor_lead = np.where(
        has_vendor & ~np.isnan(vendor.lead_time_days), vendor.lead_time_days, item_lead
    )
    lead = vendor_lead + delay
    need = rate * (target + lead) - stock - open_qty
    qty = np.ceil(np.maximum(need, 0.0) / pack - 1e-9) * pack
    moq_binds = (qty > 0) & (qty < moq_qty)
    qty = np.where(moq_binds, moq_qty, qty)

    capped_col = t["monthly_allotment_cap"] if "monthly_allotment_cap" in names else False
    entitled = to_bool(capped_col) & in_mask(category, ENTITLED_CATEGORIES)
    allotment = monthly_allotment_kg(
        t["phh_persons"] if "phh_persons" in names else 0,
        t["aay_households"] if "aay_households" in names else 0,
    )
    remaining = broadcast(n, allotment) - np.nan_to_num(num("allotment_used"))
    cap_qty = np.floor(np.maximum(remaining, 0.0) / pack + 1e-9) * pack
    allotment_binds = entitled & (qty > cap_qty)
    qty = np.where(allotment_binds, cap_qty, qty)
    # the cap wins over the minimum: a capped quantity below it cannot be ordered at all
    below_moq = allotment_binds & (qty > 0) & (qty < moq_qty)
    qty = np.where(below_moq, 0.0, qty)
    moq_binds &= ~allotment_binds

    # Never order what the numbers cannot mean: a non-finite input or a quantity that is
    # not finite or above MAX_ORDER_QUANTITY holds the item (a DATA_ERROR alert) instead.
    with np.errstate(invalid="ignore"):
        plausible = np.isfinite(qty) & (qty <= MAX_ORDER_QUANTITY)
    for values in (stock, rate, target, lead, pack, open_qty):
        plausible &= np.isfinite(values)
    for name in ("lead_time_days", "weather_delay_days", "open_order_qty", "pack_size"):
        plausible &= ~np.isinf(num(name))  # NaN there means missing (a default); inf does not
    held = ~covered & ~plausible
    capped = ~covered & ~held & (qty <= 0)
    ordering = ~covered & ~capped & ~held
    qty = np.where(ordering, qty, 0.0)
    price = np.where(has_vendor, vendor.price, np.nan)
    cost = np.where(ordering & has_vendor, qty * price, 0.0)

    rank, order = _priority_order(priority, days, org, sku)
    exempt = in_mask(category, BUDGET_EXEMPT_CATEGORIES)
    over_budget = budget_holds(cost, rank, org, exempt, num("budget_cap"), options.budget)

    status_code = np.full(n, -1, dtype=np.int64)
    status_code[ordering] = 0
    status_code[ordering & over_budget] = 1
    status_code[ordering & ~has_vendor] = 2
    action_code = np.where(covered, 1, np.where(capped, 2, np.where(held, 3, 0)))
    parts = _order_parts(t, text, delay, vendor.simulated)
    simulated = ~eq_mask(text("data_source"), "REAL")
    for part in parts.values():
        simulated |= part
    # a cap is recorded only where it bound: never on a covered row, and the budget only
    # where it held a real order (not a capped or pending-vendor row)
    allotment_cap = allotment_binds & ~covered & ~held
    budget_cap = over_budget & ordering & has_vendor
    moq_cap = below_moq & ~covered & ~held
    reliability = vendor.reliability if vendor.reliability is not None else np.full(n, np.nan)
    moq_raised = moq_binds & ordering

    # Build the result most urgent first: numbers are reordered in numpy, text and lists
    # are taken once, straight into rank order.
    take = pa.array(order, pa.int64())

    def a(name: str) -> pa.Array:
        return pc.take(text(name), take)

    def f(values: FloatArray) -> pa.Array:
        return pa.array(values[order], pa.float64(), from_pandas=True)

    org_s, sku_s, status_s, vendor_s = (
        pc.take(org, take),
        pc.take(sku, take),
        a("status"),
        vendor.vendor_id(order),
    )
    action_s = from_codes(action_code[order], _ACTIONS)
    reason = pa.StructArray.from_arrays(
        [
            from_codes(np.where(days <= critical, 0, 1)[order], _RULES),
            status_s,
            f(days),
            f(critical),
            f(target),
            f(rate),
            f(lead),
            f(delay),
            a("weather"),
            f(np.where(ordering, need, 0.0)),
            f(np.where(covered, open_qty, 0.0)),
            vendor_s,
            f(vendor.latency_ms),
            vendor.rejected(order),
            _cap_lists(allotment_cap[order], budget_cap[order], moq_cap[order]),
            action_s,
            f(vendor_lead),
            f(np.where(has_vendor, vendor.price, np.nan)),
            f(np.where(has_vendor, reliability, np.nan)),
            f(pack),
            f(moq),
            pa.array(moq_raised[order], pa.bool_()),
        ],
        names=[
            "rule", "status", "days_remaining", "threshold_days", "target_days",
            "daily_demand", "lead_time_days", "weather_delay_days", "weather", "quantity_needed",
            "open_order_qty", "vendor", "vendor_latency_ms", "vendors_rejected", "caps_applied",
            "action", "vendor_lead_time_days", "vendor_price", "vendor_reliability",
            "pack_size", "min_order_qty", "min_order_qty_raised",
        ],
    )  # fmt: skip
    columns: dict[str, Any] = {
        "org_id": org_s,
        "sku": sku_s,
        "action": action_s,
        "order_status": from_codes(status_code[order], _ORDER_STATUSES),
        "idempotency_key": idempotency_keys(org_s, sku_s, num("episode")[order]),
        "vendor": vendor_s,
        "quantity": f(qty),
        "unit_price": f(price),
        "cost": f(cost),
        "priority": pa.array(priority[order], pa.int64()),
        "rank": pa.array(rank[order], pa.int64()),
        "status": status_s,
        "days_remaining": f(days),
        "data_source": from_codes(simulated[order].astype(np.int64), ["REAL", "SIMULATED"]),
        **{
            provenance.COLUMNS[p]: from_codes(sim[order].astype(np.int64), ["REAL", "SIMULATED"])
            for p, sim in parts.items()
        },
    }
    columns.update(
        {name: pc.take(t[name], take) for name in (*PASS_THROUGH, *DECIDED_ON) if name in names}
    )
    columns["reason"] = reason
    return pa.table(columns)


def _order_parts(
    t: pa.Table, text: Any, delay: FloatArray, vendor_simulated: npt.NDArray[np.bool_]
) -> dict[str, npt.NDArray[np.bool_]]:
    """Which parts of each decision are simulated (resq.core.provenance): the candidate's
    stock and demand parts (its ``data_source`` where it has none), its weather part or a
    simulated city weather that delays the delivery, and the vendor statuses consulted."""
    names = set(t.column_names)

    def simulated(part: str, default: str) -> npt.NDArray[np.bool_]:
        column = provenance.COLUMNS[part]
        return ~eq_mask(text(column if column in names else default), "REAL")

    weather = (
        ~eq_mask(text("weather_source"), "REAL")
        if "weather_source" in names
        else np.zeros(t.num_rows, bool)
    )
    if "city_weather_source" in names:
        weather |= (delay > 0) & ~eq_mask(text("city_weather_source"), "REAL")
    return {
        "stock": simulated("stock", "data_source"),
        "weather": weather,
        "vendor_status": np.asarray(vendor_simulated, dtype=bool),
        "demand": simulated("demand", "data_source"),
    }


def priority_rank(priority: Any, days: Any, org_id: Any, sku: Any) -> npt.NDArray[np.int64]:
    """1-based rank: sector priority first, then fewest days remaining (never-runs-out last),
    then organization and item for a stable, deterministic order."""
    return _priority_order(priority, days, org_id, sku)[0]


def _priority_order(
    priority: Any, days: Any, org_id: Any, sku: Any
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The rank of each row, and the rows in rank order (the permutation that sorts them)."""
    p = to_float(priority)
    n = len(p)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    d = broadcast(n, to_float(days))
    d = np.where(np.isnan(d), np.inf, d)
    org = sorted_codes(as_arrow(org_id, n, pa.string()))
    item = sorted_codes(as_arrow(sku, n, pa.string()))
    # organization then item as one key: one sort key fewer
    who = org * (int(item.max()) + 1) + item
    order = np.lexsort((who, d, p))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    return rank, order


def budget_holds(
    cost: FloatArray,
    rank: npt.NDArray[np.int64],
    org_id: Any,
    exempt: npt.NDArray[np.bool_],
    org_budget: FloatArray,
    budget: float | None,
) -> npt.NDArray[np.bool_]:
    """Which orders a budget holds back: spent in rank order, highest priority first.

    Exempt items (oxygen) are never held and do not draw on the budget. Once an order does
    not fit, it and every lower-ranked order of the same budget are held (no skipping ahead).
    A cycle-wide ``budget`` and per-organization budgets (``org_budget``, NaN for none)
    both apply.
    """
    n = len(cost)
    held = np.zeros(n, dtype=bool)
    if n == 0:
        return held
    spend = np.where(exempt, 0.0, cost)
    if budget is not None:
        order = np.argsort(rank, kind="stable")
        over = np.maximum.accumulate(np.cumsum(spend[order]) > budget + 1e-9)
        held[order] |= over & ~exempt[order]
    org_budget = broadcast(n, np.asarray(org_budget, dtype=np.float64))
    if np.any(~np.isnan(org_budget)):
        codes = sorted_codes(as_arrow(org_id, n, pa.string()))
        by_org = np.lexsort((rank, codes))
        sorted_codes_ = codes[by_org]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes_)) + 1]
        sizes = np.diff(np.r_[starts, n])
        group = np.repeat(np.arange(len(starts)), sizes)
        running = np.cumsum(spend[by_org])
        within = running - np.repeat(np.r_[0.0, running][starts], sizes)
        limit = org_budget[by_org]
        over = ~np.isnan(limit) & (within > limit + 1e-9)
        # once over within an organization, every lower-ranked order of it is held too
        first_over = np.full(len(starts), n, dtype=np.int64)
        idx = np.flatnonzero(over)
        np.minimum.at(first_over, group[idx], idx)
        over = np.arange(n) >= first_over[group]
        held[by_org] |= over & ~exempt[by_org]
    return held


@dataclass(frozen=True)
class VendorChoice:
    """The vendor chosen for each row. Text and lists are kept per distinct (item, city,
    preferred vendor, sector, category) combination and spread to rows on request, in any
    row order."""

    combo: npt.NDArray[np.int64]  # the row's combination
    chosen: npt.NDArray[np.bool_]  # an authorized vendor is online for the row
    price: FloatArray
    lead_time_days: FloatArray  # the vendor's lead time (the weather delay is added later)
    latency_ms: FloatArray
    simulated: npt.NDArray[np.bool_]  # the choice rests on a SIMULATED vendor status
    combo_vendor: pa.Array
    combo_rejected: pa.Array
    reliability: FloatArray | None = None
    min_order_qty: FloatArray | None = None  # the vendor's minimum order (NaN: none)
    pack_size: FloatArray | None = None  # the vendor's pack (NaN: the item's own)

    def vendor_id(self, order: npt.NDArray[np.int64] | None = None) -> pa.Array:
        """The chosen vendor per row (NULL when none is online), optionally reordered."""
        combo = self.combo if order is None else self.combo[order]
        return pc.take(self.combo_vendor, pa.array(combo, pa.int64()))

    def rejected(self, order: npt.NDArray[np.int64] | None = None) -> pa.Array:
        """The vendors passed over per row, with why, optionally reordered."""
        combo = self.combo if order is None else self.combo[order]
        return pc.take(self.combo_rejected, pa.array(combo, pa.int64()))


_WHY = [
    "OFFLINE",
    "slower than the chosen vendor",
    "dearer than the chosen vendor",
    "the preferred vendor is online",
    "ranked after the chosen vendor",
    "not authorized for the item's sector and category",
    "less reliable than the chosen vendor",
    "slower status API than the chosen vendor",
]
"""Why a vendor was passed over, in the order the rule tests it: not authorized, offline,
then the first key of the ranking on which it loses (the preferred vendor, effective lead
time, price, reliability, status API latency); equal on every key, it lost on the name."""


def choose_vendors(
    sku: Any,
    city: Any,
    preferred: Any,
    options: pa.Table,
    *,
    sector: Any = None,
    category: Any = None,
    authorization: pa.Table | None = None,
) -> VendorChoice:
    """Pick a vendor per row among those serving the row's item in its city.

    Only vendors authorized for the row's sector and category
    (:func:`resq.core.sourcing.authorized` under ``authorization``, the defaults when None)
    that are ONLINE. Among them the preferred vendor first, then the shortest lead time
    (the weather delay of the city is the same for every vendor, so the shortest effective
    lead time), then the lowest price, then the highest reliability (unknown last), then
    the fastest status API, then the name. Every other vendor that lists the item in the
    city is listed as rejected with why (see :data:`_WHY`). ``options`` has
    ``vendor_id, sku, city, price, lead_time_days, status, latency_ms`` and optionally
    ``data_source, vendor_type, reliability, min_order_qty, pack_size``. The choice depends
    only on (item, city, preferred vendor, sector, category), so it is made once per
    distinct combination and spread to the rows.
    """
    items = as_arrow(sku, type=pa.string())
    n = len(items)
    places = as_arrow(city, n, pa.string())
    prefs = as_arrow(preferred, n, pa.string())
    sectors = as_arrow(sector, n, pa.string())
    categories = as_arrow(category, n, pa.string())
    combo, first = _combinations(items, places, prefs, sectors, categories)
    one = _choose(
        items.take(first),
        places.take(first),
        prefs.take(first),
        options,
        sectors.take(first),
        categories.take(first),
        authorization,
    )
    assert one.reliability is not None and one.min_order_qty is not None
    assert one.pack_size is not None
    return VendorChoice(
        combo,
        one.chosen[combo],
        one.price[combo],
        one.lead_time_days[combo],
        one.latency_ms[combo],
        one.simulated[combo],
        one.combo_vendor,
        one.combo_rejected,
        one.reliability[combo],
        one.min_order_qty[combo],
        one.pack_size[combo],
    )


def _combinations(*columns: pa.Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per row, the index of its distinct combination of ``columns``; and a representative
    row of each combination."""
    n = len(columns[0])
    code = np.zeros(n, dtype=np.int64)
    for column in columns:
        encoded = column.dictionary_encode()
        size = len(encoded.dictionary) + 1
        idx = np.asarray(encoded.indices.fill_null(size - 1).to_numpy(zero_copy_only=False))
        code = code * size + idx.astype(np.int64)
        # keep the code dense, so many columns of many values never overflow int64
        code = np.unique(code, return_inverse=True)[1].astype(np.int64)
    _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    return inverse.astype(np.int64), first.astype(np.int64)


def _option_column(options: pa.Table, name: str, type_: pa.DataType, default: Any) -> pa.Array:
    if name in options.column_names:
        return options[name].cast(type_)
    return pa.array([default] * options.num_rows, type_)


def _taken(
    left: pa.Table,
    left_rows: npt.NDArray[np.int64],
    right: pa.Table,
    right_rows: npt.NDArray[np.int64],
) -> pa.Table:
    """The joined pairs: ``left``'s rows ``left_rows`` beside ``right``'s ``right_rows``
    (one chunk per column)."""
    li, ri = pa.array(left_rows, pa.int64()), pa.array(right_rows, pa.int64())
    columns = {name: left[name].combine_chunks().take(li) for name in left.column_names}
    columns.update({name: right[name].combine_chunks().take(ri) for name in right.column_names})
    return pa.table(columns)


def _choose(
    items: pa.Array,
    places: pa.Array,
    prefs: pa.Array,
    options: pa.Table,
    sectors: pa.Array,
    categories: pa.Array,
    authorization: pa.Table | None,
) -> VendorChoice:
    """The pairwise vendor choice over (a few) rows: join, sort, pick, explain."""
    from resq.core.sourcing import DEFAULT_VENDOR_TYPE, authorized

    n = len(items)
    rows = pa.table(
        {
            "__preferred": prefs,
            "__sector": sectors,
            "__category": categories,
        }
    )
    opts = pa.table(
        {
            "vendor_id": options["vendor_id"].cast(pa.string()),
            "price": options["price"].cast(pa.float64()),
            "lead_time_days": options["lead_time_days"].cast(pa.float64()),
            "status": options["status"].cast(pa.string()),
            "latency_ms": options["latency_ms"].cast(pa.float64()),
            "source": _option_column(options, "data_source", pa.string(), "REAL"),
            "vendor_type": _option_column(options, "vendor_type", pa.string(), DEFAULT_VENDOR_TYPE),
            "reliability": _option_column(options, "reliability", pa.float64(), None),
            "min_order_qty": _option_column(options, "min_order_qty", pa.float64(), None),
            "vendor_pack": _option_column(options, "pack_size", pa.float64(), None),
        }
    )
    # every (row, vendor option) pair of the row's item and city
    row, picked = inner_join_indices([items, places], [options["sku"], options["city"]])
    pairs = _taken(rows, row, opts, picked)
    vid = pairs["vendor_id"].chunk(0) if pairs.num_rows else pa.array([], pa.string())
    allowed = (
        authorized(pairs["__sector"], pairs["__category"], pairs["vendor_type"], authorization)
        if pairs.num_rows
        else np.zeros(0, dtype=bool)
    )
    online = eq_mask(pairs["status"], "ONLINE")
    eligible = allowed & online
    # NaN sorts as the worst value of each key, and compares equal to itself below
    latency = np.nan_to_num(to_float(pairs["latency_ms"]), nan=np.inf)
    price = np.nan_to_num(to_float(pairs["price"]), nan=np.inf)
    lead = np.nan_to_num(to_float(pairs["lead_time_days"]), nan=np.inf)
    reliability = np.nan_to_num(to_float(pairs["reliability"]), nan=-np.inf)
    is_pref = np.asarray(
        pc.equal(pairs["vendor_id"], pairs["__preferred"])
        .fill_null(False)
        .to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    order = np.lexsort(
        (
            sorted_codes(vid),
            latency,
            -reliability,
            price,
            lead,
            ~is_pref,
            ~eligible,
            row,
        )
    )
    row_s = row[order]
    first = np.r_[True, row_s[1:] != row_s[:-1]] if len(row_s) else np.zeros(0, dtype=bool)
    chosen_pos = order[first]
    chosen_pos = chosen_pos[eligible[chosen_pos]]
    index = np.full(n, -1, dtype=np.int64)
    index[row[chosen_pos]] = chosen_pos
    has = index >= 0

    def pick(values: FloatArray, fill: float = np.nan) -> FloatArray:
        out = np.full(n, fill)
        out[has] = values[index[has]]
        return out

    vendor_id = pc.take(vid, pa.array(index, mask=~has)) if n else pa.array([], pa.string())
    chosen_mask = np.zeros(len(row), dtype=bool)
    chosen_mask[index[has]] = True
    c_lead, c_price = pick(lead)[row], pick(price)[row]
    c_rel, c_lat = pick(reliability)[row], pick(latency)[row]
    chosen_pref = np.zeros(n, dtype=bool)
    chosen_pref[has] = is_pref[index[has]]
    # the first key on which each vendor loses, tested from the last key back
    why = np.full(len(row), 4, dtype=np.int64)
    same = (lead == c_lead) & (price == c_price) & (reliability == c_rel)
    why[same & (latency > c_lat)] = 7
    why[(lead == c_lead) & (price == c_price) & (reliability < c_rel)] = 6
    why[(lead == c_lead) & (price > c_price)] = 2
    why[lead > c_lead] = 1
    why[chosen_pref[row]] = 3
    why[~online] = 0
    why[~allowed] = 5
    rejected = _lists_by_row(n, row, vid, why, ~chosen_mask, order)
    # any status consulted for the row (chosen or rejected) that was simulated makes the
    # decision simulated
    sim_pair = ~eq_mask(pairs["source"], "REAL")
    simulated = np.bincount(row[sim_pair], minlength=n)[:n] > 0
    return VendorChoice(
        np.arange(n, dtype=np.int64),
        has,
        pick(to_float(pairs["price"])),
        pick(to_float(pairs["lead_time_days"])),
        pick(to_float(pairs["latency_ms"])),
        simulated,
        vendor_id,
        rejected,
        pick(to_float(pairs["reliability"])),
        pick(to_float(pairs["min_order_qty"])),
        pick(to_float(pairs["vendor_pack"])),
    )


def _lists_by_row(
    n: int,
    row: np.ndarray,
    vendor: pa.Array,
    why: np.ndarray,
    keep: np.ndarray,
    ranking: np.ndarray,
) -> pa.Array:
    """A list<struct<vendor, why>> column of length n from the kept (row, vendor, why),
    each row's list in ``ranking`` order (the vendors as they were ranked, best first,
    ties by vendor id), never in the order the catalog rows happen to be stored in."""
    pos = ranking[keep[ranking]]
    pos = pos[np.argsort(row[pos], kind="stable")]
    counts = np.bincount(row[pos], minlength=n)[:n] if len(pos) else np.zeros(n, np.int64)
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int32)
    values = pa.StructArray.from_arrays(
        [pc.take(vendor, pa.array(pos, pa.int64())), from_codes(why[pos], _WHY)],
        names=["vendor", "why"],
    )
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, type=REJECTED_TYPE)


_CAPS = ["pds_monthly_allotment", "budget", "vendor_min_order_qty"]


def _cap_lists(*applied: npt.NDArray[np.bool_]) -> pa.Array:
    """list<string> of the caps applied to each row (one mask per :data:`_CAPS` entry)."""
    n = len(applied[0])
    if n == 0:
        return pa.array([], pa.list_(pa.string()))
    masks = np.stack([m.astype(bool) for m in applied], axis=1)
    counts = masks.sum(axis=1).astype(np.int32)
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int32)
    codes = np.nonzero(masks)[1].astype(np.int64)  # row-major: each row's caps in order
    values = from_codes(codes, _CAPS[: masks.shape[1]])
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


# ---------------------------------------------------------------- re-sourcing

RESOURCED_SCHEMA = pa.schema(
    [
        ("po_id", pa.string()),
        ("vendor", pa.string()),
        ("unit_price", pa.float64()),
        ("order_status", pa.string()),
        *(_reasons.SCHEMA.field(c) for c in _reasons.RESOURCE_COLUMNS),
    ]
)
"""The columns a heal cycle stages for the PENDING_VENDOR orders it re-sources."""


def resource_pending(
    pending: pa.Table,
    vendor_options: pa.Table,
    options: PlanOptions | None = None,
    *,
    authorization: pa.Table | None = None,
) -> pa.Table:
    """Choose a vendor again for orders that wait for one (``PENDING_VENDOR``).

    ``pending`` has one row per waiting order: ``po_id, org_id, sku, city,
    preferred_vendor, sector, category, quantity, priority, days_remaining, budget_cap``. The vendor
    is chosen by the rule of a new order (:func:`choose_vendors`); an order that gets one
    becomes what a new order would: ``PLACED``, or ``PENDING_APPROVAL`` where a budget holds
    it (spent over the re-sourced orders in priority order, oxygen exempt). The result has
    the input's order and columns ``po_id, vendor, unit_price, order_status, resourced``,
    ``vendor_latency_ms`` and ``vendors_rejected``; rows with still no vendor online keep
    ``PENDING_VENDOR`` and ``resourced`` false.
    """
    options = options or PlanOptions()
    t = pending.combine_chunks()
    if not t.num_rows:
        return pa.table(
            {
                "po_id": pa.array([], pa.string()),
                "vendor": pa.array([], pa.string()),
                "unit_price": pa.array([], pa.float64()),
                "order_status": pa.array([], pa.string()),
                "resourced": pa.array([], pa.bool_()),
                "vendor_latency_ms": pa.array([], pa.float64()),
                "vendors_rejected": pa.array([], REJECTED_TYPE),
            }
        )

    def text(name: str) -> pa.Array:
        return as_arrow(t[name], type=pa.string())

    org, sku, category = text("org_id"), text("sku"), text("category")
    sector = text("sector") if "sector" in t.column_names else pa.nulls(t.num_rows, pa.string())
    vendor = choose_vendors(
        sku,
        text("city"),
        text("preferred_vendor"),
        vendor_options,
        sector=sector,
        category=category,
        authorization=authorization,
    )
    has = vendor.chosen
    qty = np.nan_to_num(to_float(t["quantity"]))
    price = np.where(has, vendor.price, np.nan)
    cost = np.where(has, qty * price, 0.0)
    priority = np.nan_to_num(to_float(t["priority"]), nan=99)
    rank, _ = _priority_order(priority, to_float(t["days_remaining"]), org, sku)
    exempt = in_mask(category, BUDGET_EXEMPT_CATEGORIES)
    held = budget_holds(cost, rank, org, exempt, to_float(t["budget_cap"]), options.budget)
    code = np.where(has, np.where(held, 1, 0), 2)
    return pa.table(
        {
            "po_id": text("po_id"),
            "vendor": vendor.vendor_id(),
            "unit_price": pa.array(price, pa.float64(), from_pandas=True),
            "order_status": from_codes(code.astype(np.int64), _ORDER_STATUSES),
            "resourced": pa.array(has, pa.bool_()),
            "vendor_latency_ms": pa.array(vendor.latency_ms, pa.float64(), from_pandas=True),
            "vendors_rejected": vendor.rejected(),
        }
    )


# ---------------------------------------------------------------- manual overrides

OVERRIDES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "approve": ((OrderStatus.PENDING_APPROVAL,), OrderStatus.PLACED),
    "cancel": (tuple(OPEN_STATUSES), OrderStatus.CANCELLED),
    "receive": ((OrderStatus.PLACED,), OrderStatus.RECEIVED),
    "set_quantity": (tuple(OPEN_STATUSES), None),
}
"""Which order statuses each manual override accepts, and the status it leads to
(None keeps the status)."""


def transition(status: str, action: str) -> str:
    """The status after a manual override, or InvalidTransitionError saying why not.

    >>> transition("PENDING_APPROVAL", "approve")
    'PLACED'
    """
    from resq.errors import InvalidTransitionError

    if action not in OVERRIDES:
        raise InvalidTransitionError(
            f"unknown override {action!r}; expected one of {', '.join(OVERRIDES)}"
        )
    allowed, to = OVERRIDES[action]
    if status not in allowed:
        raise InvalidTransitionError(
            f"cannot {action.replace('_', ' ')} an order that is {status}; "
            f"only orders that are {' or '.join(allowed)}"
        )
    return str(to if to is not None else status)
