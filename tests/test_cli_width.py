"""Tables fit the terminal (issue 14, item 10): at any width, columns of lesser use are
left out (and named) before any id, quantity, vendor, status or REAL/SIMULATED label is
cut; no line is wider than the terminal."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


def _rendered_fits(t: object, console: object) -> bool:
    """The oracle: render the table unconstrained and take its widest line."""
    import io

    from rich.console import Console

    probe = Console(
        file=io.StringIO(),
        width=100_000,
        force_terminal=console.is_terminal,  # type: ignore[attr-defined]
        color_system=None,
        highlight=False,
    )
    probe.print(t)
    lines = probe.file.getvalue().splitlines()  # type: ignore[attr-defined]
    return max((cell_len(line.rstrip()) for line in lines), default=0) <= console.width  # type: ignore[attr-defined]


_cell = st.text(alphabet=st.sampled_from([*"ab z-_.:0", "é", "中", "🚑", "…", "\t"]), max_size=30)


@settings(max_examples=150, deadline=None)
@given(
    cells=st.lists(st.lists(_cell, min_size=3, max_size=3), min_size=1, max_size=6),
    title=st.one_of(st.none(), _cell),
    width=st.integers(min_value=10, max_value=140),
    terminal=st.booleans(),
    tight=st.booleans(),
    fold=st.booleans(),
)
def test_measuring_a_table_decides_its_fit_as_rendering_it_would(
    cells: list[list[str]], title: str | None, width: int, terminal: bool, tight: bool, fold: bool
) -> None:
    import io

    from rich.console import Console

    from resq.cli import _render

    console = Console(file=io.StringIO(), width=width, force_terminal=terminal)
    columns = [("org_id", "Org"), ("reason", "Why"), ("data_source", "Source")]
    t = _render._build(cells, columns, [0, 1, 2], title, console, tight=tight, fold=fold)
    assert _render._fits(t, console) == _rendered_fits(t, console)


_keys = st.sampled_from(["org_id", "item_name", "message", "source_label", "vendor", "sku"])


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    keys=st.lists(_keys, min_size=1, max_size=5, unique=True),
    width=st.integers(min_value=5, max_value=160),
    terminal=st.booleans(),
    tight=st.booleans(),
    fold=st.booleans(),
)
def test_the_quick_fit_bound_never_says_fits_when_rich_would_not(
    data: st.DataObject, keys: list[str], width: int, terminal: bool, tight: bool, fold: bool
) -> None:
    """The upper bound that skips rich's measure of a table that surely fits: whenever it
    says a layout fits, rich's own measure and the rendering agree, for any cells and
    headers (wide characters, tabs, line breaks), prose and label columns included."""
    import io

    from rich.console import Console

    from resq.cli import _render

    multiline = st.text(
        alphabet=st.sampled_from(
            [*"ab z-.:0", "é", "中", "🚑", "\t", "\n", "\r", "\x0b", "\x0c", "\x07", "\x08"]
        )
    )
    headers = data.draw(st.lists(multiline.filter(bool), min_size=len(keys), max_size=len(keys)))
    columns = list(zip(keys, headers, strict=True))
    cells = data.draw(
        st.lists(st.lists(multiline, min_size=len(keys), max_size=len(keys)), max_size=5)
    )
    shown = data.draw(st.lists(st.sampled_from(range(len(keys))), min_size=1, unique=True))
    shown.sort()
    console = Console(file=io.StringIO(), width=width, force_terminal=terminal)
    t = _render._build(cells, columns, shown, None, console, tight=tight, fold=fold)
    widest = _render._widest(cells, columns)
    if _render._surely_fits(t, widest, shown, console):
        assert _render._fits(t, console)
        assert _rendered_fits(t, console)


def test_a_table_that_surely_fits_is_not_measured_by_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of the bound: a listing that fits its width is laid out once, and a table
    too wide for it is still measured (and narrowed) by rich."""
    import io

    from rich.console import Console

    from resq.cli import _render

    measured: list[int] = []
    real = _render._fits
    monkeypatch.setattr(_render, "_fits", lambda t, c: measured.append(1) or real(t, c))
    rows = [{"org_id": "HOSP-BLR-001", "city": "Bangalore", "sku": "OXY-CYL"}] * 3
    columns = [("org_id", "Org"), ("city", "City"), ("sku", "SKU")]
    wide = Console(file=io.StringIO(), width=200)
    t = _render.table(rows, columns, console=wide)
    assert measured == [] and len(t.columns) == 3
    narrow = Console(file=io.StringIO(), width=24)
    t = _render.table(rows, columns, console=narrow)
    assert measured and [c.header for c in t.columns] == ["Org", "SKU"]


_raw = st.text(
    alphabet=st.sampled_from([*"ab z-:0", "中", "🚑", "\t", "\n", "\r", "\x0b", "\x0c", "\x1b"]),
    max_size=24,
)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(_raw, _raw, _raw), min_size=1, max_size=4),
    headers=st.tuples(_raw, _raw, _raw),
    width=st.integers(min_value=8, max_value=90),
    terminal=st.booleans(),
)
def test_a_table_is_laid_out_alike_with_or_without_the_quick_fit(
    rows: list[tuple[str, str, str]],
    headers: tuple[str, str, str],
    width: int,
    terminal: bool,
) -> None:
    """The same columns, caption and text whether the bound short-cuts the measure or not,
    for raw text as a formatter may return it (control codes included: rich drops a
    carriage return, so it must not split a line in the bound)."""
    import io

    from rich.console import Console

    from resq.cli import _render

    keys = ("org_id", "city", "item_name")
    columns = list(zip(keys, headers, strict=True))
    data = [dict(zip(keys, r, strict=True)) for r in rows]
    formats = {k: str for k in keys}  # raw text, not the cleaned cell text

    def rendered(quick: bool) -> tuple[list[str], str | None, str]:
        console = Console(file=io.StringIO(), width=width, force_terminal=terminal)
        real = _render._surely_fits
        if not quick:
            _render._surely_fits = lambda *a: False  # type: ignore[assignment]
        try:
            t = _render.table(data, columns, formats=formats, console=console)
        finally:
            _render._surely_fits = real  # type: ignore[assignment]
        console.print(t)
        return [str(c.header) for c in t.columns], t.caption, console.file.getvalue()  # type: ignore[attr-defined]

    assert rendered(True) == rendered(False)
