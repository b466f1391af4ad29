"""Hostile receivers and hostile stored text against alert delivery (issue 11, items 8 and
9): redirects never turn a POST into a lost alert, ``timeout`` bounds the whole send even
against a receiver that drips a byte at a time, one slow channel does not hold the others,
and control characters in stored values never reach a header, a terminal or a reader raw."""

from __future__ import annotations

import http.server
import io
import json
import socket
import threading
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import resq
from receivers import ORG, SmtpReceiver, WebhookReceiver, copy_db, free_port, seeded_template
from resq.alerting import Deliverer, parse_config
from resq.alerting.channels import (
    ConsoleChannel,
    DeliveryError,
    EmailChannel,
    Notification,
    WebhookChannel,
)
from resq.alerting.config import ChannelConfig
from resq.alerting.text import is_clean, neutralise
from resq.backends.warehouse import WarehouseBackend


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_template(tmp_path_factory.mktemp("alert-hostile"))


@pytest.fixture
def backend(template: Path, tmp_path: Path) -> Iterator[WarehouseBackend]:
    with resq.connect(copy_db(template, tmp_path / "db.duckdb")) as b:
        yield b


def notification(channel: str = "hook", **payload: Any) -> Notification:
    return Notification(
        notification_id="N-1",
        delivery_key="AL-1:ops:hook:0",
        alert_id="AL-1",
        org_id=ORG,
        stakeholder="ops",
        channel=channel,
        tier=0,
        payload={"kind": "STOCK_CRITICAL", "severity": "SEV1", "sku": "OXY-CYL", **payload},
    )


def queue_notifications(backend: WarehouseBackend, channels: list[str], **payload: Any) -> None:
    """Outbox rows as a heal cycle writes them, one per channel, due now."""
    from resq.backends.warehouse import utcnow

    now = utcnow()
    for i, channel in enumerate(channels):
        doc = {"kind": "STOCK_CRITICAL", "severity": "SEV1", "sku": "OXY-CYL", **payload}
        backend.execute(
            "INSERT INTO notifications (notification_id, delivery_key, alert_id, org_id, "
            "stakeholder, channel, tier, payload, state, attempts, created_at) "
            "VALUES (?, ?, ?, ?, 'ops', ?, 0, ?, 'PENDING', 0, ?)",
            [f"NT-{i}", f"AL-X:ops:{channel}:0", "AL-X", ORG, channel, json.dumps(doc), now],
        )


def states(backend: WarehouseBackend) -> dict[str, dict[str, Any]]:
    rows = backend.sql(
        "SELECT channel, state, last_error, attempts FROM notifications "
        "WHERE notification_id LIKE 'NT-%'"
    ).to_pylist()
    return {r["channel"]: r for r in rows}


def config(channels: dict[str, dict[str, Any]], **delivery: Any) -> Any:
    return parse_config(
        {
            "channels": channels,
            "stakeholders": {"ops": {"email": ["ops@example.org"]}},
            "routes": [{"tier": 0, "stakeholder": "ops", "channels": sorted(channels)}],
            "delivery": {"backoff": "30s", **delivery},
        },
        source="test",
    )


# ---------------------------------------------------------------- redirects


class Redirector:
    """Answers every request with ``status`` and a Location pointing at ``target``."""

    def __init__(self, status: int, target: str) -> None:
        self.status, self.target = status, target
        self.methods: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.methods.append(self.command)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(outer.status)
                self.send_header("Location", outer.target)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/old"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_redirect_that_would_drop_the_body_is_not_followed_and_never_sent(
    backend: WarehouseBackend, hook: WebhookReceiver, status: int
) -> None:
    redirector = Redirector(status, hook.url)
    try:
        cfg = config({"hook": {"type": "webhook", "url": redirector.url}}, max_attempts=2)
        queue_notifications(backend, ["hook"])
        first = Deliverer(backend, cfg).deliver()
        assert first.sent == 0 and first.retrying == 1
        assert f"HTTP {status}" in first.errors[0] and "307 or 308" in first.errors[0]
        assert states(backend)["hook"]["state"] == "PENDING"
        backend.execute("UPDATE notifications SET next_attempt_at = NULL")
        second = Deliverer(backend, cfg).deliver()
        assert second.failed == 1
        assert states(backend)["hook"]["state"] == "FAILED"
    finally:
        redirector.stop()
    assert hook.requests == []  # never re-sent as a GET, never posted without its body
    assert redirector.methods == ["POST", "POST"]


@pytest.mark.parametrize("status", [307, 308])
def test_a_307_or_308_redirect_resends_the_same_body(
    backend: WarehouseBackend, hook: WebhookReceiver, status: int
) -> None:
    redirector = Redirector(status, hook.url)
    try:
        cfg = config({"hook": {"type": "webhook", "url": redirector.url}})
        queue_notifications(backend, ["hook"])
        report = Deliverer(backend, cfg).deliver()
    finally:
        redirector.stop()
    assert report.sent == 1, report.errors
    assert states(backend)["hook"]["state"] == "SENT"
    [request] = hook.requests
    assert request.body["delivery_key"] == "AL-X:ops:hook:0"
    assert request.headers["Idempotency-Key"] == "AL-X:ops:hook:0"


def test_a_redirect_loop_fails_with_a_reason() -> None:
    redirector = Redirector(307, "")
    redirector.target = redirector.url
    try:
        channel = WebhookChannel(ChannelConfig("hook", "webhook", url=redirector.url))
        with pytest.raises(DeliveryError, match="redirected more than"):
            channel.send(notification())
    finally:
        redirector.stop()


# ---------------------------------------------------------------- deadlines


class Dripper:
    """A raw TCP receiver that reads the request, then answers a valid 200 one byte every
    ``interval`` seconds; ``dripped`` counts the bytes it managed to send before the
    client hung up."""

    RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: " + b"x" * 200 + b"\r\n\r\n"

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.dripped = 0
        self.closed = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/drip"

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(65536)
            for byte in self.RESPONSE:
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    break
                self.dripped += 1
                if self.closed.wait(self.interval):
                    break
            self.closed.set()

    def stop(self) -> None:
        self.closed.set()
        self.sock.close()


def test_a_dripping_receiver_cannot_hold_a_send_past_its_deadline() -> None:
    """The answer would take ~24 s at 0.1 s a byte; the deadline is 1 s. The send must give
    up with the deadline as its reason after a small fraction of the bytes (margin: 10x)."""
    dripper = Dripper(interval=0.1)
    try:
        channel = WebhookChannel(ChannelConfig("hook", "webhook", url=dripper.url, timeout_s=1.0))
        with pytest.raises(DeliveryError, match="deadline for the whole send"):
            channel.send(notification())
        assert dripper.dripped < len(Dripper.RESPONSE) // 10
    finally:
        dripper.stop()


def test_a_slow_channel_does_not_hold_a_fast_one(backend: WarehouseBackend) -> None:
    """The slow receiver never answers; the fast one answers only once the slow request has
    arrived and while its connection is still open. Sequential delivery fails either way:
    slow first, the fast request comes after the slow one was cut; fast first, it waits for
    a slow request that never comes and misses its own deadline."""
    slow_arrived, slow_closed, release = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    slow = WebhookReceiver()
    slow.on_request = lambda r: (slow_arrived.set(), release.wait(30), slow_closed.set())
    fast = WebhookReceiver()

    def on_fast(_: Any) -> None:
        seen["slow_arrived"] = slow_arrived.wait(20)
        seen["slow_open"] = not slow_closed.is_set()

    fast.on_request = on_fast
    slow.start(), fast.start()
    try:
        cfg = config(
            {
                "a_slow": {"type": "webhook", "url": slow.url, "timeout": "3s"},
                "b_fast": {"type": "webhook", "url": fast.url, "timeout": "10s"},
            }
        )
        queue_notifications(backend, ["a_slow", "b_fast"])
        report = Deliverer(backend, cfg).deliver()
    finally:
        release.set()
        slow.stop(), fast.stop()
    assert seen == {"slow_arrived": True, "slow_open": True}
    s = states(backend)
    assert s["b_fast"]["state"] == "SENT"
    assert s["a_slow"]["state"] == "PENDING" and "deadline" in s["a_slow"]["last_error"]
    assert report.sent == 1 and report.retrying == 1


# ---------------------------------------------------------------- control characters

# Arbitrary text, weighted towards what breaks protocols and terminals.
HOSTILE = st.lists(
    st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\r", "\n", "\r\n", "\x1b[31m", "\x1b]0;x\x07", "\x00", "\x7f", "\x85"]),
        st.sampled_from(["\u202e", "\u2066", "\u2028", "\u200f", "\x9b", "\t"]),
    ),
    max_size=20,
).map("".join)


def rendered(n: Notification) -> list[str]:
    """Every line of text a channel produces for ``n``."""
    stream = io.StringIO()
    ConsoleChannel(stream=stream).send(n)
    hook = WebhookChannel(ChannelConfig("hook", "webhook", url="http://127.0.0.1:9/"))
    slack = WebhookChannel(
        ChannelConfig("hook", "webhook", url="http://127.0.0.1:9/", format="slack")
    )
    strings: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(k), walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(json.loads(hook.body(n)))
    walk(json.loads(slack.body(n)))
    slack_text = json.loads(slack.body(n))["text"]
    return [
        *stream.getvalue().rstrip("\n").split("\n"),
        n.subject(),
        *n.text().split("\n"),
        *slack_text.split("\n"),
        *[s for s in strings if s != slack_text and "\n" not in s],
        *[line for s in strings if "\n" in s for line in s.split("\n")],
    ]


@settings(max_examples=100, deadline=None)
@given(sku=HOSTILE, message=HOSTILE, kind=HOSTILE, source=HOSTILE)
def test_every_rendered_line_is_clean(sku: str, message: str, kind: str, source: str) -> None:
    n = notification(sku=sku, message=message, kind=kind, data_source=source)
    console = io.StringIO()
    ConsoleChannel(stream=console).send(n)
    assert console.getvalue().count("\n") == 1  # one line per notification, always
    for line in rendered(n):
        assert is_clean(line), line
    assert neutralise(sku) in n.subject()  # neutralised, not dropped


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(sku=HOSTILE, message=HOSTILE, alert_id=HOSTILE)
def test_email_with_any_stored_text_is_accepted_with_clean_headers(
    smtp: SmtpReceiver, sku: str, message: str, alert_id: str
) -> None:
    n = Notification(
        notification_id="N-1",
        delivery_key=f"{alert_id}:ops:mail:0",
        alert_id=alert_id,
        org_id=ORG,
        stakeholder="ops",
        channel="mail",
        tier=0,
        payload={"kind": "STOCK_CRITICAL", "severity": "SEV1", "sku": sku, "message": message},
    )
    channel = EmailChannel(
        ChannelConfig("mail", "email", host="127.0.0.1", port=smtp.port, sender="resq@example.org"),
        {"ops": ("ops@example.org",)},
    )
    before = len(smtp.mails)
    assert channel.send(n).startswith("accepted")
    assert len(smtp.mails) == before + 1
    raw = smtp.mails[-1].message.as_bytes()
    head = raw.split(b"\n\n", 1)[0]
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    for name, value in parsed.items():
        assert is_clean(str(value)), (name, value)
    assert "\r" not in head.decode(errors="replace").replace("\r\n", "\n")
    assert " ".join(parsed["Subject"].split()) == " ".join(n.subject().split())  # unfolded
    assert parsed["X-Resq-Alert-Id"].strip() == neutralise(alert_id).strip()


def test_a_newline_in_a_stored_sku_is_delivered_by_email_not_failed(
    backend: WarehouseBackend, smtp: SmtpReceiver
) -> None:
    cfg = config(
        {"mail": {"type": "email", "host": "127.0.0.1", "port": smtp.port, "sender": "r@x.org"}}
    )
    queue_notifications(backend, ["mail"], sku="OXY\r\nBcc: victim@example.org", message="\x1b[2J")
    report = Deliverer(backend, cfg).deliver()
    assert report.sent == 1, report.errors
    mail = smtp.mails[-1]
    assert mail.rcpt_tos == ["ops@example.org"]
    parsed = BytesParser(policy=policy.default).parsebytes(mail.message.as_bytes())
    assert parsed["Bcc"] is None
    assert "OXY\\x0d\\x0aBcc: victim@example.org" in parsed["Subject"]
    assert "\x1b" not in parsed.get_content()
