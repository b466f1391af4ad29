"""The command line's promises about itself: a fast, light `--help`, help with an example
on every command, a generated reference (docs/cli.md) that is never stale, and choices
that match the library's."""

from __future__ import annotations

import json
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
    assert [s.value for s in OrderStatus] == [s.value for s in CoreOrderStatus]
