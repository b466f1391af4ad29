"""Real receivers on 127.0.0.1 for the alerting tests: an HTTP webhook endpoint and an
SMTP server (aiosmtpd), each started and stopped by the test, recording what arrived."""

from __future__ import annotations

import datetime as dt
import http.server
import io
import ipaddress
import json
import shutil
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import resq
from resq.alerting import Deliverer
from resq.backends.warehouse import WarehouseBackend


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class WebhookReceiver:
    """An HTTP server that records every POST; ``status`` is what it answers (200 by
    default), ``delay`` how long it takes, ``on_request`` runs as a request arrives.
    It can be stopped and started again on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.requests: list[Request] = []
        self.status = 200
        self.delay = 0.0
        self.on_request: Callable[[Request], None] | None = None
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/resq"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = Request(self.path, dict(self.headers.items()), json.loads(body))
                receiver.requests.append(request)
                if receiver.on_request is not None:
                    receiver.on_request(request)
                time.sleep(receiver.delay)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def keys(self) -> list[str]:
        return [r.headers["Idempotency-Key"] for r in self.requests]


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: Message


@dataclass
class SmtpReceiver:
    """aiosmtpd on 127.0.0.1, optionally with STARTTLS required and AUTH checked against
    ``users``; every accepted message is kept in ``mails``."""

    tls: ssl.SSLContext | None = None
    users: dict[str, str] | None = None
    port: int = field(default_factory=free_port)
    mails: list[Mail] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    def start(self) -> SmtpReceiver:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                receiver.mails.append(
                    Mail(
                        envelope.mail_from,
                        list(envelope.rcpt_tos),
                        message_from_bytes(envelope.original_content or envelope.content),
                    )
                )
                return "250 OK"

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, auth: Any
        ) -> Any:
            login = auth.login.decode() if isinstance(auth.login, bytes) else auth.login
            password = auth.password.decode() if isinstance(auth.password, bytes) else auth.password
            ok = receiver.users is not None and receiver.users.get(login) == password
            if ok:
                receiver.logins.append(login)
            return AuthResult(success=ok, handled=False)

        kwargs: dict[str, Any] = {}
        if self.tls is not None:
            kwargs.update(tls_context=self.tls, require_starttls=True)
        if self.users is not None:
            kwargs.update(authenticator=authenticator, auth_require_tls=self.tls is not None)
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), to run STARTTLS against."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "resq test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


# ---------------------------------------------------------------------- databases

ORG, OXY = "HOSP-BLR-001", "OXY-CYL"


def seeded_template(folder: Path) -> Path:
    """An initialized, seeded DuckDB file, healed once so later cycles only react to
    what a test changes; copied by :func:`copy_db` for each test."""
    path = folder / "template.duckdb"
    with resq.connect(f"duckdb:///{path}") as backend:
        backend.init()
        engine = resq.SelfHealingEngine(backend)
        engine.seed()
        engine.heal()
        # Start each test with nothing due: the seed's own alerts went out (to nobody).
        Deliverer(backend, console=io.StringIO()).deliver()
    return path


def copy_db(template: Path, target: Path) -> str:
    shutil.copy(template, target)
    wal = template.with_name(template.name + ".wal")
    if wal.exists():
        shutil.copy(wal, target.with_name(target.name + ".wal"))
    return f"duckdb:///{target}"


def count(backend: WarehouseBackend, sql: str, params: list[Any] | None = None) -> int:
    return int(backend.sql(sql, params).scalar())
