"""``resq.toml``: stakeholders, channels, routes, escalation timeouts and delivery settings.

The file is parsed with :mod:`tomllib` and validated as a whole: every problem names the
file, the key and the reason, and nothing is applied while any remains. Credentials are
never read from the file, only the names of the environment variables that hold them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from resq.core.alerts import DEFAULT_POLICY, DEFAULT_TIMEOUTS, SEVERITY_ORDER, Route, RoutingPolicy
from resq.core.validation import SECTORS
from resq.errors import ResqError

CONFIG_NAME = "resq.toml"
CHANNEL_TYPES = ("console", "webhook", "email", "snowflake")
WEBHOOK_FORMATS = ("json", "slack")
SNOWFLAKE_FORMATS = ("json", "email")  # APPLICATION_JSON (webhook integration) or TEXT_PLAIN
SEVERITIES = tuple(s.value for s in SEVERITY_ORDER)
# Keys that would put a credential in the file; each names the *_env key to use instead.
SECRET_KEYS = {"password": "password_env", "username": "username_env", "token": "headers_env"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class ConfigError(ResqError, ValueError):
    """A config file was rejected; ``problems`` lists each key and the reason."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = "; ".join(f"{key}: {reason}" if key else reason for key, reason in problems)
        n = len(problems)
        super().__init__(
            f"invalid alerting config {source} ({n} problem{'s' if n != 1 else ''}): {shown}"
        )


@dataclass(frozen=True)
class ChannelConfig:
    """One delivery channel. Endpoints live here; secrets only as environment variable names."""

    name: str
    type: str
    url: str | None = None
    url_env: str | None = None
    format: str = "json"
    headers: Mapping[str, str] = field(default_factory=dict)
    headers_env: Mapping[str, str] = field(default_factory=dict)
    host: str | None = None
    port: int | None = None
    starttls: bool = False
    ssl: bool = False
    sender: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    ca_file: str | None = None
    timeout_s: float = 10.0
    snowflake_integration: str | None = None

    def env_names(self) -> list[str]:
        """The environment variables this channel reads its credentials from."""
        names = [self.url_env, self.username_env, self.password_env, *self.headers_env.values()]
        return [n for n in names if n]


@dataclass(frozen=True)
class Stakeholder:
    """A person or desk that hears about alerts; ``email`` is where the email channel writes."""

    name: str
    email: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeliverySettings:
    """How hard delivery tries: ``max_attempts`` with exponential backoff between them."""

    max_attempts: int = 6
    backoff_s: float = 30.0
    max_backoff_s: float = 1800.0
    batch: int = 100
    concurrency: int = 8


CONSOLE = ChannelConfig("console", "console")


@dataclass(frozen=True)
class AlertingConfig:
    """The whole alerting setup; :func:`load_config` reads it from ``resq.toml``."""

    source: str | None = None
    channels: Mapping[str, ChannelConfig] = field(default_factory=lambda: {"console": CONSOLE})
    stakeholders: Mapping[str, Stakeholder] = field(default_factory=dict)
    routes: tuple[Route, ...] | None = None
    timeouts: Mapping[str, timedelta | None] = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    watch_interval_s: float = 60.0

    @property
    def policy(self) -> RoutingPolicy:
        """The routing policy: the configured routes, or the default ones."""
        routes = self.routes if self.routes is not None else DEFAULT_POLICY.routes
        return RoutingPolicy(routes=routes, timeouts=dict(self.timeouts))

    def routing_hash(self) -> str:
        """A digest of what is stored in the warehouse (routes, timeouts, channel types,
        stakeholders' email addresses)."""
        doc = {
            "routes": [_route_doc(r) for r in self.policy.routes],
            "timeouts": {
                s: None if t is None else t.total_seconds()
                for s, t in sorted(self.timeouts.items())
            },
            "channels": sorted(
                (c.name, c.type, c.snowflake_integration) for c in self.channels.values()
            ),
            "recipients": {s.name: list(s.email) for s in self.stakeholders.values() if s.email},
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]

    def missing_environment(self, env: Mapping[str, str] | None = None) -> list[str]:
        """``channel: VARIABLE`` for every credential variable that is not set."""
        env = os.environ if env is None else env
        return [
            f"channel {c.name!r} needs environment variable {name}"
            for c in self.channels.values()
            for name in c.env_names()
            if not env.get(name)
        ]


def _route_doc(route: Route) -> dict[str, Any]:
    return {
        "tier": route.tier,
        "stakeholder": route.stakeholder,
        "channels": list(route.channels),
        "sector": route.sector,
        "org_id": route.org_id,
        "severities": None if route.severities is None else list(route.severities),
    }


# ---------------------------------------------------------------------- finding and loading


def find_config(path: str | Path | None = None, *, cwd: str | Path | None = None) -> Path | None:
    """The config file to use: ``path`` if given (it must exist), else ``resq.toml`` in
    the current folder if there is one, else None."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ConfigError(str(p), [("", "no such file")])
        return p
    candidate = Path(cwd or Path.cwd()) / CONFIG_NAME
    return candidate if candidate.is_file() else None


def load_config(path: str | Path | None = None, *, cwd: str | Path | None = None) -> AlertingConfig:
    """Read and validate the alerting config (see :func:`find_config`); the defaults
    (console channel, default routing and timeouts) when there is no file."""
    found = find_config(path, cwd=cwd)
    if found is None:
        return AlertingConfig()
    try:
        data = tomllib.loads(found.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(found), [("", f"not valid TOML: {exc}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(found), [("", f"cannot read the file: {exc}")]) from None
    return parse_config(data, source=str(found))


def parse_config(data: Mapping[str, Any], *, source: str = "<config>") -> AlertingConfig:
    """Validate a parsed config document; raises :class:`ConfigError` listing every problem."""
    p = _Parser(source)
    p.keys(data, "", {"channels", "stakeholders", "routes", "escalation", "delivery", "watch"})
    channels = {"console": CONSOLE}
    for name, raw in p.table(data, "channels").items():
        channel = p.channel(name, raw)
        if channel is not None:
            channels[name] = channel
    stakeholders = {}
    for name, raw in p.table(data, "stakeholders").items():
        stakeholders[name] = p.stakeholder(name, raw)
    routes = None
    if "routes" in data:
        raw_routes = data["routes"]
        if not isinstance(raw_routes, list) or not raw_routes:
            p.problem("routes", "must be a non-empty array of tables ([[routes]])")
        else:
            routes = tuple(
                r
                for i, raw in enumerate(raw_routes, start=1)
                if (r := p.route(i, raw, channels, stakeholders)) is not None
            )
    timeouts: dict[str, timedelta | None] = dict(DEFAULT_TIMEOUTS)
    escalation = p.table(data, "escalation")
    p.keys(escalation, "escalation", set(SEVERITIES))
    for sev, value in escalation.items():
        if sev in SEVERITIES:
            seconds = p.duration(value, f"escalation.{sev}", allow_never=True)
            timeouts[sev] = None if seconds is None else timedelta(seconds=seconds)
    delivery = p.table(data, "delivery")
    p.keys(delivery, "delivery", {"max_attempts", "backoff", "max_backoff", "batch", "concurrency"})
    settings = DeliverySettings(
        max_attempts=p.integer(delivery, "delivery", "max_attempts", 6, low=1, high=100),
        backoff_s=p.duration(delivery.get("backoff", 30), "delivery.backoff") or 30.0,
        max_backoff_s=p.duration(delivery.get("max_backoff", 1800), "delivery.max_backoff")
        or 1800.0,
        batch=p.integer(delivery, "delivery", "batch", 100, low=1, high=10_000),
        concurrency=p.integer(delivery, "delivery", "concurrency", 8, low=1, high=64),
    )
    watch = p.table(data, "watch")
    p.keys(watch, "watch", {"interval"})
    interval = p.duration(watch.get("interval", 60), "watch.interval") or 60.0
    p.raise_if_any()
    return AlertingConfig(
        source=source,
        channels=channels,
        stakeholders=stakeholders,
        routes=routes,
        timeouts=timeouts,
        delivery=settings,
        watch_interval_s=interval,
    )


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"1h30m"``, ``"2d"`` or ``"500ms"``.

    >>> parse_duration("1h30m")
    5400.0
    """
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 30s, 15m or 1h")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("must be a duration such as 30s, 15m or 1h")
    text = value.strip().lower().replace(" ", "")
    parts = _DURATION.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"must be a duration such as 30s, 15m or 1h (got {value!r})")
    return sum(float(n) * _UNITS[u] for n, u in parts)


class _Parser:
    """Collects every problem of one document instead of stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[tuple[str, str]] = []

    def problem(self, key: str, reason: str) -> None:
        self.problems.append((key, reason))

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(self.source, self.problems)

    def keys(self, table: Mapping[str, Any], where: str, allowed: Iterable[str]) -> None:
        allowed = set(allowed)
        for key in table:
            if key in allowed:
                continue
            path = f"{where}.{key}" if where else key
            if key in SECRET_KEYS:
                self.problem(
                    path,
                    "credentials are never stored in the config file; name the environment "
                    f"variable that holds it with {SECRET_KEYS[key]} instead",
                )
            else:
                self.problem(path, f"unknown key; expected one of {', '.join(sorted(allowed))}")

    def table(self, data: Mapping[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.problem(key, "must be a table")
            return {}
        return value

    def text(self, raw: Mapping[str, Any], where: str, key: str, default: Any = None) -> Any:
        value = raw.get(key, default)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            self.problem(f"{where}.{key}", "must be a non-empty string")
            return default
        return value

    def env_name(self, raw: Mapping[str, Any], where: str, key: str) -> str | None:
        value = self.text(raw, where, key)
        if value is not None and not _ENV_NAME.match(value):
            self.problem(f"{where}.{key}", f"must name an environment variable (got {value!r})")
            return None
        return value

    def integer(
        self, raw: Mapping[str, Any], where: str, key: str, default: int, *, low: int, high: int
    ) -> int:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(
                f"{where}.{key}", f"must be an integer from {low} to {high} (got {value!r})"
            )
            return default
        return value

    def boolean(self, raw: Mapping[str, Any], where: str, key: str) -> bool:
        value = raw.get(key, False)
        if not isinstance(value, bool):
            self.problem(f"{where}.{key}", f"must be true or false (got {value!r})")
            return False
        return value

    def duration(self, value: Any, key: str, *, allow_never: bool = False) -> float | None:
        if allow_never and (
            value is False or (isinstance(value, str) and value.strip().lower() == "never")
        ):
            return None
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.problem(key, str(exc) + ('; or "never"' if allow_never else ""))
            return None
        if seconds <= 0:
            self.problem(key, "must be longer than zero")
            return None
        return seconds

    def channel(self, name: str, raw: Any) -> ChannelConfig | None:
        where = f"channels.{name}"
        if not isinstance(raw, dict):
            self.problem(where, "must be a table")
            return None
        kind = raw.get("type", "console" if name == "console" else None)
        if kind not in CHANNEL_TYPES:
            self.problem(
                f"{where}.type", f"must be one of {', '.join(CHANNEL_TYPES)} (got {kind!r})"
            )
            return None
        common = {"type", "timeout", "snowflake_integration"}
        allowed = {
            "console": common,
            "webhook": common | {"url", "url_env", "format", "headers", "headers_env"},
            "email": common
            | {
                "host",
                "port",
                "starttls",
                "ssl",
                "sender",
                "username_env",
                "password_env",
                "ca_file",
            },
            "snowflake": common | {"format"},
        }[kind]
        self.keys(raw, where, allowed)
        timeout = self.duration(raw.get("timeout", 10), f"{where}.timeout") or 10.0
        integration = self.text(raw, where, "snowflake_integration")
        if kind == "snowflake" and integration is None:
            self.problem(f"{where}.snowflake_integration", "is required for a snowflake channel")
        fmt = raw.get("format", "json")
        formats = {"webhook": WEBHOOK_FORMATS, "snowflake": SNOWFLAKE_FORMATS}.get(kind, (fmt,))
        if fmt not in formats:
            self.problem(f"{where}.format", f"must be one of {', '.join(formats)} (got {fmt!r})")
        if kind == "webhook":
            url, url_env = self.text(raw, where, "url"), self.env_name(raw, where, "url_env")
            if (url is None) == (url_env is None):
                self.problem(where, "needs exactly one of url or url_env")
            if url is not None and not re.match(r"^https?://[^\s/]+", url):
                self.problem(f"{where}.url", f"must be an http:// or https:// URL (got {url!r})")
            headers = self._string_map(raw, where, "headers")
            headers_env = self._string_map(raw, where, "headers_env", env=True)
            return ChannelConfig(
                name,
                kind,
                url=url,
                url_env=url_env,
                format=str(fmt),
                headers=headers,
                headers_env=headers_env,
                timeout_s=timeout,
                snowflake_integration=integration,
            )
        if kind == "email":
            host = self.text(raw, where, "host")
            sender = self.text(raw, where, "sender")
            if host is None:
                self.problem(f"{where}.host", "is required (the SMTP server)")
            if sender is None or "@" not in sender:
                self.problem(
                    f"{where}.sender", "is required: the From address, e.g. resq@example.org"
                )
            starttls, use_ssl = (
                self.boolean(raw, where, "starttls"),
                self.boolean(raw, where, "ssl"),
            )
            if starttls and use_ssl:
                self.problem(where, "use either starttls (port 587) or ssl (port 465), not both")
            username_env = self.env_name(raw, where, "username_env")
            password_env = self.env_name(raw, where, "password_env")
            if (username_env is None) != (password_env is None):
                self.problem(where, "authentication needs both username_env and password_env")
            ca_file = self.text(raw, where, "ca_file")
            return ChannelConfig(
                name,
                kind,
                host=host,
                port=self.integer(
                    raw,
                    where,
                    "port",
                    465 if use_ssl else 587 if starttls else 25,
                    low=1,
                    high=65535,
                ),
                starttls=starttls,
                ssl=use_ssl,
                sender=sender,
                username_env=username_env,
                password_env=password_env,
                ca_file=ca_file,
                timeout_s=timeout,
                snowflake_integration=integration,
            )
        return ChannelConfig(
            name, kind, format=str(fmt), timeout_s=timeout, snowflake_integration=integration
        )

    def _string_map(
        self, raw: Mapping[str, Any], where: str, key: str, *, env: bool = False
    ) -> dict[str, str]:
        value = raw.get(key, {})
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            self.problem(f"{where}.{key}", "must be a table of strings")
            return {}
        if env:
            for k, v in value.items():
                if not _ENV_NAME.match(v):
                    self.problem(
                        f"{where}.{key}.{k}", f"must name an environment variable (got {v!r})"
                    )
        return dict(value)

    def stakeholder(self, name: str, raw: Any) -> Stakeholder:
        where = f"stakeholders.{name}"
        if not isinstance(raw, dict):
            self.problem(where, "must be a table")
            return Stakeholder(name)
        self.keys(raw, where, {"email", "description"})
        email = raw.get("email", [])
        emails = [email] if isinstance(email, str) else email
        if not isinstance(emails, list) or not all(
            isinstance(e, str) and re.match(r"^[^@\s]+@[^@\s]+$", e) for e in emails
        ):
            self.problem(
                f"{where}.email", f"must be an email address or a list of them (got {email!r})"
            )
            emails = []
        return Stakeholder(name, tuple(emails))

    def route(
        self,
        i: int,
        raw: Any,
        channels: Mapping[str, ChannelConfig],
        stakeholders: Mapping[str, Stakeholder],
    ) -> Route | None:
        where = f"routes[{i}]"
        if not isinstance(raw, dict):
            self.problem(where, "must be a table")
            return None
        before = len(self.problems)
        self.keys(raw, where, {"tier", "stakeholder", "channels", "sector", "org_id", "severities"})
        tier = self.integer(raw, where, "tier", 0, low=0, high=20)
        who = self.text(raw, where, "stakeholder")
        if who is None:
            self.problem(f"{where}.stakeholder", "is required")
        elif who not in stakeholders:
            known = ", ".join(sorted(stakeholders)) or "none"
            self.problem(
                f"{where}.stakeholder",
                f"unknown stakeholder {who!r}; declare it under [stakeholders.{who}] "
                f"(declared: {known})",
            )
        names = raw.get("channels", ["console"])
        if not isinstance(names, list) or not names or not all(isinstance(c, str) for c in names):
            self.problem(f"{where}.channels", "must be a non-empty list of channel names")
            names = []
        for c in names:
            if c not in channels:
                self.problem(
                    f"{where}.channels",
                    f"unknown channel {c!r}; configured: {', '.join(sorted(channels))}",
                )
            elif (
                channels[c].type == "email" and who in stakeholders and not stakeholders[who].email
            ):
                self.problem(
                    f"{where}.channels",
                    f"channel {c!r} sends email but stakeholder {who!r} has no email address",
                )
        sector = raw.get("sector")
        if sector is not None and sector not in SECTORS:
            self.problem(f"{where}.sector", f"must be one of {', '.join(SECTORS)} (got {sector!r})")
        org_id = self.text(raw, where, "org_id")
        sev = raw.get("severities")
        if sev is not None and (
            not isinstance(sev, list) or not sev or not all(s in SEVERITIES for s in sev)
        ):
            self.problem(
                f"{where}.severities", f"must be a list of {', '.join(SEVERITIES)} (got {sev!r})"
            )
        if len(self.problems) > before or who is None:
            return None
        return Route(
            tier=tier,
            stakeholder=who,
            channels=tuple(names),
            sector=sector,
            org_id=org_id,
            severities=tuple(sev) if sev is not None else None,
        )
