"""Replay throughput: the columnar replay against stockpyl's per-item simulation, per SKU-day.

Replays ``--items`` items (default 100,000: the simulated network, clear weather) for
``--days`` days (default 365) with the fixed ``(s, S)`` policy on backorders, stockpyl's
convention. In the same run, stockpyl's single-stage simulation replays a sample of
``--sample`` of those items (default 20) on the same demand, lead times, initial stock and
``(s, S)``; the script checks that both give the same per-day inventory levels on the
sample (exit 1 on any disagreement), and prints SKU-days per second for both and their
ratio per SKU-day (the issue's target: ``--target`` 10,000x). It also replays the ``resq``
policy (the heal cycle's planning every day) over the same items for ``--resq-days`` days
and prints its cost per SKU-day relative to the ``(s, S)`` replay (target: within 5x).
Times are CPU seconds of this process (``time.process_time``): the machines these run on
are shared, and wall time there measures the neighbours. Not part of pytest: run
``python benchmarks/replay.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np
import pyarrow as pa

from resq import replay as rp
from resq.core.policies import FixedSS


def network(items: int) -> rp.ReplayNetwork:
    skus = 10
    net = rp.simulated_network(n_orgs=max(1, items // skus), skus_per_org=skus)
    clear = {city: "Clear" for city in net.weather}  # lead times without weather delays
    items_t = net.items.slice(0, items)
    return dataclasses.replace(net, items=items_t, weather=clear)


def stockpyl_levels(demand: np.ndarray, s: float, S: float, lead: int, initial: float):
    from stockpyl.sim import simulation
    from stockpyl.supply_chain_network import single_stage_system

    system = single_stage_system(
        holding_cost=1, stockout_cost=1, demand_type="D", demand_list=demand.tolist(),
        shipment_lead_time=lead, policy_type="sS", reorder_point=s, order_up_to_level=S,
        initial_inventory_level=initial,
    )  # fmt: skip
    simulation(system, len(demand), progress_bar=False)
    node = system.nodes[0]
    prod = node.product_indices[0]
    return np.array([node.state_vars[t].inventory_level[prod] for t in range(len(demand))])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--sample", type=int, default=20)
    ap.add_argument("--resq-days", type=int, default=30)
    ap.add_argument("--target", type=float, default=10_000.0)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)

    net = network(args.items)
    n, days = net.n, args.days
    rng = np.random.default_rng(7)
    demand = np.round(rng.gamma(4.0, net.base_rate[:, None] / 4.0, size=(n, days)), 2)
    policy = ("s-S", FixedSS())

    t0 = time.process_time()
    result = rp.replay(net, [policy], days, demand=demand, backorders=True)
    replay_s = time.process_time() - t0
    replay_rate = n * days / replay_s

    # stockpyl on a sample of the same items
    sample = np.linspace(0, n - 1, min(args.sample, n)).astype(np.int64)
    sub = dataclasses.replace(net, items=net.items.take(pa.array(sample)))
    check = rp.replay(sub, [policy], days, demand=demand[sample], backorders=True,
                      record_levels=True)  # fmt: skip
    lead = np.maximum(np.ceil(rp.initial_state(sub).vendor_lead - 1e-9), 1).astype(int)
    s_units, S_units = sub.base_rate * 5.0, sub.base_rate * 20.0
    # imported before the clock starts
    import stockpyl.sim
    import stockpyl.supply_chain_network  # noqa: F401

    t0 = time.process_time()
    disagreements = 0
    for j in range(len(sample)):
        levels = stockpyl_levels(
            demand[sample[j]], float(s_units[j]), float(S_units[j]), int(lead[j]),
            float(sub.initial_stock[j]),
        )  # fmt: skip
        if not np.allclose(levels, check.levels["s-S"][:, j], atol=1e-6):
            disagreements += 1
    stockpyl_s = time.process_time() - t0
    stockpyl_rate = len(sample) * days / stockpyl_s
    ratio = replay_rate / stockpyl_rate

    # the resq policy: the heal cycle's planning every day, same items
    rdays = min(args.resq_days, days)
    t0 = time.process_time()
    rp.replay(net, ["resq"], rdays, demand=demand[:, :rdays])
    resq_s = time.process_time() - t0
    resq_rate = n * rdays / resq_s
    resq_vs_ss = replay_rate / resq_rate

    figures = {
        "items": n,
        "days": days,
        "orders": result.orders.num_rows,
        "replay_s": replay_s,
        "replay_sku_days_per_s": replay_rate,
        "replay_ns_per_sku_day": 1e9 / replay_rate,
        "stockpyl_sample": len(sample),
        "stockpyl_sku_days_per_s": stockpyl_rate,
        "stockpyl_us_per_sku_day": 1e6 / stockpyl_rate,
        "ratio_per_sku_day": ratio,
        "disagreements": disagreements,
        "resq_days": rdays,
        "resq_sku_days_per_s": resq_rate,
        "resq_cost_vs_s_S": resq_vs_ss,
    }
    print(f"(s, S) replay: {n:,} items x {days} days in {replay_s:.2f} s: "
          f"{replay_rate:,.0f} SKU-days/s ({1e9 / replay_rate:,.0f} ns per SKU-day)")  # fmt: skip
    per = 1e6 / stockpyl_rate
    print(f"stockpyl:      {len(sample)} items x {days} days in {stockpyl_s:.2f} s: "
          f"{stockpyl_rate:,.0f} SKU-days/s ({per:,.0f} us per SKU-day)")  # fmt: skip
    print(f"ratio per SKU-day: {ratio:,.0f}x stockpyl (target {args.target:,.0f}x); "
          f"{disagreements} disagreement(s) on the sample")  # fmt: skip
    print(f"resq policy:   {n:,} items x {rdays} days: {resq_rate:,.0f} SKU-days/s, "
          f"{resq_vs_ss:.1f}x the (s, S) replay's cost per SKU-day (target <= 5x)")  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(figures, fh, indent=2)
    if disagreements:
        return 1
    return 0 if ratio >= args.target else 2


if __name__ == "__main__":
    sys.exit(main())
