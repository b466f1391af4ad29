"""Long sorted listings read a page at a time (issue 14, item 1: memory flat in the number
of rows): each page is a bounded top-N after the last row of the page before, and together
the pages are exactly the one sorted query, row for row, on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resq.backends import paging
from resq.backends.warehouse import WarehouseBackend
from resq.core import urgency

START = datetime(2026, 12, 1)


def _examples(request: pytest.FixtureRequest, embedded: int, protocol: int) -> int:
    """Fewer examples through the Snowflake protocol (each round trip is a server call)."""
    return embedded if "duckdb" in request.node.callspec.id else protocol


def _rows(batches: Iterator[pa.RecordBatch]) -> list[dict[str, Any]]:
    return [r for b in batches for r in b.to_pylist()]


def _replace(backend: WarehouseBackend, table: str, rows: list[dict[str, Any]]) -> None:
    with backend.transaction():
        if rows:  # staged before the first write (Snowflake creates the stage outside it)
            backend.stage("resq_stage_pages", pa.Table.from_pylist(rows))
        backend.execute(backend.render(f"DELETE FROM {table}"))
        if rows:
            names = list(rows[0])
            backend.execute(
                backend.render(
                    f"INSERT INTO {table} ({', '.join(names)}) "
                    f"SELECT {', '.join(names)} FROM resq_stage_pages"
                )
            )


# Few distinct values per ordering column, so most rows tie on every term but the key;
# ranks are often NULL (NULLS FIRST), statuses include one outside the known order.
orders_rows = st.lists(
    st.fixed_dictionaries(
        {
            "status": st.sampled_from([*urgency.ORDER_STATUS_ORDER, "ODD"]),
            "priority": st.integers(1, 2),
            "minute": st.integers(0, 2),
            "rank": st.one_of(st.none(), st.integers(1, 2)),
            "org_id": st.sampled_from(["HOSP-1", "PDS-1"]),
        }
    ),
    max_size=14,
)


def _orders(drawn: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "po_id": f"PO-{i:03d}",
            "idempotency_key": f"K-{i:03d}",
            "org_id": d["org_id"],
            "sku": "OXY",
            "quantity": 1.0,
            "status": d["status"],
            "priority": d["priority"],
            "rank": d["rank"],
            "reason_status": "CRITICAL",  # the reason's typed columns (resq.core.reasons)
            "data_source": "SIMULATED",
            "cycle_id": "CY-1",
            "created_at": START + timedelta(minutes=d["minute"]),
            "updated_at": START,
        }
        for i, d in enumerate(drawn)
    ]


@pytest.mark.slow
def test_paged_orders_are_the_one_sorted_query_row_for_row(
    backend: WarehouseBackend, request: pytest.FixtureRequest
) -> None:
    @settings(
        max_examples=_examples(request, 60, 15),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        drawn=orders_rows,
        page_rows=st.integers(1, 4),
        limit=st.one_of(st.none(), st.integers(1, 16)),
        org=st.sampled_from([None, "HOSP-1"]),
    )
    def agree(
        drawn: list[dict[str, Any]], page_rows: int, limit: int | None, org: str | None
    ) -> None:
        _replace(backend, "purchase_orders", _orders(drawn))
        one = backend.read("purchase_orders", org_id=org, order_by=urgency.ORDERS, limit=limit)
        paged = backend.read_batches(
            "purchase_orders",
            org_id=org,
            order_by=urgency.ORDERS,
            limit=limit,
            page_rows=page_rows,
            batch_rows=3,
        )
        batches = list(paged)
        assert all(b.schema == one.schema for b in batches)
        assert _rows(iter(batches)) == one.to_pylist()

    agree()


items_rows = st.lists(
    st.fixed_dictionaries(
        {
            "org": st.integers(0, 2),
            # zero consumption: days left NULL (never runs out); few values: many ties
            "current_stock": st.sampled_from([0.0, 10.0, 20.0]),
            "daily_consumption": st.sampled_from([0.0, 0.0, 5.0, 10.0]),
        }
    ),
    min_size=1,
    max_size=14,
)

ORGS = [("HOSP-1", "HOSPITAL"), ("PDS-1", "PDS"), ("NGO-1", "NGO")]


@pytest.mark.slow
def test_paged_items_are_the_one_sorted_query_ties_and_null_days_included(
    backend: WarehouseBackend, request: pytest.FixtureRequest
) -> None:
    backend.load(
        "organizations",
        [
            {"org_id": o, "org_name": o, "sector": s, "city": "Pune", "data_source": "REAL"}
            for o, s in ORGS
        ],
    )

    @settings(
        max_examples=_examples(request, 30, 8),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        drawn=items_rows,
        page_rows=st.integers(1, 4),
        limit=st.one_of(st.none(), st.integers(1, 16)),
        critical=st.booleans(),
    )
    def agree(
        drawn: list[dict[str, Any]], page_rows: int, limit: int | None, critical: bool
    ) -> None:
        _replace(
            backend,
            "inventory_master",
            [
                {
                    "org_id": ORGS[d["org"]][0],
                    "sku": f"SKU-{i:03d}",
                    "item_name": f"Item {i}",
                    "category": "OTHER",
                    "current_stock": d["current_stock"],
                    "daily_consumption": d["daily_consumption"],
                    "lead_time_days": 1.0,
                    "data_source": "REAL",
                    "updated_at": START,
                }
                for i, d in enumerate(drawn)
            ],
        )
        backend.refresh_analysis(force=True)
        where = {"status": "CRITICAL"} if critical else None
        one = backend.read("stock_analysis", where=where, order_by=urgency.ITEMS, limit=limit)
        expected = one.to_pylist()
        assert expected == sorted(expected, key=lambda r: urgency.sort_keys("items", r))
        paged = backend.listing(
            "stock_analysis",
            where=where,
            order_by=urgency.ITEMS,
            limit=limit,
            page_rows=page_rows,
            batch_rows=2,
        )
        assert list(paged.rows()) == expected
        assert paged.more(len(expected)) == paged.total - len(expected)

    agree()


def test_a_paged_listing_runs_bounded_pages(
    backend: WarehouseBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = [
        {"status": "PLACED", "priority": 1, "minute": 0, "rank": None, "org_id": "HOSP-1"}
    ] * 10
    _replace(backend, "purchase_orders", _orders(drawn))
    texts: list[str] = []
    render = backend.render
    monkeypatch.setattr(backend, "render", lambda q: texts.append(str(q)) or render(q))
    rows = _rows(backend.read_batches("purchase_orders", order_by=urgency.ORDERS, page_rows=4))
    assert [r["po_id"] for r in rows] == [f"PO-{i:03d}" for i in range(10)]
    pages = [t for t in texts if "resq_page" in t]
    assert len(pages) == 3 and all(t.endswith("LIMIT 4") for t in pages)
    assert all("PO-" not in t for t in pages)  # the cursor is bound, never written in


def test_a_short_listing_is_one_top_n_query(
    backend: WarehouseBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts: list[str] = []
    render = backend.render
    monkeypatch.setattr(backend, "render", lambda q: texts.append(str(q)) or render(q))
    list(backend.read_batches("alerts", order_by=urgency.ALERTS, limit=5, page_rows=5))
    assert not [t for t in texts if "resq_page" in t]


def test_a_listing_refreshes_the_analysis_once(
    backend: WarehouseBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    refresh = backend.refresh_if_due
    monkeypatch.setattr(backend, "refresh_if_due", lambda: calls.append(1) or refresh())
    listing = backend.listing("stock_analysis", order_by=urgency.ITEMS, by=("status",))
    list(listing.rows())
    assert len(calls) == 1


@pytest.mark.notimpl(
    ["snowflake"],
    reason="Snowflake reads committed data per statement (no snapshot across statements), "
    "so resq reads a listing there in one sorted query (listing_page_rows None); paging "
    "forced on it sees writes made between pages",
)
def test_every_page_reads_the_snapshot_of_the_first(backend: WarehouseBackend) -> None:
    drawn = [
        {"status": "PLACED", "priority": 1 + i % 2, "minute": 0, "rank": 1, "org_id": "HOSP-1"}
        for i in range(9)
    ]
    _replace(backend, "purchase_orders", _orders(drawn))
    before = [
        r["po_id"] for r in backend.read("purchase_orders", order_by=urgency.ORDERS).to_pylist()
    ]
    pages = backend.read_batches("purchase_orders", order_by=urgency.ORDERS, page_rows=2)
    seen: list[str] = []
    for i, batch in enumerate(pages):
        seen += [r["po_id"] for r in batch.to_pylist()]
        # at every page boundary: a row that sorts first appears, one not yet read goes
        backend.sql(
            "INSERT INTO purchase_orders (po_id, idempotency_key, org_id, sku, quantity, "
            "status, priority, reason_status, data_source, created_at, updated_at) VALUES "
            "(?, ?, 'HOSP-1', 'OXY', 1, 'PENDING_VENDOR', 1, 'CRITICAL', 'SIMULATED', ?, ?)",
            [f"PO-NEW-{i}", f"K-NEW-{i}", START, START],
        )
        backend.sql("DELETE FROM purchase_orders WHERE po_id = ?", [before[-1 - i]])
    assert seen == before


def test_an_ordering_ends_in_the_unique_key() -> None:
    terms = paging.terms_of("purchase_orders", ["priority NULLS FIRST"])
    assert terms is not None and terms[-1] == paging.Term("po_id")
    assert paging.terms_of("vendors", ["vendor_id NULLS FIRST"]) is None
    items = paging.terms_of("stock_analysis", ["days_remaining NULLS LAST", "org_id NULLS FIRST"])
    assert items is not None and [t.expr for t in items] == ["days_remaining", "org_id", "sku"]
