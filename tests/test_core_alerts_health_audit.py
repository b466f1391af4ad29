"""Alert severity, routing and escalation; health (seed plan property 14); the audit chain
(seed plan property 6)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as rst
from resq.core import (
    DEFAULT_POLICY,
    GENESIS,
    Health,
    HealthInputs,
    PlanOptions,
    Route,
    RoutingPolicy,
    assess,
    plan_orders,
    raise_severity,
    severity,
    verify_chain,
)
from resq.core.alerts import alert_id, alerts_for
from resq.core.audit import chain, event_hash

# ---------------------------------------------------------------- severity


@pytest.mark.parametrize(
    ("status", "sector", "category", "zone", "expected"),
    [
        ("CRITICAL", "HOSPITAL", "OXYGEN", False, "SEV1"),
        ("CRITICAL", "HOSPITAL", "MEDICINE", False, "SEV2"),
        ("CRITICAL", "PDS", "RICE", False, "SEV2"),
        ("CRITICAL", "NGO", "KIT", False, "SEV2"),
        ("CRITICAL", "NGO", "KIT", True, "SEV1"),  # an active disaster zone
        ("WARNING", "HOSPITAL", "OXYGEN", False, "SEV3"),
        ("WARNING", "PDS", "RICE", True, "SEV3"),
        ("OK", "HOSPITAL", "OXYGEN", True, None),
    ],
)
def test_severity(
    status: str, sector: str, category: str, zone: bool, expected: str | None
) -> None:
    assert severity(status, sector, category, zone) == expected


def test_severity_is_columnar() -> None:
    out = severity(
        np.array(["CRITICAL", "CRITICAL", "WARNING", "OK"], dtype=object),
        np.array(["HOSPITAL", "PDS", "NGO", "NGO"], dtype=object),
        np.array(["OXYGEN", "RICE", "KIT", "KIT"], dtype=object),
    )
    assert out.tolist() == ["SEV1", "SEV2", "SEV3", None]


def test_raise_severity_one_step_more_urgent() -> None:
    assert raise_severity("SEV2") == "SEV1"
    assert raise_severity("SEV3") == "SEV2"
    assert raise_severity("SEV4") == "SEV3"
    assert raise_severity("SEV1") == "SEV1"  # nothing above the top
    assert raise_severity(None) is None
    assert raise_severity("SEV4", steps=2) == "SEV2"
    assert raise_severity(np.array(["SEV3", None], dtype=object)).tolist() == ["SEV2", None]


# ---------------------------------------------------------------- alerts_for


def _scenario() -> pa.Table:
    """Critical oxygen with a vendor, critical rice with no vendor online, a medicine held
    by the budget, a PDS item whose allotment is used up, an item an open order covers."""
    rows = [
        {"org_id": "H1", "sector": "HOSPITAL", "city": "Delhi", "sku": "OXY",
         "category": "OXYGEN", "current_stock": 2.0, "daily_consumption": 4.0},
        {"org_id": "H1", "sector": "HOSPITAL", "city": "Delhi", "sku": "MED",
         "category": "MEDICINE", "pack_size": 10.0, "current_stock": 5.0,
         "daily_consumption": 10.0},
        {"org_id": "P1", "sector": "PDS", "city": "Mumbai", "sku": "RICE", "category": "RICE",
         "pack_size": 50.0, "current_stock": 0.0, "daily_consumption": 40.0,
         "phh_persons": 100, "aay_households": 10},
        {"org_id": "P2", "sector": "PDS", "city": "Delhi", "sku": "RICE", "category": "RICE",
         "pack_size": 50.0, "current_stock": 0.0, "daily_consumption": 40.0,
         "phh_persons": 10, "aay_households": 0, "allotment_used": 50.0},
        {"org_id": "N1", "sector": "NGO", "city": "Delhi", "sku": "KIT", "category": "KIT",
         "current_stock": 1.0, "daily_consumption": 1.0, "open_orders": 1,
         "open_order_qty": 20.0},
    ]  # fmt: skip
    vendors = rst.vendor_options_table(
        [
            {"vendor_id": "Blinkit", "sku": sku, "city": "Delhi", "price": 100.0,
             "lead_time_days": 1.0, "status": "ONLINE", "latency_ms": 12.0,
             "vendor_type": kind}  # one vendor, authorized for all four (resq.core.sourcing)
            for sku, kind in (("OXY", "MEDICAL_GAS"), ("MED", "GENERAL"), ("RICE", "DEPOT"),
                              ("KIT", "GENERAL"))
        ]
        + [{"vendor_id": "Dunzo", "sku": "RICE", "city": "Mumbai", "price": 30.0,
            "lead_time_days": 1.0, "status": "OFFLINE", "latency_ms": None,
            "vendor_type": "DEPOT"}]
    )  # fmt: skip
    return plan_orders(rst.candidate_rows_table(rows), vendors, PlanOptions(budget=1.0))


def test_alerts_for_a_mixed_cycle() -> None:
    proposals = _scenario()
    status = {(r["org_id"], r["sku"]): r["order_status"] for r in proposals.to_pylist()}
    assert status == {
        ("H1", "OXY"): "PLACED",
        ("H1", "MED"): "PENDING_APPROVAL",
        ("P1", "RICE"): "PENDING_VENDOR",
        ("P2", "RICE"): None,  # CAPPED
        ("N1", "KIT"): None,  # COVERED
    }
    alerts = alerts_for(proposals).to_pylist()
    got = {(a["org_id"], a["sku"], a["kind"]): a["severity"] for a in alerts}
    assert got == {
        ("H1", "OXY", "CRITICAL_STOCK"): "SEV1",
        ("H1", "MED", "CRITICAL_STOCK"): "SEV2",
        ("H1", "MED", "BUDGET_HOLD"): "SEV2",
        ("P1", "RICE", "CRITICAL_STOCK"): "SEV2",
        ("P1", "RICE", "NO_VENDOR"): "SEV1",  # one step more urgent
        ("P2", "RICE", "CRITICAL_STOCK"): "SEV2",
        ("P2", "RICE", "ALLOTMENT_EXHAUSTED"): "SEV2",
        ("N1", "KIT", "CRITICAL_STOCK"): "SEV2",
    }
    for a in alerts:
        assert a["message"].startswith(a["sku"]) or a["org_id"] in a["message"]
        assert a["data_source"] == "SIMULATED"
        # an alert points at an order only when one is being raised
        assert a["has_order"] == ((a["org_id"], a["sku"]) not in {("P2", "RICE"), ("N1", "KIT")})
    messages = {(a["org_id"], a["kind"]): a["message"] for a in alerts}
    assert "PENDING_VENDOR" in messages[("P1", "NO_VENDOR")]
    assert "open order covers" in messages[("N1", "CRITICAL_STOCK")]


def test_alert_dedup_keys_are_unique_and_stable() -> None:
    first = alerts_for(_scenario())
    again = alerts_for(_scenario())
    assert first.equals(again)
    keys = first["dedup_key"].to_pylist()
    assert len(set(keys)) == len(keys)
    assert len({alert_id(k) for k in keys}) == len(keys)


@settings(max_examples=40, deadline=None)
@given(rst.plan_inputs(org_budgets=True))
def test_property_alerts_dedup_and_severity(inputs: tuple[pa.Table, pa.Table]) -> None:
    candidates, vendors = inputs
    proposals = plan_orders(candidates, vendors)
    alerts = alerts_for(proposals)
    assert alerts.equals(alerts_for(plan_orders(candidates, vendors)))  # stable across runs
    rows = alerts.to_pylist()
    keys = [a["dedup_key"] for a in rows]
    assert len(set(keys)) == len(keys)
    kinds = Counter((a["org_id"], a["sku"], a["kind"]) for a in rows)
    assert max(kinds.values(), default=1) == 1
    by_item = {(a["org_id"], a["sku"], a["kind"]): a for a in rows}
    for p in proposals.to_pylist():
        item = (p["org_id"], p["sku"])
        critical = by_item.get((*item, "CRITICAL_STOCK"))
        assert (critical is not None) == (p["status"] == "CRITICAL")
        base = severity(p["status"], p["sector"], p["category"], p["disaster_zone"]) or "SEV4"
        if critical is not None:
            assert critical["severity"] == base
        no_vendor = by_item.get((*item, "NO_VENDOR"))
        assert (no_vendor is not None) == (p["order_status"] == "PENDING_VENDOR")
        if no_vendor is not None:
            assert no_vendor["severity"] == raise_severity(base)
        assert ((*item, "BUDGET_HOLD") in by_item) == (p["order_status"] == "PENDING_APPROVAL")
        assert ((*item, "ALLOTMENT_EXHAUSTED") in by_item) == (p["action"] == "CAPPED")


def test_no_alerts_for_an_empty_cycle() -> None:
    empty = plan_orders(rst.CANDIDATE_SCHEMA.empty_table(), rst.vendor_options_table([]))
    assert alerts_for(empty).num_rows == 0


# ---------------------------------------------------------------- routing


def test_default_routing_by_tier_and_sector() -> None:
    at = DEFAULT_POLICY.recipients
    assert [r.stakeholder for r in at("HOSPITAL", "H1", "SEV1", 0)] == ["store-manager"]
    assert [r.stakeholder for r in at("HOSPITAL", "H1", "SEV1", 1)] == ["medical-superintendent"]
    assert [r.stakeholder for r in at("PDS", "P1", "SEV2", 1)] == ["district-supply-officer"]
    assert [r.stakeholder for r in at("NGO", "N1", "SEV2", 1)] == ["relief-coordinator"]
    assert [r.stakeholder for r in at("NGO", "N1", "SEV2", 2)] == ["state-control-room"]
    assert at("NGO", "N1", "SEV2", 3) == []


def test_most_specific_routes_win() -> None:
    policy = RoutingPolicy(
        routes=(
            Route(0, "anyone"),
            Route(0, "hospital-desk", sector="HOSPITAL"),
            Route(0, "oxygen-officer", sector="HOSPITAL", severities=("SEV1",)),
            Route(0, "h1-matron", org_id="H1"),
            Route(0, "h1-matron-pager", org_id="H1", channels=("sms",)),
            Route(1, "director"),
        )
    )
    # organization beats sector and severity; both equally specific org routes are kept
    assert [r.stakeholder for r in policy.recipients("HOSPITAL", "H1", "SEV1", 0)] == [
        "h1-matron",
        "h1-matron-pager",
    ]
    # for another hospital: sector + severity beats sector alone
    assert [r.stakeholder for r in policy.recipients("HOSPITAL", "H2", "SEV1", 0)] == [
        "oxygen-officer"
    ]
    assert [r.stakeholder for r in policy.recipients("HOSPITAL", "H2", "SEV2", 0)] == [
        "hospital-desk"
    ]
    assert [r.stakeholder for r in policy.recipients("PDS", "P1", "SEV2", 0)] == ["anyone"]
    assert policy.max_tier("PDS", "P1", "SEV2") == 1


T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sev", "tier", "after", "due"),
    [
        ("SEV1", 0, timedelta(minutes=16), True),  # not acknowledged past its timeout
        ("SEV1", 0, timedelta(minutes=15), True),  # exactly at the timeout
        ("SEV1", 0, timedelta(minutes=10), False),  # before the timeout
        ("SEV1", 1, timedelta(hours=5), True),
        ("SEV1", 2, timedelta(days=3), False),  # already at the top tier
        ("SEV2", 0, timedelta(minutes=59), False),
        ("SEV2", 0, timedelta(hours=1, seconds=1), True),
        ("SEV3", 0, timedelta(hours=3), False),
        ("SEV3", 0, timedelta(hours=4), True),
        ("SEV4", 0, timedelta(days=30), False),  # SEV4 never escalates
    ],
)
def test_escalation_due(sev: str, tier: int, after: timedelta, due: bool) -> None:
    assert (
        DEFAULT_POLICY.escalation_due(sev, tier, T0, T0 + after, sector="HOSPITAL", org_id="H1")
        is due
    )


def test_escalation_stops_at_the_policys_last_tier() -> None:
    short = RoutingPolicy(routes=(Route(0, "store"), Route(1, "boss", sector="PDS")))
    late = T0 + timedelta(days=1)
    assert short.escalation_due("SEV1", 0, T0, late, sector="PDS", org_id="P1")
    assert not short.escalation_due("SEV1", 1, T0, late, sector="PDS", org_id="P1")
    assert not short.escalation_due("SEV1", 0, T0, late, sector="NGO", org_id="N1")


# ---------------------------------------------------------------- health


def healthy(**changes: Any) -> HealthInputs:
    base: dict[str, Any] = {
        "vendors_online": 3,
        "vendors_total": 3,
        "analysis_age_s": 30.0,
        "last_cycle_age_s": 60.0,
    }
    return HealthInputs(**{**base, **changes})


def test_health_green() -> None:
    report = assess(healthy())
    assert report.status == Health.GREEN
    assert report.as_dict() == {"status": "GREEN", "reasons": ["all checks passed"]}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"vendors_online": 0}, "no vendor is online"),
        ({"analysis_suspended": True}, "suspended"),
        ({"analysis_age_s": 601.0}, "601 s old"),
        ({"failed_deliveries": 2}, "2 notification(s) failed"),
    ],
)
def test_health_red(changes: dict[str, Any], reason: str) -> None:
    report = assess(healthy(**changes))
    assert report.status == Health.RED
    assert any(reason in r for r in report.reasons), report.reasons


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"vendors_online": 1}, "2 of 3 vendors offline"),
        ({"analysis_age_s": 90.0}, "90 s old"),
        ({"analysis_age_s": None}, "never been refreshed"),
        ({"refresh_failures": 2}, "2 consecutive refresh failure"),
        ({"last_cycle_age_s": None}, "no heal cycle"),
        ({"last_cycle_age_s": 901.0}, "last heal cycle 901 s ago"),
        ({"outbox_backlog": 4}, "4 notification(s) waiting"),
        ({"pending_vendor_orders": 1}, "1 order(s) waiting for a vendor"),
    ],
)
def test_health_amber(changes: dict[str, Any], reason: str) -> None:
    report = assess(healthy(**changes))
    assert report.status == Health.AMBER
    assert any(reason in r for r in report.reasons), report.reasons


def test_red_report_keeps_the_amber_reasons_too() -> None:
    report = assess(healthy(vendors_online=0, outbox_backlog=3))
    assert report.status == Health.RED
    assert report.reasons[0] == "no vendor is online"
    assert "3 notification(s) waiting in the outbox" in report.reasons


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(0, 5),
    online=st.integers(0, 5),
    age=st.one_of(st.none(), st.floats(0, 2000)),
    suspended=st.booleans(),
    failures=st.integers(0, 6),
    cycle=st.one_of(st.none(), st.floats(0, 3000)),
    backlog=st.integers(0, 3),
    failed=st.integers(0, 2),
    pending=st.integers(0, 2),
)
def test_property_14_health_monitoring_accuracy(
    total: int,
    online: int,
    age: float | None,
    suspended: bool,
    failures: int,
    cycle: float | None,
    backlog: int,
    failed: int,
    pending: int,
) -> None:
    online = min(online, total)
    h = HealthInputs(
        vendors_online=online,
        vendors_total=total,
        analysis_age_s=age,
        analysis_suspended=suspended,
        refresh_failures=failures,
        last_cycle_age_s=cycle,
        outbox_backlog=backlog,
        failed_deliveries=failed,
        pending_vendor_orders=pending,
    )
    red = (total > 0 and online == 0) or suspended or (age is not None and age > 600) or failed
    amber = (
        0 < online < total
        or (not suspended and (age is None or 60 < age <= 600 or failures > 0))
        or cycle is None
        or cycle > 900
        or backlog > 0
        or pending > 0
    )
    report = assess(h)
    expected = Health.RED if red else Health.AMBER if amber else Health.GREEN
    assert report.status == expected
    assert report.reasons  # always says why
    if expected != Health.GREEN:
        assert "all checks passed" not in report.reasons


# ---------------------------------------------------------------- audit chain

texts = st.one_of(st.none(), st.text(max_size=20), st.sampled_from(rst.HOSTILE_NAMES))
events = st.lists(
    st.fixed_dictionaries(
        {
            "event_id": st.uuids().map(str),
            "event_ts": st.datetimes(
                min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)
            ),
            "actor": st.sampled_from(["engine", "alice", "chaos", "bob@example.org"]),
            "action": st.sampled_from(["ORDER_PLACED", "ALERT", "CHAOS_DROP_STOCK", "APPROVE"]),
            "org_id": texts,
            "entity_id": texts,
            "details": st.text(max_size=60),
        }
    ),
    min_size=1,
    max_size=12,
)


#: Every column of an audit_log row (spelled out, not taken from the code under test).
AUDIT_COLUMNS = (
    "seq",
    "event_id",
    "event_ts",
    "actor",
    "action",
    "org_id",
    "entity_id",
    "details",
    "prev_hash",
    "hash",
)


def _tampered(value: Any) -> Any:
    if isinstance(value, datetime):
        return value + timedelta(microseconds=1)
    if isinstance(value, int):
        return value + 1
    if value is None:
        return "x"
    return value + "x" if value != "x" else "y"


@settings(max_examples=100, deadline=None)
@given(events, st.data())
def test_property_6_audit_chain_detects_edits(
    evts: list[dict[str, Any]], data: st.DataObject
) -> None:
    rows = chain(evts, GENESIS, 1)
    check = verify_chain(rows)
    assert check.ok and check.checked == len(rows) and check.broken_seq is None
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0]["prev_hash"] == GENESIS
    i = data.draw(st.integers(0, len(rows) - 1), label="row")
    name = data.draw(st.sampled_from(AUDIT_COLUMNS), label="field")
    edited = [dict(r) for r in rows]
    edited[i][name] = _tampered(edited[i][name])
    check = verify_chain(edited)
    assert not check.ok
    assert check.problem
    assert check.broken_seq == rows[i]["seq"]


@settings(max_examples=100, deadline=None)
@given(events.filter(lambda e: len(e) >= 2), st.data())
def test_property_6_audit_chain_detects_deletes_and_reorders(
    evts: list[dict[str, Any]], data: st.DataObject
) -> None:
    rows = chain(evts, GENESIS, 1)
    n = len(rows)
    # deleting any row but the last is reported as that row missing (a truncated tail
    # needs an outside anchor: the expected head hash or row count)
    i = data.draw(st.integers(0, n - 2), label="deleted")
    check = verify_chain(rows[:i] + rows[i + 1 :])
    assert not check.ok
    assert check.broken_seq == rows[i]["seq"]
    assert check.checked == i
    # reordering: the first out-of-place row is named
    j, k = sorted(data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True)))
    swapped = list(rows)
    swapped[j], swapped[k] = swapped[k], swapped[j]
    check = verify_chain(swapped)
    assert not check.ok
    assert check.broken_seq == rows[j]["seq"]


def test_audit_chain_continues_across_appends() -> None:
    first = chain([{"actor": "engine", "action": "A", "details": "{}"}], GENESIS, 1)
    more = chain([{"actor": "alice", "action": "B", "details": "{}"}] * 3, first[-1]["hash"], 2)
    assert verify_chain(first + more).ok
    assert verify_chain(first + more).checked == 4
    # appending a row hashed against the wrong head is caught
    stray = chain([{"actor": "mallory", "action": "C", "details": "{}"}], GENESIS, 5)
    assert verify_chain(first + more + stray).broken_seq == 5


def test_field_boundaries_cannot_be_forged() -> None:
    a = {"seq": 1, "actor": "a|b", "action": "c", "details": ""}
    b = {"seq": 1, "actor": "a", "action": "b|c", "details": ""}
    assert event_hash(GENESIS, a) != event_hash(GENESIS, b)
    # NULL is not the same as the text "-" or an empty string
    assert event_hash(GENESIS, {"org_id": None}) != event_hash(GENESIS, {"org_id": "-"})
    assert event_hash(GENESIS, {"org_id": None}) != event_hash(GENESIS, {"org_id": ""})
