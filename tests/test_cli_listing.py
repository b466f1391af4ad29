"""Listing commands at scale (issue 14, item 1), through the CLI: a default limit, most urgent
first (the ordering of resq.core.urgency), --limit N and --all, a line with the exact count
of rows left out, --json as one document with a ``listing`` object, --jsonl as one object
per line, and heal showing only its most urgent orders and where the rest are."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner, Result

import resq
from resq.cli import app
from resq.cli._listing import DEFAULT_LIMIT, TableStream, stream_document
from resq.cli.heal import HEAL_TOP
from resq.core import urgency
from test_backend_listing import CYCLES, insert_orders, synthetic_orders

ENV = {"RESQ_DB": None, "RESQ_ORG": None, "RESQ_ACTOR": None, "NO_COLOR": None, "COLUMNS": "250"}
runner = CliRunner()
ORGS = 40  # 40 organizations x 3 items: more items than the default limit


def run(db: str, *args: str, code: int = 0) -> Result:
    result = runner.invoke(app, ["--db", db, *args], env=ENV)
    assert result.exit_code == code, (args, result.exit_code, result.stdout, result.stderr)
    return result


def lines(db: str, *args: str) -> list[dict[str, Any]]:
    out = run(db, *args, "--jsonl").stdout
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """init + seed (40 organizations), one heal, and 150 synthetic orders of other cycles."""
    path = tmp_path_factory.mktemp("listing") / "big.duckdb"
    db = f"duckdb:///{path}"
    run(db, "init")
    run(db, "seed", "--orgs", str(ORGS), "--days", "0")
    run(db, "heal")
    backend = resq.connect(db)
    try:
        insert_orders(backend, synthetic_orders(150, seed=3))
    finally:
        backend.close()
    return path


@pytest.fixture
def db(template: Path, tmp_path: Path) -> str:
    target = tmp_path / "big.duckdb"
    shutil.copy(template, target)
    wal = template.with_name(template.name + ".wal")
    if wal.exists():
        shutil.copy(wal, target.with_name(target.name + ".wal"))
    return f"duckdb:///{target}"


def _all(db: str, table: str, order: tuple[str, ...]) -> list[dict[str, Any]]:
    backend = resq.connect(db)
    try:
        return backend.read(table, order_by=order).to_pylist()
    finally:
        backend.close()


def test_status_shows_the_default_limit_and_the_exact_count_left_out(db: str) -> None:
    items = _all(db, "stock_analysis", urgency.ITEMS)
    assert len(items) > DEFAULT_LIMIT
    doc = json.loads(run(db, "--json", "status").stdout)
    assert len(doc["items"]) == DEFAULT_LIMIT
    assert sum(doc["counts"].values()) == len(items)
    more = len(items) - DEFAULT_LIMIT
    assert doc["listing"] == {
        "limit": DEFAULT_LIMIT,
        "shown": DEFAULT_LIMIT,
        "total": len(items),
        "more": more,
        "see_more": "use --limit N or --all to see them",
    }
    text = run(db, "status").stdout
    assert f"… {more:,} more not shown ({len(items):,} in all); use --limit N or --all" in text
    shown = [line for line in text.splitlines() if re.match(r"(HOSP|PDS|NGO)-", line)]
    assert len(shown) == DEFAULT_LIMIT
    assert f"{len(items)} items:" in text, "the summary counts every item"


def test_limit_and_all(db: str) -> None:
    items = _all(db, "stock_analysis", urgency.ITEMS)
    assert len(json.loads(run(db, "--json", "status", "--limit", "7").stdout)["items"]) == 7
    every = json.loads(run(db, "--json", "status", "--all").stdout)
    assert len(every["items"]) == len(items)
    assert every["listing"]["more"] == 0 and every["listing"]["limit"] is None
    text = run(db, "status", "--all").stdout
    assert "more not shown" not in text
    assert len([ln for ln in text.splitlines() if re.match(r"(HOSP|PDS|NGO)-", ln)]) == len(items)


@pytest.mark.parametrize(
    "args",
    [("--limit", "0"), ("--limit", "-3"), ("--limit", "5", "--all"), ("--limit", "x")],
)
@pytest.mark.parametrize("command", ["status", "orders", "alerts"])
def test_a_bad_limit_is_a_usage_error(db: str, command: str, args: tuple[str, ...]) -> None:
    result = run(db, command, *args, code=2)
    assert "--limit" in result.stderr


def test_jsonl_is_one_object_per_line_and_the_count_goes_to_stderr(db: str) -> None:
    orders = _all(db, "purchase_orders", urgency.ORDERS)
    result = run(db, "orders", "--jsonl", "--limit", "12")
    parsed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["po_id"] for o in parsed] == [o["po_id"] for o in orders[:12]]
    assert all(isinstance(o["reason"], dict) for o in parsed), "reasons are objects"
    assert result.stderr.strip() == (
        f"… {len(orders) - 12:,} more not shown ({len(orders):,} in all); "
        "use --limit N or --all to see them"
    )
    every = run(db, "orders", "--jsonl", "--all")
    assert len(every.stdout.splitlines()) == len(orders)
    assert every.stderr == ""


def test_json_of_a_listing_is_one_document_streamed(db: str) -> None:
    alerts = _all(db, "alerts", urgency.ALERTS)
    doc = json.loads(run(db, "--json", "alerts", "--limit", "3").stdout)
    assert set(doc) == {"org", "filters", "alerts", "listing"}
    assert [a["alert_id"] for a in doc["alerts"]] == [a["alert_id"] for a in alerts[:3]]
    assert doc["listing"]["more"] == len(alerts) - 3


_KINDS = {
    "status": ("stock_analysis", urgency.ITEMS, "items", lambda r: (r["org_id"], r["sku"])),
    "orders": ("purchase_orders", urgency.ORDERS, "orders", lambda r: r["po_id"]),
    "alerts": ("alerts", urgency.ALERTS, "alerts", lambda r: r["alert_id"]),
}


@pytest.mark.slow
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    command=st.sampled_from(sorted(_KINDS)),
    limit=st.none() | st.integers(1, 200),
    org=st.none() | st.sampled_from(["HOSP-BLR-001", "PDS-BLR-001", "NGO-DEL-001"]),
)
def test_every_listing_is_the_urgency_order_cut_at_the_limit(
    template: Path, command: str, limit: int | None, org: str | None
) -> None:
    db = f"duckdb:///{template}?read_only=true"
    table, order, _, ident = _KINDS[command]
    rows = _all(db, table, order)
    if org is not None:
        rows = [r for r in rows if r["org_id"] == org]
    expected = sorted(rows, key=lambda r: urgency.sort_keys(command_kind(command), r))
    args = (["--org", org] if org else []) + [command, "--jsonl"]
    args += ["--all"] if limit is None else ["--limit", str(limit)]
    got = [json.loads(line) for line in run(db, *args).stdout.splitlines()]
    assert [ident(r) for r in got] == [ident(r) for r in expected][:limit]


def command_kind(command: str) -> str:
    return {"status": "items", "orders": "orders", "alerts": "alerts"}[command]


def test_orders_cycle_lists_exactly_that_cycles_orders(db: str) -> None:
    every = _all(db, "purchase_orders", urgency.ORDERS)
    healed = {o["cycle_id"] for o in every} - set(CYCLES)
    (cycle,) = healed  # the one heal of the template
    got = lines(db, "orders", "--cycle", cycle, "--all")
    assert [o["po_id"] for o in got] == [o["po_id"] for o in every if o["cycle_id"] == cycle]
    assert {o["cycle_id"] for o in got} == {cycle}
    doc = json.loads(run(db, "--json", "orders", "--cycle", cycle, "--limit", "2").stdout)
    assert doc["cycle_id"] == cycle and len(doc["orders"]) == 2
    assert doc["listing"]["total"] == sum(1 for o in every if o["cycle_id"] == cycle)


def test_orders_of_an_unknown_cycle_is_an_error(db: str) -> None:
    result = run(db, "orders", "--cycle", "CY-NOT-A-CYCLE", code=2)
    assert "no heal cycle 'CY-NOT-A-CYCLE'" in result.stderr


def test_heal_shows_its_counts_and_only_its_most_urgent_orders(db: str) -> None:
    run(db, "chaos", "stock", "HOSP-BLR-001", "OXY-CYL", "--to", "0")
    backend = resq.connect(db)
    try:  # every item at zero: the next cycle orders far more than it shows
        backend.execute("UPDATE inventory_master SET current_stock = 0")
        backend._mark_changed()
    finally:
        backend.close()
    text = run(db, "heal").stdout
    cycle = re.search(r"Heal cycle (CY-[0-9A-F]+)", text).group(1)  # type: ignore[union-attr]
    ordered = lines(db, "orders", "--cycle", cycle, "--all")
    assert len(ordered) > HEAL_TOP
    why = re.findall(r"why (PO-[0-9A-F]+)", text)
    assert why == [o["po_id"] for o in ordered[:HEAL_TOP]], "the most urgent, in order"
    more = len(ordered) - HEAL_TOP
    assert (
        f"… {more:,} more not shown ({len(ordered):,} in all); "
        f"see them all: resq orders --cycle {cycle} --all"
    ) in text
    assert "Orders created" in text and "Alerts raised" in text


def test_heal_json_keeps_the_report_and_says_where_the_rest_are(db: str) -> None:
    doc = json.loads(run(db, "--json", "heal", "--limit", "3").stdout)
    assert {"cycle_id", "created", "covered", "stale", "orders", "listing"} <= set(doc)
    cycle = doc["cycle_id"]
    ordered = lines(db, "orders", "--cycle", cycle, "--all")
    assert [o["po_id"] for o in doc["orders"]] == [o["po_id"] for o in ordered[:3]]
    assert doc["listing"]["total"] == doc["created"] == len(ordered)
    if doc["listing"]["more"]:
        assert doc["listing"]["see_more"] == f"see them all: resq orders --cycle {cycle} --all"


# ---------------------------------------------------------------------- the writers

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None)
@given(
    head=st.dictionaries(st.text(max_size=4), _values, max_size=3),
    rows=st.lists(st.dictionaries(st.text(max_size=4), _values, max_size=3), max_size=4),
)
def test_a_streamed_document_is_exactly_the_whole_one(
    head: dict[str, Any], rows: list[dict[str, Any]]
) -> None:
    head = {k: v for k, v in head.items() if k not in {"rows", "listing"}}
    out = io.StringIO()
    stream_document(out, head, "rows", iter(rows), lambda n: {"listing": {"shown": n}})
    whole = {**head, "rows": rows, "listing": {"shown": len(rows)}}
    assert out.getvalue() == json.dumps(whole, indent=2, ensure_ascii=False) + "\n"


def test_a_table_printed_in_batches_has_one_header_and_every_row() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, highlight=False)
    stream = TableStream(console, [("po_id", "PO"), ("org_id", "Org")], title="Orders")
    stream.add([{"po_id": "PO-1", "org_id": "H"}])
    stream.add([{"po_id": "PO-22222", "org_id": "HOSP-LONG"}, {"po_id": "PO-3", "org_id": "N"}])
    text = out.getvalue()
    assert text.count("Orders") == 1 and text.count("PO ") == 1
    assert [ln.split()[0] for ln in text.splitlines()[2:] if ln.strip().startswith("PO-")] == [
        "PO-1",
        "PO-22222",
        "PO-3",
    ]
    assert stream.rows == 3


_cells = st.one_of(
    st.none(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(
    columns=st.dictionaries(
        st.sampled_from(["a", "b", "reason", "details"]), st.lists(_cells, min_size=2, max_size=2)
    ),
    when=st.lists(st.none() | st.just("2026-12-01T10:00:00"), min_size=2, max_size=2),
)
def test_json_rows_convert_as_jsonable_does(
    columns: dict[str, list[Any]], when: list[str | None]
) -> None:
    import datetime as dt

    import pyarrow as pa

    from resq.cli import _text
    from resq.cli._listing import json_rows

    arrays = {}
    for name, values in columns.items():
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
    arrays["created_at"] = pa.array(
        [None if w is None else dt.datetime.fromisoformat(w) for w in when], pa.timestamp("us")
    )
    batch = pa.RecordBatch.from_pydict(arrays)
    assert list(json_rows([batch])) == [_text.jsonable(r) for r in batch.to_pylist()]
