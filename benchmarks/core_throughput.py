"""Throughput of the columnar core against a plain per-item Python loop over the same rules.

Plans ``--items`` inventory items (default 1,000,000) through ``resq.core``: ``analyse``
(effective demand, days remaining, thresholds, status, priority, weather delay), the
candidate filter of ``sql/candidates.sql`` (critical, or warning and critical before an
order could arrive), then ``plan_orders`` on those rows (quantity in whole packs, PDS
allotment cap, vendor choice with fallback, priority rank, idempotency key and reason).

In the same run, a per-item Python loop implements the same rules scalar by scalar over
``--loop-sample`` items (default 50,000); its rate is extrapolated per item. The script
checks that both give the same answers on the sample, prints items per second for both
and their ratio, and exits non-zero when the columnar path is less than ``--target``
(50) times faster. It also prints the time the target leaves for the whole plan next to
the time of the bare arithmetic (numbers only, no text), the floor under any columnar
implementation of these rules. Not part of pytest: run ``python benchmarks/core_throughput.py``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from resq.core import DEFAULT_SECTOR_CONFIG, PlanOptions, Status, analyse, plan_orders
from resq.core._columns import from_codes
from resq.core.sectors import (
    ADVERSE_WEATHER,
    BUDGET_EXEMPT_CATEGORIES,
    ENTITLED_CATEGORIES,
    NFSA_AAY_KG_PER_HOUSEHOLD_MONTH,
    NFSA_PHH_KG_PER_PERSON_MONTH,
    RESPIRATORY_CATEGORIES,
    WEATHER_DELAY_DAYS,
)

SECTORS = np.array(["HOSPITAL", "PDS", "NGO"], dtype=object)
SECTOR_ORDER = np.array(sorted(SECTORS), dtype=object)
#: (sector index, sku, category, pack size)
ITEMS = [
    (0, "OXY-CYL", "OXYGEN", 1.0),
    (0, "MED-PARA", "MEDICINE", 10.0),
    (1, "RICE-KG", "RICE", 50.0),
    (2, "KIT-EMG", "KIT", 1.0),
]
CITIES = np.array([f"City-{i:02d}" for i in range(40)] + ["Bangalore", "Delhi"], dtype=object)
WEATHER = np.array(["Clear", "Cloudy", "Haze", "Rain", "Storm", "Flood"], dtype=object)
VENDORS = ["Blinkit", "Dunzo", "Zepto", "LocalMart"]
#: The vendor type the default authorization requires (resq.core.sourcing), by category:
#: PDS rice only from depots, oxygen only from licensed medical-gas suppliers.
AUTHORIZED_TYPES = {"OXYGEN": "MEDICAL_GAS", "RICE": "DEPOT"}
RESTRICTED = {("PDS", "RICE"), ("HOSPITAL", "OXYGEN"), ("PDS", "OXYGEN"), ("NGO", "OXYGEN")}


@dataclass
class Network:
    """Inventory rows as numpy columns (what a backend hands the core, as Arrow)."""

    org_id: np.ndarray
    sector: np.ndarray
    city: np.ndarray
    sku: np.ndarray
    category: np.ndarray
    pack_size: np.ndarray
    lead_time_days: np.ndarray
    preferred_vendor: np.ndarray
    current_stock: np.ndarray
    daily_consumption: np.ndarray
    weather: np.ndarray
    disaster_zone: np.ndarray
    phh_persons: np.ndarray
    aay_households: np.ndarray
    episode: np.ndarray
    allotment_used: np.ndarray

    def __len__(self) -> int:
        return len(self.org_id)

    def take(self, idx: np.ndarray) -> Network:
        return Network(**{k: v[idx] for k, v in vars(self).items()})

    def to_arrow(self) -> pa.Table:
        """The same data as an Arrow table, as a backend hands it over (not timed)."""
        return pa.table({k: pa.array(v) for k, v in vars(self).items()})

    def rows(self) -> list[tuple[Any, ...]]:
        """The same data as plain Python tuples, one per item (for the loop)."""
        cols = [v.tolist() for v in vars(self).values()]
        return list(zip(*cols, strict=True))


def make_network(n: int, seed: int, max_cover_days: float = 20.0) -> tuple[Network, pa.Table]:
    rng = np.random.default_rng(seed)
    # every organization number has a hospital (oxygen and medicine), a ration shop (rice)
    # and an NGO (kits): (org_id, sku) is unique, as in inventory_master
    item = np.arange(n) % len(ITEMS)
    sector_idx = np.array([i[0] for i in ITEMS])[item]
    org_num = np.arange(n) // len(ITEMS)
    prefix = np.array(["H-", "P-", "N-"], dtype=object)[sector_idx]
    org_id = (prefix + org_num.astype(str).astype(object)).astype(object)
    city_of_org = rng.integers(0, len(CITIES), n // len(ITEMS) + 1)
    city = CITIES[city_of_org[org_num]]
    weather_of_city = rng.integers(0, len(WEATHER), len(CITIES))
    weather = WEATHER[weather_of_city[city_of_org[org_num]]]
    category = np.array([i[2] for i in ITEMS], dtype=object)[item]
    pds = sector_idx == 1
    rate = np.round(rng.gamma(2.0, 10.0, n) + 0.1, 3) * np.where(pds, 5.0, 1.0)
    rate[rng.random(n) < 0.02] = 0.0  # never runs out
    stock = np.round(rate * rng.uniform(0.0, max_cover_days, n), 2)
    stock[rng.random(n) < 0.03] = 0.0
    preferred = np.array([None, *VENDORS], dtype=object)[rng.integers(0, len(VENDORS) + 1, n)]
    network = Network(
        org_id=org_id,
        sector=SECTORS[sector_idx],
        city=city,
        sku=np.array([i[1] for i in ITEMS], dtype=object)[item],
        category=category,
        pack_size=np.array([i[3] for i in ITEMS])[item],
        lead_time_days=rng.integers(1, 6, n).astype(np.float64),
        preferred_vendor=preferred,
        current_stock=stock,
        daily_consumption=rate,
        weather=weather,
        disaster_zone=rng.random(n) < 0.05,
        phh_persons=np.where(pds, rng.integers(50, 2000, n), 0),
        aay_households=np.where(pds, rng.integers(0, 100, n), 0),
        episode=rng.integers(0, 3, n),
        allotment_used=np.where(pds, np.round(rng.uniform(0, 8000, n), 1), 0.0),
    )
    offers = []
    for _, sku, category, _ in ITEMS:
        for c in CITIES:
            for v in VENDORS:
                if rng.random() < 0.2:
                    continue  # this vendor does not serve this item here
                status = "ONLINE" if rng.random() < 0.7 else "OFFLINE"
                # mostly the kind authorized for the item, sometimes a general vendor
                licensed = AUTHORIZED_TYPES.get(category, "GENERAL")
                offers.append(
                    {
                        "vendor_id": v,
                        "vendor_type": licensed if rng.random() < 0.8 else "GENERAL",
                        "sku": sku,
                        "city": c,
                        "price": float(rng.integers(5, 500)),
                        "lead_time_days": float(rng.integers(0, 4)),
                        "status": status,
                        "latency_ms": float(rng.integers(5, 400)) if status == "ONLINE" else None,
                        "data_source": "SIMULATED",
                    }
                )
    return network, pa.Table.from_pylist(offers)


# ---------------------------------------------------------------- the columnar path


def plan_columnar(
    net: pa.Table, vendor_options: pa.Table, stages: dict[str, float] | None = None
) -> pa.Table:
    """analyse -> candidate filter -> plan_orders, all columnar, on the Arrow table a backend
    hands the core (``stages`` gets the time spent in each step)."""
    t0 = time.perf_counter()
    a = analyse(
        net["current_stock"],
        net["daily_consumption"],
        net["sector"],
        category=net["category"],
        weather=net["weather"],
        disaster_zone=net["disaster_zone"],
    )
    lead = net["lead_time_days"].to_numpy()
    with np.errstate(invalid="ignore"):
        late = a.days_remaining - (lead + a.weather_delay_days) <= a.critical_days
    critical = a.status_code == 0
    decide = critical | ((a.status_code == 1) & late)
    t1 = time.perf_counter()
    mask = pa.array(decide)
    cap = {name: cfg.monthly_allotment_cap for name, cfg in DEFAULT_SECTOR_CONFIG.items()}
    candidates = net.filter(mask)
    sector_cap = np.array([cap[s] for s in sorted(cap)])
    n = candidates.num_rows
    extra = {
        "effective_consumption": a.effective_consumption[decide],
        "days_remaining": pa.array(a.days_remaining[decide], from_pandas=True),
        "critical_days": a.critical_days[decide],
        "warning_days": a.warning_days[decide],
        "target_days": a.target_days[decide],
        "status": from_codes(a.status_code[decide], [s.value for s in Status]),
        "priority": a.priority[decide],
        "weather_delay_days": a.weather_delay_days[decide],
        "monthly_allotment_cap": sector_cap[
            np.searchsorted(sorted(cap), candidates["sector"].to_numpy(zero_copy_only=False))
        ],
        "data_source": pa.array(["SIMULATED"] * n, pa.string()),
        "budget_cap": pa.nulls(n, pa.float64()),
        "open_orders": np.zeros(n, dtype=np.int64),
        "open_order_qty": np.zeros(n),
    }
    for name, values in extra.items():
        candidates = candidates.append_column(
            name, pa.array(values) if not isinstance(values, pa.Array) else values
        )
    t2 = time.perf_counter()
    proposals = plan_orders(candidates, vendor_options, PlanOptions())
    if stages is not None:
        stages["analyse + filter"] = t1 - t0
        stages["candidates"] = t2 - t1
        stages["plan_orders"] = time.perf_counter() - t2
    return proposals


# ---------------------------------------------------------------- the per-item loop

_CONFIG = {
    name: (
        cfg.critical_days,
        cfg.warning_days,
        cfg.target_days,
        cfg.priority,
        cfg.adverse_critical_days,
        cfg.adverse_demand_multiplier,
        cfg.haze_demand_multiplier,
        cfg.disaster_priority,
        cfg.monthly_allotment_cap,
    )
    for name, cfg in DEFAULT_SECTOR_CONFIG.items()
}


def vendor_index(vendor_options: pa.Table) -> dict[tuple[str, str], list[dict[str, Any]]]:
    index: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for o in vendor_options.to_pylist():
        index.setdefault((o["sku"], o["city"]), []).append(o)
    return index


def plan_loop(
    rows: list[tuple[Any, ...]], offers: dict[tuple[str, str], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The same rules, one item at a time, in plain Python."""
    out = []
    for (
        org_id,
        sector,
        city,
        sku,
        category,
        pack,
        item_lead,
        preferred,
        stock,
        rate,
        weather,
        zone,
        phh,
        aay,
        episode,
        used,
    ) in rows:
        (crit, warn, target, prio, adv_crit, adv_mult, haze_mult, dis_prio, capped) = _CONFIG[
            sector
        ]
        adverse = weather in ADVERSE_WEATHER
        mult = adv_mult if adverse else 1.0
        if weather == "Haze" and category in RESPIRATORY_CATEGORIES:
            mult *= haze_mult
        eff = rate * mult
        days = stock / eff if eff > 0 else None
        if adverse and adv_crit is not None:
            crit = adv_crit
        warn = max(warn, crit)
        if days is None:
            status = "OK"
        elif days <= crit:
            status = "CRITICAL"
        elif days <= warn:
            status = "WARNING"
        else:
            status = "OK"
        priority = dis_prio if zone and dis_prio is not None else prio
        delay = WEATHER_DELAY_DAYS.get(weather, 0.0)
        if not (
            status == "CRITICAL"
            or (status == "WARNING" and days is not None and days - (item_lead + delay) <= crit)
        ):
            continue
        # vendor: authorized and online; preferred first, then the shortest lead time, the
        # lowest price, (reliability: unknown here, a tie), the lowest latency, the name
        chosen = None
        serving = offers.get((sku, city), [])
        for o in serving:
            if o["status"] != "ONLINE":
                continue
            if (sector, category) in RESTRICTED and o["vendor_type"] != AUTHORIZED_TYPES[category]:
                continue
            rank = (
                o["vendor_id"] != preferred,
                o["lead_time_days"],
                o["price"],
                o["latency_ms"],
                o["vendor_id"],
            )
            if chosen is None or rank < chosen[0]:
                chosen = (rank, o)
        vendor = chosen[1] if chosen else None
        rejected = []
        for o in serving:
            if o is vendor:
                continue
            if o["status"] != "ONLINE":
                why = "OFFLINE"
            elif vendor is not None and vendor["vendor_id"] == preferred:
                why = "the preferred vendor is online"
            elif vendor is not None and o["latency_ms"] > vendor["latency_ms"]:
                why = "slower than the chosen vendor"
            elif vendor is not None and o["price"] > vendor["price"]:
                why = "dearer than the chosen vendor"
            else:
                why = "ranked after the chosen vendor"
            rejected.append({"vendor": o["vendor_id"], "why": why})
        lead = (vendor["lead_time_days"] if vendor else item_lead) + delay
        need = eff * (target + lead) - stock
        qty = math.ceil(max(need, 0.0) / pack - 1e-9) * pack
        caps = []
        if capped and category in ENTITLED_CATEGORIES:
            remaining = (
                phh * NFSA_PHH_KG_PER_PERSON_MONTH + aay * NFSA_AAY_KG_PER_HOUSEHOLD_MONTH - used
            )
            cap_qty = math.floor(max(remaining, 0.0) / pack + 1e-9) * pack
            if qty > cap_qty:
                qty = cap_qty
                caps.append("pds_monthly_allotment")
        action = "ORDER" if qty > 0 else "CAPPED"
        if action != "ORDER":
            qty = 0.0
        order_status = None
        if action == "ORDER":
            order_status = "PLACED" if vendor else "PENDING_VENDOR"
        price = vendor["price"] if vendor else None
        cost = qty * price if vendor and action == "ORDER" else 0.0
        key = f"{len(org_id)}:{org_id}|{len(sku)}:{sku}|{episode}"
        out.append(
            {
                "org_id": org_id,
                "sku": sku,
                "action": action,
                "order_status": order_status,
                "idempotency_key": key,
                "vendor": vendor["vendor_id"] if vendor else None,
                "quantity": float(qty),
                "unit_price": price,
                "cost": cost,
                "priority": priority,
                "status": status,
                "days_remaining": days,
                "budget_exempt": category in BUDGET_EXEMPT_CATEGORIES,
                "reason": {
                    "days_remaining": days,
                    "threshold_days": crit,
                    "target_days": target,
                    "daily_demand": eff,
                    "lead_time_days": lead,
                    "weather": weather,
                    "quantity_needed": need,
                    "vendor": vendor["vendor_id"] if vendor else None,
                    "vendors_rejected": rejected,
                    "caps_applied": caps,
                },
            }
        )
    out.sort(key=lambda p: (p["priority"], p["days_remaining"], p["org_id"], p["sku"]))
    for i, p in enumerate(out, start=1):
        p["rank"] = i
    return out


# ---------------------------------------------------------------- the floor


def numeric_floor(net: Network, repeat: int) -> float:
    """Seconds for the arithmetic alone, the least any columnar plan must spend: sector
    thresholds and weather multipliers by integer code, days remaining, status, the
    candidate filter, quantities and a sort by priority and days. No text, no vendor
    choice, no keys, no reasons: what is left of the time budget must pay for those."""
    sector = np.searchsorted(SECTOR_ORDER, net.sector).astype(np.int8)
    adverse = np.isin(net.weather, list(ADVERSE_WEATHER))
    cfg = [DEFAULT_SECTOR_CONFIG[str(name)] for name in SECTOR_ORDER]
    crit_t = np.array([c.critical_days for c in cfg])
    warn_t = np.array([c.warning_days for c in cfg])
    target_t = np.array([c.target_days for c in cfg])
    mult_t = np.array([c.adverse_demand_multiplier or 1.0 for c in cfg])
    prio_t = np.array([c.priority for c in cfg])
    stock, rate = net.current_stock, net.daily_consumption
    lead, pack = net.lead_time_days, net.pack_size
    best = math.inf
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        eff = rate * np.where(adverse, mult_t[sector], 1.0)
        days = np.divide(stock, eff, out=np.full(len(eff), np.nan), where=eff > 0)
        crit = crit_t[sector]
        with np.errstate(invalid="ignore"):
            decide = (days <= crit) | ((days <= warn_t[sector]) & (days - lead <= crit))
        idx = np.flatnonzero(decide)
        need = eff[idx] * (target_t[sector[idx]] + lead[idx]) - stock[idx]
        qty = np.ceil(np.maximum(need, 0.0) / pack[idx] - 1e-9) * pack[idx]
        order = np.lexsort((days[idx], prio_t[sector[idx]]))
        best = min(best, time.perf_counter() - t)
    assert len(qty) == len(order)
    return best


# ---------------------------------------------------------------- the run


def agree(columnar: pa.Table, loop: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """How many sample proposals agree on every decision, and the first disagreements."""
    cols = ["org_id", "sku", "action", "order_status", "idempotency_key", "vendor", "quantity"]
    got = {(r["org_id"], r["sku"]): r for r in columnar.select([*cols, "rank"]).to_pylist()}
    same, problems = 0, []
    if len(got) != len(loop):
        problems.append(f"{len(got)} columnar proposals, {len(loop)} from the loop")
    for p in loop:
        c = got.get((p["org_id"], p["sku"]))
        diff = [k for k in [*cols, "rank"] if c is None or c[k] != p[k]]
        if not diff:
            same += 1
        elif len(problems) < 5:
            problems.append(f"{p['org_id']}/{p['sku']}: {diff}")
    return same, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="items for the columnar path")
    parser.add_argument("--loop-sample", type=int, default=50_000, help="items for the loop")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--max-cover-days",
        type=float,
        default=20.0,
        help="stock covers 0..this many days (20: about a third of items need an order)",
    )
    parser.add_argument("--target", type=float, default=50.0, help="required speed-up")
    parser.add_argument("--repeat", type=int, default=3, help="columnar runs (best is kept)")
    args = parser.parse_args(argv)

    t = time.perf_counter()
    net, vendor_options = make_network(args.items, args.seed, args.max_cover_days)
    print(f"generated {len(net):,} items and {vendor_options.num_rows} vendor offers "
          f"in {time.perf_counter() - t:.1f} s (not timed)")  # fmt: skip

    table = net.to_arrow()
    plan_columnar(table.slice(0, 1000), vendor_options)  # warm up
    best, stages = math.inf, {}
    for _ in range(max(1, args.repeat)):
        run: dict[str, float] = {}
        t = time.perf_counter()
        proposals = plan_columnar(table, vendor_options, run)
        elapsed = time.perf_counter() - t
        if elapsed < best:
            best, stages = elapsed, run
    columnar_rate = len(net) / best
    orders = sum(1 for a in proposals["action"].to_pylist() if a == "ORDER")
    print(f"columnar: {len(net):,} items -> {proposals.num_rows:,} proposals "
          f"({orders:,} orders) in {best:.3f} s = {columnar_rate:,.0f} items/s")  # fmt: skip
    for name, seconds in stages.items():
        print(f"  {name:<20} {seconds:7.3f} s")

    sample = net.take(np.arange(min(args.loop_sample, len(net))))
    rows = sample.rows()
    offers = vendor_index(vendor_options)
    t = time.perf_counter()
    looped = plan_loop(rows, offers)
    loop_time = time.perf_counter() - t
    loop_rate = len(rows) / loop_time
    print(f"loop:     {len(rows):,} items -> {len(looped):,} proposals in {loop_time:.3f} s "
          f"= {loop_rate:,.0f} items/s (extrapolated per item)")  # fmt: skip

    same, problems = agree(plan_columnar(sample.to_arrow(), vendor_options), looped)
    print(f"agreement on the sample: {same:,} of {len(looped):,} proposals identical")
    for p in problems:
        print(f"  disagreement: {p}")

    floor = numeric_floor(net, args.repeat)
    if args.target > 0:
        budget = len(net) / (args.target * loop_rate)
        print(f"the {args.target:g}x target leaves {budget * 1000:.0f} ms for {len(net):,} "
              "items in all")  # fmt: skip
    print(f"the arithmetic alone (no text, vendors, keys or reasons) takes "
          f"{floor * 1000:.0f} ms")  # fmt: skip

    ratio = columnar_rate / loop_rate
    ok = ratio >= args.target and not problems
    print(f"ratio: {ratio:.1f}x (target {args.target:g}x): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
