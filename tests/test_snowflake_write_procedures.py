"""Issue 12, defect 3: the app role writes no table. Overrides, acknowledgements, chaos and
heal are owner's-rights procedures whose handlers check the caller's entitlement before
acting for an organization; the dashboard on a Snowflake backend calls them.

The handlers' logic runs here on the real backends (the shared ``seeded`` fixture: DuckDB,
and the fakesnow Snowflake peer), with the entitlement mapping created as the deploy plan
creates it; Snowpark local testing cannot run it (it has no CURRENT_USER() and no SQL
strings). The procedure shells run with ``from_session`` patched to such a backend. The
dashboard's calls are checked through the real SnowflakeBackend over a recording session
(the exact SQL and bound values sent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import resq
from resq.backends.snowflake import plan, sqltext
from resq.backends.warehouse import WarehouseBackend
from resq.errors import NotFoundError, TenantScopeError
from resq.inside import procedures

CONFIG = plan.DeployConfig(code_zip=Path("/opt/resq-deploy/resq.zip"))
WRITE_PROCEDURES = {
    "RESQ_OVERRIDE_ORDER": "override_order_procedure",
    "RESQ_ACK_ALERT": "ack_alert_procedure",
    "RESQ_CHAOS": "chaos_procedure",
    "RESQ_HEAL_ORG": "heal_org_procedure",
}


def _entitle(backend: WarehouseBackend, *pairs: tuple[str, str]) -> None:
    support = sqltext.split(sqltext.snowflake_file("support"))
    backend.execute(backend.render(next(s for s in support if "resq_entitlements" in s)))
    for user, org in pairs:
        backend.execute(
            backend.render("INSERT INTO resq_entitlements (user_name, org_id) VALUES (?, ?)"),
            [user, org],
        )


def _orders(backend: WarehouseBackend) -> list[dict[str, Any]]:
    resq.SelfHealingEngine(backend).heal()
    return backend.read("purchase_orders", order_by=("po_id",)).to_pylist()


@pytest.mark.slow
def test_overrides_check_the_callers_entitlement(seeded: WarehouseBackend) -> None:
    orders = _orders(seeded)
    mine = orders[0]
    other = next(o for o in orders if o["org_id"] != mine["org_id"])
    _entitle(seeded, ("ASHA", mine["org_id"]))
    with pytest.raises(TenantScopeError, match="not entitled"):
        procedures.override_order_as(seeded, "ASHA", other["po_id"], "cancel")
    assert seeded.order(other["po_id"])["status"] == other["status"]  # nothing written
    done = procedures.override_order_as(seeded, "ASHA", mine["po_id"], "cancel")
    assert done["status"] == "CANCELLED"
    audit = seeded.read("audit_log", where={"entity_id": mine["po_id"]}).to_pylist()
    assert [a["actor"] for a in audit if a["action"] == "order.cancel"] == ["ASHA"]
    # A tenant-scoped call cannot reach another organization's order even when entitled.
    _entitle(seeded, ("RAVI", "*"))
    with pytest.raises(NotFoundError):
        procedures.override_order_as(seeded, "RAVI", other["po_id"], "cancel", None, mine["org_id"])


@pytest.mark.slow
def test_acknowledgements_chaos_and_heal_check_entitlement(seeded: WarehouseBackend) -> None:
    _orders(seeded)
    alerts = seeded.read("alerts", order_by=("alert_id",)).to_pylist()
    alert = alerts[0]
    _entitle(seeded, ("ASHA", alert["org_id"]), ("NOBODY", "NO-SUCH-ORG"))
    with pytest.raises(TenantScopeError):
        procedures.ack_alert_as(seeded, "NOBODY", alert["alert_id"])
    assert procedures.ack_alert_as(seeded, "ASHA", alert["alert_id"])["state"] == "ACKED"

    item = seeded.read("inventory_master", where={"org_id": alert["org_id"]}).to_pylist()[0]
    event = resq.simulation.drop_stock(item["org_id"], item["sku"], 1.0).as_dict()
    with pytest.raises(TenantScopeError):
        procedures.chaos_as(seeded, "NOBODY", event)
    procedures.chaos_as(seeded, "ASHA", event)
    after = seeded.read("inventory_master", where={"org_id": item["org_id"], "sku": item["sku"]})
    assert after.to_pylist()[0]["current_stock"] == 1.0
    # Vendors and weather are shared by every organization: '*' only.
    with pytest.raises(TenantScopeError, match=r"every organization"):
        procedures.chaos_as(seeded, "ASHA", resq.simulation.vendor_offline("Blinkit").as_dict())
    with pytest.raises(TenantScopeError):
        procedures.heal_as(seeded, "ASHA", None)
    report = procedures.heal_as(seeded, "ASHA", alert["org_id"], True)
    assert report["dry_run"] is True and "created" in report


@pytest.mark.slow
def test_the_procedure_shells_act_as_current_user(
    seeded: WarehouseBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each procedure's handler reads CURRENT_USER() from the session it runs in."""
    user = seeded.fetch(seeded.render("SELECT CURRENT_USER() AS u")).column(0)[0].as_py()
    orders = _orders(seeded)
    monkeypatch.setattr("resq.backends.snowflake.from_session", lambda session: seeded)
    _entitle(seeded)
    with pytest.raises(TenantScopeError):
        procedures.override_order_procedure(object(), orders[0]["po_id"], "cancel")
    seeded.execute(
        seeded.render("INSERT INTO resq_entitlements (user_name, org_id) VALUES (?, '*')"),
        [user],
    )
    done = procedures.override_order_procedure(object(), orders[0]["po_id"], "cancel")
    assert done["status"] == "CANCELLED"
    json.dumps(done)  # a VARIANT
    report = procedures.heal_org_procedure(object(), None, True)
    assert json.dumps(report) and report["dry_run"] is True


# --- the plan ---------------------------------------------------------------------------

WRITE_PRIVILEGES = {"INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "OWNERSHIP", "ALL"}


def _app_grants() -> list[str]:
    return [
        s.sql.upper()
        for _, s in plan.statements(plan.build(CONFIG))
        if s.sql.upper().startswith("GRANT") and s.sql.upper().rstrip().endswith("TO ROLE RESQ_APP")
    ]


def test_the_app_role_is_granted_no_write_on_any_table() -> None:
    grants = _app_grants()
    assert grants
    for grant in grants:
        privileges = {p.strip() for p in grant.removeprefix("GRANT ").split(" ON ")[0].split(",")}
        assert not privileges & WRITE_PRIVILEGES, grant
        assert "CREATE TABLE" not in grant, grant


def test_a_procedure_exists_for_each_write_and_the_app_may_call_it() -> None:
    created = {
        s.sql.split("(")[0].split()[-1].upper(): s.sql
        for _, s in plan.statements(plan.build(CONFIG))
        if s.sql.upper().startswith("CREATE OR REPLACE PROCEDURE")
    }
    grants = " ".join(_app_grants())
    for name, handler in WRITE_PROCEDURES.items():
        assert name in created, name
        assert "EXECUTE AS OWNER" in created[name] and "COPY GRANTS" in created[name]
        assert f"HANDLER = 'RESQ.INSIDE.PROCEDURES.{handler.upper()}'" in (created[name].upper())
        assert f"USAGE ON PROCEDURE {name}(" in grants
    assert "PROCEDURE RESQ_HEAL(" not in grants  # the engine's; the app heals via RESQ_HEAL_ORG


# --- the dashboard calls the procedures ---------------------------------------------------


class RecordingSession:
    """A Snowpark session that records each statement and its bound values; CALLs answer
    a VARIANT (JSON text) and the organizations query the known organization."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any] | None]] = []

    def sql(self, query: str, params: list[Any] | None = None) -> Any:
        self.sent.append((query, params))
        session = self

        class _Result:
            def collect(self) -> list[Any]:
                return []

            def to_arrow(self) -> pa.Table:
                return session.answer(query)

        return _Result()

    def answer(self, query: str) -> pa.Table:
        if query.startswith("CALL "):
            return pa.table({"v": [json.dumps({"called": query.split("(")[0][5:]})]})
        if "organizations" in query.lower():
            return pa.table({"org_id": ["HOSP-1"]})
        return pa.table({"n": [0]})


def _calls(session: RecordingSession) -> list[tuple[str, list[Any] | None]]:
    return [(q, p) for q, p in session.sent if q.startswith("CALL ")]


@pytest.mark.parametrize("org_id", [None, "HOSP-1"])
def test_the_dashboard_on_snowflake_calls_the_write_procedures(org_id: str | None) -> None:
    from resq.backends.snowflake import from_session
    from resq.dashboard._context import Scope

    session = RecordingSession()
    backend = from_session(session, writes="procedures")
    scope = Scope.make(backend, "Snowflake", org_id, org_id is not None, "asha")
    scope.override_order("PO-1", "set_quantity", 12)
    scope.ack_alert("AL-1")
    scope.engine.drop_stock("HOSP-1", "OXY-CYL", 0.0)
    report = scope.heal()
    assert report == {"called": "RESQ_HEAL_ORG"}
    calls = _calls(session)
    assert [q for q, _ in calls] == [
        "CALL RESQ_OVERRIDE_ORDER(?, ?, ?, ?)",
        "CALL RESQ_ACK_ALERT(?, ?)",
        "CALL RESQ_CHAOS(?)",
        "CALL RESQ_HEAL_ORG(?, ?)",
    ]
    assert calls[0][1] == ["PO-1", "set_quantity", 12.0, org_id]
    assert calls[1][1] == ["AL-1", org_id]
    event = json.loads(calls[2][1][0])  # type: ignore[index]
    assert event["table"] == "inventory_master" and event["key"]["org_id"] == "HOSP-1"
    assert calls[3][1] == [org_id, False]
    # Nothing but the calls and reads: no INSERT, UPDATE, DELETE or MERGE from the app.
    for query, _ in session.sent:
        assert query.split()[0].upper() in {"CALL", "SELECT", "WITH"}, query


def test_writes_direct_is_the_default_and_bad_modes_are_refused() -> None:
    from resq.backends.snowflake import from_session
    from resq.errors import UnknownBackendError

    assert from_session(RecordingSession()).writes_through_procedures is False
    with pytest.raises(UnknownBackendError, match="writes must be"):
        from_session(RecordingSession(), writes="sometimes")


def test_the_url_option_selects_procedure_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    from resq.backends.snowflake import SnowflakeBackend

    made: dict[str, Any] = {}

    def fake_init(self: Any, **kwargs: Any) -> None:
        made.update(kwargs)

    monkeypatch.setattr(SnowflakeBackend, "__init__", fake_init)
    SnowflakeBackend.from_url("snowflake://u@acct/RESQ/CORE?writes=procedures")
    assert made["writes"] == "procedures"
