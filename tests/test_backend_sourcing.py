"""Sourcing through the warehouse: what sql/vendor_options.sql, sql/vendor_authorization.sql
and sql/candidates.sql read, the core decides exactly as a brute-force oracle over the
loaded rows does, on every backend.

The property loads a random network (vendors of random types and reliability, a catalog of
random lead times, prices, packs and minimums, authorization rows that restrict and revoke,
vendors taken offline by chaos) with ``resq load``, plans one heal cycle, and checks every
proposal: never an unauthorized vendor, never an offline one while an authorized online one
serves, the ranking (preferred, effective lead time, price, reliability, latency, name), and
the quantity in whole packs at least the vendor's minimum.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resq.backends.warehouse import WarehouseBackend
from resq.core.ordering import Action
from resq.core.sourcing import DEFAULT_AUTHORIZATION, VENDOR_TYPES
from resq.engine import SelfHealingEngine
from resq.errors import ValidationError

CITY = "Pune"
ITEMS = {  # sku: (sector, category, item pack)
    "OXY": ("HOSPITAL", "OXYGEN", 1.0),
    "PARA": ("HOSPITAL", "MEDICINE", 10.0),
    "RICE": ("PDS", "RICE", 50.0),
    "SUGAR": ("PDS", "OTHER", 1.0),
    "KIT": ("NGO", "KIT", 1.0),
}
VENDORS = ("V-A", "V-B", "V-C", "V-D")


@st.composite
def sourcing_networks(draw: Any) -> dict[str, Any]:
    vendors = [
        {
            "vendor_id": v,
            "vendor_type": draw(st.sampled_from(VENDOR_TYPES)),
            "reliability": draw(st.sampled_from([None, 0.9, 0.95])),
        }
        for v in VENDORS
    ]
    catalog = []
    for sku, (_, _, pack) in ITEMS.items():
        for v in draw(st.lists(st.sampled_from(VENDORS), unique=True, max_size=4)):
            catalog.append(
                {
                    "vendor_id": v,
                    "sku": sku,
                    "city": CITY,
                    "price": float(draw(st.sampled_from([10, 12, 15]))),
                    "lead_time_days": float(draw(st.integers(0, 2))),
                    "min_order_qty": float(draw(st.sampled_from([0, 0, 25, 400]))),
                    "pack_size": draw(st.sampled_from([None, None, pack, 2 * pack])),
                }
            )
    rules = draw(
        st.lists(
            st.tuples(
                st.sampled_from(sorted({s for s, _, _ in ITEMS.values()})),
                st.sampled_from(sorted({c for _, c, _ in ITEMS.values()})),
                st.sampled_from(VENDOR_TYPES),
                st.booleans(),
            ),
            max_size=4,
            unique_by=lambda r: r[:3],
        )
    )
    return {
        "vendors": vendors,
        "catalog": catalog,
        "rules": rules,
        "online": {v: draw(st.sampled_from([None, 5, 80])) for v in VENDORS},  # None: offline
        "preferred": {sku: draw(st.sampled_from([None, *VENDORS])) for sku in ITEMS},
    }


def _load(backend: WarehouseBackend, net: dict[str, Any]) -> SelfHealingEngine:
    backend.sql(
        "DELETE FROM purchase_orders; DELETE FROM inventory_master; DELETE FROM organizations; "
        "DELETE FROM vendor_catalog; DELETE FROM vendors; DELETE FROM vendor_authorization"
    )
    backend.load(
        "vendor_authorization",
        [
            {"sector": s, "category": c, "vendor_type": t, "authorized": True}
            for s, c, t in DEFAULT_AUTHORIZATION
        ],
    )
    if net["rules"]:
        backend.load(
            "vendor_authorization",
            [
                dict(zip(("sector", "category", "vendor_type", "authorized"), r, strict=True))
                for r in net["rules"]
            ],
        )
    sectors = sorted({s for s, _, _ in ITEMS.values()})
    backend.load(
        "organizations",
        [
            {"org_id": f"ORG-{s}", "org_name": s, "sector": s, "city": CITY}
            | ({"phh_persons": 100_000} if s == "PDS" else {})  # an allotment left to order
            for s in sectors
        ],
    )
    backend.sql("DELETE FROM city_weather")
    backend.load(
        "inventory",
        [
            {
                "org_id": f"ORG-{sector}",
                "sku": sku,
                "item_name": sku,
                "category": category,
                "current_stock": 0.0,
                "daily_consumption": 7.0,
                "pack_size": pack,
                "preferred_vendor": net["preferred"][sku],
            }
            for sku, (sector, category, pack) in ITEMS.items()
        ],
    )
    backend.load("vendors", net["vendors"])
    if net["catalog"]:
        backend.load("catalog", net["catalog"])
    engine = SelfHealingEngine(backend)
    for v, latency in net["online"].items():
        if latency is None:
            engine.vendor_offline(v)
        else:
            engine.vendor_online(v, latency_ms=latency)
    return engine


def _authorized(net: dict[str, Any], sector: str, category: str, kind: str) -> bool:
    rows = {(s, c, t): True for s, c, t in DEFAULT_AUTHORIZATION}
    rows.update({r[:3]: r[3] for r in net["rules"]})
    named = {(s, c) for s, c, _ in rows}
    return (sector, category) not in named or rows.get((sector, category, kind), False)


def _rank(net: dict[str, Any], sku: str, offer: dict[str, Any]) -> tuple[Any, ...]:
    vendor = next(v for v in net["vendors"] if v["vendor_id"] == offer["vendor_id"])
    reliability = vendor["reliability"]
    return (
        offer["vendor_id"] != net["preferred"][sku],
        offer["lead_time_days"],
        offer["price"],
        -(reliability if reliability is not None else -math.inf),
        net["online"][offer["vendor_id"]],
        offer["vendor_id"],
    )


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(net=sourcing_networks())
def test_the_warehouse_and_the_core_source_as_the_oracle_does(
    backend: WarehouseBackend, net: dict[str, Any]
) -> None:
    engine = _load(backend, net)
    backend.refresh_analysis(force=True)
    proposals, _ = engine.plan()
    by_sku = {r["sku"]: r for r in proposals.to_pylist()}
    assert set(by_sku) == set(ITEMS)  # every critical item gets a proposal
    kinds = {v["vendor_id"]: v["vendor_type"] for v in net["vendors"]}
    for sku, (sector, category, item_pack) in ITEMS.items():
        r = by_sku[sku]
        offers = [o for o in net["catalog"] if o["sku"] == sku]
        eligible = [
            o
            for o in offers
            if _authorized(net, sector, category, kinds[o["vendor_id"]])
            and net["online"][o["vendor_id"]] is not None
        ]
        rejected = {x["vendor"]: x["why"] for x in r["reason"]["vendors_rejected"]}
        for o in offers:
            if not _authorized(net, sector, category, kinds[o["vendor_id"]]):
                assert rejected[o["vendor_id"]].startswith("not authorized"), (sku, o)
        if not eligible:
            assert r["vendor"] is None
            assert r["action"] == Action.ORDER
            assert r["order_status"] == "PENDING_VENDOR" and r["quantity"] > 0
            continue
        best = min(eligible, key=lambda o: _rank(net, sku, o))
        assert r["vendor"] == best["vendor_id"], (sku, eligible)
        assert r["unit_price"] == best["price"]
        pack = best["pack_size"] or item_pack
        if r["action"] == Action.ORDER:
            q = r["quantity"]
            assert q == pytest.approx(round(q / pack) * pack) and q >= best["min_order_qty"]


def test_authorization_loads_are_validated_and_write_nothing(backend: WarehouseBackend) -> None:
    before = backend.read("vendor_authorization").num_rows
    assert before == len(DEFAULT_AUTHORIZATION)  # seeded by init
    with pytest.raises(ValidationError) as err:
        backend.load(
            "vendor_authorization",
            [
                {"sector": "PDS", "category": "RICE", "vendor_type": "QUICK_COMMERCE"},
                {"sector": "PDS", "category": "RICE", "vendor_type": "GROCER"},
            ],
        )
    issues = [(i.row, i.column) for i in err.value.issues]
    assert (2, "vendor_type") in issues
    assert backend.read("vendor_authorization").num_rows == before
    # an edit is kept across init (the defaults go only into an empty table)
    backend.load(
        "vendor_authorization",
        [{"sector": "PDS", "category": "RICE", "vendor_type": "DEPOT", "authorized": False}],
    )
    backend.init()
    rows = {
        (r["sector"], r["category"], r["vendor_type"]): r["authorized"]
        for r in backend.read("vendor_authorization").to_pylist()
    }
    assert rows[("PDS", "RICE", "DEPOT")] is False and len(rows) == before
