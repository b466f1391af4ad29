"""The audit work of a first heal cycle at 3M rows, alone: digests and label counts.

    python benchmarks/audit_digests.py                   # 636k orders, 479k alerts, 3000 orgs
    python benchmarks/audit_digests.py --orders 100000 --alerts 80000 --orgs 500
    python benchmarks/audit_digests.py --unsorted        # rows not read back in digest order

A heal cycle's ``heal.actions`` events hold, per organization, a SHA-256 over the
canonical content of the orders and alerts it created and how many of them carried each
provenance label (resq.core.audit). This times exactly that work on synthetic tables
shaped like what a 3,000 x 1,000 first cycle reads back (the columns of
``resq.core.audit.read_columns``, every provenance combination, some NULLs), then the
recomputation ``resq audit --verify`` does over the same rows (``check_content``). For
each function it prints the CPU and wall time (CPU is the steadier figure on a busy
machine) and the Python heap peak (tracemalloc; Arrow buffers are not Python objects).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa


def synthetic(kind: str, n: int, orgs: int, seed: int) -> pa.Table:
    """``n`` rows of ``purchase_orders`` or ``alerts`` as a cycle creates them."""
    from resq.core import audit, provenance

    rng = np.random.default_rng(seed)
    org_codes = rng.integers(0, orgs, n)
    org = pa.array([f"ORG-{i:05d}" for i in range(orgs)]).take(pa.array(org_codes))
    ids = pa.array([f"{kind[:2].upper()}-{i:016x}" for i in rng.permutation(n)])
    sku = pa.array([f"SKU-{i:04d}" for i in range(1000)]).take(pa.array(rng.integers(0, 1000, n)))
    created = pa.array(
        np.datetime64("2026-12-02T06:00:00", "us") + rng.integers(0, 10**6, n).astype("m8[us]")
    )
    src = pa.array(["REAL", "SIMULATED", None]).take(
        pa.array(rng.choice(3, size=(4, n), p=[0.6, 0.35, 0.05]).ravel())
    )
    parts = {c: src.slice(i * n, n) for i, c in enumerate(provenance.COLUMNS.values())}
    common = {
        "org_id": org,
        "sku": sku,
        "data_source": pa.array(["REAL", "SIMULATED"]).take(pa.array(rng.integers(0, 2, n))),
        "cycle_id": pa.array(["CY-20261202T060000-abcdef"] * n),
        "created_at": created,
    }
    if kind == "orders":
        cols: dict[str, Any] = {
            "po_id": ids,
            "idempotency_key": pa.array([f"{i:064x}" for i in rng.integers(0, 2**62, n)]),
            "vendor": pa.array(["Blinkit", "Zepto", None]).take(pa.array(rng.integers(0, 3, n))),
            "quantity": pa.array(np.round(rng.uniform(0, 500, n), 3)),
            "priority": pa.array(rng.integers(1, 5, n).astype(np.int32)),
            "rank": pa.array(rng.integers(1, 1000, n)),
        }
        names = audit.read_columns("purchase_orders")
    else:
        cols = {
            "alert_id": ids,
            "dedup_key": pa.array([f"{i:040x}" for i in rng.integers(0, 2**62, n)]),
            "po_id": pa.array([f"PO-{i:016x}" for i in rng.integers(0, 2**62, n)]),
            "kind": pa.array(["STOCK_CRITICAL", "VENDOR_DOWN"]).take(
                pa.array(rng.integers(0, 2, n))
            ),
            "severity": pa.array(["CRITICAL", "WARNING"]).take(pa.array(rng.integers(0, 2, n))),
            "message": pa.array(["Oxygen cylinders: 0.8 days left · reorder now"] * n),
        }
        names = audit.read_columns("alerts")
    cols.update(common, **parts)
    return pa.table({name: cols[name] for name in names})


def measure(name: str, fn: Callable[[], Any]) -> dict[str, Any]:
    """CPU and wall time of one call, then the Python heap peak of another under
    tracemalloc (which slows Python-heavy code, so it is not timed)."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "function": name,
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "python_peak_mb": round(peak / 2**20, 1),
        "groups": len(result) if hasattr(result, "__len__") else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=636_000)
    parser.add_argument("--alerts", type=int, default=479_000)
    parser.add_argument("--orgs", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--unsorted",
        action="store_true",
        help="rows in random order (the cycle reads them sorted by organization and id)",
    )
    parser.add_argument("--no-verify", action="store_true", help="skip check_content")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args()

    from resq.core import audit

    orders = synthetic("orders", args.orders, args.orgs, args.seed)
    alerts = synthetic("alerts", args.alerts, args.orgs, args.seed + 1)
    if not args.unsorted:  # as resq.core.audit.content_query reads them back
        orders = orders.sort_by([("org_id", "ascending"), ("po_id", "ascending")])
        alerts = alerts.sort_by([("org_id", "ascending"), ("alert_id", "ascending")])
    cycle = orders.column("cycle_id")[0].as_py()
    digests = audit.content_digests(orders, audit.ORDER_CONTENT)
    alert_digests = audit.content_digests(alerts, audit.ALERT_CONTENT)
    order_labels, alert_labels = audit.label_counts(orders), audit.label_counts(alerts)
    events = [
        {
            "seq": i + 1,
            "org_id": org,
            "entity_id": cycle,
            "details": audit.heal_details(
                cycle,
                digests.get(org),
                alert_digests.get(org),
                {"orders": order_labels.get(org), "alerts": alert_labels.get(org)},
            ),
        }
        for i, org in enumerate(sorted(set(digests) | set(alert_digests)))
    ]
    runs = [
        ("content_digests(orders)", lambda: audit.content_digests(orders, audit.ORDER_CONTENT)),
        ("content_digests(alerts)", lambda: audit.content_digests(alerts, audit.ALERT_CONTENT)),
        ("label_counts(orders)", lambda: audit.label_counts(orders)),
        ("label_counts(alerts)", lambda: audit.label_counts(alerts)),
        ("check_content (verify)", lambda: audit.check_content(events, orders, alerts)),
    ][: 4 if args.no_verify else 5]
    print(
        f"{args.orders:,} orders, {args.alerts:,} alerts, {args.orgs:,} organizations,"
        f" {'unsorted' if args.unsorted else 'sorted as read back'} (pyarrow {pa.__version__})"
    )
    total = 0.0
    for name, fn in runs:
        row = measure(name, fn)
        if name.startswith("check_content"):
            assert fn().ok, "the recomputation disagrees with the digests just computed"
        else:
            total += row["cpu_s"]
        print(json.dumps(row) if args.json else _line(row))
    print(f"heal-cycle audit work (digests + label counts): {total:.3f} s CPU")


def _line(row: dict[str, Any]) -> str:
    groups = "" if row["groups"] is None else f"   ({row['groups']} groups)"
    return (
        f"{row['function']:<26} {row['cpu_s']:>7.3f} s CPU {row['wall_s']:>7.3f} s wall"
        f"   python peak {row['python_peak_mb']:>7.1f} MB{groups}"
    )


if __name__ == "__main__":
    main()
