"""Escalation with an injected clock (issue 6, routing and escalation): an alert nobody
acknowledged moves to the next tier after its severity's timeout; acknowledgement or a
recovered stock stops it; every step is audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import resq
from receivers import ORG, OXY, copy_db, count, seeded_template
from resq.alerting import Escalator, apply_config, parse_config
from resq.backends.warehouse import WarehouseBackend
from resq.cli import app

CONFIG = parse_config(
    {
        "stakeholders": {"store": {}, "matron": {}, "director": {}},
        "routes": [
            {"tier": 0, "stakeholder": "store", "channels": ["console"]},
            {"tier": 1, "stakeholder": "matron", "channels": ["console"], "sector": "HOSPITAL"},
            {"tier": 2, "stakeholder": "director", "channels": ["console"]},
        ],
        "escalation": {"SEV1": "10m", "SEV2": "1h"},
    },
    source="test",
)
TIMEOUT = timedelta(minutes=10)  # SEV1, as configured above


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_template(tmp_path_factory.mktemp("alerting-escalation"))


@pytest.fixture
def db(template: Path, tmp_path: Path) -> str:
    return copy_db(template, tmp_path / "db.duckdb")


@pytest.fixture
def backend(db: str) -> Iterator[WarehouseBackend]:
    with resq.connect(db) as b:
        yield b


def raise_oxygen_alert(backend: WarehouseBackend) -> tuple[dict[str, Any], datetime]:
    """The SEV1 alert of the hospital's oxygen, raised by a heal cycle at t0."""
    apply_config(backend, CONFIG, actor="test")
    engine = resq.SelfHealingEngine(backend)
    engine.drop_stock(ORG, OXY, actor="test")
    report = engine.heal()
    (alert,) = backend.sql("SELECT * FROM alerts WHERE cycle_id = ?", [report.cycle_id]).to_pylist()
    assert alert["severity"] == "SEV1" and alert["tier"] == 0
    return alert, alert["created_at"]


def alert_row(backend: WarehouseBackend, alert_id: str) -> dict[str, Any]:
    return backend.sql("SELECT * FROM alerts WHERE alert_id = ?", [alert_id]).to_pylist()[0]


def notified(backend: WarehouseBackend, alert_id: str) -> list[tuple[str, int]]:
    rows = backend.sql(
        "SELECT stakeholder, tier FROM notifications WHERE alert_id = ? ORDER BY tier",
        [alert_id],
    ).to_pylist()
    return [(r["stakeholder"], r["tier"]) for r in rows]


def escalations(backend: WarehouseBackend, alert_id: str) -> list[dict[str, Any]]:
    rows = backend.sql(
        "SELECT details FROM audit_log WHERE action = 'alert.escalated' AND entity_id = ? "
        "ORDER BY seq",
        [alert_id],
    ).to_pylist()
    return [json.loads(r["details"]) for r in rows]


def test_not_acknowledged_it_escalates_tier_by_tier_after_each_timeout(
    backend: WarehouseBackend,
) -> None:
    alert, t0 = raise_oxygen_alert(backend)
    aid = alert["alert_id"]
    esc = Escalator(backend)

    early = esc.run(now=t0 + TIMEOUT - timedelta(seconds=1))
    assert early.escalated == [] and alert_row(backend, aid)["tier"] == 0

    first = esc.run(now=t0 + TIMEOUT)
    row = alert_row(backend, aid)
    assert first.escalated == [
        {"alert_id": aid, "severity": "SEV1", "tier": 1, "stakeholders": ["matron"]}
    ]
    assert (row["tier"], row["escalated_at"], row["state"]) == (1, t0 + TIMEOUT, "OPEN")
    assert notified(backend, aid) == [("store", 0), ("matron", 1)]
    assert first.notifications_queued == 1

    # The timeout counts again from the escalation.
    assert esc.run(now=t0 + 2 * TIMEOUT - timedelta(seconds=1)).escalated == []
    second = esc.run(now=t0 + 2 * TIMEOUT)
    assert [e["tier"] for e in second.escalated if e["alert_id"] == aid] == [2]
    assert notified(backend, aid) == [("store", 0), ("matron", 1), ("director", 2)]

    # The top tier is the end of the ladder.
    assert aid not in {e["alert_id"] for e in esc.run(now=t0 + timedelta(days=2)).escalated}
    assert alert_row(backend, aid)["tier"] == 2
    assert [(e["from_tier"], e["to_tier"]) for e in escalations(backend, aid)] == [
        (0, 1),
        (1, 2),
    ]
    assert escalations(backend, aid)[0]["unacknowledged_s"] == TIMEOUT.total_seconds()
    assert backend.verify_audit().ok


def test_acknowledged_it_is_not_escalated(backend: WarehouseBackend) -> None:
    alert, t0 = raise_oxygen_alert(backend)
    aid = alert["alert_id"]
    backend.ack_alert(aid, actor="matron-on-duty", now=t0 + timedelta(minutes=5))
    report = Escalator(backend).run(now=t0 + timedelta(hours=6))
    row = alert_row(backend, aid)
    escalated = {e["alert_id"] for e in report.escalated}
    assert escalated and aid not in escalated  # the seed's unacknowledged alerts did move
    assert (row["state"], row["tier"], row["acked_by"]) == ("ACKED", 0, "matron-on-duty")
    assert notified(backend, aid) == [("store", 0)]
    assert escalations(backend, aid) == []
    assert count(backend, "SELECT COUNT(*) FROM audit_log WHERE action = 'alert.ack'") == 1


def test_acknowledged_with_the_cli_between_escalations(db: str) -> None:
    with resq.connect(db) as backend:
        alert, t0 = raise_oxygen_alert(backend)
        Escalator(backend).run(now=t0 + TIMEOUT)
    result = CliRunner().invoke(
        app, ["--db", db, "ack", alert["alert_id"], "--actor", "alice"], env={"RESQ_DB": None}
    )
    assert result.exit_code == 0, result.stderr
    with resq.connect(db) as backend:
        report = Escalator(backend).run(now=t0 + timedelta(days=1))
        assert alert["alert_id"] not in {e["alert_id"] for e in report.escalated}
        row = alert_row(backend, alert["alert_id"])
        assert (row["state"], row["tier"], row["acked_by"]) == ("ACKED", 1, "alice")


def test_the_stored_timeouts_are_used(backend: WarehouseBackend) -> None:
    slow = parse_config(
        {
            "stakeholders": {"store": {}, "boss": {}},
            "routes": [
                {"tier": 0, "stakeholder": "store"},
                {"tier": 1, "stakeholder": "boss"},
            ],
            "escalation": {"SEV1": "2h"},
        },
        source="slow",
    )
    alert, t0 = raise_oxygen_alert(backend)
    apply_config(backend, slow, actor="test")
    esc = Escalator(backend)  # no policy given: the stored one
    mine = [alert["alert_id"]]
    assert [
        e for e in esc.run(now=t0 + timedelta(hours=1)).escalated if e["alert_id"] in mine
    ] == []
    late = esc.run(now=t0 + timedelta(hours=2)).escalated
    assert [e["stakeholders"] for e in late if e["alert_id"] in mine] == [["boss"]]


def test_a_tier_nobody_is_routed_to_is_skipped(backend: WarehouseBackend) -> None:
    """The seed's PDS and NGO alerts have no tier-1 route (it is for hospitals only): after
    their SEV2 timeout they go straight to the director at tier 2."""
    _, t0 = raise_oxygen_alert(backend)
    report = Escalator(backend).run(now=t0 + timedelta(hours=1))
    others = [e for e in report.escalated if e["severity"] == "SEV2"]
    assert others and all(e["tier"] == 2 and e["stakeholders"] == ["director"] for e in others)
    hospital = [e for e in report.escalated if e["severity"] == "SEV1"]
    assert [e["tier"] for e in hospital] == [1]


def test_received_order_resolves_the_alert_and_stops_escalation(
    backend: WarehouseBackend,
) -> None:
    alert, t0 = raise_oxygen_alert(backend)
    aid = alert["alert_id"]
    engine = resq.SelfHealingEngine(backend)
    engine.receive(alert["po_id"], actor="stores")
    # the receipt itself resolves the alert once the shortfall is gone (audited, once)
    row = alert_row(backend, aid)
    assert (row["state"], row["tier"]) == ("RESOLVED", 0)
    assert row["resolved_at"] is not None
    report = Escalator(backend).run(now=t0 + timedelta(hours=1))
    assert aid not in {r["alert_id"] for r in report.resolved}
    assert aid not in {e["alert_id"] for e in report.escalated}
    events = backend.sql(
        "SELECT actor, details FROM audit_log WHERE action = 'alert.resolved' AND entity_id = ?",
        [aid],
    ).to_pylist()
    assert len(events) == 1 and json.loads(events[0]["details"])["from"] == "OPEN"
    # Resolved stays resolved: later passes neither escalate nor resolve it again.
    later = Escalator(backend).run(now=t0 + timedelta(days=1))
    assert aid not in {r["alert_id"] for r in later.resolved}
    assert aid not in {e["alert_id"] for e in later.escalated}


def test_stock_back_to_ok_resolves_an_acknowledged_alert_too(
    backend: WarehouseBackend,
) -> None:
    alert, t0 = raise_oxygen_alert(backend)
    backend.ack_alert(alert["alert_id"], actor="matron", now=t0)
    backend.sql(
        "UPDATE inventory_master SET current_stock = 100000 WHERE org_id = ? AND sku = ?",
        [ORG, OXY],
    )
    report = Escalator(backend).run(now=t0 + timedelta(minutes=1))
    assert {"alert_id": alert["alert_id"], "reason": "stock is OK again"} in report.resolved
    assert alert_row(backend, alert["alert_id"])["state"] == "RESOLVED"
