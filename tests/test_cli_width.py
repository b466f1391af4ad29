"""Tables fit the terminal (issue 14, item 10): at any width, columns of lesser use are
left out (and named) before any id, quantity, vendor, status or REAL/SIMULATED label is
cut; no line is wider than the terminal."""

from __future__ import annotations

import json
import re

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from resq.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"duckdb:///{tmp_path_factory.mktemp('width') / 'demo.duckdb'}"
    result = runner.invoke(app, ["--db", url, "demo"], env={"RESQ_DB": None})
    assert result.exit_code == 0, result.output
    return url


def _json(db: str, command: str) -> dict:
    result = runner.invoke(app, ["--db", db, "--json", command], env={"RESQ_DB": None})
    return json.loads(result.stdout)


ESSENTIAL = {
    "status": ("items", ("org_id", "sku", "status", "data_source")),
    "orders": ("orders", ("po_id", "org_id", "sku", "vendor", "status", "data_source")),
    "alerts": ("alerts", ("alert_id", "severity", "state", "org_id", "sku", "data_source")),
}


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
@pytest.mark.parametrize("width", [80, 100, 132])
@pytest.mark.parametrize("command", sorted(ESSENTIAL))
def test_every_essential_value_is_shown_whole(
    db: str, command: str, width: int, terminal: bool
) -> None:
    env = {"RESQ_DB": None, "COLUMNS": str(width), "NO_COLOR": "1"}
    if terminal:
        env["FORCE_COLOR"] = "1"
    result = runner.invoke(app, ["--db", db, command], env=env)
    assert result.exit_code == 0, result.output
    lines = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout).splitlines()
    # In a pipe, the one-line reasons stay whole lines for grep; tables still fit.
    framed = [ln for ln in lines if terminal or not ln.startswith("  why ")]
    assert all(cell_len(line.rstrip()) <= width for line in framed), result.stdout
    key, columns = ESSENTIAL[command]
    rows = _json(db, command)[key]
    assert rows
    table_lines = [ln for ln in lines if "…" not in ln or "left out" in ln]
    assert table_lines == lines, "a value was cut with an ellipsis"
    for row in rows:
        wanted = [str(row[c]) for c in columns]
        # one-word values on the row's line; a many-word name may wrap between its words
        single = [w for w in wanted if " " not in w]
        assert any(all(w in ln.split() for w in single) for ln in lines), (wanted, result.stdout)
        tokens = {t for ln in lines for t in ln.split()}
        assert all(part in tokens for w in wanted for part in w.split()), (wanted, result.stdout)


def test_what_is_left_out_is_named(db: str) -> None:
    result = runner.invoke(
        app, ["--db", db, "alerts"], env={"RESQ_DB": None, "COLUMNS": "80", "NO_COLOR": "1"}
    )
    assert "left out to fit 80 columns: " in result.stdout
    wide = runner.invoke(
        app, ["--db", db, "alerts"], env={"RESQ_DB": None, "COLUMNS": "250", "NO_COLOR": "1"}
    )
    assert "left out" not in wide.stdout
    assert "Message" in wide.stdout
