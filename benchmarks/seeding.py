"""`resq seed` at national scale: wall time and peak memory of the seeding process, in one run.

    python benchmarks/seeding.py                          # 1000 orgs x 1000 skus, 30 days
    python benchmarks/seeding.py --orgs 2000 --skus 500
    python benchmarks/seeding.py --orgs 20 --skus 50 --json figures.json   # quick

Steps:

1. A fresh DuckDB file is created with ``resq init`` (not timed).
2. Measured, in a child process of its own: ``resq seed --orgs N --skus-per-org K --days D
   --no-progress --json`` through the CLI's own entry point. The child reports its peak
   resident memory from ``VmHWM`` in ``/proc/self/status`` as it exits (``ru_maxrss``
   survives ``exec``, so a child could report its parent's peak), and the parent times it
   from start to exit, interpreter start-up included.
3. The answer is checked: every table has the rows the network should have, every row is
   SIMULATED, and each item's history ends at the stock the inventory holds now.

Targets (printed PASS/FAIL, never asserted): seeding 1000 x 1000 items with 30 days of
history (31M rows) within 30 s (issue 13), and peak memory under 1.5 GB at 1M items
(issue 14). A busy machine stretches the time, not the memory: compare with the rows per
second printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_S = 30.0
TARGET_PEAK_MB = 1536.0


def _vm_hwm_mb() -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def child(argv: list[str], report: Path) -> int:
    """Run ``resq`` with ``argv`` in this process and write its exit code and VmHWM."""
    from resq.cli import app

    code = 0
    try:
        app(args=argv, prog_name="resq")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        report.write_text(json.dumps({"exit": code, "peak_mb": _vm_hwm_mb()}))
    return code


def check(db: Path, orgs: int, skus: int, days: int, counts: dict[str, int]) -> list[str]:
    """What is wrong with the seeded database (nothing, when the answer is right)."""
    import duckdb

    problems = []
    expected = {
        "organizations": orgs,
        "inventory_master": orgs * skus,
        "stock_history": orgs * skus * days,
    }
    con = duckdb.connect(str(db), read_only=True)
    try:
        for table, n in expected.items():
            if not days and table == "stock_history":
                continue
            got = con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            if got != n or counts.get(table) != n:
                problems.append(
                    f"{table}: {got} rows stored, {counts.get(table)} reported, {n} due"
                )
        for table in ("organizations", "inventory_master", "vendors", "vendor_catalog"):
            real = con.execute(
                f"SELECT COUNT(*) FROM {table} WHERE data_source <> 'SIMULATED'"
            ).fetchone()[0]
            if real:
                problems.append(f"{table}: {real} rows not labelled SIMULATED")
        if days:
            off = con.execute(
                "SELECT COUNT(*) FROM (SELECT org_id, sku, arg_max(stock, day) AS last "
                "FROM stock_history GROUP BY ALL) h JOIN inventory_master i USING (org_id, sku) "
                "WHERE abs(h.last - i.current_stock) > 1e-6 * (1 + i.current_stock)"
            ).fetchone()[0]
            if off:
                problems.append(f"stock_history: {off} items whose history does not end at stock")
    finally:
        con.close()
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=1000, help="organizations (default 1000)")
    parser.add_argument("--skus", type=int, default=1000, help="items per organization (1000)")
    parser.add_argument("--days", type=int, default=30, help="days of history per item (30)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, help="where the database file goes (temp dir)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        return child(args.child, args.report)

    work = Path(args.workdir or tempfile.mkdtemp(prefix="resq-seed-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "seed.duckdb"
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)
    url = f"duckdb:///{db}"
    env = dict(os.environ)
    me = [sys.executable, str(Path(__file__).resolve())]
    init = subprocess.run(
        [*me, "--report", str(work / "init.json"), "--child", "--db", url, "init"],
        capture_output=True, text=True, env=env, timeout=args.timeout, check=False,
    )  # fmt: skip
    if init.returncode:
        print(init.stdout + init.stderr)
        return 1
    seed_args = ["--db", url, "--json", "seed", "--orgs", str(args.orgs),
                 "--skus-per-org", str(args.skus), "--days", str(args.days),
                 "--seed", str(args.seed), "--no-progress"]  # fmt: skip
    report = work / "seed.json"
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [*me, "--report", str(report), "--child", *seed_args],
        capture_output=True, text=True, env=env, timeout=args.timeout, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if proc.returncode:
        print(proc.stdout + proc.stderr)
        return 1
    peak = json.loads(report.read_text())["peak_mb"]
    counts = json.loads(proc.stdout)["rows"]
    rows = sum(counts.values())
    problems = check(db, args.orgs, args.skus, args.days, counts)

    items = args.orgs * args.skus
    at_scale = items >= 1_000_000
    print(f"resq seed --orgs {args.orgs} --skus-per-org {args.skus} --days {args.days}")
    print(f"  {items:,} items, {rows:,} rows written ({counts.get('stock_history', 0):,} history)")
    print(f"  wall time     {seconds:8.1f} s   ({rows / seconds:,.0f} rows/s)")
    print(f"  cpu time      {cpu:8.1f} s   (user + system of the seeding process: on a busy "
          "machine the wall time stretches, this does not)")  # fmt: skip
    verdict = ("PASS" if seconds <= TARGET_S else "FAIL") if at_scale else "n/a below 1M items"
    print(f"  target        <= {TARGET_S:.0f} s at 1,000,000 items: {verdict}")
    if peak is not None:
        verdict = ("PASS" if peak <= TARGET_PEAK_MB else "FAIL") if at_scale else "n/a here"
        print(f"  peak memory   {peak:8.0f} MB  (VmHWM of the seeding process; target "
              f"<= {TARGET_PEAK_MB:.0f} MB at 1M items: {verdict})")  # fmt: skip
    print(f"  answer check  {'OK' if not problems else '; '.join(problems)}")
    figures: dict[str, Any] = {
        "orgs": args.orgs,
        "skus": args.skus,
        "days": args.days,
        "items": items,
        "rows": counts,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "cpu_s": cpu,
        "peak_mb": peak,
        "target_s": TARGET_S,
        "target_peak_mb": TARGET_PEAK_MB,
        "problems": problems,
    }
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    if not args.workdir:
        for leftover in work.glob("*"):
            if leftover.is_file():
                leftover.unlink()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
