"""Loading: every input format, REAL labels, validation as a whole, hostile strings."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strategies
from resq.backends.warehouse import WarehouseBackend
from resq.errors import ValidationError

ORGS = [
    {"org_id": "HOSP-1", "org_name": "City Hospital", "sector": "HOSPITAL", "city": "Bangalore"},
    {"org_id": "PDS-1", "org_name": "Ration Shop", "sector": "PDS", "city": "Delhi"},
    {"org_id": "NGO-1", "org_name": "Relief", "sector": "NGO", "city": "Delhi"},
]
INVENTORY = [
    {
        "org_id": "HOSP-1",
        "sku": "OXY-CYL",
        "item_name": "Oxygen cylinder",
        "category": "OXYGEN",
        "current_stock": 12.0,
        "daily_consumption": 4.0,
    },
    {
        "org_id": "PDS-1",
        "sku": "RICE",
        "item_name": "Rice 50 kg",
        "category": "RICE",
        "current_stock": 500.0,
        "daily_consumption": 0.0,
    },
    {
        "org_id": "NGO-1",
        "sku": "KIT-EMR",
        "item_name": "Emergency kit",
        "category": "KIT",
        "current_stock": 0.0,
        "daily_consumption": 2.5,
    },
]
VENDORS = [{"vendor_id": "Blinkit", "vendor_name": "Blinkit"}, {"vendor_id": "Dunzo"}]
CATALOG = [
    {"vendor_id": "Blinkit", "sku": "OXY-CYL", "city": "Bangalore", "price": 900.0},
    {"vendor_id": "Dunzo", "sku": "OXY-CYL", "city": "Bangalore", "price": 850.0},
]
SECTOR_CONFIG = [
    {
        "sector": "NGO",
        "critical_days": 2.0,
        "warning_days": 6.0,
        "target_days": 10.0,
        "priority": 3,
        "adverse_critical_days": 4.0,
        "adverse_demand_multiplier": 1.5,
        "disaster_priority": 1,
    }
]

#: In load order: organizations before inventory, vendors before the catalog.
DATASETS: list[tuple[str, list[dict[str, Any]], tuple[str, ...]]] = [
    ("sector_config", SECTOR_CONFIG, ("sector",)),
    ("organizations", ORGS, ("org_id",)),
    ("inventory", INVENTORY, ("org_id", "sku")),
    ("vendors", VENDORS, ("vendor_id",)),
    ("vendor_catalog", CATALOG, ("vendor_id", "sku", "city")),
]
TABLE = {"inventory": "inventory_master"}


def _pandas(rows: list[dict[str, Any]], tmp: Path, name: str) -> Any:
    import pandas as pd

    return pd.DataFrame(rows)


def _arrow(rows: list[dict[str, Any]], tmp: Path, name: str) -> Any:
    return pa.Table.from_pylist(rows)


def _records(rows: list[dict[str, Any]], tmp: Path, name: str) -> Any:
    return [dict(r) for r in rows]


def _csv(rows: list[dict[str, Any]], tmp: Path, name: str) -> Any:
    import pandas as pd

    path = tmp / f"{name}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _parquet(rows: list[dict[str, Any]], tmp: Path, name: str) -> Any:
    path = tmp / f"{name}.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return str(path)


def _json_array(rows: list[dict[str, Any]], tmp: Path, name: str) -> Any:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def _ndjson(rows: list[dict[str, Any]], tmp: Path, name: str) -> Any:
    path = tmp / f"{name}.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


FORMATS: dict[str, Callable[[list[dict[str, Any]], Path, str], Any]] = {
    "pandas": _pandas,
    "arrow": _arrow,
    "records": _records,
    "csv": _csv,
    "parquet": _parquet,
    "json": _json_array,
    "ndjson": _ndjson,
}


# --- every format, every table -------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_load_every_table_from_every_format(
    backend: WarehouseBackend, tmp_path: Path, fmt: str
) -> None:
    for table, rows, key in DATASETS:
        report = backend.load(table, FORMATS[fmt](rows, tmp_path, table))
        name = TABLE.get(table, table)
        assert (report.table, report.rows, report.data_source) == (name, len(rows), "REAL")
        stored = {tuple(r[k] for k in key): r for r in backend.read(name).to_pylist()}
        for row in rows:
            got = stored[tuple(row[k] for k in key)]
            for column, value in row.items():
                assert got[column] == value, (table, column)
            if "data_source" in got:
                assert got["data_source"] == "REAL"
    analysis = backend.read("stock_analysis", order_by=("sku",)).to_pylist()
    assert [(r["sku"], r["status"], r["data_source"]) for r in analysis] == [
        ("KIT-EMR", "CRITICAL", "REAL"),  # zero stock: 0 days
        ("OXY-CYL", "CRITICAL", "REAL"),  # 12 / 4 = 3 days: exactly the threshold
        ("RICE", "OK", "REAL"),  # zero consumption: never runs out
    ]
    by_sku = {r["sku"]: r for r in analysis}
    assert by_sku["RICE"]["days_remaining"] is None
    assert by_sku["KIT-EMR"]["days_remaining"] == 0.0
    assert by_sku["OXY-CYL"]["days_remaining"] == 3.0


def test_rows_shaped_by_simulated_weather_are_simulated(backend: WarehouseBackend) -> None:
    """REAL inputs stay REAL unless a simulated signal changed the row: a (chaos) flood
    in Delhi raises the NGO's demand and threshold, so that row becomes SIMULATED."""
    from resq import simulation

    backend.load("organizations", ORGS)
    backend.load("inventory", INVENTORY)
    backend.apply_chaos(simulation.set_weather("Delhi", "Flood"), actor="test")
    rows = {r["sku"]: r for r in backend.read("stock_analysis").to_pylist()}
    assert rows["KIT-EMR"]["weather"] == "Flood"
    assert rows["KIT-EMR"]["data_source"] == "SIMULATED"
    assert rows["RICE"]["data_source"] == "REAL"  # PDS rules ignore the weather
    assert rows["OXY-CYL"]["data_source"] == "REAL"  # Bangalore has no weather row


def test_loaded_rows_can_be_labelled_simulated(backend: WarehouseBackend) -> None:
    report = backend.load("organizations", ORGS, data_source="SIMULATED")
    assert report.data_source == "SIMULATED"
    assert set(backend.read("organizations").column("data_source").to_pylist()) == {"SIMULATED"}


def test_upsert_replaces_and_append_refuses_existing_keys(backend: WarehouseBackend) -> None:
    backend.load("organizations", ORGS)
    backend.load("organizations", [{**ORGS[0], "org_name": "Renamed"}])
    names = {r["org_id"]: r["org_name"] for r in backend.read("organizations").to_pylist()}
    assert names["HOSP-1"] == "Renamed" and len(names) == 3
    before = _snapshot(backend)
    with pytest.raises(ValidationError, match="already exists"):
        backend.load("organizations", [ORGS[1]], mode="append")
    assert _snapshot(backend) == before


_SKUS = [f"S{i}" for i in range(6)]
_LOADED = st.fixed_dictionaries(
    {"current_stock": st.integers(0, 50).map(float)},
    optional={"unit": st.sampled_from(["kg", "box"]), "pack_size": st.sampled_from([2.0, 5.0])},
)


def _inventory(backend: WarehouseBackend) -> dict[str, dict[str, Any]]:
    rows = backend.sql(
        "SELECT sku, item_name, current_stock, daily_consumption, demand_factor, unit, "
        "pack_size, data_source FROM inventory_master"
    ).to_pylist()
    return {r.pop("sku"): r for r in rows}


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    stored=st.dictionaries(st.sampled_from(_SKUS), _LOADED, min_size=1),
    spiked=st.sets(st.sampled_from(_SKUS)),
    loaded=st.dictionaries(st.sampled_from(_SKUS), _LOADED, min_size=1),
    batched=st.booleans(),
)
def test_an_upsert_replaces_each_loaded_row_whole_and_keeps_every_other_row(
    backend: WarehouseBackend,
    stored: dict[str, dict[str, Any]],
    spiked: set[str],
    loaded: dict[str, dict[str, Any]],
    batched: bool,
) -> None:
    """Whatever the backend writes underneath (a keyed DELETE and INSERT, or an UPDATE in
    place and an INSERT of the new keys): a loaded row replaces the stored one whole, the
    columns it does not carry get their defaults again (a demand spike included), a new
    key is added, and a row the load does not name is left exactly as it was."""
    backend.sql("DELETE FROM inventory_master; DELETE FROM organizations")
    backend.load("organizations", ORGS[:1])

    def rows(items: dict[str, dict[str, Any]], name: str) -> list[dict[str, Any]]:
        return [
            {"org_id": "HOSP-1", "sku": k, "item_name": name, "daily_consumption": 1.0, **v}
            for k, v in sorted(items.items())
        ]

    backend.load("inventory", rows(stored, "first"))
    for sku in sorted(spiked & set(stored)):
        backend.sql(f"UPDATE inventory_master SET demand_factor = 2.5 WHERE sku = '{sku}'")
    before = _inventory(backend)
    if batched:
        with backend.load_batches(["inventory"]) as load:
            load.write("inventory", rows(loaded, "second"))
    else:
        backend.load("inventory", rows(loaded, "second"))
    expected = {k: v for k, v in before.items() if k not in loaded}
    for sku, given_ in loaded.items():
        expected[sku] = {
            "item_name": "second",
            "current_stock": given_["current_stock"],
            "daily_consumption": 1.0,
            "demand_factor": 1.0,
            "unit": given_.get("unit", "unit"),
            "pack_size": given_.get("pack_size", 1.0),
            "data_source": "REAL",
        }
    assert _inventory(backend) == expected


# --- validation as a whole -------------------------------------------------------------

BAD_INVENTORY_CSV = """org_id,sku,item_name,current_stock,daily_consumption
HOSP-1,OK-1,fine,10,1
HOSP-1,NEG,negative,-5,1
HOSP-1,NAN,not a number,nan,1
HOSP-1,INF,infinite,inf,1
HOSP-1,ABC,wrong type,10,abc
HOSP-1,EMPTY,,10,1
"""
#: (row, column) a person counts from 1, for each bad row of BAD_INVENTORY_CSV.
BAD_INVENTORY_CELLS = {
    (2, "current_stock"),
    (3, "current_stock"),
    (4, "current_stock"),
    (5, "daily_consumption"),
    (6, "item_name"),
}

BAD_REFERENCES_CSV = """org_id,sku,item_name,current_stock,daily_consumption
HOSP-1,A,fine,10,1
NOPE-9,B,unknown org,10,1
HOSP-1,A,duplicate key,3,1
GHOST,C,unknown org,1,1
"""
BAD_REFERENCE_CELLS = {(2, "org_id"), (3, "sku"), (4, "org_id")}

BAD_ORGS_CSV = """org_id,org_name,sector,city,phh_persons,budget_cap
H1,Hospital,HOSPITAL,Bangalore,10,100
S1,School,SCHOOL,Delhi,10,100
H2,No sector,,Delhi,10,100
H3,Bad count,HOSPITAL,Delhi,abc,100
H4,Neg budget,HOSPITAL,Delhi,10,-1
H5,Inf budget,HOSPITAL,Delhi,10,inf
H6,,HOSPITAL,Delhi,10,100
"""
BAD_ORG_CELLS = {
    (2, "sector"),
    (3, "sector"),
    (4, "phh_persons"),
    (5, "budget_cap"),
    (6, "budget_cap"),
    (7, "org_name"),
}


def _cells(error: ValidationError) -> set[tuple[int | None, str]]:
    return {(i.row, i.column) for i in error.issues}


def _assert_lists(error: ValidationError, cells: set[tuple[int, str]]) -> None:
    assert _cells(error) == cells
    message = str(error)
    assert "nothing was written" in message
    for row, column in cells:
        assert f"row {row}, column {column!r}" in message


def test_bad_rows_are_all_listed_and_nothing_is_written(
    backend: WarehouseBackend, tmp_path: Path
) -> None:
    backend.load("organizations", ORGS)
    before = _snapshot(backend)
    path = tmp_path / "inventory.csv"
    path.write_text(BAD_INVENTORY_CSV, encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        backend.load("inventory", path)
    _assert_lists(info.value, BAD_INVENTORY_CELLS)
    assert _snapshot(backend) == before


def test_unknown_organizations_and_duplicate_keys_are_all_listed(
    backend: WarehouseBackend, tmp_path: Path
) -> None:
    backend.load("organizations", ORGS)
    before = _snapshot(backend)
    path = tmp_path / "inventory.csv"
    path.write_text(BAD_REFERENCES_CSV, encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        backend.load("inventory", path)
    _assert_lists(info.value, BAD_REFERENCE_CELLS)
    assert "duplicate key" in str(info.value) and "unknown organization" in str(info.value)
    assert _snapshot(backend) == before


def test_bad_organizations_are_all_listed(backend: WarehouseBackend, tmp_path: Path) -> None:
    before = _snapshot(backend)
    path = tmp_path / "organizations.csv"
    path.write_text(BAD_ORGS_CSV, encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        backend.load("organizations", path)
    _assert_lists(info.value, BAD_ORG_CELLS)
    assert _snapshot(backend) == before


#: Every kind of problem in one inventory file, two of them in one column.
ALL_BAD_INVENTORY_CSV = """org_id,sku,item_name,current_stock,daily_consumption
HOSP-1,OK-1,fine,10,1
HOSP-1,NEG,negative,-5,1
HOSP-1,NAN,not a number,nan,1
HOSP-1,INF,infinite,inf,1
HOSP-1,ABC,wrong type,abc,1
GHOST,X,unknown organization,1,1
HOSP-1,OK-1,duplicate key,1,1
"""


def test_every_kind_of_bad_row_is_listed_in_one_error(
    backend: WarehouseBackend, tmp_path: Path
) -> None:
    backend.load("organizations", ORGS)
    before = _snapshot(backend)
    path = tmp_path / "inventory.csv"
    path.write_text(ALL_BAD_INVENTORY_CSV, encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        backend.load("inventory", path)
    _assert_lists(
        info.value,
        {
            (2, "current_stock"),
            (3, "current_stock"),
            (4, "current_stock"),
            (5, "current_stock"),
            (6, "org_id"),
            (7, "sku"),
        },
    )
    assert _snapshot(backend) == before


@pytest.mark.parametrize("fmt", ["records", "json", "ndjson"])
def test_wrong_types_in_records_are_reported_by_row(
    backend: WarehouseBackend, tmp_path: Path, fmt: str
) -> None:
    """Records whose column mixes numbers and text ("abc") give a validation error naming
    each bad row, not an Arrow conversion crash, whichever type comes first."""
    backend.load("organizations", ORGS)
    before = _snapshot(backend)
    rows = [
        {**INVENTORY[0], "current_stock": 1.0},
        {**INVENTORY[2], "current_stock": "abc"},
        {**INVENTORY[1], "item_name": 42, "daily_consumption": "lots"},
        {**INVENTORY[1], "sku": "X", "item_name": "text", "daily_consumption": 1},
    ]
    with pytest.raises(ValidationError) as info:
        backend.load("inventory", FORMATS[fmt](rows, tmp_path, "inventory"))
    assert _cells(info.value) == {(2, "current_stock"), (3, "daily_consumption")}
    assert _snapshot(backend) == before


def test_missing_and_unknown_columns_are_listed(backend: WarehouseBackend) -> None:
    with pytest.raises(ValidationError) as info:
        backend.load("organizations", [{"org_id": "A", "org_name": "a", "colour": "red"}])
    assert {(None, "sector"), (None, "city"), (1, "colour")} <= _cells(info.value)


def test_unknown_table_lists_loadable_tables(backend: WarehouseBackend) -> None:
    with pytest.raises(ValidationError, match="inventory_master") as info:
        backend.load("purchase_orders", [{"po_id": "x"}])
    assert "organizations" in str(info.value)


def test_a_long_file_path_is_named_whole_and_a_long_value_is_cut_visibly(
    backend: WarehouseBackend, tmp_path: Path
) -> None:
    folder = tmp_path / ("a-folder-with-a-rather-long-name-" * 4)
    folder.mkdir()
    path = folder / "organizations.csv"
    path.write_text("org_id,org_name,sector,city\nH1,a,HOSPITAL,Delhi,extra\n", encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        backend.load("organizations", path)
    assert len(str(path)) > 120 and str(path) in str(info.value)
    long_name = "x" * 300
    with pytest.raises(ValidationError) as info:
        backend.load("organizations", [{"org_id": "H1", "org_name": "a", "sector": long_name}])
    message = str(info.value)
    assert "x" * 300 not in message
    assert f"… ({len(repr(long_name))} characters)" in message


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("cols.csv", "org_id,org_name,sector,city\nH1,a,HOSPITAL,Delhi,extra\n", "csv"),
        ("quote.csv", 'org_id,org_name,sector,city\nH1,"open,HOSPITAL,Delhi\n', "csv"),
        ("cut.json", '[{"org_id": "H1", ', "json"),
        ("lines.ndjson", '{"org_id": "H1"}\nnot json\n', "ndjson"),
        ("scalar.json", "42", "json"),
        ("strings.json", '["a", "b"]', "json"),
        ("binary.csv", None, "csv"),
        ("data.xlsx", "whatever", "unsupported file type"),
    ],
)
def test_malformed_files_give_a_clear_error(
    backend: WarehouseBackend, tmp_path: Path, name: str, text: str | None, fragment: str
) -> None:
    path = tmp_path / name
    if text is None:
        path.write_bytes(b"org_id,org_name\n\xff\xfe\x00bad\n")
    else:
        path.write_text(text, encoding="utf-8")
    before = _snapshot(backend)
    with pytest.raises(ValidationError) as info:
        backend.load("organizations", path)
    message = str(info.value)
    assert fragment in message
    assert str(path) in message
    assert _snapshot(backend) == before


def test_missing_file_and_bad_input_type(backend: WarehouseBackend, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no such file"):
        backend.load("organizations", tmp_path / "absent.csv")
    with pytest.raises(ValidationError, match="expected a pandas or Arrow table"):
        backend.load("organizations", 42)
    with pytest.raises(ValidationError, match="expected a record"):
        backend.load("organizations", [ORGS[0], "not a record"])


# --- hostile strings ------------------------------------------------------------------

HOSTILE = [
    "x'); DROP TABLE inventory_master;--",
    "Robert'); DROP TABLE organizations;--",
    'it\'s "quoted" `twice`',
    '"; DELETE FROM audit_log; --',
    "?",
    "$1 %s {0} :name",
    "back\\slash\\",
    "Ünïcødé — दिल्ली — 北京 — 😀🔥",
    "İstanbul straße",
    "x" * 1000,
    "é" * 1000,
]


def _hostile_rows(values: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    orgs = [
        {"org_id": v, "org_name": v, "sector": "NGO", "city": v}
        for v in dict.fromkeys(values)  # distinct, in order
    ]
    items = [
        {
            "org_id": v,
            "sku": v,
            "item_name": v,
            "unit": v,
            "preferred_vendor": v,
            "current_stock": 1.0,
            "daily_consumption": 1.0,
        }
        for v in dict.fromkeys(values)
    ]
    return orgs, items


def test_hostile_strings_are_stored_literally(backend: WarehouseBackend) -> None:
    orgs, items = _hostile_rows(HOSTILE)
    backend.load("organizations", orgs)
    backend.load("inventory", items)
    _assert_stored(backend, HOSTILE)


def test_control_characters_are_refused_in_names_and_kept_in_free_text(
    backend: WarehouseBackend,
) -> None:
    """Ids, cities, units and vendor names refuse control characters (row and column
    named, nothing written); organization and item names are free text and keep them."""
    backend.load("organizations", ORGS)
    before = _snapshot(backend)
    bad = [
        "nul\x00byte",
        "\u202eright-to-left",
        "tab\tand",
        "new\nline",
        "esc\x1b[31m",
        "line\u2028sep",
    ]
    items = [
        {**INVENTORY[0], "sku": f"S{i}-{column}", column: value}
        for i, value in enumerate(bad)
        for column in ("unit", "preferred_vendor")
    ] + [{**INVENTORY[0], "sku": value} for value in bad]
    with pytest.raises(ValidationError) as info:
        backend.load("inventory", items)
    expected = {(2 * i + 1, "unit") for i in range(len(bad))}
    expected |= {(2 * i + 2, "preferred_vendor") for i in range(len(bad))}
    expected |= {(2 * len(bad) + i + 1, "sku") for i in range(len(bad))}
    assert _cells(info.value) == expected
    assert "control characters" in str(info.value)
    assert _snapshot(backend) == before
    free = [{**INVENTORY[0], "sku": f"F{i}", "item_name": v} for i, v in enumerate(bad)]
    backend.load("inventory", free)
    stored = {r["sku"]: r["item_name"] for r in backend.read("inventory_master").to_pylist()}
    assert [stored[f"F{i}"] for i in range(len(bad))] == bad


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(strategies.hostile_ids, min_size=1, max_size=6, unique=True))
def test_any_printable_id_round_trips(backend: WarehouseBackend, values: list[str]) -> None:
    backend.sql("DELETE FROM inventory_master; DELETE FROM organizations")
    orgs, items = _hostile_rows(values)
    backend.load("organizations", orgs)
    backend.load("inventory", items)
    _assert_stored(backend, values)


def test_too_long_strings_are_refused(backend: WarehouseBackend) -> None:
    with pytest.raises(ValidationError, match="longer than 1000 characters"):
        backend.load(
            "organizations", [{"org_id": "x" * 1001, "org_name": "a", "sector": "NGO", "city": "c"}]
        )


def _assert_stored(backend: WarehouseBackend, values: list[str]) -> None:
    distinct = set(values)
    orgs = backend.read("organizations").to_pylist()
    assert {r["org_id"] for r in orgs} == distinct
    assert all(r["org_name"] == r["org_id"] == r["city"] for r in orgs)
    inventory = backend.read("inventory_master").to_pylist()
    assert {(r["org_id"], r["sku"]) for r in inventory} == {(v, v) for v in distinct}
    assert all(r["item_name"] == r["unit"] == r["preferred_vendor"] == r["sku"] for r in inventory)
    # Nothing was executed as SQL: the tables are all still there.
    assert backend.sql("SELECT COUNT(*) FROM inventory_master").scalar() == len(distinct)
    assert backend.sql("SELECT COUNT(*) FROM organizations").scalar() == len(distinct)
    assert {r["org_id"] for r in backend.read("stock_analysis").to_pylist()} == distinct
    for value in distinct:
        scoped = backend.tenant(value).inventory().to_pylist()
        assert [r["sku"] for r in scoped] == [value]
        where = backend.read("inventory_master", where={"sku": value}).to_pylist()
        assert [r["org_id"] for r in where] == [value]
        bound = backend.sql("SELECT sku FROM inventory_master WHERE sku = ?", [value])
        assert bound.to_pylist() == [{"sku": value}]
    assert backend.verify_audit().ok


# --- helpers -----------------------------------------------------------------------------


def _snapshot(backend: WarehouseBackend) -> dict[str, Any]:
    """Row counts of every loadable table and the audit chain head."""
    counts = {
        t: backend.sql(f"SELECT COUNT(*) FROM {t}").scalar()
        for t in ("organizations", "sector_config", "inventory_master", "vendors", "vendor_catalog")
    }
    audit = backend.sql("SELECT COUNT(*) AS n, MAX(seq) AS s FROM audit_log").to_pylist()[0]
    return {**counts, "audit": audit}


# ------------------------------------------------- DuckDB: where a load updates in place


def _duckdb(tmp_path: Path) -> WarehouseBackend:
    import resq

    backend = resq.connect(f"duckdb:///{tmp_path / 'inplace.duckdb'}")
    backend.init()
    backend.load("organizations", ORGS)
    return backend


def test_a_table_without_a_key_holding_a_key_twice_keeps_it_once_after_a_load(
    tmp_path: Path,
) -> None:
    """stock_history has no PRIMARY KEY, so a row written twice by ad-hoc SQL can be there;
    a load of that key replaces both with the one loaded row (DELETE and INSERT)."""
    backend = _duckdb(tmp_path)
    row = {"org_id": "HOSP-1", "sku": "OXY-CYL", "day": "2026-11-01", "consumption": 3.0}
    backend.load("stock_history", [{**row, "stock": 10.0}])
    backend.execute("INSERT INTO stock_history SELECT * FROM stock_history")
    assert backend.sql("SELECT COUNT(*) FROM stock_history").scalar() == 2
    backend.load("stock_history", [{**row, "stock": 7.0}])
    stored = backend.sql("SELECT stock FROM stock_history").to_pylist()
    assert stored == [{"stock": 7.0}]
    backend.close()


def test_a_temporary_table_shadowing_a_keyed_one_is_loaded_like_a_table_without_a_key(
    tmp_path: Path,
) -> None:
    """A temporary table of the same name is what an unqualified name resolves to on that
    connection: it has no key, so the load is a DELETE and INSERT there too, and a key it
    holds twice is kept once."""
    backend = _duckdb(tmp_path)
    backend.execute("CREATE TEMP TABLE organizations AS SELECT * FROM main.organizations")
    backend.execute("INSERT INTO temp.organizations SELECT * FROM main.organizations")
    backend.load("organizations", [{**ORGS[0], "org_name": "Renamed"}])
    names = backend.fetch(
        "SELECT org_name FROM temp.organizations WHERE org_id = 'HOSP-1'"
    ).to_pylist()
    assert names == [{"org_name": "Renamed"}]
    backend.close()
