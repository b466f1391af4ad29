"""Delivery channels: console, webhook (JSON or Slack-compatible), email over SMTP, and
Snowflake notification integrations.

Each channel sends one outbox notification and returns only once the receiver accepted it;
it raises :class:`DeliveryError` otherwise (``permanent`` when retrying cannot help). Every
message carries its delivery key (an ``Idempotency-Key`` header, a Message-ID derived from
it) so a receiver can drop the duplicate that an at-least-once retry may produce.

Every text a channel renders (subject, body, console line, header, JSON string) goes through
:func:`resq.alerting.text.neutralise`, and ``timeout`` is a deadline for the whole send.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import smtplib
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from resq.alerting.config import AlertingConfig, ChannelConfig
from resq.alerting.text import neutralise, neutralise_tree

if TYPE_CHECKING:
    from resq.backends.warehouse import WarehouseBackend

USER_AGENT = "resq-alerting"
MAX_REDIRECTS = 5
MAX_RESPONSE_BYTES = 64 * 1024


class DeliveryError(Exception):
    """A channel did not accept a notification; ``permanent`` when a retry cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Notification:
    """One outbox row, as a channel sees it."""

    notification_id: str
    delivery_key: str
    alert_id: str
    org_id: str
    stakeholder: str
    channel: str
    tier: int
    payload: Mapping[str, Any]
    attempts: int = 0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Notification:
        payload = row.get("payload") or "{}"
        return cls(
            notification_id=str(row["notification_id"]),
            delivery_key=str(row["delivery_key"]),
            alert_id=str(row["alert_id"]),
            org_id=str(row["org_id"]),
            stakeholder=str(row["stakeholder"]),
            channel=str(row["channel"]),
            tier=int(row.get("tier") or 0),
            payload=json.loads(payload) if isinstance(payload, str) else dict(payload),
            attempts=int(row.get("attempts") or 0),
        )

    @property
    def severity(self) -> str:
        return neutralise(self.payload.get("severity") or "-")

    @property
    def is_digest(self) -> bool:
        """True for a heal cycle's digest (a list of alerts), False for one alert's row."""
        return self.payload.get("kind") == DIGEST and isinstance(self.payload.get("alerts"), list)

    @property
    def alerts(self) -> list[Mapping[str, Any]]:
        """The alerts this notification tells about, most urgent first: a digest's list, or
        the one alert of an escalation."""
        if self.is_digest:
            return [a for a in self.payload["alerts"] if isinstance(a, Mapping)]
        return [self.payload]

    def field(self, name: str, default: str = "-") -> str:
        """A payload value as one neutralised line of text (``default`` when empty)."""
        return _field(self.payload, name, default)

    def subject(self) -> str:
        if self.is_digest:  # named by its most urgent alert, as a single alert would be
            alerts = self.alerts
            first = alerts[0] if alerts else {}
            more = f" (+{len(alerts) - 1} more alerts)" if len(alerts) > 1 else ""
            what = f"{_field(first, 'kind', 'ALERT')} at {neutralise(self.org_id)}"
            return f"[resq {self.severity}] {what}: {_field(first, 'sku')}{more}"
        escalated = f" (escalated to tier {self.tier})" if self.tier else ""
        what = f"{self.field('kind', 'ALERT')} at {neutralise(self.org_id)}: {self.field('sku')}"
        return f"[resq {self.severity}] {what}{escalated}"

    def message(self) -> str:
        """The alert's own message, neutralised (the subject when it has none); a digest's
        first (most urgent) alert's message, with how many more it lists."""
        if self.is_digest:
            alerts = self.alerts
            first = _field(alerts[0], "message", "") if alerts else ""
            more = f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
            return (first or self.subject()) + more
        return self.field("message", "") or self.subject()

    def text(self) -> str:
        """The human-readable message: what happened, who is told, how to acknowledge."""
        if self.is_digest:
            return self._digest_text()
        alert_id = neutralise(self.alert_id)
        lines = [
            self.message(),
            "",
            f"Alert:        {alert_id} ({self.severity}, {self.field('kind')})",
            f"Organization: {neutralise(self.org_id)}   Item: {self.field('sku')}   "
            f"Order: {self.field('po_id')}",
            f"Stakeholder:  {neutralise(self.stakeholder)} (tier {self.tier})",
            f"Data source:  {self.field('data_source')}",
            "",
            f"Acknowledge with: resq ack {alert_id}",
            f"Delivery key: {neutralise(self.delivery_key)}",
        ]
        return "\n".join(lines)

    def _digest_text(self) -> str:
        alerts = self.alerts
        n = len(alerts)
        lines = [
            f"{n} new alert{'s' if n != 1 else ''} for {neutralise(self.stakeholder)} at "
            f"{neutralise(self.org_id)} (heal cycle {self.field('cycle_id')}), most urgent first:",
            "",
        ]
        for i, a in enumerate(alerts, 1):
            lines += [
                f"{i}. {_field(a, 'severity')} {_field(a, 'kind')}: "
                f"{_field(a, 'item_name', _field(a, 'sku'))} ({_field(a, 'sku')}) at "
                f"{_field(a, 'org_id')}, {_days_left(a.get('days_remaining'))}",
                f"   {_field(a, 'message', '')}",
                f"   Order: {_field(a, 'po_id')}   Data source: {_field(a, 'data_source')}",
                f"   Acknowledge with: resq ack {_field(a, 'alert_id')}",
            ]
        lines += [
            "",
            f"Stakeholder:  {neutralise(self.stakeholder)} (tier {self.tier})",
            f"Delivery key: {neutralise(self.delivery_key)}",
        ]
        return "\n".join(lines)

    def document(self) -> dict[str, Any]:
        """The JSON body of a webhook: identical on every retry of this notification, every
        string in it neutralised like the text channels. A digest's body carries its alerts
        (``alerts``, most urgent first) and, as ``alert``, the first of them."""
        doc: dict[str, Any] = {
            "delivery_key": self.delivery_key,
            "notification_id": self.notification_id,
            "alert_id": self.alert_id,
            "org_id": self.org_id,
            "stakeholder": self.stakeholder,
            "channel": self.channel,
            "tier": self.tier,
            "severity": self.severity,
        }
        if self.is_digest:
            alerts = [dict(a) for a in self.alerts]
            doc.update(
                kind=DIGEST,
                cycle_id=self.payload.get("cycle_id"),
                count=len(alerts),
                alerts=alerts,
                alert=alerts[0] if alerts else {},
            )
        else:
            doc["alert"] = dict(self.payload)
        return neutralise_tree(doc)


DIGEST = "DIGEST"
"""The payload ``kind`` of a heal cycle's digest notification."""


def _field(doc: Mapping[str, Any], name: str, default: str = "-") -> str:
    value = doc.get(name)
    return neutralise(default if value is None or value == "" else value)


def _days_left(value: Any) -> str:
    """``0.5 days left``; an item that never runs out (or unknown) says so."""
    if value is None or value == "":
        return "days left unknown"
    try:
        return f"{float(value):g} days left"
    except (TypeError, ValueError):
        return f"{neutralise(value)} days left"


def message_id(delivery_key: str, domain: str = "resq.local") -> str:
    """The email Message-ID of a delivery key: the same key always gives the same id."""
    return f"<{hashlib.sha256(delivery_key.encode()).hexdigest()[:32]}@{domain}>"


class Channel(Protocol):
    name: str

    def send(self, notification: Notification) -> str:
        """Deliver, returning a short receipt; raise DeliveryError when not accepted."""
        ...


class ConsoleChannel:
    """One line per notification on a stream (standard output unless told otherwise)."""

    def __init__(self, name: str = "console", stream: TextIO | None = None) -> None:
        self.name = name
        self.stream = stream

    def send(self, notification: Notification) -> str:
        stream = self.stream or sys.stdout
        n = notification
        tier = f" tier {n.tier}" if n.tier else ""
        who = f"{neutralise(n.alert_id)} -> {neutralise(n.stakeholder)}{tier}"
        key = neutralise(n.delivery_key)
        if n.is_digest:  # one write: the digest's alerts, one line each
            lines = [
                f"ALERT {_field(a, 'severity')} {_field(a, 'alert_id')} -> "
                f"{neutralise(n.stakeholder)}{tier}: {_field(a, 'message', '')} "
                f"[{_field(a, 'data_source')}; key {key}]\n"
                for a in n.alerts
            ]
            stream.write("".join(lines))
        else:
            stream.write(
                f"ALERT {n.severity} {who}: {n.field('message', '')} "
                f"[{n.field('data_source')}; key {key}]\n"
            )
        stream.flush()
        return "printed"


def _env(name: str, env: Mapping[str, str]) -> str:
    value = env.get(name)
    if not value:
        raise DeliveryError(f"environment variable {name} is not set")
    return value


class WebhookChannel:
    """A JSON POST, or a Slack-compatible one (``format = "slack"``), with the delivery key
    in the ``Idempotency-Key`` and ``X-Resq-Delivery-Key`` headers and in the body."""

    def __init__(self, config: ChannelConfig, env: Mapping[str, str] | None = None) -> None:
        self.name = config.name
        self.config = config
        self.env = os.environ if env is None else env

    def body(self, n: Notification) -> bytes:
        doc = n.document()
        if self.config.format == "slack":
            icon = {"SEV1": ":rotating_light:", "SEV2": ":warning:"}.get(n.severity, ":bell:")
            if n.is_digest:
                detail = "\n".join(
                    f"• {_field(a, 'severity')} {_field(a, 'kind')} {_field(a, 'sku')}: "
                    f"{_field(a, 'message', '')} (`resq ack {_field(a, 'alert_id')}`)"
                    for a in n.alerts
                )
            else:
                detail = n.field("message", "")
            text = f"{icon} *{n.subject()}*\n{detail}"
            source = n.field("data_source")
            context = (
                f"`resq ack {neutralise(n.alert_id)}` · {source} · key {neutralise(n.delivery_key)}"
            )
            doc = {
                "text": text,
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": text}},
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
                ],
                "delivery_key": neutralise(n.delivery_key),
                "resq": doc,
            }
        return json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()

    def send(self, n: Notification) -> str:
        c = self.config
        url = c.url or _env(str(c.url_env), self.env)
        own = {
            **c.headers,
            **{h: _env(var, self.env) for h, var in c.headers_env.items()},
        }
        base = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": neutralise(n.delivery_key),
            "X-Resq-Delivery-Key": neutralise(n.delivery_key),
        }
        return post(url, self.body(n), base, own, timeout_s=c.timeout_s, ca_file=c.ca_file)


def post_json(url: str, document: Mapping[str, Any], *, timeout_s: float = 10.0) -> str:
    """POST one JSON document with the webhook channel's rules (redirects, deadline)."""
    body = json.dumps(document, sort_keys=True).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    return post(url, body, headers, {}, timeout_s=timeout_s)


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    own: Mapping[str, str],
    *,
    timeout_s: float,
    ca_file: str | None = None,
) -> str:
    """POST ``body`` within one deadline of ``timeout_s`` for the whole exchange, following
    only 307/308 redirects (which re-send the body); ``own`` headers (credentials) go only to
    the origin of ``url``. Returns a receipt; raises :class:`DeliveryError`."""
    deadline = time.monotonic() + timeout_s
    origin = _origin(url)
    for _hop in range(MAX_REDIRECTS + 1):
        sent = {**headers, **own} if _origin(url) == origin else dict(headers)
        status, reason, location = _post(url, body, sent, deadline, timeout_s, ca_file)
        if 200 <= status < 300:
            return f"HTTP {status}"
        if status in {307, 308} and location:
            target = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(url).scheme == "https" and not target.startswith("https://"):
                raise DeliveryError(
                    f"webhook redirected (HTTP {status}) from https to {neutralise(target)}: "
                    "not followed, the alert would leave TLS",
                    permanent=True,
                )
            url = target
            continue
        if 300 <= status < 400:
            where = neutralise(location or "nowhere")
            raise DeliveryError(
                f"webhook answered HTTP {status} {reason} (redirect to {where}): not"
                " delivered, only a 307 or 308 redirect re-sends the POST with its body;"
                " point the channel's url at the final address"
            )
        transient = status in {408, 425, 429} or status >= 500
        raise DeliveryError(f"webhook answered HTTP {status} {reason}", permanent=not transient)
    raise DeliveryError(f"webhook redirected more than {MAX_REDIRECTS} times: not delivered")


def _post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    deadline: float,
    timeout_s: float,
    ca_file: str | None,
) -> tuple[int, str, str | None]:
    """One POST within ``deadline``: (status, reason, Location)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise DeliveryError(f"webhook url {neutralise(url)!r} is not http(s)", permanent=True)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeliveryError(_late(timeout_s))
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=ca_file)
        conn = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=remaining, context=context
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=remaining)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        with deadline_guard(deadline, lambda: conn.sock):
            conn.request("POST", path, body=body, headers=dict(headers))
            response = conn.getresponse()
            response.read(MAX_RESPONSE_BYTES)
        return response.status, response.reason, response.getheader("Location")
    except (http.client.HTTPException, OSError, ValueError) as exc:
        if time.monotonic() >= deadline:
            raise DeliveryError(_late(timeout_s)) from None
        raise DeliveryError(f"webhook unreachable: {neutralise(exc)}") from None
    finally:
        conn.close()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _late(timeout_s: float) -> str:
    return f"no answer within the {timeout_s:g}s deadline for the whole send"


@contextmanager
def deadline_guard(deadline: float, sock: Callable[[], socket.socket | None]) -> Iterator[None]:
    """Bound a whole exchange, not each read: at ``deadline`` the connection's socket is shut
    down, so a receiver that drips one byte at a time cannot hold the send open."""

    def cut() -> None:
        s = sock()
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


class EmailChannel:
    """Email over SMTP (plain, STARTTLS or SSL, with optional authentication); the
    Message-ID is derived from the delivery key."""

    def __init__(
        self,
        config: ChannelConfig,
        recipients: Mapping[str, tuple[str, ...]],
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        self.recipients = recipients
        self.env = os.environ if env is None else env

    def message(self, n: Notification) -> EmailMessage:
        c = self.config
        to = self.recipients.get(n.stakeholder, ())
        if not to:
            raise DeliveryError(
                f"stakeholder {n.stakeholder!r} has no email address in the config",
                permanent=True,
            )
        from datetime import UTC, datetime

        msg = EmailMessage()
        msg["From"] = str(c.sender)
        msg["To"] = ", ".join(to)
        msg["Subject"] = n.subject()
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = message_id(n.delivery_key, str(c.sender).rpartition("@")[2])
        msg["X-Resq-Delivery-Key"] = neutralise(n.delivery_key)
        msg["X-Resq-Alert-Id"] = neutralise(n.alert_id)
        msg.set_content(n.text())
        return msg

    def send(self, n: Notification) -> str:
        c = self.config
        msg = self.message(n)
        context = ssl.create_default_context(cafile=c.ca_file) if (c.starttls or c.ssl) else None
        deadline = time.monotonic() + c.timeout_s
        smtp: smtplib.SMTP
        if c.ssl:
            smtp = smtplib.SMTP_SSL(timeout=c.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(timeout=c.timeout_s)
        # Connecting inside the deadline guard (not in the constructor) means the TLS
        # server name must be given the way the constructor would have.
        smtp._host = str(c.host)  # type: ignore[attr-defined]
        try:
            with deadline_guard(deadline, lambda: getattr(smtp, "sock", None)), smtp:
                smtp.connect(str(c.host), c.port or (465 if c.ssl else 25))
                if c.starttls:
                    smtp.starttls(context=context)
                if c.username_env:
                    smtp.login(_env(c.username_env, self.env), _env(str(c.password_env), self.env))
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(
                f"SMTP refused every recipient: {exc.recipients}", permanent=True
            ) from None
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else exc.smtp_error
            )
            raise DeliveryError(f"SMTP answered {exc.smtp_code} {text}") from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            if time.monotonic() >= deadline:
                raise DeliveryError(_late(c.timeout_s)) from None
            raise DeliveryError(f"SMTP failed: {exc}") from None
        if refused:
            return f"accepted, refused {sorted(refused)}"
        return f"accepted {msg['Message-ID']}"


class SnowflakeChannel:
    """Delivery inside Snowflake: ``SYSTEM$SEND_SNOWFLAKE_NOTIFICATION`` through a notification
    integration. A webhook or queue integration gets JSON; an email integration gets plain
    text addressed to the stakeholder's addresses through
    ``SNOWFLAKE.NOTIFICATION.EMAIL_INTEGRATION_CONFIG(integration, subject, ARRAY_CONSTRUCT(
    addresses))`` ("EMAIL_INTEGRATION_CONFIG", docs.snowflake.com): ``INTEGRATION(name)``
    alone names no recipient. Every value is bound."""

    SEND_JSON = (
        "CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION("
        "SNOWFLAKE.NOTIFICATION.APPLICATION_JSON(?), SNOWFLAKE.NOTIFICATION.INTEGRATION(?))"
    )
    SUBJECT_MAX = 256  # Snowflake's limit on an email subject

    uses_backend = True  # sent from the delivering thread, which owns the connection

    def __init__(
        self,
        config: ChannelConfig,
        backend: WarehouseBackend,
        recipients: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        self.backend = backend
        self.recipients = recipients or {}

    @staticmethod
    def send_email_sql(addresses: int) -> str:
        """The email call for ``addresses`` bound addresses (one marker each)."""
        if addresses < 1:
            raise ValueError("an email needs at least one address")
        marks = ", ".join("?" for _ in range(addresses))
        return (
            "CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION("
            "SNOWFLAKE.NOTIFICATION.TEXT_PLAIN(?), "
            f"SNOWFLAKE.NOTIFICATION.EMAIL_INTEGRATION_CONFIG(?, ?, ARRAY_CONSTRUCT({marks})))"
        )

    def send(self, n: Notification) -> str:
        integration = str(self.config.snowflake_integration)
        if self.config.format == "email":
            to = self.recipients.get(n.stakeholder, ())
            if not to:
                raise DeliveryError(
                    f"stakeholder {n.stakeholder!r} has no email address in the stored "
                    "routing (apply a resq.toml with its email addresses)",
                    permanent=True,
                )
            subject = n.subject()[: self.SUBJECT_MAX]
            sql = self.send_email_sql(len(to))
            params: list[Any] = [subject + "\n\n" + n.text(), integration, subject, *to]
        else:
            sql, params = self.SEND_JSON, [json.dumps(n.document(), sort_keys=True), integration]
        try:
            self.backend.execute(sql, params)
        except Exception as exc:
            raise DeliveryError(f"SYSTEM$SEND_SNOWFLAKE_NOTIFICATION failed: {exc}") from None
        return f"sent through {integration}"


def build_channels(
    config: AlertingConfig,
    *,
    backend: WarehouseBackend | None = None,
    env: Mapping[str, str] | None = None,
    console: TextIO | None = None,
) -> dict[str, Channel]:
    """The channel objects of a config, by name."""
    recipients = {name: s.email for name, s in config.stakeholders.items()}
    out: dict[str, Channel] = {}
    for name, c in config.channels.items():
        if c.type == "console":
            out[name] = ConsoleChannel(name, console)
        elif c.type == "webhook":
            out[name] = WebhookChannel(c, env)
        elif c.type == "email":
            out[name] = EmailChannel(c, recipients, env)
        elif c.type == "snowflake" and backend is not None:
            out[name] = SnowflakeChannel(c, backend, recipients)
    return out
