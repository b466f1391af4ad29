"""Commands on a DuckDB warehouse run without pandas, as on a base install
(resq.cli._without_pandas): they import none of it, and they print exactly what they print
with pandas loaded. The dashboard, deploy and Snowflake warehouses keep it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from resq.cli import _without_pandas as wp

# Runs the console entry point with these arguments, then says whether pandas was loaded.
_PROBE = """
import sys
{preload}
from resq.cli import main
sys.argv = ["resq", *{args!r}]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
sys.stdout.flush()
print("\\nPANDAS", "pandas" in sys.modules, file=sys.stderr)
raise SystemExit(code)
"""


def _run(args: list[str], *, preload: bool = False) -> tuple[str, bool]:
    code = _PROBE.format(args=args, preload="import pandas" if preload else "")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr.rsplit("PANDAS", 1)[1].strip() == "True"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = f"duckdb:///{tmp_path_factory.mktemp('nopandas') / 'demo.duckdb'}"
    _, loaded = _run(["--db", db, "demo"])
    assert not loaded, "the demo ran without pandas"
    return db


@pytest.mark.parametrize(
    "args",
    [
        ["heal", "--json"],
        ["status", "--json"],
        ["orders", "--json"],
        ["alerts", "--json"],
        ["audit", "--verify", "--json"],
        ["validate", "--json"],
        ["forecast", "--json"],
    ],
)
def test_a_command_on_duckdb_imports_no_pandas_and_prints_the_same(
    demo_db: str, args: list[str]
) -> None:
    if args[0] == "heal":
        out, loaded = _run(["--db", demo_db, *args])
        assert not loaded
        assert "cycle_id" in json.loads(out)
        return
    out, loaded = _run(["--db", demo_db, *args])
    assert not loaded
    with_pandas, preloaded = _run(["--db", demo_db, *args], preload=True)
    assert preloaded
    assert _timeless(json.loads(out)) == _timeless(json.loads(with_pandas))


def _timeless(value: object) -> object:
    """The document without the moments it was made at (computed_at and the like)."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if not k.endswith("_at")}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def test_a_hidden_pandas_fails_as_a_missing_one(monkeypatch: pytest.MonkeyPatch) -> None:
    finder = wp._Hidden("heal")
    with pytest.raises(ModuleNotFoundError, match="runs without pandas") as caught:
        finder.find_spec("pandas", None)
    assert caught.value.name == "pandas"
    with pytest.raises(ModuleNotFoundError):
        finder.find_spec("pandas.core.frame", None)
    assert finder.find_spec("pandasx", None) is None
    assert finder.find_spec("numpy", None) is None


@pytest.mark.parametrize(
    ("args", "env", "url"),
    [
        ([], None, "duckdb:///resq.duckdb"),
        (["--db", "duckdb://"], None, "duckdb://"),
        (["--db=snowflake://a"], None, "snowflake://a"),
        (["heal", "--db", "x", "--db", "duckdb:///y"], None, "duckdb:///y"),
        (["--", "--db", "snowflake://a"], None, "duckdb:///resq.duckdb"),
        ([], "snowflake://env", "snowflake://env"),
        (["--db", "duckdb:///z"], "snowflake://env", "duckdb:///z"),
    ],
)
def test_the_warehouse_url_is_read_as_the_parser_reads_it(
    monkeypatch: pytest.MonkeyPatch, args: list[str], env: str | None, url: str
) -> None:
    if env is None:
        monkeypatch.delenv("RESQ_DB", raising=False)
    else:
        monkeypatch.setenv("RESQ_DB", env)
    assert wp.warehouse_url(args) == url


@pytest.mark.parametrize(
    ("command", "args", "hidden"),
    [
        ("heal", ["--db", "duckdb:///x.duckdb"], True),
        ("dashboard", ["--db", "duckdb:///x.duckdb"], False),
        ("deploy", [], False),
        ("status", ["--db", "snowflake://acct/db/schema"], False),
        ("status", ["--db", "DuckDB://"], True),
    ],
)
def test_pandas_is_kept_where_a_library_uses_it(
    monkeypatch: pytest.MonkeyPatch, command: str, args: list[str], hidden: bool
) -> None:
    monkeypatch.delenv("RESQ_DB", raising=False)
    saved = list(sys.meta_path)
    monkeypatch.delitem(sys.modules, "pandas", raising=False)
    try:
        assert wp.hide_pandas(command, args) is hidden
        assert any(isinstance(f, wp._Hidden) for f in sys.meta_path) is hidden
    finally:
        sys.meta_path[:] = saved


def test_nothing_is_hidden_once_pandas_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas  # noqa: F401

    saved = list(sys.meta_path)
    try:
        assert wp.hide_pandas("heal", ["--db", "duckdb://"]) is False
        assert sys.meta_path == saved
    finally:
        sys.meta_path[:] = saved


def test_a_help_page_is_the_same_without_pandas(tmp_path: Path) -> None:
    out, loaded = _run(["heal", "--help"])
    assert not loaded
    with_pandas, _ = _run(["heal", "--help"], preload=True)
    assert out == with_pandas
