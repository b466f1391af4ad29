"""Delivery channels: console, webhook (JSON or Slack-compatible), email over SMTP, and
Snowflake notification integrations.

Each channel sends one outbox notification and returns only once the receiver accepted it;
it raises :class:`DeliveryError` otherwise (``permanent`` when retrying cannot help). Every
message carries its delivery key (an ``Idempotency-Key`` header, a Message-ID derived from
it) so a receiver can drop the duplicate that an at-least-once retry may produce.
"""

from __future__ import annotations

import hashlib
import json
import os
import smtplib
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from resq.alerting.config import AlertingConfig, ChannelConfig

if TYPE_CHECKING:
    from resq.backends.warehouse import WarehouseBackend

USER_AGENT = "resq-alerting"


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
        return str(self.payload.get("severity") or "-")

    def subject(self) -> str:
        p = self.payload
        escalated = f" (escalated to tier {self.tier})" if self.tier else ""
        what = f"{p.get('kind', 'ALERT')} at {self.org_id}: {p.get('sku') or '-'}"
        return f"[resq {self.severity}] {what}{escalated}"

    def text(self) -> str:
        """The human-readable message: what happened, who is told, how to acknowledge."""
        p = self.payload
        lines = [
            str(p.get("message") or self.subject()),
            "",
            f"Alert:        {self.alert_id} ({self.severity}, {p.get('kind', '-')})",
            f"Organization: {self.org_id}   Item: {p.get('sku') or '-'}   "
            f"Order: {p.get('po_id') or '-'}",
            f"Stakeholder:  {self.stakeholder} (tier {self.tier})",
            f"Data source:  {p.get('data_source', '-')}",
            "",
            f"Acknowledge with: resq ack {self.alert_id}",
            f"Delivery key: {self.delivery_key}",
        ]
        return "\n".join(lines)

    def document(self) -> dict[str, Any]:
        """The JSON body of a webhook: identical on every retry of this notification."""
        return {
            "delivery_key": self.delivery_key,
            "notification_id": self.notification_id,
            "alert_id": self.alert_id,
            "org_id": self.org_id,
            "stakeholder": self.stakeholder,
            "channel": self.channel,
            "tier": self.tier,
            "severity": self.severity,
            "alert": dict(self.payload),
        }


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
        p = notification.payload
        tier = f" tier {notification.tier}" if notification.tier else ""
        stream.write(
            f"ALERT {notification.severity} {notification.alert_id} -> "
            f"{notification.stakeholder}{tier}: {p.get('message', '')} "
            f"[{p.get('data_source', '-')}; key {notification.delivery_key}]\n"
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
            text = f"{icon} *{n.subject()}*\n{n.payload.get('message', '')}"
            source = n.payload.get("data_source", "-")
            context = f"`resq ack {n.alert_id}` · {source} · key {n.delivery_key}"
            doc = {
                "text": text,
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": text}},
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
                ],
                "delivery_key": n.delivery_key,
                "resq": doc,
            }
        return json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()

    def send(self, n: Notification) -> str:
        c = self.config
        url = c.url or _env(str(c.url_env), self.env)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": n.delivery_key,
            "X-Resq-Delivery-Key": n.delivery_key,
            **c.headers,
            **{h: _env(var, self.env) for h, var in c.headers_env.items()},
        }
        request = urllib.request.Request(url, data=self.body(n), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=c.timeout_s) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            transient = exc.code in {408, 425, 429} or exc.code >= 500
            raise DeliveryError(
                f"webhook answered HTTP {exc.code} {exc.reason}", permanent=not transient
            ) from None
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"webhook unreachable: {reason}") from None
        return f"HTTP {status}"


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
        msg["X-Resq-Delivery-Key"] = n.delivery_key
        msg["X-Resq-Alert-Id"] = n.alert_id
        msg.set_content(n.text())
        return msg

    def send(self, n: Notification) -> str:
        c = self.config
        msg = self.message(n)
        context = ssl.create_default_context(cafile=c.ca_file) if (c.starttls or c.ssl) else None
        try:
            smtp: smtplib.SMTP
            if c.ssl:
                smtp = smtplib.SMTP_SSL(
                    str(c.host), c.port or 465, timeout=c.timeout_s, context=context
                )
            else:
                smtp = smtplib.SMTP(str(c.host), c.port or 25, timeout=c.timeout_s)
            with smtp:
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
            raise DeliveryError(f"SMTP failed: {exc}") from None
        if refused:
            return f"accepted, refused {sorted(refused)}"
        return f"accepted {msg['Message-ID']}"


class SnowflakeChannel:
    """Delivery inside Snowflake: ``SYSTEM$SEND_SNOWFLAKE_NOTIFICATION`` through a notification
    integration (an email integration gets plain text, a webhook or queue one JSON)."""

    SEND_JSON = (
        "CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION("
        "SNOWFLAKE.NOTIFICATION.APPLICATION_JSON(?), SNOWFLAKE.NOTIFICATION.INTEGRATION(?))"
    )
    SEND_TEXT = (
        "CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION("
        "SNOWFLAKE.NOTIFICATION.TEXT_PLAIN(?), SNOWFLAKE.NOTIFICATION.INTEGRATION(?))"
    )

    def __init__(self, config: ChannelConfig, backend: WarehouseBackend) -> None:
        self.name = config.name
        self.config = config
        self.backend = backend

    def send(self, n: Notification) -> str:
        integration = str(self.config.snowflake_integration)
        if self.config.format == "email":
            sql, body = self.SEND_TEXT, n.subject() + "\n\n" + n.text()
        else:
            sql, body = self.SEND_JSON, json.dumps(n.document(), sort_keys=True)
        try:
            self.backend.execute(sql, [body, integration])
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
            out[name] = SnowflakeChannel(c, backend)
    return out
