"""How long `resq status`, `resq orders` and `resq alerts` take on a national network, and
how much memory they hold, at two sizes: memory must stay flat in the number of rows.

    python benchmarks/listing.py                     # 1,000,000 items, 212,000 orders
    python benchmarks/listing.py --items 20000 --orders 5000 --alerts 5000 --json figures.json

Two DuckDB databases are built directly with SQL (not the seeder): one of ``--items`` items
(2,000 organizations) with ``--orders`` purchase orders and ``--alerts`` alerts, and one a
``--factor`` smaller. Each command runs in a fresh interpreter (as a user types it), once
with its default limit, once as ``--all`` (the table) and once as ``--all --jsonl``, its
output read through a pipe; the table shows its
wall time and its peak memory (VmHWM, read from /proc/self/status when it exits), the rows
it printed, and two ratios in the same run: to the floor (a bare ``import duckdb, pyarrow``)
and to the same command on the smaller database (flat memory: close to 1). Figures are
printed, never asserted; the script exits 1 only if a command fails or prints the wrong
number of rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

CHILD = (
    "import atexit, os, sys\n"
    "def _peak():\n"
    "    with open('/proc/self/status') as f:\n"
    "        kb = next(int(l.split()[1]) for l in f if l.startswith('VmHWM:'))\n"
    "    with open(os.environ['RESQ_BENCH_PEAK'], 'w') as out:\n"
    "        out.write(str(kb))\n"
    "atexit.register(_peak)\n"
)
"""Prepended to what runs in the child: its own high-water mark, written as it exits (the
peak of that process, not of the parent or of anything it waited for)."""

RESQ = CHILD + "from resq._console import main\nsys.exit(main())\n"
FLOOR = CHILD + "import duckdb, pyarrow\n"

MODES = ("default", "--all --jsonl", "--all")
"""How each command runs: its default limit, every row as JSON Lines, every row as a table."""

SECTORS = ("HOSPITAL", "PDS", "NGO")
CITIES = ("Bangalore", "Delhi", "Mumbai", "Chennai", "Kolkata")
ORDER_STATUSES = ("PLACED", "PENDING_APPROVAL", "PENDING_VENDOR", "RECEIVED", "CANCELLED")


def build(path: Path, items: int, orders: int, alerts: int) -> str:
    """A resq database of ``items`` items over 2,000 organizations (fewer when small),
    ``orders`` purchase orders and ``alerts`` alerts, made with set-based SQL."""
    import resq

    url = f"duckdb:///{path}"
    orgs = max(1, min(2000, items // 10))
    skus = max(1, items // orgs)
    backend = resq.connect(url)
    try:
        backend.init()
        backend.execute(
            "INSERT INTO organizations (org_id, org_name, sector, city, data_source, updated_at) "
            "SELECT printf('ORG-%05d', i), printf('Organization %05d', i), "
            f"list_extract({list(SECTORS)}, (i % 3) + 1), "
            f"list_extract({list(CITIES)}, (i % {len(CITIES)}) + 1), 'SIMULATED', now() "
            f"FROM range({orgs}) AS t(i)"
        )
        backend.execute(
            "INSERT INTO inventory_master (org_id, sku, item_name, category, current_stock, "
            "daily_consumption, lead_time_days, data_source, updated_at) "
            "SELECT printf('ORG-%05d', o), printf('SKU-%04d', s), printf('Item %04d', s), "
            "'OTHER', (hash(o, s) % 1000)::DOUBLE, ((hash(s, o) % 50) + 1)::DOUBLE, "
            "((hash(o + s) % 5) + 1)::DOUBLE, 'SIMULATED', now() "
            f"FROM range({orgs}) AS a(o), range({skus}) AS b(s)"
        )
        backend.execute(
            "INSERT INTO purchase_orders (po_id, idempotency_key, org_id, sku, vendor, quantity, "
            "unit_price, status, priority, rank, reason_days_remaining, data_source, cycle_id, "
            "created_at, updated_at) "
            "SELECT printf('PO-%08d', i), printf('K-%08d', i), printf('ORG-%05d', i % "
            f"{orgs}), printf('SKU-%04d', i % {skus}), 'Blinkit', 10.0, 1.0, "
            f"list_extract({list(ORDER_STATUSES)}, (hash(i) % 5)::BIGINT + 1), (i % 3) + 1, "
            "i % 1000, "
            "1.0, 'SIMULATED', printf('CY-%04d', i // 1000), "
            "TIMESTAMP '2026-12-01' + to_minutes((i // 1000)::BIGINT), now() "
            f"FROM range({orders}) AS t(i)"
        )
        backend.execute(
            "INSERT INTO alerts (alert_id, dedup_key, org_id, sku, kind, severity, message, "
            "state, data_source, cycle_id, created_at) "
            "SELECT printf('AL-%08d', i), printf('D-%08d', i), printf('ORG-%05d', i % "
            f"{orgs}), printf('SKU-%04d', i % {skus}), 'CRITICAL_STOCK', "
            "list_extract(['SEV1', 'SEV2', 'SEV3', 'SEV4'], (hash(i) % 4)::BIGINT + 1), "
            "printf('Item %d is low', i), list_extract(['OPEN', 'ACKED', 'RESOLVED'], "
            "(hash(i + 1) % 3)::BIGINT + 1), 'SIMULATED', printf('CY-%04d', i // 1000), "
            "TIMESTAMP '2026-12-01' + to_minutes((i // 1000)::BIGINT) "
            f"FROM range({alerts}) AS t(i)"
        )
        backend.refresh_signals()
        backend.refresh_analysis(force=True)
    finally:
        backend.close()
    return url


@dataclass
class Figure:
    command: str
    size: str
    rows: int
    wall_s: float
    peak_mb: float
    floor_ratio_s: float = 0.0
    floor_ratio_mb: float = 0.0
    small_ratio_mb: float = 0.0


def measure(script: str, args: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, peak MB, lines printed and the text printed (kept only when short) of
    one child, its stdout read through a pipe as `resq ... | wc -l` would (the text: its
    first and last 64 KiB)."""
    with tempfile.NamedTemporaryFile(suffix=".peak", delete=False) as f:
        peak_file = f.name
    env = {**os.environ, "RESQ_BENCH_PEAK": peak_file, "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("RESQ_DB", None)
    env.pop("RESQ_ORG", None)
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None and child.stderr is not None
    lines, kept, tail = 0, bytearray(), b""
    for chunk in iter(lambda: child.stdout.read(1 << 20), b""):  # type: ignore[union-attr]
        lines += chunk.count(b"\n")
        if len(kept) < 1 << 16:
            kept += chunk
        else:
            tail = (tail + chunk)[-(1 << 16) :]
    err = child.stderr.read()
    code = child.wait()
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"{' '.join(args)} failed ({code}):\n{err.decode()}")
    peak = int(Path(peak_file).read_text()) / 1024
    os.unlink(peak_file)
    return wall, peak, lines, (kept + tail).decode(errors="replace")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=212_000)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--factor", type=int, default=10, help="how much smaller the second")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--dir", type=Path, help="where to build the databases (a temp dir)")
    parser.add_argument(
        "--reuse", action="store_true", help="use the databases already built in --dir"
    )
    parser.add_argument(
        "--target-lag",
        type=float,
        default=86_400.0,
        help="the analysis's target lag for the commands, seconds (default a day: the "
        "analysis stays fresh and the figures are the listing's own; 0 refreshes it on "
        "every read)",
    )
    parser.add_argument(
        "--commands",
        default="status,orders,alerts",
        help="which listing commands to run, comma-separated (default: status,orders,alerts)",
    )
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help=f"which ways to run each command, comma-separated (default: {','.join(MODES)}); "
        "a table of every row renders slowly",
    )
    ns = parser.parse_args()

    from resq.cli._listing import DEFAULT_LIMIT

    modes = [m.strip() for m in ns.modes.split(",") if m.strip()]
    if unknown := set(modes) - set(MODES):
        parser.error(f"unknown modes {sorted(unknown)}; choose from {', '.join(MODES)}")

    workdir = Path(ns.dir or tempfile.mkdtemp(prefix="resq-listing-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = {
        "large": (ns.items, ns.orders, ns.alerts),
        "small": (ns.items // ns.factor, ns.orders // ns.factor, ns.alerts // ns.factor),
    }
    urls, build_s = {}, {}
    for size, (items, orders, alerts) in sizes.items():
        start = time.perf_counter()
        path = workdir / f"{size}.duckdb"
        if ns.reuse and path.exists():
            urls[size] = f"duckdb:///{path}"
            build_s[size] = 0.0
            print(f"reusing {size}: {path}", flush=True)
            continue
        urls[size] = build(path, items, orders, alerts)
        build_s[size] = time.perf_counter() - start
        print(
            f"built {size}: {items:,} items, {orders:,} orders, {alerts:,} alerts "
            f"in {build_s[size]:.1f} s",
            flush=True,
        )

    floor_s, floor_mb, _, _ = measure(FLOOR, [])
    figures: list[Figure] = []
    failures: list[str] = []
    chosen = {c.strip() for c in ns.commands.split(",") if c.strip()}
    kinds = [(c, k) for c, k in (("status", 0), ("orders", 1), ("alerts", 2)) if c in chosen]
    if unknown := chosen - {c for c, _ in kinds}:
        parser.error(f"unknown commands {sorted(unknown)}; choose from status, orders, alerts")
    for command, kind in kinds:
        for mode in modes:
            by_size: dict[str, Figure] = {}
            for size in ("small", "large"):
                url = f"{urls[size]}?target_lag={ns.target_lag:g}"
                args = ["--db", url, command, *([] if mode == "default" else mode.split())]
                wall, peak, rows, text = measure(RESQ, args)
                total = sizes[size][kind]
                if mode == "--all --jsonl" and rows != total:
                    failures.append(f"{command} {mode} on {size}: {rows} rows, not {total}")
                if mode == "--all" and (rows < total or "more not shown" in text):
                    failures.append(f"{command} {mode} on {size}: {rows} lines for {total} rows")
                if mode == "default" and f"… {total - DEFAULT_LIMIT:,} more not shown" not in text:
                    failures.append(f"{command} on {size}: no exact 'more not shown' line")
                figure = Figure(f"resq {command} {mode}".strip(), size, rows, wall, peak)
                figure.floor_ratio_s = wall / floor_s
                figure.floor_ratio_mb = peak / floor_mb
                by_size[size] = figure
            by_size["large"].small_ratio_mb = by_size["large"].peak_mb / by_size["small"].peak_mb
            by_size["small"].small_ratio_mb = 1.0
            figures.extend(by_size.values())

    print(f"\nfloor: python -c 'import duckdb, pyarrow': {floor_s:.2f} s, {floor_mb:.0f} MB\n")
    header = (
        f"{'command':<28} {'size':<6} {'rows out':>10} {'wall s':>8} {'peak MB':>8} "
        f"{'x floor s':>9} {'x floor MB':>10} {'MB vs small':>11}"
    )
    print(header)
    print("-" * len(header))
    for f in figures:
        print(
            f"{f.command:<28} {f.size:<6} {f.rows:>10,} {f.wall_s:>8.2f} {f.peak_mb:>8.0f} "
            f"{f.floor_ratio_s:>9.1f} {f.floor_ratio_mb:>10.1f} {f.small_ratio_mb:>11.2f}"
        )
    for problem in failures:
        print(f"FAILED: {problem}")
    if ns.json:
        ns.json.write_text(
            json.dumps(
                {
                    "sizes": {
                        k: dict(zip(("items", "orders", "alerts"), v, strict=True))
                        for k, v in sizes.items()
                    },
                    "build_s": build_s,
                    "floor_s": floor_s,
                    "floor_mb": floor_mb,
                    "figures": [asdict(f) for f in figures],
                    "failures": failures,
                },
                indent=2,
            )
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
