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
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from resq.core._columns import FloatArray, broadcast, is_scalar, to_bool, to_float, to_str
from resq.core.sectors import BUDGET_EXEMPT_CATEGORIES, ENTITLED_CATEGORIES, monthly_allotment_kg


class OrderStatus(StrEnum):
    """Lifecycle of a purchase order."""

    PLACED = "PLACED"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    PENDING_VENDOR = "PENDING_VENDOR"
    RECEIVED = "RECEIVED"
    CANCELLED = "CANCELLED"


OPEN_STATUSES = (OrderStatus.PLACED, OrderStatus.PENDING_APPROVAL, OrderStatus.PENDING_VENDOR)
CLOSED_STATUSES = (OrderStatus.RECEIVED, OrderStatus.CANCELLED)


class Action(StrEnum):
    """What a heal cycle does for one candidate item."""

    ORDER = "ORDER"  # a new purchase order (placed, held for approval, or pending a vendor)
    COVERED = "COVERED"  # an open order already covers this shortfall
    CAPPED = "CAPPED"  # a compliance cap leaves nothing to order (alerted, not ordered)


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
            raise ValueError(f"{name} must be a finite number >= 0, got {col[bad][0]!r}")
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


# ---------------------------------------------------------------- keys


def idempotency_key(org_id: str, sku: str, episode: int) -> str:
    """The key of one shortfall episode of one item: the same while an order is open.

    The episode counts the item's closed (received or cancelled) orders, so a new shortfall
    after a cancellation or a delivery gets a new key, and a re-run gets the same one.
    """
    return idempotency_keys(
        np.array([org_id], dtype=object), np.array([sku], dtype=object), np.array([episode])
    )[0]


def idempotency_keys(org_id: Any, sku: Any, episode: Any) -> list[str]:
    """Columnar :func:`idempotency_key`: sha256 over length-prefixed parts (no ambiguity)."""
    orgs, skus = to_str(org_id), to_str(sku)
    eps = np.asarray(to_float(episode), dtype=np.int64)
    return [
        hashlib.sha256(f"{len(o)}:{o}|{len(s)}:{s}|{e}".encode()).hexdigest()[:32]
        for o, s, e in zip(orgs, skus, eps, strict=True)
    ]


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
        ("po_id", pa.string()),
        ("vendor", pa.string()),
        ("quantity", pa.float64()),
        ("unit_price", pa.float64()),
        ("cost", pa.float64()),
        ("priority", pa.int64()),
        ("rank", pa.int64()),
        ("status", pa.string()),
        ("days_remaining", pa.float64()),
        ("data_source", pa.string()),
    ]
)

PASS_THROUGH = ("sector", "city", "category", "item_name", "unit", "disaster_zone")
"""Candidate columns copied onto each proposal, for alerts and reports."""

REJECTED_TYPE = pa.list_(pa.struct([("vendor", pa.string()), ("why", pa.string())]))


def plan_orders(
    candidates: pa.Table, vendor_options: pa.Table, options: PlanOptions | None = None
) -> pa.Table:
    """One proposal per candidate row: ORDER, COVERED or CAPPED, ranked, with its reason.

    ``candidates`` has the ``stock_analysis`` columns of the rows needing a decision plus
    ``open_orders``, ``open_order_qty``, ``episode`` and ``allotment_used`` (see
    ``sql/candidates.sql``). ``vendor_options`` has ``vendor_id, sku, city, price,
    lead_time_days, status, latency_ms``. The result has :data:`PROPOSAL_SCHEMA` columns
    plus ``reason``, a struct column the backend stores as JSON.
    """
    options = options or PlanOptions()
    n = candidates.num_rows
    col = candidates.column
    org = to_str(col("org_id"))
    sku = to_str(col("sku"))
    city = to_str(col("city"))
    category = to_str(col("category"))
    stock = to_float(col("current_stock"))
    rate = to_float(col("effective_consumption"))
    days = to_float(col("days_remaining"))
    target = to_float(col("target_days"))
    critical = to_float(col("critical_days"))
    pack = np.where(np.isnan(p := to_float(col("pack_size"))) | (p <= 0), 1.0, p)
    item_lead = np.nan_to_num(to_float(col("lead_time_days")))
    delay = np.nan_to_num(to_float(col("weather_delay_days")))
    priority = np.asarray(to_float(col("priority")), dtype=np.int64)
    open_orders = np.nan_to_num(to_float(col("open_orders")))
    open_qty = np.nan_to_num(to_float(col("open_order_qty")))
    episode = np.nan_to_num(to_float(col("episode")))
    preferred = (
        to_str(col("preferred_vendor"))
        if "preferred_vendor" in candidates.column_names
        else np.full(n, None, dtype=object)
    )

    vendor = choose_vendors(sku, city, preferred, vendor_options)
    has_vendor = vendor.index >= 0

    lead = (
        np.where(has_vendor & ~np.isnan(vendor.lead_time_days), vendor.lead_time_days, item_lead)
        + delay
    )
    need = rate * (target + lead) - stock - open_qty
    qty = np.ceil(np.maximum(need, 0.0) / pack - 1e-9) * pack

    caps: list[npt.NDArray[np.bool_]] = []
    entitled = to_bool(col("monthly_allotment_cap")) & np.isin(category, list(ENTITLED_CATEGORIES))
    remaining = monthly_allotment_kg(col("phh_persons"), col("aay_households")) - np.nan_to_num(
        to_float(col("allotment_used"))
    )
    cap_qty = np.floor(np.maximum(remaining, 0.0) / pack + 1e-9) * pack
    allotment_binds = entitled & (qty > cap_qty)
    qty = np.where(allotment_binds, cap_qty, qty)
    caps.append(allotment_binds)

    covered = open_orders > 0
    capped = ~covered & (qty <= 0)
    action = np.where(
        covered, Action.COVERED.value, np.where(capped, Action.CAPPED.value, Action.ORDER.value)
    ).astype(object)
    ordering = action == Action.ORDER.value
    qty = np.where(ordering, qty, 0.0)

    price = np.where(has_vendor, vendor.price, np.nan)
    cost = np.where(ordering & has_vendor, qty * price, 0.0)

    rank = priority_rank(priority, days, org, sku)
    exempt = np.isin(category, list(BUDGET_EXEMPT_CATEGORIES))
    org_budget = (
        to_float(col("budget_cap"))
        if "budget_cap" in candidates.column_names
        else np.full(n, np.nan)
    )
    over_budget = budget_holds(cost, rank, org, exempt, broadcast(n, org_budget), options.budget)
    caps.append(over_budget)

    order_status = np.full(n, None, dtype=object)
    order_status[ordering] = OrderStatus.PLACED.value
    order_status[ordering & over_budget] = OrderStatus.PENDING_APPROVAL.value
    order_status[ordering & ~has_vendor] = OrderStatus.PENDING_VENDOR.value

    keys = idempotency_keys(org, sku, episode)
    po_ids = ["PO-" + k[:20].upper() for k in keys]
    cap_names = _cap_lists(allotment_binds, over_budget, options.budget is not None)

    reason = pa.StructArray.from_arrays(
        [
            pa.array(
                np.where(
                    days <= critical,
                    "days_remaining <= critical_days",
                    "days_remaining - lead_time <= critical_days",
                ),
                pa.string(),
            ),
            pa.array(
                col("status").to_numpy(zero_copy_only=False)
                if isinstance(col("status"), pa.ChunkedArray)
                else col("status"),
                pa.string(),
            ),
            pa.array(days, pa.float64(), from_pandas=True),
            pa.array(critical, pa.float64()),
            pa.array(target, pa.float64()),
            pa.array(rate, pa.float64()),
            pa.array(lead, pa.float64()),
            pa.array(delay, pa.float64()),
            pa.array(to_str(col("weather")), pa.string()),
            pa.array(np.where(ordering, need, 0.0), pa.float64()),
            pa.array(np.where(covered, open_qty, 0.0), pa.float64()),
            pa.array(vendor.vendor_id, pa.string()),
            pa.array(
                np.where(has_vendor, vendor.latency_ms, np.nan), pa.float64(), from_pandas=True
            ),
            vendor.rejected,
            cap_names,
            pa.array(action, pa.string()),
        ],
        names=[
            "rule",
            "status",
            "days_remaining",
            "threshold_days",
            "target_days",
            "daily_demand",
            "lead_time_days",
            "weather_delay_days",
            "weather",
            "quantity_needed",
            "open_order_qty",
            "vendor",
            "vendor_latency_ms",
            "vendors_rejected",
            "caps_applied",
            "action",
        ],
    )
    table = pa.table(
        {
            "org_id": pa.array(org, pa.string()),
            "sku": pa.array(sku, pa.string()),
            "action": pa.array(action, pa.string()),
            "order_status": pa.array(order_status, pa.string()),
            "idempotency_key": pa.array(keys, pa.string()),
            "po_id": pa.array(po_ids, pa.string()),
            "vendor": pa.array(vendor.vendor_id, pa.string()),
            "quantity": pa.array(qty, pa.float64()),
            "unit_price": pa.array(price, pa.float64(), from_pandas=True),
            "cost": pa.array(cost, pa.float64()),
            "priority": pa.array(priority, pa.int64()),
            "rank": pa.array(rank, pa.int64()),
            "status": col("status").cast(pa.string()),
            "days_remaining": pa.array(days, pa.float64(), from_pandas=True),
            "data_source": pa.array(
                np.where(
                    vendor.simulated | (to_str(col("data_source")) != "REAL"), "SIMULATED", "REAL"
                ),
                pa.string(),
            ),
            **{
                name: candidates.column(name)
                for name in PASS_THROUGH
                if name in candidates.column_names
            },
            "reason": reason,
        }
    )
    return table.take(pc.sort_indices(table["rank"])) if n else table


def priority_rank(priority: Any, days: Any, org_id: Any, sku: Any) -> npt.NDArray[np.int64]:
    """1-based rank: sector priority first, then fewest days remaining (never-runs-out last),
    then organization and item for a stable, deterministic order."""
    p = np.asarray(to_float(priority))
    d = to_float(days)
    d = np.where(np.isnan(d), np.inf, d)
    o, s = to_str(org_id), to_str(sku)
    n = len(p)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # lexsort on object strings is slow; rank the strings first, then sort numerically.
    o_codes = np.unique(o.astype(str), return_inverse=True)[1]
    s_codes = np.unique(s.astype(str), return_inverse=True)[1]
    order = np.lexsort((s_codes, o_codes, d, p))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    return rank


def budget_holds(
    cost: FloatArray,
    rank: npt.NDArray[np.int64],
    org_id: npt.NDArray[np.object_],
    exempt: npt.NDArray[np.bool_],
    org_budget: FloatArray,
    budget: float | None,
) -> npt.NDArray[np.bool_]:
    """Which orders a budget holds back: spent in rank order, highest priority first.

    Exempt items (oxygen) are never held and do not draw on the budget. Once an order does
    not fit, it and every lower-ranked order of the same budget are held (no skipping ahead).
    """
    n = len(cost)
    held = np.zeros(n, dtype=bool)
    if n == 0:
        return held
    spend = np.where(exempt, 0.0, cost)
    order = np.argsort(rank, kind="stable")
    if budget is not None:
        running = np.cumsum(spend[order])
        over = np.maximum.accumulate(running > budget + 1e-9)
        held[order] |= over & ~exempt[order]
    if np.any(~np.isnan(org_budget)):
        codes = np.unique(org_id.astype(str), return_inverse=True)[1]
        by_org = np.lexsort((rank, codes))
        sorted_codes = codes[by_org]
        running = np.cumsum(spend[by_org])
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
        offset = np.repeat(np.r_[0.0, running][starts], np.diff(np.r_[starts, n]))
        within = running - offset
        limit = org_budget[by_org]
        over = ~np.isnan(limit) & (within > limit + 1e-9)
        # once over within an org, stay over for the rest of that org
        group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
        first_over = np.full(len(starts), n, dtype=np.int64)
        idx = np.flatnonzero(over)
        np.minimum.at(first_over, group[idx], idx)
        over = np.arange(n) >= first_over[group]
        held[by_org] |= over & ~exempt[by_org]
    return held


@dataclass(frozen=True)
class VendorChoice:
    """The vendor chosen for each row (index -1 and None when no vendor is online)."""

    index: npt.NDArray[np.int64]
    vendor_id: npt.NDArray[np.object_]
    price: FloatArray
    lead_time_days: FloatArray
    latency_ms: FloatArray
    rejected: pa.Array
    simulated: npt.NDArray[np.bool_]  # the choice rests on a SIMULATED vendor status


def choose_vendors(sku: Any, city: Any, preferred: Any, options: pa.Table) -> VendorChoice:
    """Pick a vendor per row among those serving the row's item in its city.

    Online vendors only; the preferred vendor first when it is online, then lowest latency,
    then lowest price, then name. Every other vendor that serves the row is listed as
    rejected with the reason (OFFLINE, or slower / dearer than the chosen one).
    """
    skus, cities = to_str(sku), to_str(city)
    n = len(skus)
    pref = broadcast(n, to_str(preferred)) if n else np.zeros(0, dtype=object)
    rows = pa.table(
        {
            "__row": pa.array(np.arange(n, dtype=np.int64)),
            "sku": pa.array(skus, pa.string()),
            "city": pa.array(cities, pa.string()),
        }
    )
    if "data_source" not in options.column_names:
        options = options.append_column(
            "data_source", pa.array(["REAL"] * options.num_rows, pa.string())
        )
    opts = options.select(
        [
            "vendor_id",
            "sku",
            "city",
            "price",
            "lead_time_days",
            "status",
            "latency_ms",
            "data_source",
        ]
    )
    opts = opts.set_column(opts.schema.get_field_index("sku"), "sku", opts["sku"].cast(pa.string()))
    opts = opts.set_column(
        opts.schema.get_field_index("city"), "city", opts["city"].cast(pa.string())
    )
    pairs = rows.join(opts, ["sku", "city"], join_type="inner")
    row = np.asarray(pairs["__row"].to_numpy(), dtype=np.int64)
    vid = np.asarray(pairs["vendor_id"].to_numpy(zero_copy_only=False), dtype=object)
    online = np.asarray(
        pc.equal(pairs["status"], "ONLINE").fill_null(False).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    latency = to_float(pairs["latency_ms"])
    price = to_float(pairs["price"])
    lead = to_float(pairs["lead_time_days"])
    is_pref = (vid == pref[row]) if len(row) else np.zeros(0, dtype=bool)
    vcodes = (
        np.unique(vid.astype(str), return_inverse=True)[1]
        if len(row)
        else np.zeros(0, dtype=np.int64)
    )
    order = np.lexsort(
        (
            vcodes,
            np.nan_to_num(price, nan=np.inf),
            np.nan_to_num(latency, nan=np.inf),
            ~is_pref,
            ~online,
            row,
        )
    )
    row_s = row[order]
    first = np.r_[True, row_s[1:] != row_s[:-1]] if len(row_s) else np.zeros(0, dtype=bool)
    chosen_pos = order[first]
    chosen_ok = online[chosen_pos]
    index = np.full(n, -1, dtype=np.int64)
    index[row[chosen_pos[chosen_ok]]] = chosen_pos[chosen_ok]
    has = index >= 0
    safe = np.where(has, index, 0)

    def pick(values: np.ndarray, missing: Any) -> np.ndarray:
        if len(values) == 0:
            return np.full(n, missing, dtype=object if missing is None else np.float64)
        return np.where(has, values[safe], missing)

    vendor_id = pick(vid, None).astype(object)
    chosen_mask = np.zeros(len(row), dtype=bool)
    chosen_mask[index[has]] = True
    chosen_latency = pick(latency, np.nan)[row]
    chosen_price = pick(price, np.nan)[row]
    chosen_pref = pick(is_pref.astype(np.float64), 0.0)[row] > 0
    why = np.full(len(row), "ranked after the chosen vendor", dtype=object)
    why[latency > chosen_latency] = "slower than the chosen vendor"
    why[(latency == chosen_latency) & (price > chosen_price)] = "dearer than the chosen vendor"
    why[chosen_pref & online] = "the preferred vendor is online"
    why[~online] = "OFFLINE"
    rej = ~chosen_mask
    rejected = _lists_by_row(n, row[rej], vid[rej], why[rej])
    # Any status consulted for the row (chosen or rejected) that was simulated makes the
    # decision simulated.
    sim_pair = np.asarray(
        pc.not_equal(pairs["data_source"], "REAL").fill_null(True).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    simulated = np.bincount(row[sim_pair], minlength=n)[:n] > 0 if n else np.zeros(0, bool)
    return VendorChoice(
        index,
        vendor_id,
        pick(price, np.nan).astype(np.float64),
        pick(lead, np.nan).astype(np.float64),
        pick(latency, np.nan).astype(np.float64),
        rejected,
        simulated,
    )


def _lists_by_row(n: int, row: np.ndarray, vendor: np.ndarray, why: np.ndarray) -> pa.Array:
    """A list<struct<vendor, why>> column of length n from (row, vendor, why) triples."""
    order = np.argsort(row, kind="stable")
    row, vendor, why = row[order], vendor[order], why[order]
    counts = np.bincount(row, minlength=n) if len(row) else np.zeros(n, dtype=np.int64)
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int32)
    values = pa.StructArray.from_arrays(
        [pa.array(vendor, pa.string()), pa.array(why, pa.string())], names=["vendor", "why"]
    )
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, type=REJECTED_TYPE)


def _cap_lists(
    allotment: npt.NDArray[np.bool_], budget: npt.NDArray[np.bool_], _: bool
) -> pa.Array:
    """list<string> of the caps applied to each row."""
    n = len(allotment)
    counts = allotment.astype(np.int32) + budget.astype(np.int32)
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int32)
    names = np.empty(int(counts.sum()), dtype=object)
    pos = offsets[:-1]
    names[pos[allotment]] = "pds_monthly_allotment"
    names[(pos + allotment.astype(np.int32))[budget]] = "budget"
    return (
        pa.ListArray.from_arrays(
            pa.array(offsets, pa.int32()), pa.array(names, pa.string()), type=pa.list_(pa.string())
        )
        if n
        else pa.array([], pa.list_(pa.string()))
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
