"""The handler of GENERATE_REALISTIC_SIMULATION, the table function of
sql/snowflake/functions.sql.

A thin shell over resq.simulation. Import surface: numpy and pyarrow only (no pandas: a
table function is called row by row).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from resq import simulation

SERIES_COLUMNS = ("org_id", "sku", "day", "consumption", "stock", "stockout", "data_source")


class SimulationSeries:
    """GENERATE_REALISTIC_SIMULATION(org_id, sku, days, seed): one row per day, exactly
    ``resq.simulation.generate_realistic_simulation`` for that item (labelled SIMULATED)."""

    def process(self, org_id: str, sku: str, days: Any, seed: Any) -> Iterator[tuple[Any, ...]]:
        table = simulation.generate_realistic_simulation([org_id], [sku], int(days), int(seed))
        columns = [table.column(name).to_pylist() for name in SERIES_COLUMNS]
        yield from zip(*columns, strict=True)
