"""Throughput of ``resq.core.demand.forecast`` against statsforecast's models item by item.

Forecasts ``--items`` random items (default 1,000,000) of ``--days`` days (default 90) with
``resq.core.demand.forecast``: classification, the method each class gets (SES, Croston SBA,
TSB), MASE on the last 7 days, the refit on the whole history and the standard deviation.
The items are processed in chunks of ``--chunk`` (default 100,000) so the history matrix
stays small in memory; the same seeded generator makes every chunk.

In the same run, statsforecast (the oracle) forecasts ``--loop-sample`` of those items
(default 2,000) one at a time with the model resq chose for each (on its in-stock days).
The script checks both agree to 1e-6 on the sample, prints items per second for both and
their ratio, and exits non-zero on any disagreement or when the columnar path is less than
``--target`` (default 2) times faster. Not part of pytest: run
``python benchmarks/forecast.py``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from resq.core import demand


def make_chunk(rng: np.random.Generator, n: int, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Items with demand from smooth to lumpy, and a few stock-out days."""
    zero_share = rng.choice([0.0, 0.2, 0.5, 0.8], size=n)[:, None]
    size = rng.gamma(shape=rng.choice([0.7, 4.0], size=n)[:, None], scale=10.0, size=(n, days))
    history = np.where(rng.random((n, days)) < zero_share, 0.0, np.round(size, 1))
    stockout = rng.random((n, days)) < 0.05
    return history, stockout


def oracle(models: object, method: str, y: np.ndarray, alpha: float) -> float:
    model = {
        "SES": lambda: models.SimpleExponentialSmoothing(alpha=alpha),  # type: ignore[attr-defined]
        "CROSTON_SBA": lambda: models.CrostonSBA(),  # type: ignore[attr-defined]
        "TSB": lambda: models.TSB(alpha_d=alpha, alpha_p=alpha),  # type: ignore[attr-defined]
    }[method]()
    return float(model.forecast(y, h=1)["mean"][0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--loop-sample", type=int, default=2_000)
    parser.add_argument("--alpha", type=float, default=demand.DEFAULT_ALPHA)
    parser.add_argument("--target", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    elapsed = 0.0
    done = 0
    methods = np.zeros(4, dtype=np.int64)
    first = None
    while done < args.items:
        n = min(args.chunk, args.items - done)
        history, stockout = make_chunk(rng, n, args.days)
        t = time.perf_counter()
        result = demand.forecast(
            history, stockout, alpha=args.alpha, alpha_d=args.alpha, alpha_p=args.alpha
        )
        elapsed += time.perf_counter() - t
        methods += np.bincount(result.method_code + 1, minlength=4)
        if first is None:
            first = (history, stockout, result)
        done += n
    rate = done / elapsed
    print(f"columnar: {done:,} items x {args.days} days in {elapsed:.2f} s = {rate:,.0f} items/s")
    print(
        "methods: "
        + ", ".join(
            f"{name} {count:,}"
            for name, count in zip(["none", *demand.METHOD_CODES], methods, strict=True)
        )
    )

    from statsforecast import models  # the oracle; imported after the timed part

    assert first is not None
    history, stockout, result = first
    sample = np.flatnonzero(result.method_code >= 0)[: args.loop_sample]
    oracle(models, "SES", np.ones(3), args.alpha)  # any compilation before the clock starts
    problems = []
    t = time.perf_counter()
    for i in sample:
        y = history[i][~stockout[i]]
        want = oracle(models, str(result.method[i]), y, args.alpha)
        if not abs(want - result.demand[i]) <= 1e-6:
            problems.append(f"item {i} {result.method[i]}: resq {result.demand[i]!r}, {want!r}")
    loop_time = time.perf_counter() - t
    loop_rate = len(sample) / loop_time if loop_time else float("inf")
    print(f"statsforecast, one item at a time: {len(sample):,} items in {loop_time:.2f} s = "
          f"{loop_rate:,.0f} items/s (one model fit per item, no MASE)")  # fmt: skip
    print(f"agreement on the sample: {len(sample) - len(problems):,} of {len(sample):,}")
    for p in problems[:10]:
        print(f"  disagreement: {p}")
    ratio = rate / loop_rate
    ok = ratio >= args.target and not problems
    print(f"ratio: {ratio:.1f}x (target {args.target:g}x): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
