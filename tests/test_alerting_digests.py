"""Notifications are digests (issue 13): one outbox row per organization, stakeholder,
channel and heal cycle, listing its new alerts most urgent first; delivered exactly once
like a single notification (a crash between send and mark resends the same key)."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import resq
from receivers import ORG, SmtpReceiver, WebhookReceiver, copy_db, seeded_template
from resq.alerting import Deliverer, apply_config, parse_config
from resq.alerting import delivery as delivery_module
from resq.alerting.channels import Notification
from resq.backends.warehouse import WarehouseBackend, utcnow
from resq.core import urgency
from resq.core.alerts import Route, RoutingPolicy

SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
KINDS = ("CRITICAL_STOCK", "NO_VENDOR", "BUDGET_HOLD")
STAKEHOLDERS = ("ops", "boss", "matron")
CHANNELS = ("hook", "mail", "console")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_template(tmp_path_factory.mktemp("alerting-digests"))


@pytest.fixture
def backend(template: Path, tmp_path: Path) -> Iterator[WarehouseBackend]:
    with resq.connect(copy_db(template, tmp_path / "db.duckdb")) as b:
        yield b


@pytest.fixture(scope="module")
def network(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One seeded database for every example of the property (each uses its own cycle)."""
    path = tmp_path_factory.mktemp("digest-property") / "db.duckdb"
    with resq.connect(copy_db(template, path)) as b:
        items = b.sql(
            "SELECT s.org_id, s.sku, o.sector FROM stock_analysis AS s "
            "JOIN organizations AS o ON o.org_id = s.org_id ORDER BY 1, 2"
        ).to_pylist()
        yield b, items


def digests_of(backend: WarehouseBackend, where: str = "", params: list[Any] | None = None):
    rows = backend.sql(
        f"SELECT * FROM notifications WHERE tier = 0 {where} ORDER BY notification_id",
        params or [],
    ).to_pylist()
    return rows


routes = st.lists(
    st.builds(
        lambda who, chans, sev: Route(0, who, tuple(chans), severities=sev),
        st.sampled_from(STAKEHOLDERS),
        st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=3, unique=True),
        st.none() | st.lists(st.sampled_from(SEVERITIES), min_size=1, unique=True).map(tuple),
    ),
    min_size=1,
    max_size=5,
)

_cycles = itertools.count(1)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), policy_routes=routes, batch=st.sampled_from([None, 1, 2, 5]))
def test_digests_partition_the_routed_alert_pairs(
    network: Any, data: st.DataObject, policy_routes: list[Route], batch: int | None
) -> None:
    """For any set of new alerts and any tier-0 routing, the digests of the cycle hold every
    (alert, stakeholder, channel) pair the routing gives exactly once, nothing else; one
    digest per (organization, stakeholder, channel), its alerts most urgent first. The same
    however the organizations are batched (``digest_batch_alerts``; 1: one per statement)."""
    backend, items = network
    backend.digest_batch_alerts = batch
    picked = data.draw(
        st.lists(
            st.tuples(st.sampled_from(items), st.sampled_from(KINDS), st.sampled_from(SEVERITIES)),
            max_size=12,
            unique_by=lambda t: (t[0]["org_id"], t[0]["sku"], t[1]),
        )
    )
    cycle = f"CY-PROP-{next(_cycles):05d}"
    now = utcnow()
    alerts = [
        {
            "alert_id": f"AL-{cycle}-{i:02d}",
            "dedup_key": f"{cycle}:{i}",
            "org_id": item["org_id"],
            "sku": item["sku"],
            "kind": kind,
            "severity": sev,
            "message": f"{kind} {item['sku']}\r\n\x1b[2J",
            "state": "OPEN",
            "tier": 0,
            "data_source": "SIMULATED",
            "cycle_id": cycle,
            "created_at": now,
        }
        for i, (item, kind, sev) in enumerate(picked)
    ]
    policy = RoutingPolicy(routes=tuple(policy_routes))
    engine = resq.SelfHealingEngine(backend, policy=policy)
    with backend.transaction():
        if alerts:
            backend.stage("resq_stage_new_alerts", pa.Table.from_pylist(alerts))
            backend.execute(
                "INSERT INTO alerts (alert_id, dedup_key, org_id, sku, kind, severity, message, "
                "state, tier, data_source, cycle_id, created_at) SELECT alert_id, dedup_key, "
                "org_id, sku, kind, severity, message, state, tier, data_source, cycle_id, "
                "created_at FROM resq_stage_new_alerts"
            )
        groups = backend.run_file("alerts_created", [cycle])
        queued = engine._queue_notifications(groups, cycle, now, policy)

    sector = {i["org_id"]: i["sector"] for i in items}
    expected = {
        (a["alert_id"], route.stakeholder, channel)
        for a in alerts
        for route in policy.recipients(sector[a["org_id"]], a["org_id"], a["severity"], 0)
        for channel in route.channels
    }
    rows = digests_of(backend, "AND delivery_key LIKE ?", [cycle + ":%"])
    assert queued == len(rows)
    listed: Counter[tuple[str, str, str]] = Counter()
    groups_seen = Counter((r["org_id"], r["stakeholder"], r["channel"]) for r in rows)
    assert set(groups_seen.values()) <= {1}  # one digest per organization, stakeholder, channel
    days = {
        (r["org_id"], r["sku"]): r["days_remaining"]
        for r in backend.sql("SELECT org_id, sku, days_remaining FROM stock_analysis").to_pylist()
    }
    for row in rows:
        payload = json.loads(row["payload"])
        assert payload["kind"] == "DIGEST" and payload["cycle_id"] == cycle
        listed_alerts = payload["alerts"]
        assert payload["count"] == len(listed_alerts) >= 1
        assert row["alert_id"] == listed_alerts[0]["alert_id"]
        assert payload["severity"] == listed_alerts[0]["severity"]
        assert {a["org_id"] for a in listed_alerts} == {row["org_id"]}
        for a in listed_alerts:
            listed[(a["alert_id"], row["stakeholder"], row["channel"])] += 1
            exact = days[(a["org_id"], a["sku"])]
            assert a["days_remaining"] == (None if exact is None else round(exact, 1))
        # most urgent first, by the exact days (the payload shows them rounded)
        exact_rows = [dict(a, days_remaining=days[(a["org_id"], a["sku"])]) for a in listed_alerts]
        assert exact_rows == sorted(exact_rows, key=lambda a: urgency.sort_keys("digest", a))
        assert Notification.from_row(row).alerts == listed_alerts
    assert set(listed) == expected  # nothing lost, nothing invented
    assert set(listed.values()) <= {1}  # nothing twice


def test_the_digest_sql_orders_by_the_core_urgency() -> None:
    """sql/queue_notifications.sql orders each digest by resq.core.urgency.DIGEST."""
    from resq import sqlfiles

    text = " ".join(sqlfiles.sql_text("queue_notifications").split())
    for term in urgency.DIGEST:
        if term.startswith("CASE"):
            for code in urgency.SEVERITY_ORDER:
                assert f"WHEN '{code}' THEN {urgency.SEVERITY_ORDER.index(code)}" in text
        else:
            column, _, rest = term.partition(" ")
            qualified = f"{'s' if column == 'days_remaining' else 'a'}.{column} {rest}".strip()
            assert qualified in text


# ---------------------------------------------------------------- delivery


def config(hook_url: str, smtp_port: int) -> Any:
    return parse_config(
        {
            "channels": {
                "hook": {"type": "webhook", "url": hook_url},
                "mail": {
                    "type": "email",
                    "host": "127.0.0.1",
                    "port": smtp_port,
                    "sender": "resq@example.org",
                },
            },
            "stakeholders": {
                "ops": {"email": ["ops@example.org"]},
                "director": {"email": ["director@example.org"]},
            },
            "routes": [
                {"tier": 0, "stakeholder": "ops", "channels": ["hook", "mail"]},
                {"tier": 0, "stakeholder": "director", "channels": ["hook"]},
            ],
            "delivery": {"backoff": "30s"},
        },
        source="test",
    )


def heal_all_items(backend: WarehouseBackend, cfg: Any) -> tuple[Any, list[dict[str, Any]]]:
    """Empty every item of the hospital and heal: several alerts in one cycle."""
    apply_config(backend, cfg, actor="test")
    engine = resq.SelfHealingEngine(backend)
    skus = [
        r["sku"]
        for r in backend.sql(
            "SELECT sku FROM inventory_master WHERE org_id = ? ORDER BY sku", [ORG]
        ).to_pylist()
    ]
    for sku in skus:
        engine.drop_stock(ORG, sku, actor="test")
    report = engine.heal()
    alerts = backend.sql(
        "SELECT * FROM alerts WHERE cycle_id = ? AND org_id = ?", [report.cycle_id, ORG]
    ).to_pylist()
    assert len(alerts) >= 2
    return report, alerts


def test_one_message_per_stakeholder_and_channel_lists_all_its_alerts(
    backend: WarehouseBackend,
) -> None:
    """A real webhook receiver and a real SMTP server on 127.0.0.1: each stakeholder gets
    one message per channel for the cycle, naming every alert (severity, item, org, days
    left, how to acknowledge), and acknowledging stays per alert."""
    hook, smtp = WebhookReceiver().start(), SmtpReceiver().start()
    try:
        cfg = config(hook.url, smtp.port)
        report, alerts = heal_all_items(backend, cfg)
        delivered = Deliverer(backend, cfg).deliver()
    finally:
        hook.stop()
        smtp.stop()
    mine = [r for r in digests_of(backend, "AND org_id = ?", [ORG])]
    assert sorted((r["stakeholder"], r["channel"]) for r in mine) == [
        ("director", "hook"),
        ("ops", "hook"),
        ("ops", "mail"),
    ]
    assert delivered.sent == delivered.claimed and not delivered.errors
    ids = {a["alert_id"] for a in alerts}
    bodies = [r.body for r in hook.requests if r.body["org_id"] == ORG]
    assert sorted(b["stakeholder"] for b in bodies) == ["director", "ops"]
    for body in bodies:
        assert body["kind"] == "DIGEST" and body["count"] == len(alerts)
        assert {a["alert_id"] for a in body["alerts"]} == ids
        assert body["alert"] == body["alerts"][0]
        assert [a["severity"] for a in body["alerts"]] == sorted(
            (a["severity"] for a in body["alerts"]), key=urgency.SEVERITY_ORDER.index
        )
    mails = [m for m in smtp.mails if ORG in str(m.message["Subject"])]
    assert len(mails) == 1 and mails[0].rcpt_tos == ["ops@example.org"]
    text = mails[0].message.get_payload(decode=True).decode()
    for a in alerts:
        assert f"resq ack {a['alert_id']}" in text
        assert f"{a['severity']} {a['kind']}" in text and a["sku"] in text
    assert "days left" in text and ORG in text and f"{len(alerts)} new alerts" in text
    assert report.notifications_queued >= 3

    # acknowledgement stays per alert: acking one leaves the others open
    first = sorted(ids)[0]
    backend.ack_alert(first, actor="ops")
    states = {
        r["alert_id"]: r["state"]
        for r in backend.sql(
            "SELECT alert_id, state FROM alerts WHERE cycle_id = ?", [report.cycle_id]
        ).to_pylist()
        if r["alert_id"] in ids
    }
    assert states.pop(first) == "ACKED" and set(states.values()) == {"OPEN"}
    assert backend.verify_audit().ok


def test_a_digest_is_delivered_exactly_once_across_a_crash_between_send_and_mark(
    backend: WarehouseBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver accepted the digest, then the deliverer died before marking it SENT:
    the retry re-sends the same digest (same key, same body), it is then SENT, and no
    later pass sends it again; the receiver keeps one message per key."""
    hook = WebhookReceiver().start()
    try:
        cfg = parse_config(
            {
                "channels": {"hook": {"type": "webhook", "url": hook.url}},
                "stakeholders": {"ops": {}},
                "routes": [{"tier": 0, "stakeholder": "ops", "channels": ["hook"]}],
                "delivery": {"backoff": "30s"},
            },
            source="test",
        )
        report, alerts = heal_all_items(backend, cfg)
        t0 = report.started_at

        def crash(*args: Any, **kwargs: Any) -> None:
            raise KeyboardInterrupt("killed after the receiver accepted")

        with monkeypatch.context() as m:
            m.setattr(delivery_module.Deliverer, "_record_sent", crash)
            with pytest.raises(KeyboardInterrupt):
                Deliverer(backend, cfg).deliver(now=t0)
        first = [r.body for r in hook.requests]
        assert len(first) == 1
        (row,) = digests_of(backend, "AND org_id = ?", [ORG])
        assert row["state"] == "PENDING" and row["attempts"] == 1
        Deliverer(backend, cfg).deliver(now=t0 + timedelta(seconds=10))  # not due yet
        assert len(hook.requests) == 1
        Deliverer(backend, cfg).deliver(now=t0 + timedelta(seconds=31))
        Deliverer(backend, cfg).deliver(now=t0 + timedelta(hours=1))
    finally:
        hook.stop()
    bodies = [r.body for r in hook.requests]
    assert len(bodies) == 2 and bodies[1] == bodies[0]  # the same digest, the same key
    assert {a["alert_id"] for a in bodies[0]["alerts"]} == {a["alert_id"] for a in alerts}
    (row,) = digests_of(backend, "AND org_id = ?", [ORG])
    assert row["state"] == "SENT" and row["attempts"] == 2
    delivered = backend.sql(
        "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'notification.delivered' "
        "AND entity_id = ?",
        [row["notification_id"]],
    ).to_pylist()
    assert delivered == [{"n": 1}]
    assert backend.verify_audit().ok


def test_hostile_alert_text_is_neutralised_in_every_line_of_a_digest(
    backend: WarehouseBackend,
) -> None:
    """Control characters in an item's message cannot break a digest's lines."""
    row = {
        "notification_id": "N-x",
        "delivery_key": "CY-1:H:ops:mail:0",
        "alert_id": "AL-1",
        "org_id": "H\r\nBcc: x",
        "stakeholder": "ops",
        "channel": "mail",
        "tier": 0,
        "payload": json.dumps(
            {
                "kind": "DIGEST",
                "cycle_id": "CY-1",
                "severity": "SEV1",
                "alerts": [
                    {
                        "alert_id": "AL-1",
                        "severity": "SEV1",
                        "kind": "CRITICAL_STOCK",
                        "sku": "OXY\r\nBcc: victim@example.org",
                        "item_name": "\x1b[31mOxygen\u202e",
                        "org_id": "H",
                        "days_remaining": 0.5,
                        "message": "line\nbreak",
                    }
                ],
            }
        ),
    }
    n = Notification.from_row(row)
    text, subject = n.text(), n.subject()
    assert "\r" not in subject and "\n" not in subject and "\x1b" not in text
    assert "\u202e" not in text
    lines = text.splitlines()
    assert not any(line.startswith("Bcc") for line in lines)
    assert len(lines) == 9  # 2 heading lines, 4 for the alert, a blank line, 2 closing lines


def test_requeueing_an_alert_requeues_the_failed_digests_that_list_it(
    backend: WarehouseBackend,
) -> None:
    """requeue_failed(alert_id=...) finds a digest by any alert it lists, not only its
    first; other failed digests stay FAILED."""
    from resq.alerting import requeue_failed

    cfg = config("http://127.0.0.1:9/unused", 9)
    _, alerts = heal_all_items(backend, cfg)
    rows = digests_of(backend, "AND org_id = ?", [ORG])
    backend.execute("UPDATE notifications SET state = 'FAILED'")
    lead = rows[0]["alert_id"]
    other = next(a["alert_id"] for a in alerts if a["alert_id"] != lead)
    assert requeue_failed(backend, actor="ops", alert_id=other) == len(rows)
    assert {r["state"] for r in digests_of(backend, "AND org_id = ?", [ORG])} == {"PENDING"}
    assert requeue_failed(backend, actor="ops", alert_id="AL-NOT-LISTED") == 0
    failed = backend.sql("SELECT COUNT(*) FROM notifications WHERE state = 'FAILED'").scalar()
    assert (
        failed
        == backend.sql("SELECT COUNT(*) FROM notifications WHERE org_id <> ?", [ORG]).scalar()
    )


@settings(max_examples=50, deadline=None)
@given(
    weights=st.dictionaries(st.sampled_from("ABCDEFGH"), st.integers(0, 6), min_size=1),
    limit=st.one_of(st.none(), st.integers(1, 12)),
    data=st.data(),
)
def test_digest_batches_hold_whole_organizations_within_the_limit(
    weights: dict[str, int], limit: int | None, data: st.DataObject
) -> None:
    """Every route row lands in exactly one batch, an organization's rows all in one (its
    digests are whole), and a batch holds more than ``limit`` alerts only as one
    organization alone."""
    from resq.engine import _whole_org_batches

    rows = data.draw(
        st.lists(
            st.fixed_dictionaries(
                {"org_id": st.sampled_from(sorted(weights)), "stakeholder": st.sampled_from("xy")}
            ),
            min_size=1,
        )
    )
    batches = _whole_org_batches(rows, weights, limit)
    assert sorted(map(str, (r for b in batches for r in b))) == sorted(map(str, rows))
    assert all(batches)
    homes = {}
    for i, batch in enumerate(batches):
        for row in batch:
            assert homes.setdefault(row["org_id"], i) == i
        orgs = {r["org_id"] for r in batch}
        if limit is not None and len(orgs) > 1:
            assert sum(weights[o] for o in orgs) <= limit
    if limit is None:
        assert len(batches) == 1
