"""Hostile loads: a grammar of bad cells over every input kind.

Each generated organizations table mixes good and hostile cells: records whose keys differ,
unknown keys, null-marker strings (``NA``, ``NULL``, ``nan``), booleans and huge integers in
number columns, NaN and infinities, control characters in names, sector codes in any case
and padding, categoricals. An independent oracle says what each cell must become; a load
either round-trips every value exactly as the oracle says or fails naming exactly the bad
cells (row and column), with nothing written.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strategies
from resq.backends.warehouse import WarehouseBackend, read_input
from resq.core.validation import MAX_BUDGET, MAX_COUNT, table_spec, validate_table
from resq.errors import ValidationError

SPEC = table_spec("organizations")
MARKERS = ("NA", "N/A", "NULL", "nan", "None")
BAD = object()  # the oracle's verdict for a cell the load must refuse


@dataclass(frozen=True)
class Cell:
    """A generated value and what a load must make of it (BAD: refused), with and without
    null markers named."""

    value: Any
    plain: Any
    marked: Any = None

    def expect(self, markers: bool) -> Any:
        if markers and isinstance(self.value, str) and self.value in MARKERS:
            return self.marked
        return self.plain


def _keep(value: Any) -> Cell:
    return Cell(value, value, value)


_printable = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12).filter(
    lambda s: s.strip() != "" and not strategies.has_control(s) and s not in MARKERS
)

#: names (ids, cities): kept exactly; markers are values unless named; controls refused.
names = st.one_of(
    _printable.map(lambda s: Cell(s, s, s)),
    st.sampled_from(MARKERS).map(lambda m: Cell(m, m, BAD)),  # required: a marker is empty
    strategies.control_texts.map(lambda s: Cell(s, BAD, BAD)),
    st.sampled_from(["", "   "]).map(lambda s: Cell(s, BAD, BAD)),
)
#: free text: kept exactly, control characters included (only empty is refused).
free_text = st.one_of(
    st.text(st.characters(exclude_categories=["Cs", "Cc", "Zl", "Zp"]), max_size=12)
    .filter(lambda s: s.strip() != "" and s not in MARKERS)
    .map(_keep),
    st.sampled_from(MARKERS).map(lambda m: Cell(m, m, BAD)),
    st.sampled_from(["tab\there", "esc\x1b[0m"]).map(_keep),
)
#: sector codes: any case and space padding normalize; anything else is refused.
sectors = st.one_of(
    st.tuples(
        st.sampled_from(["HOSPITAL", "PDS", "NGO"]),
        st.sampled_from([str.lower, str.upper, str.title, str.swapcase]),
        st.sampled_from(["", " ", "  "]),
        st.sampled_from(["", " "]),
    ).map(lambda t: Cell(t[2] + t[1](t[0]) + t[3], t[0], t[0])),
    st.sampled_from(["CLINIC", "HOSPITALS", "N G O", "ＰＤＳ", "NGO\t", "\u202ePDS"]).map(
        lambda s: Cell(s, BAD, BAD)
    ),
    st.sampled_from(MARKERS).map(lambda m: Cell(m, BAD, BAD)),
)
#: whole numbers 0..MAX_COUNT; booleans, fractions, NaN, out of range and beyond 64 bits
#: are refused; a missing value is NULL.
counts = st.one_of(
    st.integers(0, int(MAX_COUNT)).map(_keep),
    st.none().map(lambda _: Cell(None, None, None)),
    st.sampled_from(
        [
            -1,
            int(MAX_COUNT) + 1,
            2**53 + 1,
            2**63,
            2**64 + 7,
            -(2**70),
            True,
            False,
            1.5,
            math.nan,
            math.inf,
            "abc",
            "1,000",
        ]
    ).map(lambda v: Cell(v, BAD, BAD)),
    st.sampled_from(MARKERS).map(lambda m: Cell(m, BAD, None)),
)
#: amounts 0..MAX_BUDGET as exact floats; the same hostile values refused.
budgets = st.one_of(
    st.floats(0, MAX_BUDGET, allow_nan=False).map(_keep),
    st.integers(0, 10**6).map(lambda v: Cell(v, float(v), float(v))),
    st.none().map(lambda _: Cell(None, None, None)),
    st.sampled_from(
        [
            -0.5,
            MAX_BUDGET * 2,
            2**60,
            2**64,
            True,
            False,
            math.nan,
            math.inf,
            -math.inf,
            "1e400",
            "true",
        ]
    ).map(lambda v: Cell(v, BAD, BAD)),
    st.sampled_from(MARKERS).map(lambda m: Cell(m, BAD, None)),
)
zones = st.one_of(
    st.booleans().map(_keep),
    st.none().map(lambda _: Cell(None, False, False)),
    st.sampled_from(["maybe", 2]).map(lambda v: Cell(v, BAD, BAD)),
)


@st.composite
def org_tables(draw: st.DrawFn) -> list[dict[str, Cell]]:
    """Rows of cells: required columns always present, optional ones sometimes left out
    (a key missing from a record), an unknown key in some rows."""
    n = draw(st.integers(1, 5))
    rows = []
    used: set[str] = set()
    for i in range(n):
        org = draw(names)
        # distinct ids: duplicate keys are another test's class
        if org.plain is not BAD and org.value in used:
            org = _keep(f"{org.value}#{i}")
        used.add(org.value)
        row = {"org_id": org, "org_name": draw(free_text), "sector": draw(sectors)}
        row["city"] = draw(names)
        for column, strategy in (
            ("phh_persons", counts),
            ("budget_cap", budgets),
            ("disaster_zone", zones),
        ):
            if draw(st.booleans()):
                row[column] = draw(strategy)
        if draw(st.integers(0, 9)) == 0:
            row["colour"] = Cell("red", BAD, BAD)
        rows.append(row)
    return rows


# --- rendering one table as each input kind ----------------------------------------------


def _values(rows: list[dict[str, Cell]]) -> list[dict[str, Any]]:
    return [{k: c.value for k, c in r.items()} for r in rows]


def _columns(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    names = list(dict.fromkeys(k for r in records for k in r))
    return {k: [r.get(k) for r in records] for k in names}


def _text(v: Any) -> str:
    """A value as a text cell. A float NaN is written ``NaN``: the marker ``nan`` means
    the text a person typed, and the test keeps the two apart."""
    if isinstance(v, float):
        return "NaN" if v != v else repr(v)
    return v if isinstance(v, str) else str(v)


def _arrow_column(values: list[Any]) -> pa.Array:
    """An Arrow column the way a careful producer makes one: one type when the values
    have one, else text (an Arrow column cannot mix types)."""
    kinds = {type(v) for v in values if v is not None}
    if len(kinds) <= 1 or kinds <= {int, float}:
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    return pa.array([None if v is None else _text(v) for v in values], pa.string())


def _arrow(records: list[dict[str, Any]], tmp: Path) -> Any:
    return pa.table({k: _arrow_column(v) for k, v in _columns(records).items()})


def _dictionary(records: list[dict[str, Any]], tmp: Path) -> Any:
    table = _arrow(records, tmp)
    return pa.table(
        {
            name: col.dictionary_encode() if pa.types.is_string(col.type) else col
            for name, col in zip(table.column_names, table.columns, strict=True)
        }
    )


def _parquet(records: list[dict[str, Any]], tmp: Path) -> Any:
    path = tmp / "orgs.parquet"
    pq.write_table(_dictionary(records, tmp), path)
    return path


def _pandas(records: list[dict[str, Any]], tmp: Path) -> Any:
    import pandas as pd

    return pd.DataFrame(_columns(records), dtype=object)


def _categorical(records: list[dict[str, Any]], tmp: Path) -> Any:
    frame = _pandas(records, tmp)
    for name in ("org_id", "sector", "city"):
        if all(isinstance(v, str) for v in frame[name]):
            frame[name] = frame[name].astype("category")
    return frame


def _csv(records: list[dict[str, Any]], tmp: Path) -> Any:
    path = tmp / "orgs.csv"
    columns = _columns(records)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n")
        out.writerow(columns)
        for i in range(len(records)):
            out.writerow(["" if v[i] is None else _text(v[i]) for v in columns.values()])
    return path


def _json(records: list[dict[str, Any]], tmp: Path) -> Any:
    path = tmp / "orgs.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def _ndjson(records: list[dict[str, Any]], tmp: Path) -> Any:
    path = tmp / "orgs.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _records(records: list[dict[str, Any]], tmp: Path) -> Any:
    return [dict(r) for r in records]


KINDS: dict[str, Callable[[list[dict[str, Any]], Path], Any]] = {
    "records": _records,
    "json": _json,
    "ndjson": _ndjson,
    "csv": _csv,
    "parquet": _parquet,
    "arrow": _arrow,
    "arrow-dictionary": _dictionary,
    "pandas": _pandas,
    "pandas-categorical": _categorical,
}


def _oracle(
    rows: list[dict[str, Cell]], kind: str, markers: bool
) -> tuple[set[tuple[int, str]], list[dict[str, Any]]]:
    """The bad cells, and the rows a clean load must store."""
    bad: set[tuple[int, str]] = set()
    out = []
    for i, row in enumerate(rows, start=1):
        stored: dict[str, Any] = {"phh_persons": None, "budget_cap": None, "disaster_zone": False}
        for column, cell in row.items():
            expect = cell.expect(markers)
            if (
                kind.startswith("pandas")
                and isinstance(cell.value, float)
                and cell.value != cell.value
            ):
                expect = None  # pandas' own convention: NaN is a missing value
            if expect is BAD:
                bad.add((i, column))
            else:
                stored[column] = expect
        out.append(stored)
    return bad, out


def _check(rows: list[dict[str, Cell]], kind: str, markers: bool, load: Callable[..., Any]) -> Any:
    """Load ``rows`` as ``kind``; assert exactly the oracle's bad cells are named, or that
    every value came through as the oracle says. Returns the stored rows (or None)."""
    bad, expected = _oracle(rows, kind, markers)
    try:
        stored = load()
    except ValidationError as exc:
        got = {(i.row, i.column) for i in exc.issues}
        assert all(i.row is not None and i.column for i in exc.issues), exc
        assert got == bad, (kind, exc)
        assert "nothing was written" in str(exc)
        return None
    assert not bad, (kind, "loaded although these cells are bad", bad)
    for want, have in zip(expected, stored, strict=True):
        for column, value in want.items():
            assert have[column] == value or (value != value and have[column] != have[column]), (
                kind,
                column,
                have[column],
                value,
            )
    return stored


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=org_tables(), markers=st.booleans())
def test_hostile_tables_load_exactly_or_name_every_bad_cell(
    kind: str, rows: list[dict[str, Cell]], markers: bool, tmp_path: Path
) -> None:
    data = KINDS[kind](_values(rows), tmp_path)

    def load() -> list[dict[str, Any]]:
        raw = read_input(data, SPEC, MARKERS if markers else ())
        return validate_table(SPEC, raw).to_pylist()

    _check(rows, kind, markers, load)


def _contents(backend: WarehouseBackend) -> dict[str, Any]:
    return {
        "organizations": sorted(
            (tuple(sorted((k, repr(v)) for k, v in r.items() if k != "updated_at")))
            for r in backend.read("organizations").to_pylist()
        ),
        "audit": backend.sql("SELECT COUNT(*) AS n, MAX(seq) AS s FROM audit_log").to_pylist(),
    }


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["records", "csv", "pandas-categorical", "parquet"])
@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=org_tables(), markers=st.booleans())
def test_a_hostile_load_writes_all_or_nothing(
    backend: WarehouseBackend,
    kind: str,
    rows: list[dict[str, Cell]],
    markers: bool,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Through the backend: a refused load leaves every table as it was; a clean one
    stores exactly the oracle's values."""
    backend.sql("DELETE FROM organizations")
    backend.load(
        "organizations", [{"org_id": "KEEP", "org_name": "k", "sector": "NGO", "city": "Delhi"}]
    )
    before = _contents(backend)
    data = KINDS[kind](_values(rows), tmp_path_factory.mktemp(kind))

    def load() -> list[dict[str, Any]]:
        backend.load("organizations", data, null_markers=MARKERS if markers else ())
        stored = {r["org_id"]: r for r in backend.read("organizations").to_pylist()}
        return [stored[r["org_id"].value] for r in rows]

    if _check(rows, kind, markers, load) is None:
        assert _contents(backend) == before


# --- codes keep their rules; the CLI names null markers; the docs state the ranges --------


@pytest.mark.parametrize("written", ["Oxygen", " OXYGEN", "oxygen ", "OxYgEn"])
def test_a_category_in_any_case_keeps_the_oxygen_rules(
    backend: WarehouseBackend, written: str
) -> None:
    """Oxygen is never held by a budget cap: a zero budget still places the order (with a
    licensed medical-gas supplier, the only kind authorized for oxygen)."""
    import resq

    backend.load("organizations", [{"org_id": "H1", "org_name": "h", "sector": " hospital",
                                    "city": "Bangalore", "budget_cap": 0.0}])  # fmt: skip
    backend.load("vendors", [{"vendor_id": "MedGas Oxygen", "vendor_type": "MEDICAL_GAS"}])
    backend.load(
        "catalog",
        [{"vendor_id": "MedGas Oxygen", "sku": "OXY", "city": "Bangalore", "price": 10.0}],
    )
    backend.load("inventory", [{"org_id": "H1", "sku": "OXY", "item_name": "Oxygen",
                                "category": written, "current_stock": 0.0,
                                "daily_consumption": 4.0}])  # fmt: skip
    assert backend.read("inventory_master").column("category").to_pylist() == ["OXYGEN"]
    resq.SelfHealingEngine(backend).heal()
    orders = backend.read("purchase_orders").to_pylist()
    assert [(o["sku"], o["status"]) for o in orders] == [("OXY", "PLACED")]


def test_resq_load_takes_null_markers(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import resq
    from resq.cli import app

    db = f"duckdb:///{tmp_path / 'm.duckdb'}"
    env = {"RESQ_DB": None, "RESQ_ORG": None, "RESQ_ACTOR": None, "COLUMNS": "250"}
    runner = CliRunner()
    assert runner.invoke(app, ["--db", db, "init"], env=env).exit_code == 0
    orgs = tmp_path / "orgs.csv"
    orgs.write_text("org_id,org_name,sector,city,budget_cap\nNA,N/A,NGO,Delhi,NA\n", "utf-8")
    plain = runner.invoke(app, ["--db", db, "load", "organizations", str(orgs)], env=env)
    assert plain.exit_code != 0  # NA is not a number without the marker
    assert "row 1, column 'budget_cap'" in plain.stdout + plain.stderr
    marked = runner.invoke(
        app,
        ["--db", db, "load", "organizations", str(orgs), "--null-marker", "N/A",
         "--null-marker", "NULL"],
        env=env,
    )  # fmt: skip
    assert marked.exit_code != 0  # budget_cap NA is still a value: only N/A and NULL are markers
    ok = runner.invoke(
        app, ["--db", db, "load", "organizations", str(orgs), "--null-marker", "NA"], env=env
    )
    assert ok.exit_code != 0  # org_id NA is now missing: a required id
    orgs.write_text("org_id,org_name,sector,city,budget_cap\nNA,N/A,NGO,Delhi,NULL\n", "utf-8")
    good = runner.invoke(
        app, ["--db", db, "load", "organizations", str(orgs), "--null-marker", "NULL"], env=env
    )
    assert good.exit_code == 0, good.stdout + good.stderr
    rows = resq.connect(db).read("organizations").to_pylist()
    assert [(r["org_id"], r["org_name"], r["budget_cap"]) for r in rows] == [("NA", "N/A", None)]


def test_the_docs_state_the_ranges_the_code_enforces() -> None:
    from resq.core import validation as v

    text = (Path(__file__).parents[2] / "docs" / "backends.md").read_text(encoding="utf-8")
    section = text[text.index("### What a load accepts") :]

    def g(x: float) -> str:
        return f"{x:g}".replace("e+0", "e").replace("e+", "e")

    for phrase in (
        f"0 to {g(v.MAX_QUANTITY)}",
        f"0 to {g(v.MAX_LEAD_TIME_DAYS)} days",
        f"up to {g(v.MAX_PACK_SIZE)}",
        f"up to {g(v.MAX_FACTOR)}",
        f"0 to {g(v.MAX_PRICE)}",
        f"0 to {g(v.MAX_BUDGET)}",
        f"1 to {v.MAX_PRIORITY}",
        f"0 to {v.MAX_LATENCY_MS}",
        f"above {g(v.MAX_ORDER_QUANTITY)}",
        ", ".join(f"`{c}`" for c in v.CATEGORIES),
    ):
        assert phrase in section, phrase


def test_a_fraction_does_not_hide_an_out_of_range_count_in_the_same_column() -> None:
    """A column with both a fraction and a negative count names both cells (the fraction
    used to stop the column's check before its range was seen)."""
    data = pa.Table.from_pylist(
        [
            {
                "org_id": f"o{i}",
                "org_name": "x",
                "sector": "HOSPITAL",
                "city": "c",
                "phh_persons": v,
            }
            for i, v in enumerate([-1, None, 1.5, 2.0])
        ]
    )
    with pytest.raises(ValidationError) as err:
        validate_table("organizations", data)
    assert {(i.row, i.column) for i in err.value.issues} == {(1, "phh_persons"), (3, "phh_persons")}
