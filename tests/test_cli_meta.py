"""The command line's promises about itself: a fast, light `--help`, help with an example
on every command, a generated reference (docs/cli.md) that is never stale, and choices
that match the library's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from resq.cli import docgen

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "snowflake.snowpark", "streamlit")


def test_help_imports_neither_pandas_snowpark_nor_streamlit() -> None:
    code = f"""
import json, sys
sys.argv = ["resq", "--help"]
import resq.cli
try:
    resq.cli.main()
except SystemExit as exc:
    code = exc.code
loaded = [m for m in {HEAVY!r} + ("duckdb", "resq.engine") if m in sys.modules]
print(json.dumps({{"exit": code, "loaded": loaded}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last == {"exit": 0, "loaded": []}, last
    assert "Usage: resq" in result.stdout


def test_python_dash_m_resq_is_the_resq_command(tmp_path: Path) -> None:
    """``python -m resq`` runs the same command as the console script: its help, a command
    on a database, and a usage error with the same exit code."""
    env = {**os.environ, "RESQ_CACHE_DIR": "off", "COLUMNS": "200"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "resq", *args], capture_output=True, text=True, env=env
        )

    shown = run("--help")
    assert shown.returncode == 0 and "Usage: resq" in shown.stdout
    db = f"duckdb:///{tmp_path / 'm.duckdb'}"
    assert run("--db", db, "init").returncode == 0
    listed = run("--db", db, "--json", "status")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["items"] == []
    wrong = run("--no-such-option")
    assert wrong.returncode == 2 and "No such option" in wrong.stderr


def test_docs_cli_md_is_generated_from_the_code() -> None:
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == docgen.render(), (
        "docs/cli.md is stale: run `python scripts/gen_cli_docs.py` and commit the result"
    )


def test_the_generator_script_checks_freshness() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_cli_docs.py", "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


COMMANDS = list(docgen.commands())


@pytest.mark.parametrize(
    ("command", "ctx"), COMMANDS, ids=[ctx.command_path for _, ctx in COMMANDS]
)
def test_every_command_has_help_with_an_example(command: object, ctx: object) -> None:
    path = ctx.command_path  # type: ignore[attr-defined]
    help_text = (command.help or "").strip()  # type: ignore[attr-defined]
    assert help_text, f"{path} has no help"
    assert "Examples:" in help_text and "```\nresq" in help_text, f"{path} has no example"
    for param in command.get_params(ctx):  # type: ignore[attr-defined]
        if param.name == "help":
            continue
        assert getattr(param, "help", None), f"{path}: {param.name} has no help"
    assert f"`{path}`" in docgen.render(), f"{path} is missing from docs/cli.md"


def test_the_reference_lists_every_command_of_the_issue() -> None:
    paths = {ctx.command_path for _, ctx in COMMANDS}
    expected = {
        "resq init",
        "resq seed",
        "resq load",
        "resq status",
        "resq validate",
        "resq chaos stock",
        "resq chaos vendor",
        "resq chaos weather",
        "resq chaos demand",
        "resq heal",
        "resq orders",
        "resq orders approve",
        "resq orders cancel",
        "resq orders receive",
        "resq orders set-quantity",
        "resq alerts",
        "resq ack",
        "resq audit",
        "resq health",
        "resq demo",
        "resq watch",
        "resq dashboard",
        "resq deploy",
    }
    assert expected <= paths, expected - paths


def test_cli_choices_match_the_library() -> None:
    from resq.cli.orders import OrderStatus
    from resq.cli.stock import Sector
    from resq.core.ordering import OrderStatus as CoreOrderStatus
    from resq.core.validation import SECTORS

    assert tuple(s.value for s in Sector) == SECTORS
    assert OrderStatus is CoreOrderStatus  # the CLI offers the library's own codes
