"""Alerts whose shortfall is gone are resolved (issue 14, item 8b): after "Mark received"
the item's alerts are RESOLVED with an audit event naming each, exactly once; an item that
is still short keeps its alert; every heal cycle resolves what a load or count fixed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

import resq
from resq.backends.warehouse import WarehouseBackend

ORG, OXY = "HOSP-BLR-001", "OXY-CYL"
ENV = {"RESQ_DB": None, "RESQ_ORG": None, "RESQ_ACTOR": None, "NO_COLOR": "1", "COLUMNS": "250"}


def _healed(backend: WarehouseBackend) -> tuple[resq.SelfHealingEngine, dict[str, Any]]:
    engine = resq.SelfHealingEngine(backend)
    engine.seed()
    engine.drop_stock(ORG, OXY, 0)
    engine.heal()
    (order,) = backend.read("purchase_orders", where={"org_id": ORG, "sku": OXY}).to_pylist()
    return engine, order


def _item_alerts(backend: WarehouseBackend) -> list[dict[str, Any]]:
    return backend.read("alerts", where={"org_id": ORG, "sku": OXY}).to_pylist()


def _resolutions(backend: WarehouseBackend) -> list[dict[str, Any]]:
    events = backend.read("audit_log", where={"action": "alert.resolved"}).to_pylist()
    for e in events:
        e["details"] = json.loads(e["details"]) if isinstance(e["details"], str) else e["details"]
    return [e for e in events if e["details"].get("reason") == "the shortfall is gone"]


def test_receipt_resolves_the_alerts_of_the_item_once_with_audit(
    backend: WarehouseBackend,
) -> None:
    engine, order = _healed(backend)
    before = _item_alerts(backend)
    assert before and all(a["state"] == "OPEN" for a in before)

    engine.receive(order["po_id"], actor="meera")

    after = _item_alerts(backend)
    assert {a["state"] for a in after} == {"RESOLVED"}
    assert all(a["resolved_at"] is not None for a in after)
    resolved = _resolutions(backend)
    assert sorted(e["entity_id"] for e in resolved) == sorted(a["alert_id"] for a in before)
    assert all(e["actor"] == "meera" and e["details"]["status"] == "OK" for e in resolved)
    assert backend.verify_audit().ok

    # exactly once: a heal and another pass resolve nothing again
    engine.heal()
    backend.resolve_recovered_alerts(now=resq.backends.warehouse.utcnow(), actor="again")
    assert len(_resolutions(backend)) == len(resolved)


def test_an_item_still_short_keeps_its_alert(backend: WarehouseBackend) -> None:
    engine, order = _healed(backend)
    engine.set_quantity(order["po_id"], 1.0)  # one cylinder does not end the shortfall
    engine.receive(order["po_id"])
    assert {a["state"] for a in _item_alerts(backend)} == {"OPEN"}
    assert _resolutions(backend) == []


def test_a_heal_resolves_what_a_stock_count_fixed(backend: WarehouseBackend) -> None:
    engine, _ = _healed(backend)
    engine.drop_stock(ORG, OXY, 100_000)  # counted: plenty now
    engine.heal()
    assert {a["state"] for a in _item_alerts(backend)} == {"RESOLVED"}
    assert len(_resolutions(backend)) == len(_item_alerts(backend))


def test_cli_receive_resolves_the_alert(tmp_path: Any) -> None:
    from resq.cli import app

    runner = CliRunner()
    db = f"duckdb:///{tmp_path / 'cli.duckdb'}"

    def run(*args: str) -> Any:
        result = runner.invoke(app, ["--db", db, *args], env=ENV)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return result

    run("demo")
    orders = json.loads(run("--json", "orders").stdout)["orders"]
    po = next(o["po_id"] for o in orders if (o["org_id"], o["sku"]) == (ORG, OXY))
    alerts = json.loads(run("--json", "alerts").stdout)["alerts"]
    mine = [a["alert_id"] for a in alerts if (a["org_id"], a["sku"]) == (ORG, OXY)]
    assert mine

    run("orders", "receive", po, "--actor", "kiran")

    alerts = json.loads(run("--json", "alerts").stdout)["alerts"]
    states = {a["alert_id"]: a["state"] for a in alerts}
    assert all(states[a] == "RESOLVED" for a in mine)
    events = json.loads(run("--json", "audit").stdout)["events"]
    named = {e["entity_id"] for e in events if e["action"] == "alert.resolved"}
    assert set(mine) <= named


@pytest.mark.slow
def test_dashboard_mark_received_resolves_the_alert(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from resq.dashboard import APP, DB_ENV, ORG_ENV

    url = f"duckdb:///{tmp_path / 'dash.duckdb'}"
    backend = resq.connect(url)
    backend.init()
    _, order = _healed(backend)
    alerts = [a["alert_id"] for a in _item_alerts(backend)]
    backend.close()
    monkeypatch.setenv(DB_ENV, url)
    monkeypatch.delenv(ORG_ENV, raising=False)
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.session_state["actor"] = "Meera"
        at.run()
        at.selectbox(key="override_po").set_value(order["po_id"]).run()
        at.button(key="override_receive").click().run()
        assert not at.exception, [e.value for e in at.exception]
        frames = [d.value for d in at.dataframe if "Alert" in d.value.columns]
        shown = {r["Alert"]: r["State"] for f in frames for r in f.to_dict("records")}
        assert all(shown.get(a, "RESOLVED") == "RESOLVED" for a in alerts)
    finally:
        st.cache_resource.clear()
    backend = resq.connect(url)
    try:
        assert {a["state"] for a in _item_alerts(backend)} == {"RESOLVED"}
        assert {e["entity_id"] for e in _resolutions(backend)} == set(alerts)
    finally:
        backend.close()


def test_only_the_selected_alerts_are_resolved_and_a_resolved_one_stays(
    backend: WarehouseBackend,
) -> None:
    """The second statement resolves the alerts the first selected, by id, not by the rule
    evaluated again: an alert that recovered but was not selected stays active (a later
    pass resolves it, with its audit event), and an alert resolved already keeps its time."""
    engine = resq.SelfHealingEngine(backend)
    engine.seed()
    other = next(
        r["sku"]
        for r in backend.read("stock_analysis", where={"org_id": ORG}).to_pylist()
        if r["sku"] != OXY
    )
    for sku in (OXY, other):
        engine.drop_stock(ORG, sku, 0)
    engine.heal()
    for sku in (OXY, other):
        engine.drop_stock(ORG, sku, 100_000)
    backend.refresh_analysis(force=True)
    recovered = backend.run_file("recovered_alerts", [ORG, ORG]).to_pylist()
    assert {r["sku"] for r in recovered} == {OXY, other}
    chosen = [r["alert_id"] for r in recovered if r["sku"] == OXY]
    first = resq.backends.warehouse.utcnow()
    with backend.transaction():
        backend.resolve_selected_alerts("recovered_alerts", chosen, first)
    states = {
        a["alert_id"]: (a["sku"], a["state"], a["resolved_at"])
        for a in backend.read("alerts", where={"org_id": ORG}).to_pylist()
    }
    assert {states[i][1] for i in chosen} == {"RESOLVED"}
    assert {s for sku, s, _ in states.values() if sku == other} == {"OPEN"}
    with backend.transaction():  # again, later: a resolved alert is not touched
        backend.resolve_selected_alerts(
            "recovered_alerts", chosen, first.replace(year=first.year + 1)
        )
    again = {a["alert_id"]: a for a in backend.read("alerts", where={"org_id": ORG}).to_pylist()}
    assert all(again[i]["resolved_at"] == states[i][2] for i in chosen)
    engine.heal()  # the next pass resolves the rest, each with its event
    left = {
        a["state"] for a in backend.read("alerts", where={"org_id": ORG, "sku": other}).to_pylist()
    }
    assert left == {"RESOLVED"}
    named = {e["entity_id"] for e in _resolutions(backend)}
    assert {r["alert_id"] for r in recovered if r["sku"] == other} <= named


@pytest.mark.parametrize("resolver", ["receipt", "watcher"])
def test_an_alert_resolved_by_another_session_meanwhile_is_audited_once(
    make_backend: Any, resolver: str
) -> None:
    """A forced interleaving: between one session's selection of the alerts to resolve and
    its UPDATE, a second session resolves the same alert and commits (a watcher's
    escalation pass during a receipt, or a receipt's resolution during a watcher's pass).
    The alert keeps the first resolution, and the audit log names it once: on Snowflake the
    second UPDATE finds it resolved already and audits nothing; on DuckDB the two conflict
    and the retry selects it no more."""
    from datetime import timedelta

    from resq.alerting.escalation import EscalationReport, Escalator
    from resq.core.alerts import DEFAULT_POLICY

    a = make_backend()
    engine = resq.SelfHealingEngine(a)
    engine.seed()
    engine.drop_stock(ORG, OXY, 0)
    engine.heal()
    (order,) = a.read("purchase_orders", where={"org_id": ORG, "sku": OXY}).to_pylist()
    b = make_backend._open("db0", {}, init=False)  # a second session on the same database
    earlier = resq.backends.warehouse.utcnow() - timedelta(hours=1)
    fired: list[int] = []

    def meanwhile(ids: list[str]) -> None:
        if fired or not ids:
            return
        fired.append(len(ids))
        if resolver == "receipt":  # the watcher resolves them in its own session
            Escalator(b, DEFAULT_POLICY).resolve(earlier, EscalationReport())
        else:  # a receipt's resolution commits in its own session, with its events
            with b.transaction():
                done = b.resolve_selected_alerts("recovered_alerts", ids, earlier)
                b.append_audit(
                    [
                        {
                            "actor": "meera",
                            "action": "alert.resolved",
                            "org_id": ORG,
                            "entity_id": i,
                            "details": {"reason": "the shortfall is gone"},
                        }
                        for i in sorted(done)
                    ],
                    now=resq.backends.warehouse.utcnow(),
                )

    if resolver == "receipt":
        real_run = a.run_file

        def run_file(name: str, params: Any = None) -> Any:
            out = real_run(name, params)
            if name == "recovered_alerts":
                meanwhile(out.column("alert_id").to_pylist())
            return out

        a.run_file = run_file  # type: ignore[method-assign]
        engine.receive(order["po_id"], actor="meera")
    else:
        a.execute(
            "UPDATE purchase_orders SET status = 'RECEIVED' WHERE po_id = ?", [order["po_id"]]
        )
        real_fetch = a.fetch

        def fetch(sql: str, params: Any = None) -> Any:
            out = real_fetch(sql, params)
            if "AS stock_status" in sql:
                meanwhile(out.column("alert_id").to_pylist())
            return out

        a.fetch = fetch  # type: ignore[method-assign]
        Escalator(a, DEFAULT_POLICY).resolve(resq.backends.warehouse.utcnow(), EscalationReport())
    assert fired, "the interleaving did not happen"
    alerts = _item_alerts(a)
    assert alerts and {x["state"] for x in alerts} == {"RESOLVED"}
    assert {x["resolved_at"] for x in alerts} == {earlier}  # the first resolution stands
    events = a.read("audit_log", where={"action": "alert.resolved"}).to_pylist()
    named = [e["entity_id"] for e in events]
    assert sorted(named) == sorted(x["alert_id"] for x in alerts)  # each once
    assert a.verify_audit().ok
