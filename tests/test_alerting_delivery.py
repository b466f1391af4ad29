"""Delivering the outbox to real receivers on 127.0.0.1 (issue 6, delivery channels;
seed-plan property 13, real-time notification delivery): a webhook endpoint and an SMTP
server, at least once, deduplicated by delivery key, with persisted backoff and FAILED
after the last attempt; every outcome audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import resq
from receivers import (
    ORG,
    OXY,
    SmtpReceiver,
    WebhookReceiver,
    copy_db,
    count,
    seeded_template,
    self_signed_cert,
)
from resq.alerting import (
    AlertingConfig,
    Deliverer,
    backoff_seconds,
    check_health,
    message_id,
    parse_config,
    requeue_failed,
)
from resq.alerting import delivery as delivery_module
from resq.backends.warehouse import WarehouseBackend, utcnow


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_template(tmp_path_factory.mktemp("alerting-delivery"))


@pytest.fixture
def backend(template: Path, tmp_path: Path) -> Iterator[WarehouseBackend]:
    with resq.connect(copy_db(template, tmp_path / "db.duckdb")) as b:
        yield b


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


def webhook_config(url: str, fmt: str = "json", **delivery: Any) -> AlertingConfig:
    return parse_config(
        {
            "channels": {"hook": {"type": "webhook", "url": url, "format": fmt}},
            "stakeholders": {"ops": {}, "director": {}},
            "routes": [
                {"tier": 0, "stakeholder": "ops", "channels": ["hook"]},
                {"tier": 0, "stakeholder": "director", "channels": ["hook"]},
            ],
            "delivery": {"backoff": "30s", "max_backoff": "10m", **delivery},
        },
        source="test",
    )


def heal_oxygen(backend: WarehouseBackend, cfg: AlertingConfig) -> datetime:
    """Drop the hospital's oxygen and heal with ``cfg``'s routing: one SEV1 alert, one
    notification per route. Returns the heal time."""
    from resq.alerting import apply_config

    apply_config(backend, cfg, actor="test")
    engine = resq.SelfHealingEngine(backend)
    engine.drop_stock(ORG, OXY, actor="test")
    report = engine.heal()
    assert report.alerts_raised == 1
    return report.started_at


def outbox(backend: WarehouseBackend) -> list[dict[str, Any]]:
    """The notifications of the hospital's alerts (the template's own went out already)."""
    return backend.sql(
        "SELECT * FROM notifications WHERE org_id = ? ORDER BY notification_id", [ORG]
    ).to_pylist()


def audit_actions(backend: WarehouseBackend, prefix: str = "notification.") -> list[str]:
    rows = backend.sql(
        "SELECT action FROM audit_log WHERE action LIKE ? AND org_id = ? ORDER BY seq",
        [prefix + "%", ORG],
    ).to_pylist()
    return [r["action"] for r in rows]


# ---------------------------------------------------------------- webhook


def test_webhook_receives_each_notification_with_its_delivery_key(
    backend: WarehouseBackend, hook: WebhookReceiver
) -> None:
    cfg = webhook_config(hook.url)
    heal_oxygen(backend, cfg)
    report = Deliverer(backend, cfg).deliver()

    rows = outbox(backend)
    assert report.sent == 2 and report.claimed == 2 and not report.errors
    assert len(hook.requests) == 2
    assert {r.headers["Idempotency-Key"] for r in hook.requests} == {
        r["delivery_key"] for r in rows
    }
    for request in hook.requests:
        key = request.headers["Idempotency-Key"]
        assert request.headers["X-Resq-Delivery-Key"] == key
        assert request.body["delivery_key"] == key
        assert request.headers["Content-Type"].startswith("application/json")
        assert request.path == "/hooks/resq"
        alert = request.body["alert"]
        assert (alert["org_id"], alert["sku"], alert["severity"]) == (ORG, OXY, "SEV1")
        assert alert["data_source"] == "SIMULATED"
        assert "Medical oxygen" in alert["message"]
    assert {r["state"] for r in rows} == {"SENT"}
    assert all(r["delivered_at"] is not None and r["attempts"] == 1 for r in rows)
    assert audit_actions(backend) == ["notification.delivered"] * 2
    assert backend.verify_audit().ok


def test_slack_payload(backend: WarehouseBackend, hook: WebhookReceiver) -> None:
    cfg = webhook_config(hook.url, fmt="slack")
    heal_oxygen(backend, cfg)
    Deliverer(backend, cfg).deliver()
    body = hook.requests[0].body
    assert body["text"].startswith(":rotating_light: *[resq SEV1] CRITICAL_STOCK at HOSP-BLR-001")
    assert body["blocks"][0]["type"] == "section"
    assert f"resq ack {body['resq']['alert_id']}" in body["blocks"][1]["elements"][0]["text"]
    assert body["delivery_key"] == hook.requests[0].headers["Idempotency-Key"]


def test_receiver_down_then_up_the_alert_arrives_exactly_once(
    backend: WarehouseBackend, hook: WebhookReceiver
) -> None:
    cfg = webhook_config(hook.url)
    hook.stop()
    t0 = heal_oxygen(backend, cfg)
    deliverer = Deliverer(backend, cfg)

    down = deliverer.deliver(now=t0)
    assert (down.sent, down.retrying) == (0, 2)
    rows = outbox(backend)
    assert {r["state"] for r in rows} == {"PENDING"}
    assert {r["attempts"] for r in rows} == {1}
    assert all(r["next_attempt_at"] == t0 + timedelta(seconds=30) for r in rows)
    assert all("webhook unreachable" in r["last_error"] for r in rows)

    # Before the backoff ends nothing is tried, even with the receiver back.
    hook.start()
    assert deliverer.deliver(now=t0 + timedelta(seconds=29)).claimed == 0
    assert hook.requests == []

    # The retry survives a restart: a new deliverer on a new connection picks it up.
    up = Deliverer(backend, cfg).deliver(now=t0 + timedelta(seconds=30))
    assert up.sent == 2
    later = [deliverer.deliver(now=t0 + timedelta(hours=h)) for h in (1, 2)]
    resq.SelfHealingEngine(backend).heal()  # a re-run raises nothing new
    Deliverer(backend, cfg).deliver(now=t0 + timedelta(hours=3))

    assert [x.claimed for x in later] == [0, 0]
    assert len(hook.requests) == 2
    assert sorted(hook.keys()) == sorted(r["delivery_key"] for r in outbox(backend))
    assert {r["state"] for r in outbox(backend)} == {"SENT"}
    assert audit_actions(backend) == ["notification.retry"] * 2 + ["notification.delivered"] * 2


def test_retries_back_off_exponentially_then_fail_and_health_turns_red(
    backend: WarehouseBackend, hook: WebhookReceiver
) -> None:
    hook.status = 503
    cfg = webhook_config(hook.url, max_attempts=4)
    t = heal_oxygen(backend, cfg)
    deliverer = Deliverer(backend, cfg)
    waits = []
    for _ in range(4):
        report = deliverer.deliver(now=t)
        assert report.claimed == 2
        nxt = outbox(backend)[0]["next_attempt_at"]
        if nxt is not None:
            waits.append((nxt - t).total_seconds())
            t = nxt
    assert waits == [30.0, 60.0, 120.0]
    rows = outbox(backend)
    assert {r["state"] for r in rows} == {"FAILED"}
    assert {r["attempts"] for r in rows} == {4}
    assert all("HTTP 503" in r["last_error"] for r in rows)
    assert len(hook.requests) == 8
    assert audit_actions(backend) == ["notification.retry"] * 6 + ["notification.failed"] * 2
    assert deliverer.deliver(now=t + timedelta(days=1)).claimed == 0  # FAILED is final

    health = check_health(backend)
    assert health.status == "RED"
    assert "2 notification(s) failed to deliver" in health.report.reasons
    assert health.outbox["failed"] == 2

    # Once the cause is fixed, an operator puts them back; they go out and health recovers.
    hook.status = 200
    assert requeue_failed(backend, actor="alice", now=t) == 2
    assert deliverer.deliver(now=t).sent == 2
    assert check_health(backend).outbox["failed"] == 0
    assert backend.verify_audit().ok


def test_a_rejected_notification_fails_at_once(
    backend: WarehouseBackend, hook: WebhookReceiver
) -> None:
    hook.status = 400
    cfg = webhook_config(hook.url)
    heal_oxygen(backend, cfg)
    report = Deliverer(backend, cfg).deliver()
    assert report.failed == 2 and report.retrying == 0
    assert {r["state"] for r in outbox(backend)} == {"FAILED"}
    details = backend.sql(
        "SELECT details FROM audit_log WHERE action = 'notification.failed'"
    ).to_pylist()
    assert json.loads(details[0]["details"])["permanent"] is True


def test_a_crash_after_sending_resends_with_the_same_key(
    backend: WarehouseBackend, hook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At least once: the receiver accepted, but the deliverer died before recording it.
    The retry carries the same delivery key, so the receiver can drop the duplicate."""
    cfg = webhook_config(hook.url)
    t0 = heal_oxygen(backend, cfg)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt("killed after the receiver accepted")

    with monkeypatch.context() as m:
        m.setattr(delivery_module.Deliverer, "_record_sent", crash)
        with pytest.raises(KeyboardInterrupt):
            Deliverer(backend, cfg).deliver(now=t0)
    # The channel's worker may have sent the second notification while the first was
    # being recorded: either way nothing is recorded SENT.
    first = len(hook.requests)
    assert first in {1, 2}
    assert [r["state"] for r in outbox(backend)] == ["PENDING", "PENDING"]

    Deliverer(backend, cfg).deliver(now=t0 + timedelta(seconds=30))
    keys = hook.keys()
    assert len(keys) == first + 2 and len(set(keys)) == 2  # duplicates keep their key
    for i, key in enumerate(keys[:first]):
        assert hook.requests[i].body == next(
            r.body for r in hook.requests[first:] if r.body["delivery_key"] == key
        )
    assert {r["state"] for r in outbox(backend)} == {"SENT"}


def test_a_notification_for_an_unconfigured_channel_is_retried_not_lost(
    backend: WarehouseBackend,
) -> None:
    cfg = webhook_config("http://127.0.0.1:9/unused")
    t0 = heal_oxygen(backend, cfg)
    report = Deliverer(backend, AlertingConfig()).deliver(now=t0)  # console only
    assert report.retrying == 2
    assert all("channel 'hook' is not configured" in r["last_error"] for r in outbox(backend))


def test_backoff_is_exponential_and_capped() -> None:
    from resq.alerting import DeliverySettings

    s = DeliverySettings(backoff_s=10, max_backoff_s=60)
    assert [backoff_seconds(n, s) for n in range(1, 7)] == [10, 20, 40, 60, 60, 60]
    import doctest

    assert doctest.testmod(delivery_module).failed == 0


# ---------------------------------------------------------------- email


def email_config(port: int, **channel: Any) -> AlertingConfig:
    return parse_config(
        {
            "channels": {
                "mail": {
                    "type": "email",
                    "host": "127.0.0.1",
                    "port": port,
                    "sender": "resq@example.org",
                    **channel,
                }
            },
            "stakeholders": {"ms": {"email": ["ms@example.org", "deputy@example.org"]}},
            "routes": [{"tier": 0, "stakeholder": "ms", "channels": ["mail"]}],
        },
        source="test",
    )


def test_email_arrives_with_a_message_id_derived_from_the_delivery_key(
    backend: WarehouseBackend,
) -> None:
    smtp = SmtpReceiver().start()
    try:
        cfg = email_config(smtp.port)
        heal_oxygen(backend, cfg)
        report = Deliverer(backend, cfg).deliver()
    finally:
        smtp.stop()
    (row,) = outbox(backend)
    assert report.sent == 1 and row["state"] == "SENT"
    (mail,) = smtp.mails
    assert mail.mail_from == "resq@example.org"
    assert mail.rcpt_tos == ["ms@example.org", "deputy@example.org"]
    msg = mail.message
    assert msg["Message-ID"] == message_id(row["delivery_key"], "example.org")
    assert msg["X-Resq-Delivery-Key"] == row["delivery_key"]
    assert msg["Subject"].startswith("[resq SEV1] CRITICAL_STOCK at HOSP-BLR-001: OXY-CYL")
    body = msg.get_payload(decode=True).decode()
    assert "Medical oxygen" in body and f"resq ack {row['alert_id']}" in body
    assert message_id(row["delivery_key"]) == message_id(row["delivery_key"])  # stable


def test_email_over_starttls_with_authentication_from_the_environment(
    backend: WarehouseBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ssl

    cert, key = self_signed_cert(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    smtp = SmtpReceiver(tls=tls, users={"resq-bot": "s3cret"}).start()
    monkeypatch.setenv("TEST_SMTP_USER", "resq-bot")
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    try:
        cfg = email_config(
            smtp.port,
            starttls=True,
            ca_file=str(cert),
            username_env="TEST_SMTP_USER",
            password_env="TEST_SMTP_PASSWORD",
        )
        t0 = heal_oxygen(backend, cfg)
        refused = Deliverer(backend, cfg).deliver(now=t0)
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret")
        accepted = Deliverer(backend, cfg).deliver(now=t0 + timedelta(seconds=30))
    finally:
        smtp.stop()
    assert refused.retrying == 1 and "535" in refused.errors[0]
    assert accepted.sent == 1
    assert smtp.logins == ["resq-bot"]
    assert len(smtp.mails) == 1
    assert outbox(backend)[0]["state"] == "SENT"


def test_email_without_tls_when_the_server_requires_it_is_retried(
    backend: WarehouseBackend, tmp_path: Path
) -> None:
    import ssl

    cert, key = self_signed_cert(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    smtp = SmtpReceiver(tls=tls).start()
    try:
        cfg = email_config(smtp.port)  # no starttls
        heal_oxygen(backend, cfg)
        report = Deliverer(backend, cfg).deliver()
    finally:
        smtp.stop()
    assert report.retrying == 1 and smtp.mails == []
    assert "STARTTLS" in outbox(backend)[0]["last_error"]


def test_delivery_uses_the_injected_clock(backend: WarehouseBackend, hook: WebhookReceiver) -> None:
    cfg = webhook_config(hook.url)
    heal_oxygen(backend, cfg)
    fixed = utcnow() + timedelta(days=3)
    Deliverer(backend, cfg, clock=lambda: fixed).deliver()
    assert {r["delivered_at"] for r in outbox(backend)} == {fixed}
    assert count(backend, "SELECT COUNT(*) FROM audit_log WHERE event_ts = ?", [fixed]) == 2
