"""Validation (seed plan property 8 and the card's "bad values rejected with a clear
message"): every bad row, column and reason is listed; hostile text is kept literally."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings

import strategies as rst
from resq.core import (
    TABLES,
    Alert,
    InventoryItem,
    Organization,
    PurchaseOrder,
    validate_record,
    validate_table,
)
from resq.errors import ValidationError


def issues_of(table: str, data: pa.Table, **kw: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        validate_table(table, data, **kw)
    return info.value


def cells(err: ValidationError) -> set[tuple[int | None, str]]:
    return {(i.row, i.column) for i in err.issues}


def inventory(**columns: list[Any]) -> pa.Table:
    n = len(next(iter(columns.values())))
    base: dict[str, Any] = {
        "org_id": [f"O{i}" for i in range(n)],
        "sku": [f"S{i}" for i in range(n)],
        "item_name": ["Rice"] * n,
        "current_stock": [10.0] * n,
        "daily_consumption": [1.0] * n,
    }
    base.update(columns)
    return pa.table(base)


def organizations(**columns: list[Any]) -> pa.Table:
    n = len(next(iter(columns.values())))
    base: dict[str, Any] = {
        "org_id": [f"O{i}" for i in range(n)],
        "org_name": ["Org"] * n,
        "sector": ["HOSPITAL"] * n,
        "city": ["Delhi"] * n,
    }
    base.update(columns)
    return pa.table(base)


# ---------------------------------------------------------------- each kind of bad value


@pytest.mark.parametrize(
    ("table", "column", "reason"),
    [
        (inventory(current_stock=[1.0, -5.0]), "current_stock", "must be >= 0 (got -5.0)"),
        (inventory(daily_consumption=[1.0, math.nan]), "daily_consumption", "finite"),
        (inventory(daily_consumption=[1.0, math.inf]), "daily_consumption", "finite"),
        (inventory(current_stock=["1", "abc"]), "current_stock", "must be a number (got 'abc')"),
        (inventory(org_id=["O1", ""]), "org_id", "must not be empty"),
        (inventory(sku=["S1", "   "]), "sku", "must not be empty"),
        (inventory(sku=["S1", None]), "sku", "must not be empty"),
        (inventory(pack_size=[1.0, 0.0]), "pack_size", "must be > 0"),
        (organizations(sector=["NGO", "CLINIC"]), "sector", "expected one of HOSPITAL, PDS, NGO"),
        (organizations(phh_persons=[1.0, 1.5]), "phh_persons", "whole number"),
        (organizations(disaster_zone=["yes", "maybe"]), "disaster_zone", "true or false"),
        (organizations(org_name=["a", "b" * 1001]), "org_name", "longer than 1000"),
        (organizations(data_source=["REAL", "GUESSED"]), "data_source", "REAL, SIMULATED"),
    ],
)
def test_rejects_bad_value_naming_row_and_column(table: pa.Table, column: str, reason: str) -> None:
    name = "inventory_master" if "sku" in table.column_names else "organizations"
    err = issues_of(name, table)
    assert cells(err) == {(2, column)}
    message = str(err)
    assert f"row 2, column '{column}'" in message
    assert reason in message
    assert "nothing was written" in message


def test_duplicate_keys_name_both_rows() -> None:
    err = issues_of("inventory_master", inventory(org_id=["A", "B", "A"], sku=["x", "x", "x"]))
    assert cells(err) == {(3, "sku")}
    assert "duplicate key (org_id='A', sku='x') also in row 1" in str(err)


def test_unknown_org_reference_with_known_keys() -> None:
    data = inventory(org_id=["H1", "GHOST", "H1", "P9"], sku=["a", "b", "c", "d"])
    err = issues_of("inventory", data, known={"organizations": ["H1", "P1"]})
    assert cells(err) == {(2, "org_id"), (4, "org_id")}
    assert "unknown organization: not in organizations (got 'GHOST')" in str(err)
    # without the known keys there is nothing to check against
    assert validate_table("inventory", data).num_rows == 4


def test_missing_and_unknown_columns() -> None:
    data = pa.table({"org_id": ["a"], "sku": ["b"], "stock": [1.0]})
    err = issues_of("inventory_master", data)
    assert {(1, "stock"), (None, "current_stock"), (None, "item_name")} <= cells(err)
    assert "row 1, column 'stock': not a column of inventory_master" in str(err)
    assert "column 'current_stock': required column is missing" in str(err)


def test_unknown_table_lists_the_loadable_ones() -> None:
    with pytest.raises(ValidationError, match="inventory_master") as info:
        validate_table("stock; DROP TABLE x", inventory(sku=["a"]))
    assert "unknown table" in str(info.value)


# ---------------------------------------------------------------- every bad row listed


def test_lists_every_bad_row() -> None:
    data = inventory(
        org_id=["O1", "O2", "O3", "", "O5", "O6"],
        current_stock=[1.0, -1.0, 3.0, 4.0, 5.0, -0.5],
        daily_consumption=[1.0, 2.0, math.nan, 1.0, math.inf, 1.0],
        lead_time_days=["1", "2", "3", "4", "soon", "6"],
    )
    err = issues_of("inventory_master", data)
    expected = {
        (2, "current_stock"),
        (3, "daily_consumption"),
        (4, "org_id"),
        (5, "daily_consumption"),
        (5, "lead_time_days"),
        (6, "current_stock"),
    }
    assert cells(err) == expected
    message = str(err)
    assert "6 problems" in message
    for row, column in expected:
        assert f"row {row}, column '{column}'" in message
    # issues come in row order, as a person reads the file
    assert [i.row for i in err.issues] == sorted(i.row or 0 for i in err.issues)


@settings(max_examples=150, deadline=None)
@given(rst.inventory_with_bad_cells())
def test_property_8_every_bad_cell_reported(case: tuple[pa.Table, set[tuple[int, str]]]) -> None:
    data, bad = case
    if not bad:
        out = validate_table("inventory_master", data)
        assert out.num_rows == data.num_rows
        assert out["item_name"].to_pylist() == data["item_name"].to_pylist()
        return
    err = issues_of("inventory_master", data)
    assert cells(err) == bad
    message = str(err)
    assert f"{len(bad)} problem" in message
    for row, column in sorted(bad)[:20]:  # the message shows the first 20
        assert f"row {row}, column '{column}'" in message


def test_long_lists_are_summarised_but_complete() -> None:
    data = inventory(current_stock=[-1.0] * 25)
    err = issues_of("inventory_master", data)
    assert len(err.issues) == 25  # every row is in .issues
    assert "and 5 more" in str(err)


# ---------------------------------------------------------------- hostile text kept literally

HOSTILE = [
    "x'); DROP TABLE inventory_master;--",
    "Robert'); DROP TABLE organizations;--",
    '" OR 1=1 --',
    'it\'s "quoted" `twice`',
    "%s %d {0} ${x} ?",
    "ＢＡＮＧＡＬＯＲＥ",
    "straße 😀🔥 İstanbul",
    "\u200bzero-width",
    "x" * 1000,  # the longest accepted
]


def test_hostile_strings_are_accepted_literally() -> None:
    n = len(HOSTILE)
    data = organizations(
        org_id=HOSTILE, org_name=list(reversed(HOSTILE)), city=HOSTILE, sector=["PDS"] * n
    )
    out = validate_table("organizations", data)
    assert out["org_id"].to_pylist() == HOSTILE
    assert out["org_name"].to_pylist() == list(reversed(HOSTILE))
    assert out["city"].to_pylist() == HOSTILE
    items = inventory(org_id=HOSTILE, sku=HOSTILE, item_name=HOSTILE)
    checked = validate_table("inventory_master", items, known={"organizations": HOSTILE})
    assert checked["sku"].to_pylist() == HOSTILE


def test_normalisation_and_defaults() -> None:
    out = validate_table("organizations", organizations(sector=[" hospital", "Pds"]))
    assert out["sector"].to_pylist() == ["HOSPITAL", "PDS"]
    assert out["data_source"].to_pylist() == ["REAL", "REAL"]
    assert out["disaster_zone"].to_pylist() == [False, False]
    record = {"org_id": "a", "sku": "b", "item_name": "c", "current_stock": 1,
              "daily_consumption": 0}  # fmt: skip
    row = validate_record("inventory_master", record)
    assert row["category"] == "OTHER"
    assert row["pack_size"] == 1.0
    assert row["current_stock"] == 1.0
    assert set(row) == {c.name for c in TABLES["inventory_master"].columns}


# ---------------------------------------------------------------- models


@pytest.mark.parametrize(
    ("fields", "column", "shown"),
    [
        ({"org_id": ""}, "org_id", "''"),
        ({"org_id": "   "}, "org_id", "'   '"),
        ({"sector": "CLINIC"}, "sector", "'CLINIC'"),
        ({"phh_persons": -3}, "phh_persons", "-3"),
        ({"budget_cap": -0.5}, "budget_cap", "-0.5"),
        ({"data_source": "MAYBE"}, "data_source", "'MAYBE'"),
    ],
)
def test_organization_rejects_bad_fields(fields: dict[str, Any], column: str, shown: str) -> None:
    values = {"org_id": "H1", "org_name": "City Hospital", "sector": "HOSPITAL", "city": "Delhi"}
    with pytest.raises(ValidationError) as info:
        Organization(**{**values, **fields})
    message = str(info.value)
    assert f"column '{column}'" in message
    assert f"(got {shown}" in message


@pytest.mark.parametrize(
    ("fields", "column", "shown"),
    [
        ({"current_stock": -1}, "current_stock", "-1"),
        ({"daily_consumption": -0.25}, "daily_consumption", "-0.25"),
        ({"daily_consumption": math.nan}, "daily_consumption", "nan"),
        ({"daily_consumption": math.inf}, "daily_consumption", "inf"),
        ({"current_stock": "abc"}, "current_stock", "'abc'"),
        ({"sku": ""}, "sku", "''"),
        ({"pack_size": 0}, "pack_size", "0"),
    ],
)
def test_inventory_item_rejects_bad_fields(fields: dict[str, Any], column: str, shown: str) -> None:
    values = {"org_id": "H1", "sku": "OXY", "item_name": "Oxygen", "current_stock": 10,
              "daily_consumption": 2}  # fmt: skip
    with pytest.raises(ValidationError) as info:
        InventoryItem(**{**values, **fields})
    message = str(info.value)
    assert f"column '{column}'" in message
    assert f"(got {shown}" in message
    assert "np.float64" not in message  # values are shown as a person would write them


def test_valid_models() -> None:
    org = Organization("P1", "Ration shop", "PDS", "Delhi", phh_persons=100, aay_households=10)
    assert org.as_row()["sector"] == "PDS"
    item = InventoryItem("H1", "OXY", "Oxygen", current_stock=30, daily_consumption=10)
    assert item.days_remaining == 3.0
    assert InventoryItem("H1", "OXY", "Oxygen", 30, 0).days_remaining is None


def test_order_and_alert_models_reject_bad_fields() -> None:
    order = {"po_id": "PO-1", "idempotency_key": "k", "org_id": "H1", "sku": "OXY",
             "vendor": None, "quantity": 5.0, "status": "PLACED", "priority": 1,
             "reason": {}, "data_source": "REAL", "created_at": datetime(2024, 1, 1)}  # fmt: skip
    assert PurchaseOrder(**order).quantity == 5.0
    with pytest.raises(ValueError, match="quantity"):
        PurchaseOrder(**{**order, "quantity": -1.0})
    with pytest.raises(ValueError, match="quantity"):
        PurchaseOrder(**{**order, "quantity": math.nan})
    with pytest.raises(ValueError, match="idempotency_key"):
        PurchaseOrder(**{**order, "idempotency_key": ""})
    with pytest.raises(ValueError, match="SHIPPED"):
        PurchaseOrder(**{**order, "status": "SHIPPED"})
    with pytest.raises(ValueError, match="SEV9"):
        Alert("AL-1", "H1", "CRITICAL_STOCK", "SEV9", "msg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="org_id"):
        Alert("AL-1", "", "CRITICAL_STOCK", "SEV1", "msg")  # type: ignore[arg-type]
