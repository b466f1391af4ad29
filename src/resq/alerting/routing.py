"""Alert routing in the warehouse: apply a config's routes, timeouts and channel types, and
read them back as the policy that heal cycles and escalation use (default when none).

Only routing is stored (no endpoint, host or credential), so the same routing serves the
local watcher and the Snowflake tasks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from resq import sqlfiles
from resq.alerting.config import AlertingConfig, ChannelConfig
from resq.core.alerts import RoutingPolicy
from resq.errors import BackendError

if TYPE_CHECKING:
    from resq.backends.warehouse import WarehouseBackend

ALERTING_TABLES = (
    "alert_routes",
    "alert_timeouts",
    "alert_channels",
    "alert_recipients",
    "watch_lease",
)
ACTOR = "resq-alerting"


@dataclass(frozen=True)
class ApplyReport:
    """What applying a config did: ``changed`` is False when the stored routing was equal."""

    changed: bool
    config_hash: str
    routes: int
    channels: int
    source: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "config_hash": self.config_hash,
            "routes": self.routes,
            "channels": self.channels,
            "source": self.source,
        }


def ensure_schema(backend: WarehouseBackend) -> None:
    """Create the alerting tables of ``sql/schema.sql`` if a database predates them."""
    from sqlglot import exp

    for statement in sqlfiles.statements("schema"):
        table = statement.find(exp.Table) if isinstance(statement, exp.Create) else None
        if table is not None and table.name in ALERTING_TABLES:
            backend.execute(backend.render(statement))


def stored_hash(backend: WarehouseBackend) -> str | None:
    try:
        value = (
            backend.fetch(backend.render("SELECT MAX(config_hash) FROM alert_timeouts"))
            .column(0)[0]
            .as_py()
        )
    except BackendError:
        return None
    return None if value is None else str(value)


def apply_config(
    backend: WarehouseBackend,
    config: AlertingConfig,
    *,
    actor: str | None = None,
    now: datetime | None = None,
) -> ApplyReport:
    """Store the config's routing in the warehouse (replacing what was there) and audit it.

    Applying the same routing again changes nothing and writes no audit event.
    """
    from resq.backends.warehouse import default_actor, utcnow

    now = now or utcnow()
    ensure_schema(backend)
    digest = config.routing_hash()
    routes = config.routes or ()
    report = ApplyReport(
        changed=stored_hash(backend) != digest,
        config_hash=digest,
        routes=len(routes),
        channels=len(config.channels),
        source=config.source,
    )
    if not report.changed:
        return report
    route_rows = pa.table(
        {
            "route_id": pa.array(range(1, len(routes) + 1), pa.int64()),
            "tier": pa.array([r.tier for r in routes], pa.int64()),
            "stakeholder": pa.array([r.stakeholder for r in routes], pa.string()),
            "channels": pa.array([json.dumps(list(r.channels)) for r in routes], pa.string()),
            "sector": pa.array([r.sector for r in routes], pa.string()),
            "org_id": pa.array([r.org_id for r in routes], pa.string()),
            "severities": pa.array(
                [None if r.severities is None else json.dumps(list(r.severities)) for r in routes],
                pa.string(),
            ),
        }
    )
    timeouts = pa.table(
        {
            "severity": pa.array(list(config.timeouts), pa.string()),
            "timeout_s": pa.array(
                [None if t is None else t.total_seconds() for t in config.timeouts.values()],
                pa.float64(),
            ),
        }
    )
    channels = pa.table(
        {
            "channel": pa.array([c.name for c in config.channels.values()], pa.string()),
            "channel_type": pa.array([c.type for c in config.channels.values()], pa.string()),
            "snowflake_integration": pa.array(
                [c.snowflake_integration for c in config.channels.values()], pa.string()
            ),
        }
    )
    recipients = pa.table(
        {
            "stakeholder": pa.array(
                [s.name for s in config.stakeholders.values() if s.email], pa.string()
            ),
            "emails": pa.array(
                [json.dumps(list(s.email)) for s in config.stakeholders.values() if s.email],
                pa.string(),
            ),
        }
    )
    b = backend
    with b.transaction():
        for table in ("alert_routes", "alert_timeouts", "alert_channels", "alert_recipients"):
            b.execute(b.render(f"DELETE FROM {table}"))
        b.stage("resq_stage_alert_routes", route_rows)
        b.execute(
            b.render(
                "INSERT INTO alert_routes (route_id, tier, stakeholder, channels, sector, "
                "org_id, severities, config_hash, updated_at) SELECT route_id, tier, "
                "stakeholder, channels, sector, org_id, severities, ?, ? "
                "FROM resq_stage_alert_routes"
            ),
            [digest, now],
        )
        b.stage("resq_stage_alert_timeouts", timeouts)
        b.execute(
            b.render(
                "INSERT INTO alert_timeouts (severity, timeout_s, config_hash, updated_at) "
                "SELECT severity, timeout_s, ?, ? FROM resq_stage_alert_timeouts"
            ),
            [digest, now],
        )
        b.stage("resq_stage_alert_channels", channels)
        b.execute(
            b.render(
                "INSERT INTO alert_channels (channel, channel_type, snowflake_integration, "
                "config_hash, updated_at) SELECT channel, channel_type, "
                "snowflake_integration, ?, ? FROM resq_stage_alert_channels"
            ),
            [digest, now],
        )
        if recipients.num_rows:
            b.stage("resq_stage_alert_recipients", recipients)
            b.execute(
                b.render(
                    "INSERT INTO alert_recipients (stakeholder, emails, config_hash, "
                    "updated_at) SELECT stakeholder, emails, ?, ? "
                    "FROM resq_stage_alert_recipients"
                ),
                [digest, now],
            )
        b.append_audit(
            [
                {
                    "actor": actor or default_actor(),
                    "action": "alerting.config_applied",
                    "org_id": None,
                    "entity_id": config.source or "defaults",
                    "details": {
                        "config_hash": digest,
                        "routes": len(routes),
                        "default_routes": config.routes is None,
                        "channels": sorted(config.channels),
                        "timeouts_s": {
                            s: None if t is None else t.total_seconds()
                            for s, t in sorted(config.timeouts.items())
                        },
                    },
                }
            ],
            now=now,
        )
    return report


def stored_recipients(backend: WarehouseBackend) -> dict[str, tuple[str, ...]]:
    """Each stakeholder's email addresses as stored by :func:`apply_config` (none stored, or
    a database that predates the table: no addresses)."""
    try:
        rows = backend.fetch(
            backend.render("SELECT stakeholder, emails FROM alert_recipients")
        ).to_pylist()
    except BackendError:
        return {}
    return {str(r["stakeholder"]): tuple(json.loads(r["emails"])) for r in rows}


def stored_policy(backend: WarehouseBackend) -> RoutingPolicy:
    """The routing policy stored in the warehouse; :data:`DEFAULT_POLICY` where nothing is
    stored (no routes: the default routes; no timeouts: the default timeouts). The backend
    reads it (:meth:`~resq.backends.warehouse.WarehouseBackend.stored_routing`), so a heal
    cycle reads the same routing without importing alerting.

    Call it outside a transaction: on a database that predates the routing tables the
    failed read is caught, which some engines would not allow inside one.
    """
    return backend.stored_routing()


def stored_channels(backend: WarehouseBackend) -> dict[str, ChannelConfig]:
    """The channels stored in the warehouse, as configs without endpoints: what delivery
    inside Snowflake knows (each channel's type and notification integration)."""
    try:
        rows = backend.fetch(
            backend.render(
                "SELECT channel, channel_type, snowflake_integration FROM alert_channels"
            )
        ).to_pylist()
    except BackendError:
        rows = []
    channels = {
        r["channel"]: ChannelConfig(
            r["channel"], r["channel_type"], snowflake_integration=r["snowflake_integration"]
        )
        for r in rows
    }
    channels.setdefault("console", ChannelConfig("console", "console"))
    return channels
