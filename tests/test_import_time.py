"""Startup: `import resq` and `import resq.core` stay light (no pandas, no Snowpark, no
Streamlit, no warehouse driver). Wall time is measured and printed, never asserted: test
machines are too noisy for that; the 0.3 s budget is watched by hand (`pytest -s`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "snowflake.snowpark", "snowflake.connector", "streamlit")


def _modules_after(statement: str) -> tuple[set[str], float]:
    """The modules a fresh interpreter has loaded after ``statement``, and how long the
    statement took, measured inside that interpreter."""
    code = (
        "import json, sys, time\n"
        "before = set(sys.modules)\n"
        "t = time.perf_counter()\n"
        f"{statement}\n"
        "elapsed = time.perf_counter() - t\n"
        "print(json.dumps({'modules': sorted(sys.modules), 'elapsed': elapsed}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return set(result["modules"]), float(result["elapsed"])


def _loaded(modules: set[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


@pytest.mark.parametrize(
    ("statement", "banned"),
    [
        ("import resq", (*HEAVY, "duckdb", "resq.core", "resq.backends")),
        ("import resq.core", (*HEAVY, "duckdb")),
    ],
)
def test_import_does_not_load_heavy_modules(statement: str, banned: tuple[str, ...]) -> None:
    modules, elapsed = _modules_after(statement)
    print(f"\n{statement!r}: {elapsed * 1000:.0f} ms in a fresh interpreter")
    assert _loaded(modules, "resq")  # the statement really ran
    loaded = [name for name in banned if _loaded(modules, name)]
    assert not loaded, f"{statement!r} imported {loaded}"


def test_the_check_itself_can_see_a_heavy_import() -> None:
    # guard against a vacuous test: an import made in the child does show up (pyarrow is
    # a base dependency that a bare interpreter has not loaded)
    bare, _ = _modules_after("pass")
    modules, _ = _modules_after("import pyarrow")
    assert not _loaded(bare, "pyarrow")
    assert _loaded(modules, "pyarrow")


def test_importtime_report() -> None:
    """Print the slowest imports under `import resq.core` (for the person tuning startup)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import resq.core"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    rows = []  # (self µs, cumulative µs, module)
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            rows.append((int(parts[0]), int(parts[1]), parts[2].strip()))
    cumulative = {name: cum for _, cum, name in rows}
    assert "resq.core" in cumulative
    print(f"\nimport resq.core: {cumulative['resq.core'] / 1000:.0f} ms; slowest by own time:")
    for own, _, name in sorted(rows, reverse=True)[:8]:
        print(f"  {own / 1000:7.1f} ms  {name}")
