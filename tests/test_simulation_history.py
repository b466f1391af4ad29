"""The simulated history leads to the stock the inventory holds (issue 14, item 7): a
trajectory chart never contradicts the critical list."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import resq
from resq import simulation


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 6),
    days=st.integers(1, 45),
    seed=st.integers(0, 2**32),
    ends=st.lists(st.floats(0, 5000, allow_nan=False), min_size=6, max_size=6),
)
def test_each_series_ends_exactly_at_its_end_stock(
    n: int, days: int, seed: int, ends: list[float]
) -> None:
    orgs = [f"ORG-{i}" for i in range(n)]
    end = np.array(ends[:n])
    plain = simulation.generate_realistic_simulation(orgs, ["SKU"], days, seed)
    table = simulation.generate_realistic_simulation(orgs, ["SKU"], days, seed, end_stock=end)
    stock = table["stock"].to_numpy().reshape(n, days)
    used = table["consumption"].to_numpy().reshape(n, days)
    assert np.array_equal(stock[:, -1], end)
    assert (stock >= 0).all() and (used >= 0).all()
    assert table["stockout"].to_pylist() == (stock.reshape(-1) == 0).tolist()
    # Same keys and days; deterministic.
    assert table.select(["org_id", "sku", "day"]).equals(plain.select(["org_id", "sku", "day"]))
    again = simulation.generate_realistic_simulation(orgs, ["SKU"], days, seed, end_stock=end)
    assert table.equals(again)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_a_bad_end_stock_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="end_stock"):
        simulation.generate_realistic_simulation(["O"], ["S"], 5, 1, end_stock=[bad])


def test_seeded_history_ends_at_the_current_stock() -> None:
    backend = resq.connect("duckdb://")
    try:
        backend.init()
        resq.SelfHealingEngine(backend).seed()
        inventory = {
            (r["org_id"], r["sku"]): r["current_stock"]
            for r in backend.read("inventory_master").to_pylist()
        }
        history = backend.read("stock_history", order_by=("org_id", "sku", "day")).to_pylist()
        last = {(r["org_id"], r["sku"]): r["stock"] for r in history}
        assert last.keys() == inventory.keys()
        for key, stock in inventory.items():
            assert last[key] == pytest.approx(stock, abs=1e-9), key
        assert pc.max(backend.read("stock_history")["day"]).as_py() is not None
    finally:
        backend.close()
