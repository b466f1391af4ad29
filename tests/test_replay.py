"""The replay (resq.core.replay): stockpyl agrees on (s, S), units are conserved, vendors
are chosen as the heal cycle chooses them, and one replay day of the ``resq`` policy decides
what ``SelfHealingEngine.heal`` decides on the same state."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resq import replay as rp
from resq.core.policies import FixedSS, ResqPolicy
from resq.engine import SelfHealingEngine
from strategies import chaos_schedules, replay_networks

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def one_item(stock: float, lead: float, vendor_online: bool = True) -> rp.ReplayNetwork:
    items = pa.table(
        {
            "org_id": ["HOSP-X-001"],
            "sku": ["ITEM"],
            "sector": ["HOSPITAL"],
            "city": ["Pune"],
            "category": ["MEDICINE"],
            "current_stock": [float(stock)],
            "daily_consumption": [5.0],
            "lead_time_days": [float(lead)],
        }
    )
    catalog = pa.table(
        {"vendor_id": ["V"], "sku": ["ITEM"], "city": ["Pune"], "price": [1.0],
         "lead_time_days": [float(lead)]}
    )  # fmt: skip
    status = pa.table(
        {"vendor_id": ["V"], "status": ["ONLINE" if vendor_online else "OFFLINE"],
         "latency_ms": [10]}
    )  # fmt: skip
    return rp.ReplayNetwork(items, catalog, status, {"Pune": "Clear"})


# ---------------------------------------------------------------- stockpyl, the oracle


def stockpyl_run(demand, s, S, lead, initial):
    """stockpyl's single-stage (s, S) simulation: per-period ending inventory level and
    order quantity. stockpyl backorders unmet demand; an order of period t with shipment
    lead time L is received in period t + L before that period's demand is met; the
    order compares the inventory position after the period's demand with s (<= s orders
    S - IP)."""
    from stockpyl.sim import simulation
    from stockpyl.supply_chain_network import single_stage_system

    net = single_stage_system(
        holding_cost=1, stockout_cost=1, demand_type="D", demand_list=list(demand),
        shipment_lead_time=lead, policy_type="sS", reorder_point=s, order_up_to_level=S,
        initial_inventory_level=initial,
    )  # fmt: skip
    simulation(net, len(demand), progress_bar=False)
    node = net.nodes[0]
    levels = [
        node.state_vars[t].inventory_level[node.product_indices[0]] for t in range(len(demand))
    ]
    orders = [
        node.state_vars[t].order_quantity_fg[node.product_indices[0]] for t in range(len(demand))
    ]
    return np.array(levels, float), np.array(orders, float)


@FAST
@given(
    demand=st.lists(st.integers(0, 20), min_size=1, max_size=40),
    s=st.integers(0, 40),
    gap=st.integers(0, 60),
    lead=st.integers(1, 5),
    initial=st.integers(0, 80),
)
def test_s_S_matches_stockpyl(demand, s, gap, lead, initial):
    S = s + gap
    days = len(demand)
    expected_levels, expected_orders = stockpyl_run(demand, s, S, lead, initial)
    net = one_item(initial, lead)
    result = rp.replay(
        net, [("s-S", FixedSS(s=s, S=S))], days, demand=np.array([demand], float),
        backorders=True, record_levels=True,
    )  # fmt: skip
    np.testing.assert_allclose(result.levels["s-S"][:, 0], expected_levels, atol=1e-9)
    orders = np.zeros(days)
    log = result.orders.to_pydict()
    for day, qty in zip(log["day"], log["quantity"], strict=True):
        orders[day - 1] += qty
    np.testing.assert_allclose(orders, expected_orders, atol=1e-9)


# ---------------------------------------------------------------- properties


@pytest.mark.slow
@FEW
@given(net=replay_networks(), chaos=chaos_schedules(), days=st.integers(1, 40))
def test_units_are_conserved(net, chaos, days):
    """initial + received = final + served + lost, for every item and policy, where lost
    is the stock chaos drops took (unmet demand is lost sales: it never was stock)."""
    result = rp.replay(net, list(rp.POLICIES), days, chaos=chaos)
    t = result.items
    lhs = t["initial_stock"].to_numpy() + t["received"].to_numpy()
    rhs = t["final_stock"].to_numpy() + t["served"].to_numpy() + t["dropped"].to_numpy()
    np.testing.assert_allclose(
        t["demanded"].to_numpy(), t["served"].to_numpy() + t["short"].to_numpy(), rtol=1e-9
    )
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-6)
    assert (t["final_stock"].to_numpy() >= -1e-9).all()
    # everything ordered is received, in transit or still waiting for a vendor
    ordered = t["units_ordered"].to_numpy()
    accounted = (t["received"].to_numpy() + t["in_transit_at_end"].to_numpy()
                 + t["pending_at_end"].to_numpy())  # fmt: skip
    np.testing.assert_allclose(ordered, accounted, rtol=1e-9, atol=1e-6)


@pytest.mark.slow
@FEW
@given(net=replay_networks(), chaos=chaos_schedules(), days=st.integers(1, 30))
def test_no_order_goes_to_an_offline_vendor_while_one_serves(net, chaos, days):
    result = rp.replay(net, list(rp.POLICIES), days, chaos=chaos)
    online = {(r["day"], r["vendor_id"]): r["online"] for r in result.vendor_days.to_pylist()}
    cat = net.vendor_catalog.to_pylist()
    city = dict(zip(zip(net.items["org_id"].to_pylist(), net.items["sku"].to_pylist(),
                        strict=True), net.items["city"].to_pylist(), strict=True))  # fmt: skip
    for o in result.orders.to_pylist():
        serving = [
            c["vendor_id"] for c in cat
            if c["sku"] == o["sku"] and c["city"] == city[(o["org_id"], o["sku"])]
        ]  # fmt: skip
        if o["vendor"] is not None:
            assert online[(o["day"], o["vendor"])], o
            assert o["vendor"] in serving
        else:
            assert o["order_status"] in ("PENDING_VENDOR", "PENDING_APPROVAL")
            if o["order_status"] == "PENDING_VENDOR":
                assert not any(online[(o["day"], v)] for v in serving), o


@FAST
@given(net=replay_networks(), days=st.integers(1, 30))
def test_zero_demand_orders_nothing_it_does_not_need(net, days):
    """With no demand and no consumption on record, no policy orders anything."""
    items = net.items.set_column(
        net.items.column_names.index("daily_consumption"), "daily_consumption",
        pa.array(np.zeros(net.n)),
    )  # fmt: skip
    quiet = dataclasses.replace(net, items=items)
    result = rp.replay(quiet, list(rp.POLICIES), days, demand=np.zeros((net.n, days)))
    assert result.orders.num_rows == 0
    assert sum(result.items["short"].to_pylist()) == 0


@pytest.mark.slow
@FEW
@given(
    seed=st.integers(0, 10_000),
    n_orgs=st.integers(2, 6),
    days=st.integers(20, 70),
    factor=st.floats(1.0, 6.0),
)
def test_resq_never_orders_above_the_pds_monthly_allotment(seed, n_orgs, days, factor):
    """Even with demand spiking far above the entitlement, resq's orders of an entitled
    PDS item within a calendar month stay within that month's NFSA allotment."""
    from resq.core.sectors import monthly_allotment_kg

    net = rp.simulated_network(n_orgs=n_orgs, skus_per_org=2, seed=seed)
    chaos = rp.ChaosSchedule(demand_spikes=((None, None, factor, 1, days),))
    result = rp.replay(net, ["resq"], days, seed=seed, chaos=chaos, start_date=rp_date())
    items = net.items.to_pylist()
    allot = {
        (r["org_id"], r["sku"]): float(monthly_allotment_kg(r["phh_persons"] or 0,
                                                            r["aay_households"] or 0)[0])
        for r in items if r["sector"] == "PDS" and r["category"] in ("RICE", "WHEAT")
    }  # fmt: skip
    assert allot
    per_month: dict[tuple, float] = {}
    for o in result.orders.to_pylist():
        key = (o["org_id"], o["sku"])
        if key in allot and o["event"] == "ORDER":
            month = rp_date().toordinal() + o["day"] - 1
            from datetime import date

            m = date.fromordinal(month).month
            per_month[(*key, m)] = per_month.get((*key, m), 0.0) + o["quantity"]
    for (org, sku, _m), qty in per_month.items():
        assert qty <= allot[(org, sku)] + 1e-6, (org, sku, qty, allot[(org, sku)])


def rp_date():
    from datetime import date

    return date(2026, 1, 1)


# ---------------------------------------------------------------- the heal cycle's rules


@pytest.mark.parametrize("chaos", [False, True])
def test_one_replay_day_decides_what_heal_decides(seeded, chaos):
    engine = SelfHealingEngine(seeded)
    if chaos:
        engine.drop_stock("HOSP-BLR-001", "OXY-CYL", 0)
        engine.vendor_offline("Blinkit")
        engine.set_weather("Delhi", "Storm")
    report = engine.heal(dry_run=True)
    expected = {
        (o["org_id"], o["sku"]): (o["quantity"], o["vendor"], o["status"]) for o in report.orders
    }
    net = rp.from_backend(seeded)
    decided = ResqPolicy()(rp.initial_state(net))
    got = {}
    for i in np.flatnonzero(decided.quantity > 0):
        key = (net.items["org_id"][int(i)].as_py(), net.items["sku"][int(i)].as_py())
        got[key] = (float(decided.quantity[i]), decided.vendor[i], decided.status[i])
    assert expected
    assert got == expected
    # and a whole replayed day (with no demand, so the state it decides on is the same)
    day = rp.replay(net, ["resq"], 1, demand=np.zeros((net.n, 1)))
    replayed = {
        (o["org_id"], o["sku"]): (o["quantity"], o["vendor"], o["order_status"])
        for o in day.orders.to_pylist()
    }
    assert replayed == expected


# ---------------------------------------------------------------- chaos files, registry


def test_chaos_file_json_and_yaml(tmp_path):
    data = {
        "vendor_offline": [{"vendor": "Dunzo", "from": 1, "to": 10}],
        "weather": [{"city": "Bangalore", "condition": "Rain", "from": 20, "to": 26}],
        "demand_spikes": [{"org_id": "NGO-BLR-001", "factor": 2, "from": 5, "to": 9}],
        "stock_drops": [{"org_id": "HOSP-BLR-001", "sku": "OXY-CYL", "day": 3, "to": 0}],
    }
    j = tmp_path / "chaos.json"
    j.write_text(json.dumps(data))
    y = tmp_path / "chaos.yaml"
    import yaml

    y.write_text(yaml.safe_dump(data))
    a, b = rp.ChaosSchedule.load(j), rp.ChaosSchedule.load(y)
    assert a == b
    assert a.vendor_offline == (("Dunzo", 1, 10),)
    assert rp.ChaosSchedule.from_dict(a.as_dict()) == a


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"vendor_offline": [{"vendor": "Dunzo", "from": 0, "to": 3}]},
         r"chaos.vendor_offline\[1\].from"),
        ({"weather": [{"city": "X", "condition": "Snow", "from": 1, "to": 2}]},
         r"chaos.weather\[1\].condition"),
        ({"demand_spikes": [{"factor": -1, "from": 1, "to": 2}]},
         r"chaos.demand_spikes\[1\].factor"),
        ({"stock_drops": [{"sku": "OXY", "day": 1}]}, r"chaos.stock_drops\[1\].org_id"),
        ({"vendor_offline": [{"vendor": "A", "from": 5, "to": 3}]}, "before"),
        ({"outage": []}, "unknown section"),
    ],
)  # fmt: skip
def test_bad_chaos_entries_name_section_entry_and_field(data, message):
    with pytest.raises(ValueError, match=message):
        rp.ChaosSchedule.from_dict(data)


def test_chaos_naming_an_unknown_vendor_or_city_is_an_error():
    net = rp.simulated_network(n_orgs=3, skus_per_org=1)
    with pytest.raises(ValueError, match="unknown vendor 'Nope'"):
        rp.replay(net, ["s-S"], 5, chaos=rp.ChaosSchedule(vendor_offline=(("Nope", 1, 2),)))
    with pytest.raises(ValueError, match="unknown city"):
        rp.replay(net, ["s-S"], 5, chaos=rp.ChaosSchedule(weather=(("Oslo", "Rain", 1, 2),)))


def test_a_vendor_outage_sends_orders_to_the_fallback_and_back():
    net = rp.simulated_network(n_orgs=3, skus_per_org=2)
    chaos = rp.ChaosSchedule(vendor_offline=(("Blinkit", 1, 10),))
    result = rp.replay(net, ["resq"], 30, chaos=chaos)
    orders = result.orders.to_pylist()
    assert not any(o["vendor"] == "Blinkit" for o in orders if o["day"] <= 10)
    # Blinkit and Dunzo (offline in the simulation) are the only vendors of the NGO items
    assert any(o["order_status"] == "PENDING_VENDOR" for o in orders if o["day"] <= 10)
    assert any(o["event"] == "RESOURCED" and o["vendor"] == "Blinkit" for o in orders)


def test_users_register_their_own_policy():
    @rp.register_policy("never")
    def never(state):
        return np.zeros(len(state.on_hand))

    try:
        net = rp.simulated_network(n_orgs=3, skus_per_org=1)
        result = rp.replay(net, ["never", "seed-rule"], 10)
        by = {r["policy"]: r for r in result.summary("policy").to_pylist()}
        assert by["never"]["orders"] == 0
        assert by["seed-rule"]["orders"] > 0
    finally:
        del rp.POLICIES["never"]
    with pytest.raises(ValueError, match="unknown policy 'never'"):
        rp.get_policy("never")


def test_summary_by_every_level_and_as_json():
    net = rp.simulated_network(n_orgs=3, skus_per_org=2)
    result = rp.replay(net, ["resq", "s-S"], 20, costs=rp.Costs(0.1, 50.0, 10.0))
    for by in ("policy", "sector", "org_id", "item"):
        t = result.summary(by)
        assert set(t["policy"].to_pylist()) == {"resq", "s-S"}
        fill = np.array(t["fill_rate"].to_pylist())
        assert ((fill >= 0) & (fill <= 1)).all()
    assert result.summary("item").num_rows == 2 * net.n
    doc = json.loads(json.dumps(result.as_dict()))
    assert doc["by_policy"][0]["policy"] == "resq"
    assert doc["by_policy"][0]["ordering_cost"] == 50.0 * doc["by_policy"][0]["orders"]
    assert result.to_pandas("sector").shape[0] == 6


def test_demand_is_validated():
    net = rp.simulated_network(n_orgs=3, skus_per_org=1)
    with pytest.raises(ValueError, match="shape"):
        rp.replay(net, ["s-S"], 5, demand=np.zeros((2, 5)))
    bad = np.zeros((net.n, 5))
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="item 2 on day 4"):
        rp.replay(net, ["s-S"], 5, demand=bad)


def test_replay_chooses_only_authorized_vendors_by_the_network_rules():
    """PDS grains go only to depots and oxygen only to medical-gas suppliers, in every
    policy; an authorization the network carries (not the defaults) is the one applied."""
    net = rp.simulated_network()
    kind = dict(
        zip(net.vendors["vendor_id"].to_pylist(), net.vendors["vendor_type"].to_pylist(),
            strict=True)
    )  # fmt: skip
    items = {(r["org_id"], r["sku"]): r for r in net.items.to_pylist()}
    result = rp.replay(net, list(rp.POLICIES), 40)
    seen = set()
    for o in result.orders.to_pylist():
        item = items[(o["org_id"], o["sku"])]
        if o["vendor"] is None:
            continue
        if item["sector"] == "PDS" and item["category"] in ("RICE", "WHEAT"):
            assert kind[o["vendor"]] == "DEPOT", o
            seen.add("grain")
        if item["category"] == "OXYGEN":
            assert kind[o["vendor"]] == "MEDICAL_GAS", o
            seen.add("oxygen")
    assert seen == {"grain", "oxygen"}
    # revoke the depots for PDS rice: rice orders wait for a vendor, none is placed
    from resq.core.sourcing import DEFAULT_AUTHORIZATION, authorization_table

    rules = [(*r, not (r[0] == "PDS" and r[1] == "RICE")) for r in DEFAULT_AUTHORIZATION]
    strict = dataclasses.replace(net, authorization=authorization_table(rules))
    rice = [k for k, r in items.items() if r["sector"] == "PDS" and r["category"] == "RICE"]
    assert rice
    for o in rp.replay(strict, list(rp.POLICIES), 40).orders.to_pylist():
        if (o["org_id"], o["sku"]) in rice:
            assert o["vendor"] is None and o["order_status"] == "PENDING_VENDOR", o


def test_from_backend_carries_vendor_types_packs_and_authorization(seeded):
    net = rp.from_backend(seeded)
    assert net.vendors is not None and "vendor_type" in net.vendors.column_names
    assert {"min_order_qty", "pack_size"} <= set(net.vendor_catalog.column_names)
    assert net.authorization.num_rows == seeded.read("vendor_authorization").num_rows > 0
    options = rp.initial_state(net).vendor_options
    assert {"vendor_type", "reliability", "min_order_qty", "pack_size"} <= set(options.column_names)
