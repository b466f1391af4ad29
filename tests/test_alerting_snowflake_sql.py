"""Alerting on Snowflake, in the exact-SQL snapshot tier (issue 6, "On Snowflake").

No local tool runs Snowflake tasks, alerts, Python procedures or
SYSTEM$SEND_SNOWFLAKE_NOTIFICATION: these tests pin the exact statements resq sends,
parse each with sqlglot as Snowflake (errors raised), and run the procedures' handlers
against a local warehouse with the notification call captured instead of executed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

import resq
from receivers import ORG, OXY, copy_db, seeded_template
from resq.alerting import Notification, SnowflakeChannel, apply_config, parse_config
from resq.alerting import snowflake as sf
from resq.backends.warehouse import WarehouseBackend

ROOT = Path(__file__).resolve().parents[1]

PACKAGES = (
    "PACKAGES = ('snowflake-snowpark-python', 'pyarrow', 'numpy==2.*', 'sqlglot==30.*', "
    "'tenacity==9.*')"
)
EXPECTED = [
    f"""CREATE OR REPLACE PROCEDURE resq_deliver_notifications(max_attempts INTEGER)
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
{PACKAGES}
IMPORTS = ('@resq_code/resq.zip')
HANDLER = 'run'
EXECUTE AS OWNER
AS $$
from resq.alerting.snowflake import deliver


def run(session, max_attempts):
    return deliver(session, max_attempts, settle=True)
$$""",
    f"""CREATE OR REPLACE PROCEDURE resq_escalate_alerts()
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
{PACKAGES}
IMPORTS = ('@resq_code/resq.zip')
HANDLER = 'run'
EXECUTE AS OWNER
AS $$
from resq.alerting.snowflake import escalate


def run(session):
    return escalate(session, settle=True)
$$""",
    "CREATE STREAM IF NOT EXISTS resq_alert_changes ON TABLE alerts",
    "CREATE STREAM IF NOT EXISTS resq_outbox_changes ON TABLE notifications",
    """CREATE OR REPLACE TASK resq_escalation_task
    WAREHOUSE = resq_wh
    SCHEDULE = '1 MINUTE'
    WHEN SYSTEM$STREAM_HAS_DATA('RESQ_ALERT_CHANGES')
        OR SYSTEM$STREAM_HAS_DATA('RESQ_OUTBOX_CHANGES')
    AS CALL resq_escalate_alerts()""",
    """CREATE OR REPLACE TASK resq_delivery_task
    WAREHOUSE = resq_wh
    AFTER resq_escalation_task
    AS CALL resq_deliver_notifications(6)""",
    """CREATE OR REPLACE ALERT resq_failed_delivery_alert
    WAREHOUSE = resq_wh
    SCHEDULE = '5 MINUTE'
    IF (EXISTS (
        SELECT 1 FROM audit_log
        WHERE action = 'notification.failed'
          AND event_ts > COALESCE(
              CONVERT_TIMEZONE(
                  'UTC', SNOWFLAKE.ALERT.LAST_SUCCESSFUL_SCHEDULED_TIME()
              )::TIMESTAMP_NTZ,
              '1970-01-01'::TIMESTAMP_NTZ
          )
          AND event_ts <= CONVERT_TIMEZONE('UTC', SNOWFLAKE.ALERT.SCHEDULED_TIME())::TIMESTAMP_NTZ
    ))
    THEN CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION(
        SNOWFLAKE.NOTIFICATION.TEXT_PLAIN(
            'resq: a notification failed to deliver; run resq health for the reasons'
        ),
        SNOWFLAKE.NOTIFICATION.INTEGRATION('resq_email')
    )""",
    "ALTER TASK resq_delivery_task RESUME",
    "ALTER TASK resq_escalation_task RESUME",
    "ALTER ALERT resq_failed_delivery_alert RESUME",
]


def parse(sql: str) -> list[exp.Expression]:
    return [
        s
        for s in sqlglot.parse(sql, read="snowflake", error_level=ErrorLevel.RAISE)
        if s is not None
    ]


def test_the_statements_are_exactly_the_snapshot() -> None:
    assert sf.statements() == EXPECTED


def test_each_statement_parses_as_snowflake_on_its_own() -> None:
    parsed = [parse(s) for s in sf.statements()]
    assert all(len(p) == 1 for p in parsed), "one statement per chunk"
    procedures = [p[0] for p in parsed[:2]]
    assert all(isinstance(p, exp.Create) and p.kind == "PROCEDURE" for p in procedures)
    # Tasks, alerts and ALTER ... RESUME are opaque to sqlglot (a Command): their text is
    # pinned by the snapshot above, and the alert's condition is parsed on its own below.
    assert all(isinstance(p[0], exp.Command) for p in parsed[2:])


def test_sqlglot_cannot_parse_the_file_whole_which_is_why_it_is_split() -> None:
    """If this starts failing, sqlglot learned to end a procedure body at its `$$`, and
    statements() could parse the file whole like resq.sqlfiles does."""
    text = (ROOT / "sql" / "snowflake" / "notifications.sql").read_text(encoding="utf-8")
    assert len(parse(text)) < len(EXPECTED)


def test_the_alert_condition_is_valid_snowflake_sql_over_resq_tables() -> None:
    alert = next(s for s in sf.statements() if s.startswith("CREATE OR REPLACE ALERT"))
    condition = re.search(r"IF \((.*)\)\s*THEN", alert, re.DOTALL)
    assert condition is not None
    (query,) = parse(condition.group(1))
    assert isinstance(query, exp.Exists)
    assert {t.name for t in query.find_all(exp.Table)} == {"audit_log"}
    schema = (ROOT / "sql" / "schema.sql").read_text(encoding="utf-8")
    assert "event_ts TIMESTAMP_NTZ" in schema and "action VARCHAR" in schema


def test_the_root_task_wakes_only_on_stream_data_so_idle_costs_no_warehouse() -> None:
    """A task without WHEN resumes the warehouse on every schedule; SYSTEM$STREAM_HAS_DATA is
    checked by cloud services. The child task inherits the root's runs."""
    tasks = [s for s in sf.statements() if s.startswith("CREATE OR REPLACE TASK")]
    roots = [t for t in tasks if "SCHEDULE" in t]
    assert roots and all("WHEN SYSTEM$STREAM_HAS_DATA(" in t for t in roots)
    assert all("AFTER" in t for t in tasks if t not in roots)
    streams = {s.split()[5].upper() for s in sf.statements() if "CREATE STREAM" in s}
    assert streams == {sf.ALERT_STREAM, sf.OUTBOX_STREAM}
    for stream in streams:
        assert f"SYSTEM$STREAM_HAS_DATA('{stream}')" in roots[0]


def test_the_alert_compares_utc_wall_time_with_converted_alert_times() -> None:
    from resq.backends.snowflake.checks import lint

    alert = next(s for s in sf.statements() if s.startswith("CREATE OR REPLACE ALERT"))
    findings = lint.lint_sources([lint.Source("alert", alert)])
    assert findings == []
    bare = alert.replace(
        "CONVERT_TIMEZONE('UTC', SNOWFLAKE.ALERT.SCHEDULED_TIME())::TIMESTAMP_NTZ",
        "SNOWFLAKE.ALERT.SCHEDULED_TIME()",
    )
    (finding,) = lint.lint_sources([lint.Source("alert", bare)])
    assert "TIMESTAMP_LTZ" in finding.problem


def test_handlers_exist_with_the_procedures_signatures() -> None:
    import inspect

    for statement, name, params in [
        (sf.statements()[0], "deliver", ["session", "max_attempts"]),
        (sf.statements()[1], "escalate", ["session"]),
    ]:
        body = statement.split("$$")[1]
        namespace: dict[str, Any] = {}
        exec(compile(body, "<procedure body>", "exec"), namespace)
        assert namespace[name] is getattr(sf, name)
        assert list(inspect.signature(namespace["run"]).parameters) == params
        assert list(inspect.signature(getattr(sf, name)).parameters)[: len(params)] == params


def test_tasks_call_the_procedures_and_resume_child_first() -> None:
    s = sf.statements()
    defined = {re.search(r"PROCEDURE (\w+)\(", x).group(1) for x in s[:2]}  # type: ignore[union-attr]
    tasks = [x for x in s if x.startswith("CREATE OR REPLACE TASK")]
    called = set(re.findall(r"CALL (\w+)\(", "\n".join(tasks)))
    assert called == defined
    assert "AFTER resq_escalation_task" in tasks[1]
    assert s[-3:-1] == [
        "ALTER TASK resq_delivery_task RESUME",
        "ALTER TASK resq_escalation_task RESUME",
    ]


def test_no_secret_or_endpoint_is_in_what_runs() -> None:
    text = "\n".join(sf.statements())
    for forbidden in ("SECRET_STRING", "hooks.slack.com", "http://", "https://", "@example"):
        assert forbidden not in text


# ------------------------------------------------ SYSTEM$SEND_SNOWFLAKE_NOTIFICATION


class Recording:
    """A backend whose notification calls are recorded instead of executed (everything
    else goes to the wrapped local warehouse)."""

    def __init__(self, backend: WarehouseBackend) -> None:
        self._backend = backend
        self.calls: list[tuple[str, list[Any]]] = []

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        if sql.startswith("CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION"):
            self.calls.append((sql, list(params or [])))
            return
        self._backend.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


NOTE = Notification(
    notification_id="N-AL-1:ops:slack:0",
    delivery_key="AL-1:ops:slack:0",
    alert_id="AL-1",
    org_id=ORG,
    stakeholder="ops",
    channel="slack",
    tier=0,
    payload={"alert_id": "AL-1", "severity": "SEV1", "kind": "CRITICAL_STOCK", "sku": OXY,
             "message": "Medical oxygen at HOSP-BLR-001: 0 days", "data_source": "SIMULATED"},
)  # fmt: skip


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (
            "json",
            "CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION(SNOWFLAKE.NOTIFICATION.APPLICATION_JSON(?), "
            "SNOWFLAKE.NOTIFICATION.INTEGRATION(?))",
        ),
        (
            "email",
            "CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION(SNOWFLAKE.NOTIFICATION.TEXT_PLAIN(?), "
            "SNOWFLAKE.NOTIFICATION.EMAIL_INTEGRATION_CONFIG(?, ?, ARRAY_CONSTRUCT(?, ?)))",
        ),
    ],
)
def test_the_notification_call_is_exact_and_binds_its_values(fmt: str, expected: str) -> None:
    from resq.alerting import ChannelConfig

    rec = Recording(None)  # type: ignore[arg-type]
    channel = SnowflakeChannel(
        ChannelConfig("slack", "snowflake", format=fmt, snowflake_integration="RESQ_SLACK"),
        rec,  # type: ignore[arg-type]
        {NOTE.stakeholder: ("ops@example.org", "desk@example.org")},
    )
    assert channel.send(NOTE) == "sent through RESQ_SLACK"
    ((sql, params),) = rec.calls
    assert sql == expected
    (call,) = parse(sql)  # valid Snowflake (a CALL is a Command to sqlglot)
    assert isinstance(call, exp.Command)
    if fmt == "json":
        body, integration = params
        assert json.loads(body)["delivery_key"] == NOTE.delivery_key
    else:
        # the recipients travel with the call: INTEGRATION(name) alone addresses nobody
        body, integration, subject, *to = params
        assert to == ["ops@example.org", "desk@example.org"]
        assert subject == NOTE.subject() and len(subject) <= 256
        assert body.startswith("[resq SEV1] CRITICAL_STOCK at HOSP-BLR-001: OXY-CYL")
        assert "Delivery key: AL-1:ops:slack:0" in body
    assert integration == "RESQ_SLACK"


def test_an_email_without_stored_addresses_fails_for_good_and_sends_nothing() -> None:
    from resq.alerting import ChannelConfig
    from resq.alerting.channels import DeliveryError

    rec = Recording(None)  # type: ignore[arg-type]
    channel = SnowflakeChannel(
        ChannelConfig("mail", "snowflake", format="email", snowflake_integration="RESQ_EMAIL"),
        rec,  # type: ignore[arg-type]
    )
    with pytest.raises(DeliveryError, match="no email address") as raised:
        channel.send(NOTE)
    assert raised.value.permanent and not rec.calls


@pytest.fixture
def local(tmp_path: Path) -> Iterator[WarehouseBackend]:
    with resq.connect(copy_db(seeded_template(tmp_path), tmp_path / "db.duckdb")) as b:
        yield b


def test_the_procedure_handlers_deliver_and_escalate_with_the_stored_routing(
    local: WarehouseBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = parse_config(
        {
            "channels": {
                "slack": {"type": "snowflake", "snowflake_integration": "RESQ_SLACK"},
                "mail": {
                    "type": "email",
                    "host": "smtp.example.org",
                    "sender": "resq@example.org",
                    "snowflake_integration": "RESQ_EMAIL",
                },
            },
            "stakeholders": {"ops": {"email": "ops@example.org"}},
            "routes": [{"stakeholder": "ops", "channels": ["slack", "mail"]}],
        },
        source="test",
    )
    apply_config(local, cfg, actor="test")
    engine = resq.SelfHealingEngine(local)
    engine.drop_stock(ORG, OXY, actor="test")
    engine.heal()
    rec = Recording(local)
    monkeypatch.setattr(sf, "_backend", lambda session: rec)

    # Inside Snowflake only the stored routing is known (no SMTP settings, no URLs): each
    # channel goes through the notification integration it names.
    result = sf.deliver(object(), 6)
    assert result["sent"] == 2 and not result["errors"]
    calls = {params[1]: (sql, params[0]) for sql, params in rec.calls}
    assert set(calls) == {"RESQ_SLACK", "RESQ_EMAIL"}
    assert "APPLICATION_JSON" in calls["RESQ_SLACK"][0]
    assert json.loads(calls["RESQ_SLACK"][1])["alert"]["sku"] == OXY
    assert "TEXT_PLAIN" in calls["RESQ_EMAIL"][0]
    assert "EMAIL_INTEGRATION_CONFIG" in calls["RESQ_EMAIL"][0]
    assert calls["RESQ_EMAIL"][1].startswith("[resq SEV1] CRITICAL_STOCK")
    email = next(p for _, p in rec.calls if p[1] == "RESQ_EMAIL")
    assert email[3:] == ["ops@example.org"]  # the stored address of the stakeholder
    escalated = sf.escalate(object())
    assert set(escalated) == {"escalated", "resolved", "notifications_queued"}
    delivered = local.sql(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'notification.delivered' AND actor = ?",
        [sf.TASK_ACTOR],
    ).scalar()
    assert delivered == 2
    assert local.verify_audit().ok


class Settling(Recording):
    """Records the stream-consuming INSERT as well (DuckDB has no streams)."""

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        if sql.startswith("INSERT INTO resq_task_wakeups"):
            self.calls.append((sql, list(params or [])))
            return
        super().execute(sql, params)


@pytest.mark.parametrize("stream", ["RESQ_ALERT_CHANGES", "RESQ_OUTBOX_CHANGES"])
def test_a_stream_is_consumed_only_when_nothing_is_left_to_do(
    local: WarehouseBackend, stream: str
) -> None:
    local.execute("UPDATE alerts SET state = 'RESOLVED'")
    local.execute("UPDATE notifications SET state = 'SENT'")
    rec = Settling(local)
    assert sf.settle(rec, stream) is True  # nothing open, nothing pending: consume
    ((sql, params),) = rec.calls
    assert sql == sf.settle_sql(stream) and f"FROM {stream}" in sql and len(params) == 1
    engine = resq.SelfHealingEngine(local)
    engine.drop_stock(ORG, OXY, actor="test")
    engine.heal()  # an OPEN alert and PENDING notifications: the task must come back
    rec.calls.clear()
    assert sf.settle(rec, stream) is False and rec.calls == []
    with pytest.raises(ValueError):
        sf.settle_sql("audit_log; DROP TABLE x")
