"""Implausible numbers: no load, chaos edit or planning pass turns them into an order.

Consumption 1e308, a pack size of 5e-324 or a lead time of 1e308 used to give a PLACED
order of quantity inf. Now loads and chaos refuse values outside the documented ranges
(resq.core.validation.LIMITS), and the core, whatever numbers reach it, never proposes a
non-finite quantity or one above MAX_ORDER_QUANTITY: it holds the item with a DATA_ERROR
alert that names it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import resq
import strategies as rst
from resq import simulation
from resq.backends.warehouse import WarehouseBackend
from resq.cli import app
from resq.core.alerts import alerts_for
from resq.core.ordering import Action, plan_orders
from resq.core.validation import LIMITS, MAX_ORDER_QUANTITY
from resq.errors import ValidationError

#: Any float: ordinary, tiny, huge, subnormal, negative, NaN and the infinities.
any_float = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 5e-324, 1e-300, 1e308, 1.7976931348623157e308, -1e308]),
    st.floats(0, 100),
)
NUMBERS = (
    "current_stock",
    "effective_consumption",
    "target_days",
    "lead_time_days",
    "pack_size",
    "weather_delay_days",
    "open_order_qty",
)


def _oxygen_row() -> dict[str, Any]:
    return {
        "org_id": "H1",
        "sector": "HOSPITAL",
        "city": "Bangalore",
        "sku": "OXY-CYL",
        "item_name": "Oxygen cylinder",
        "category": "OXYGEN",
        "current_stock": 1.0,
        "daily_consumption": 4.0,
    }


@settings(max_examples=100)
@given(
    values=st.fixed_dictionaries({name: any_float for name in NUMBERS}),
    vendor_lead=st.one_of(st.none(), any_float),
    price=any_float,
)
def test_the_core_never_proposes_a_non_finite_or_absurd_quantity(
    values: dict[str, float], vendor_lead: float | None, price: float
) -> None:
    candidates = rst.candidate_rows_table([_oxygen_row()])
    for name, value in values.items():
        index = candidates.schema.get_field_index(name)
        candidates = candidates.set_column(
            index, name, pa.array([value], pa.float64(), from_pandas=False)
        )
    options = rst.vendor_options_table(
        []
        if vendor_lead is None
        else [
            {
                "vendor_id": "Blinkit",
                "sku": "OXY-CYL",
                "city": "Bangalore",
                "price": price,
                "lead_time_days": vendor_lead,
                "status": "ONLINE",
                "latency_ms": 12.0,
            }
        ]
    )
    plan = plan_orders(candidates, options)
    row = plan.to_pylist()[0]
    quantity = row["quantity"]
    if row["action"] == Action.ORDER:
        assert math.isfinite(quantity) and 0 < quantity <= MAX_ORDER_QUANTITY, row
    else:
        assert quantity == 0.0, row
    # stock, demand and target must be numbers; elsewhere NaN means missing (the default)
    # but an infinity never does.
    must_hold = not all(
        math.isfinite(values[n]) for n in ("current_stock", "effective_consumption", "target_days")
    ) or any(math.isinf(v) for v in [*values.values(), vendor_lead or 0.0])
    if must_hold:
        assert row["action"] == Action.HELD, row
    alerts = alerts_for(plan).to_pylist()
    if row["action"] == Action.HELD:
        errors = [a for a in alerts if a["kind"] == "DATA_ERROR"]
        assert len(errors) == 1 and "OXY-CYL" in errors[0]["message"], alerts
        assert "Oxygen cylinder" in errors[0]["message"]
    else:
        assert not [a for a in alerts if a["kind"] == "DATA_ERROR"]


def test_the_reported_examples_are_held_not_placed() -> None:
    """consumption 1e308, pack size 5e-324 and lead time 1e308 each give no order."""
    base = rst.candidate_rows_table([_oxygen_row()])
    for name, value in (
        ("effective_consumption", 1e308),
        ("pack_size", 5e-324),
        ("lead_time_days", 1e308),
    ):
        index = base.schema.get_field_index(name)
        candidates = base.set_column(index, name, pa.array([value], pa.float64()))
        row = plan_orders(candidates, rst.vendor_options_table([])).to_pylist()[0]
        assert (row["action"], row["quantity"]) == (Action.HELD, 0.0), name


# --- loads refuse the same values, by row and column -----------------------------------

ORG = {"org_id": "H1", "org_name": "Hospital", "sector": "HOSPITAL", "city": "Bangalore"}
ITEM = {
    "org_id": "H1",
    "sku": "OXY-CYL",
    "item_name": "Oxygen cylinder",
    "category": "OXYGEN",
    "current_stock": 1.0,
    "daily_consumption": 4.0,
}
OUT_OF_RANGE = [
    ("current_stock", 1e308),
    ("current_stock", LIMITS["quantity"][1] * 2),
    ("daily_consumption", 1e308),
    ("daily_consumption", math.inf),
    ("pack_size", 5e-324 * 0),
    ("pack_size", 1e7),
    ("lead_time_days", 1e308),
    ("lead_time_days", 366.0),
    ("lead_time_days", -1.0),
]


def test_loads_refuse_out_of_range_numbers_by_row_and_column(backend: WarehouseBackend) -> None:
    backend.load("organizations", [ORG])
    before = backend.read("inventory_master").num_rows
    rows = [{**ITEM, "sku": f"S{i}", column: value} for i, (column, value) in
            enumerate(OUT_OF_RANGE)]  # fmt: skip
    with pytest.raises(ValidationError) as info:
        backend.load("inventory", rows)
    assert {(i.row, i.column) for i in info.value.issues} == {
        (i + 1, column) for i, (column, _) in enumerate(OUT_OF_RANGE)
    }
    assert backend.read("inventory_master").num_rows == before


def test_a_tiny_pack_size_inside_the_range_still_orders_a_finite_quantity(
    backend: WarehouseBackend,
) -> None:
    """5e-324 is > 0, so a load takes it; the heal must still order something finite or
    hold it, never inf."""
    backend.load("organizations", [ORG])
    backend.load("vendors", [{"vendor_id": "Blinkit"}])
    backend.load(
        "catalog", [{"vendor_id": "Blinkit", "sku": "OXY-CYL", "city": "Bangalore", "price": 1.0}]
    )
    backend.load("inventory", [{**ITEM, "pack_size": 5e-324, "daily_consumption": 1e9}])
    report = resq.SelfHealingEngine(backend).heal()
    orders = backend.read("purchase_orders").to_pylist()
    assert all(math.isfinite(o["quantity"]) and o["quantity"] <= MAX_ORDER_QUANTITY for o in orders)
    if not orders:
        kinds = {a["kind"] for a in backend.read("alerts").to_pylist()}
        assert "DATA_ERROR" in kinds, report


# --- chaos ------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [1e308, math.inf, math.nan, 0.0, -1.0, 101.0])
def test_chaos_refuses_implausible_demand_factors(factor: float) -> None:
    with pytest.raises(ValueError, match="factor"):
        simulation.spike_demand("H1", "OXY-CYL", factor)


@pytest.mark.parametrize("level", [1e308, math.inf, math.nan, -1.0, 2e9])
def test_chaos_refuses_implausible_stock(level: float) -> None:
    with pytest.raises(ValueError, match="stock"):
        simulation.drop_stock("H1", "OXY-CYL", level)


@pytest.mark.parametrize("name", ["OXY\nCYL", "\u202eLYC-YXO", "OXY\x1b[31m"])
def test_chaos_refuses_control_characters_in_names(name: str) -> None:
    with pytest.raises(ValueError, match="control characters"):
        simulation.spike_demand("H1", name, 2.0)
    with pytest.raises(ValueError, match="control characters"):
        simulation.vendor_offline(name)


def test_chaos_demand_1e308_is_refused_through_the_cli(tmp_path: Any) -> None:
    db = f"duckdb:///{tmp_path / 'c.duckdb'}"
    env = {"RESQ_DB": None, "RESQ_ORG": None, "RESQ_ACTOR": None, "COLUMNS": "250"}
    runner = CliRunner()
    assert runner.invoke(app, ["--db", db, "init"], env=env).exit_code == 0
    assert (
        runner.invoke(app, ["--db", db, "seed", "--orgs", "1", "--days", "0"], env=env).exit_code
        == 0
    )
    before = resq.connect(db).read("inventory_master").to_pylist()
    result = runner.invoke(
        app,
        ["--db", db, "chaos", "demand", "HOSP-BLR-001", "OXY-CYL", "--factor", "1e308"],
        env=env,
    )
    assert result.exit_code != 0
    assert "factor" in result.stdout + result.stderr
    after = resq.connect(db).read("inventory_master").to_pylist()
    assert after == before
    assert np.isfinite([r["demand_factor"] or 1.0 for r in after]).all()
