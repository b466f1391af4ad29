"""resq.replay: replay policies over a year of demand and compare them (the core's
:mod:`resq.core.replay`), with the network taken from the simulation or from a backend.

>>> from resq import replay
>>> net = replay.simulated_network(n_orgs=3, skus_per_org=2)
>>> result = replay.replay(net, ["resq", "seed-rule"], days=30)
>>> sorted(result.summary("policy")["policy"].to_pylist())
['resq', 'seed-rule']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from resq.core.policies import (
    POLICIES,
    DayState,
    Orders,
    get_policy,
    register_policy,
)
from resq.core.replay import (
    ITEM_COLUMNS,
    ChaosSchedule,
    Costs,
    ReplayNetwork,
    ReplayResult,
    initial_state,
    replay,
)
from resq.core.sectors import DEFAULT_SECTOR_CONFIG, SectorConfig

__all__ = [
    "POLICIES",
    "ChaosSchedule",
    "Costs",
    "DayState",
    "Orders",
    "ReplayNetwork",
    "ReplayResult",
    "from_backend",
    "from_tables",
    "get_policy",
    "history_demand",
    "initial_state",
    "register_policy",
    "replay",
    "simulated_network",
]


def from_tables(
    organizations: pa.Table,
    inventory: pa.Table,
    vendor_catalog: pa.Table,
    vendor_status: pa.Table,
    weather: dict[str, str],
    configs: dict[str, SectorConfig] | None = None,
    vendors: pa.Table | None = None,
    authorization: pa.Table | None = None,
) -> ReplayNetwork:
    """A replay network from warehouse-shaped tables (inventory joined to organizations;
    ``daily_consumption`` times ``demand_factor`` where the inventory has one), with the
    ``vendors`` (their types and reliability) and the ``vendor_authorization`` rules the
    vendor choice applies (:mod:`resq.core.sourcing`; the defaults when None)."""
    inv = inventory
    if "demand_factor" in inv.column_names:
        import pyarrow.compute as pc

        rate = pc.multiply(
            inv["daily_consumption"].cast(pa.float64()),
            pc.fill_null(inv["demand_factor"].cast(pa.float64()), 1.0),
        )
        inv = inv.set_column(inv.column_names.index("daily_consumption"), "daily_consumption", rate)
    org_cols = [
        c
        for c in ("org_id", "org_name", "sector", "city", "disaster_zone", "phh_persons",
                  "aay_households", "budget_cap")
        if c in organizations.column_names
    ]  # fmt: skip
    inv_cols = [c for c in ITEM_COLUMNS if c in inv.column_names and c not in org_cols[1:]]
    items = inv.select(inv_cols).join(
        organizations.select(org_cols), "org_id", join_type="inner", use_threads=False
    )
    items = items.sort_by([("org_id", "ascending"), ("sku", "ascending")])
    return ReplayNetwork(
        items,
        vendor_catalog,
        vendor_status,
        dict(weather),
        configs or DEFAULT_SECTOR_CONFIG,
        vendors=vendors,
        authorization=authorization,
    )


def simulated_network(
    n_orgs: int = 6,
    skus_per_org: int = 3,
    seed: int = 42,
    cities: Sequence[str] = ("Bangalore", "Delhi"),
) -> ReplayNetwork:
    """The simulation's network (:func:`resq.simulation.simulate_network`) with its
    simulated weather and vendor status: the default network of ``resq demo``."""
    from resq import simulation

    net = simulation.simulate_network(n_orgs, skus_per_org, seed, cities)
    vendors = net.vendors["vendor_id"]
    status = simulation.get_vendor_status_batch(vendors)
    vendor_status = pa.table(
        {
            "vendor_id": vendors,
            "status": status.field("status"),
            "latency_ms": status.field("latency_ms"),
            "data_source": status.field("data_source"),
        }
    )
    weather = {c: simulation.get_weather_data(c) for c in cities}
    return from_tables(
        net.organizations,
        net.inventory,
        net.vendor_catalog,
        vendor_status,
        weather,
        vendors=net.vendors,
    )


def from_backend(backend: Any) -> ReplayNetwork:
    """The network a backend holds now: its organizations, inventory, vendors and vendor
    catalog, the current vendor status and city weather, its ``sector_config`` and its
    ``vendor_authorization`` (what a heal cycle reads)."""
    configs = {}
    for row in backend.read("sector_config").to_pylist():
        fields = {k: row[k] for k in SectorConfig.__dataclass_fields__ if k in row and k != "extra"}
        configs[row["sector"]] = SectorConfig(**fields)
    weather = {r["city"]: r["condition"] for r in backend.read("city_weather").to_pylist()}
    return from_tables(
        backend.read("organizations"),
        backend.read("inventory_master"),
        backend.read("vendor_catalog"),
        backend.read("vendor_status"),
        weather,
        configs or None,
        vendors=backend.read("vendors"),
        authorization=backend.run_file("vendor_authorization"),
    )


def history_demand(history: pa.Table, network: ReplayNetwork) -> tuple[Any, Any]:
    """Demand from recorded history (``stock_history``: ``org_id, sku, day,
    consumption``): an (items, days) array in the order of ``network.items`` over every day
    the history covers, and those days. A day an item has no row counts as no demand.
    Recorded consumption is what stock allowed: on a stock-out day it is below what was
    asked, so a replay over history understates demand there."""
    import numpy as np
    import pyarrow.compute as pc

    for name in ("org_id", "sku", "day", "consumption"):
        if name not in history.column_names:
            raise ValueError(f"the history has no {name!r} column")
    if history.num_rows == 0:
        raise ValueError("the history is empty")
    days = pc.unique(history["day"]).sort()
    keys = pc.binary_join_element_wise(
        history["org_id"].cast(pa.string()), history["sku"].cast(pa.string()), "\x1f"
    )
    item_keys = pc.binary_join_element_wise(network.items["org_id"], network.items["sku"], "\x1f")
    row = pc.index_in(keys, value_set=item_keys.combine_chunks())
    keep = pc.is_valid(row)
    row = np.asarray(row.filter(keep).to_numpy(zero_copy_only=False), dtype=np.int64)
    col = np.asarray(
        pc.index_in(history["day"].filter(keep), value_set=days).to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    value = np.asarray(
        history["consumption"].filter(keep).cast(pa.float64()).to_numpy(zero_copy_only=False),
        dtype=np.float64,
    )
    bad = ~np.isfinite(value) | (value < 0)
    if bad.any():
        raise ValueError(f"history consumption must be finite and >= 0, got {value[bad][0]!r}")
    out = np.zeros((network.n, len(days)))
    out[row, col] = value
    return out, days.to_pylist()
