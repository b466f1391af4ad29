"""Listings at any scale on every backend (issue 14, item 1): the warehouse orders, limits
and counts the rows, and hands them over in Arrow record batches of bounded size."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from resq.backends.warehouse import WarehouseBackend
from resq.core import urgency
from resq.errors import ResqError

STATUSES = list(urgency.ORDER_STATUS_ORDER)
CYCLES = ["CY-AAAA", "CY-BBBB", "CY-CCCC"]


def synthetic_orders(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` purchase orders with ties in every ordering column but the last."""
    rng = random.Random(seed)
    start = datetime(2026, 12, 1)
    return [
        {
            "po_id": f"PO-{i:05d}",
            "idempotency_key": f"K-{i:05d}",
            "org_id": rng.choice(["HOSP-1", "PDS-1", "NGO-1"]),
            "sku": rng.choice(["OXY", "RICE", "KIT"]),
            "vendor": rng.choice(["Blinkit", None]),
            "quantity": float(rng.randint(1, 500)),
            "unit_price": 1.0,
            "status": rng.choice(STATUSES),
            "priority": rng.randint(1, 3),
            "rank": rng.randint(1, 4),
            "reason_legacy": "{}",
            "data_source": "SIMULATED",
            "cycle_id": rng.choice(CYCLES),
            "created_at": start + timedelta(minutes=rng.randint(0, 5)),
            "updated_at": start,
        }
        for i in range(n)
    ]


def insert_orders(backend: WarehouseBackend, rows: list[dict[str, Any]]) -> None:
    names = list(rows[0])
    with backend.transaction():
        backend.stage("resq_stage_listing", pa.Table.from_pylist(rows))
        backend.execute(
            backend.render(
                f"INSERT INTO purchase_orders ({', '.join(names)}) "
                f"SELECT {', '.join(names)} FROM resq_stage_listing"
            )
        )


@pytest.fixture(scope="module")
def shared(make_shared_backend: Any) -> tuple[WarehouseBackend, list[dict[str, Any]]]:
    """One backend per module with 40 synthetic orders (the tests only read it)."""
    backend = make_shared_backend()
    rows = synthetic_orders(40)
    insert_orders(backend, rows)
    return backend, sorted(rows, key=lambda r: urgency.sort_keys("orders", r))


@pytest.fixture
def backend(shared: tuple[WarehouseBackend, list[dict[str, Any]]]) -> WarehouseBackend:
    return shared[0]


@pytest.fixture
def orders(shared: tuple[WarehouseBackend, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return shared[1]


@pytest.mark.parametrize("limit", [1, 7, 40, 100, None])
def test_a_listing_is_the_urgency_order_cut_at_the_limit_and_counts_the_rest(
    backend: WarehouseBackend, orders: list[dict[str, Any]], limit: int | None
) -> None:
    listing = backend.listing("purchase_orders", order_by=urgency.ORDERS, limit=limit, batch_rows=6)
    batches = list(listing.batches)
    assert all(0 < b.num_rows <= 6 for b in batches), [b.num_rows for b in batches]
    got = [r["po_id"] for b in batches for r in b.to_pylist()]
    expected = [r["po_id"] for r in orders][:limit]
    assert got == expected
    assert listing.total == len(orders)
    assert listing.more(len(got)) == len(orders) - len(expected)


def test_a_listing_filters_and_counts_by_column(
    backend: WarehouseBackend, orders: list[dict[str, Any]]
) -> None:
    cycle = CYCLES[1]
    listing = backend.listing(
        "purchase_orders",
        where={"cycle_id": cycle},
        order_by=urgency.ORDERS,
        limit=3,
        by=("status",),
    )
    mine = [r for r in orders if r["cycle_id"] == cycle]
    assert [r["po_id"] for r in listing.rows()] == [r["po_id"] for r in mine[:3]]
    assert listing.total == len(mine)
    by_status = {c["status"]: c["n"] for c in listing.counts}
    assert by_status == {s: sum(1 for r in mine if r["status"] == s) for s in by_status}
    assert sum(by_status.values()) == len(mine)


def test_count_and_read_batches_agree_with_read(
    backend: WarehouseBackend, orders: list[dict[str, Any]]
) -> None:
    assert backend.count("purchase_orders") == [{"n": len(orders)}]
    scoped = backend.count("purchase_orders", org_id="HOSP-1")[0]["n"]
    assert scoped == sum(1 for r in orders if r["org_id"] == "HOSP-1")
    whole = backend.read("purchase_orders", order_by=urgency.ORDERS).to_pylist()
    streamed = [
        r
        for b in backend.read_batches("purchase_orders", order_by=urgency.ORDERS, batch_rows=9)
        for r in b.to_pylist()
    ]
    assert streamed == whole


def test_an_empty_listing_says_so(backend: WarehouseBackend) -> None:
    listing = backend.listing("alerts", order_by=urgency.ALERTS, limit=5)
    assert listing.total == 0
    assert list(listing.rows()) == []
    assert listing.more(0) == 0


def test_a_listing_of_an_unknown_table_is_refused(backend: WarehouseBackend) -> None:
    with pytest.raises(ResqError, match="unknown table"):
        backend.listing("secrets")
    with pytest.raises(ResqError, match="unknown table"):
        backend.count("secrets")
