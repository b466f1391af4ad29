"""Startup: `import resq` and `import resq.core` stay light (no pandas, no Snowpark, no
Streamlit, no warehouse driver, no sqlglot); `resq --help` loads no driver either, and the
read commands on a database whose SQL is already rendered load neither sqlglot nor
pydantic. Wall time is measured and printed, never asserted: test machines are too noisy
for that; benchmarks/cli_latency.py measures it against a floor in one run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
        ("import resq", (*HEAVY, "duckdb", "sqlglot", "pydantic", "resq.core", "resq.backends")),
        ("import resq.core", (*HEAVY, "duckdb", "sqlglot")),
    ],
)
def test_import_does_not_load_heavy_modules(statement: str, banned: tuple[str, ...]) -> None:
    modules, elapsed = _modules_after(statement)
    print(f"\n{statement!r}: {elapsed * 1000:.0f} ms in a fresh interpreter")
    assert _loaded(modules, "resq")  # the statement really ran
    loaded = [name for name in banned if _loaded(modules, name)]
    assert not loaded, f"{statement!r} imported {loaded}"


def test_resq_core_imports_a_rule_only_when_it_is_first_read() -> None:
    import resq.core

    modules, _ = _modules_after("import resq.core")
    rules = ("resq.core.models", "resq.core.ordering", "resq.core.alerts", "pyarrow")
    assert [m for m in rules if _loaded(modules, m)] == []
    # urgency names and sorts the status codes only: it loads them, not their rules
    modules, _ = _modules_after("from resq.core import urgency")
    assert _loaded(modules, "resq.core.codes")
    assert [m for m in rules if m != "pyarrow" and _loaded(modules, m)] == []
    assert not _loaded(modules, "pyarrow.compute")
    modules, _ = _modules_after("from resq.core import PurchaseOrder, plan_orders")
    assert _loaded(modules, "resq.core.models") and _loaded(modules, "resq.core.ordering")
    # every public name still resolves, to the object its module defines
    for name in resq.core.__all__:
        home = resq.core._HOME[name]
        assert getattr(resq.core, name) is getattr(sys.modules[home], name), name
    assert set(resq.core._HOME) == set(resq.core.__all__)
    with pytest.raises(AttributeError, match="no_such_rule"):
        resq.core.no_such_rule  # noqa: B018


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


def _resq_modules(args: list[str], env: dict[str, str]) -> set[str]:
    """The modules loaded by the time ``resq <args>`` finished, in a fresh interpreter."""
    code = (
        "import json, sys\n"
        f"sys.argv = ['resq', *{args!r}]\n"
        "from resq.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_help_loads_no_driver_no_sqlglot_no_pydantic() -> None:
    import os

    modules = _resq_modules(["--help"], dict(os.environ))
    assert _loaded(modules, "typer")
    banned = (*HEAVY, "duckdb", "pyarrow", "sqlglot", "pydantic", "resq.backends")
    assert [m for m in banned if _loaded(modules, m)] == []


READ_PATH_FREE = (
    "resq.core.ordering",
    "resq.core.alerts",
    "resq.core.validation",
    "resq.core.audit",
    "resq.core.sectors",
    "resq.engine",
)
"""Rules a read command (``resq status``, ``resq orders``, ``resq alerts``) does not load."""


@pytest.mark.slow
def test_read_commands_on_a_rendered_database_load_neither_sqlglot_nor_pydantic(
    tmp_path: Path,
) -> None:
    import os

    env = {**os.environ, "RESQ_CACHE_DIR": str(tmp_path / "cache")}
    db = ["--db", f"duckdb:///{tmp_path / 'demo.duckdb'}"]
    first = _resq_modules([*db, "demo"], env)  # renders everything once
    assert _loaded(first, "sqlglot")
    for command in (["status"], ["orders"], ["alerts"], ["status", "--critical"], ["heal"]):
        _resq_modules([*db, *command], env)  # a query shape new to the cache renders once
        modules = _resq_modules([*db, *command], env)
        assert _loaded(modules, "duckdb")
        # (heal builds Arrow arrays, and pyarrow then imports pandas when it is installed)
        heavy = HEAVY if command != ["heal"] else ()
        # a read command calls no Arrow compute kernel (importing them costs ~70 ms)
        lazy = ("pyarrow.compute",) if command != ["heal"] else ()
        # nor Acero (~40 ms to import): the vendor join and the label counts are numpy's
        lazy += ("pyarrow.acero", "pyarrow.dataset")
        loaded = [m for m in ("sqlglot", "pydantic", *heavy, *lazy) if _loaded(modules, m)]
        assert loaded == [], f"resq {' '.join(command)} loaded {loaded}"
        if command[0] in ("status", "orders", "alerts"):
            # nor the rules: the backend and the listing need the status codes only
            rules = [m for m in READ_PATH_FREE if _loaded(modules, m)]
            assert rules == [], f"resq {' '.join(command)} loaded {rules}"
    # with the cache off, the same command renders afresh (and so needs sqlglot)
    cold = _resq_modules([*db, "status"], {**env, "RESQ_CACHE_DIR": "off"})
    assert _loaded(cold, "sqlglot")


def test_a_bare_interpreter_loads_nothing_from_the_installed_packages() -> None:
    """Every Python process of the environment (each CLI call, each test subprocess) pays
    for what installed ``.pth`` files import at start-up. A dependency that ships one that
    imports its package (sphinx-toolbox does, pulling in sphinx: about 0.4 s) must not be
    installed; `make` installs stockpyl without its declared dependencies for that reason."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded = set(done.stdout.split()) - set(sys.stdlib_module_names) - {"__main__"}
    # setuptools' distutils shim and the snowflake namespace package are tiny
    assert loaded <= {"_distutils_hack", "snowflake"}, sorted(loaded)
