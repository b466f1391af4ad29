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
    return deliver(session, max_attempts)
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
    return escalate(session)
$$""",
    """CREATE OR REPLACE TASK resq_escalation_task
    WAREHOUSE = resq_wh
    SCHEDULE = '1 MINUTE'
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
          AND event_ts > SNOWFLAKE.ALERT.LAST_SUCCESSFUL_SCHEDULED_TIME()
          AND event_ts <= SNOWFLAKE.ALERT.SCHEDULED_TIME()
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
    alert = sf.statements()[4]
    condition = re.search(r"IF \((.*)\)\s*THEN", alert, re.DOTALL)
    assert condition is not None
    (query,) = parse(condition.group(1))
    assert isinstance(query, exp.Exists)
    assert {t.name for t in query.find_all(exp.Table)} == {"audit_log"}
    schema = (ROOT / "sql" / "schema.sql").read_text(encoding="utf-8")
    assert "event_ts TIMESTAMP_NTZ" in schema and "action VARCHAR" in schema


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
    called = set(re.findall(r"CALL (\w+)\(", "\n".join(s[2:4])))
    assert called == defined
    assert "AFTER resq_escalation_task" in s[3]
    assert s[5:7] == [
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
            "SNOWFLAKE.NOTIFICATION.INTEGRATION(?))",
        ),
    ],
)
def test_the_notification_call_is_exact_and_binds_its_values(fmt: str, expected: str) -> None:
    from resq.alerting import ChannelConfig

    rec = Recording(None)  # type: ignore[arg-type]
    channel = SnowflakeChannel(
        ChannelConfig("slack", "snowflake", format=fmt, snowflake_integration="RESQ_SLACK"),
        rec,  # type: ignore[arg-type]
    )
    assert channel.send(NOTE) == "sent through RESQ_SLACK"
    ((sql, params),) = rec.calls
    assert sql == expected
    (call,) = parse(sql)  # valid Snowflake (a CALL is a Command to sqlglot)
    assert isinstance(call, exp.Command)
    body, integration = params
    assert integration == "RESQ_SLACK"
    if fmt == "json":
        assert json.loads(body)["delivery_key"] == NOTE.delivery_key
    else:
        assert body.startswith("[resq SEV1] CRITICAL_STOCK at HOSP-BLR-001: OXY-CYL")
        assert "Delivery key: AL-1:ops:slack:0" in body


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
    assert calls["RESQ_EMAIL"][1].startswith("[resq SEV1] CRITICAL_STOCK")
    escalated = sf.escalate(object())
    assert set(escalated) == {"escalated", "resolved", "notifications_queued"}
    delivered = local.sql(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'notification.delivered' AND actor = ?",
        [sf.TASK_ACTOR],
    ).scalar()
    assert delivered == 2
    assert local.verify_audit().ok
