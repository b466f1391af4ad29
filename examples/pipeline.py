"""Embed resq in a pipeline: load your own data (labelled REAL), heal, export the orders.

Run: python examples/pipeline.py [database-url] [output.csv]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.csv as pacsv

import resq

DATA = Path(__file__).parent / "data"


def main(url: str = "duckdb://", out: str = "orders.csv") -> int:
    backend = resq.connect(url)
    backend.init()
    # Parents first: inventory rows must name a known organization, catalog rows a vendor.
    for table in ("organizations", "vendors", "vendor_catalog", "inventory"):
        report = backend.load(table, DATA / f"{table}.csv", actor="pipeline")
        print(f"loaded {report.rows} {report.table} rows ({report.data_source})")

    engine = resq.SelfHealingEngine(backend, actor="pipeline")
    result = engine.heal()
    print(f"cycle {result.cycle_id}: {result.created} orders created, {result.covered} covered")

    orders = backend.read("purchase_orders", order_by=("rank",))
    pacsv.write_csv(orders.drop_columns(["reason"]), out)
    print(f"wrote {orders.num_rows} orders to {out}")
    backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
