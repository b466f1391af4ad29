"""`resq watch` (issue 6): ticks that refresh, heal, escalate and deliver; one watcher per
database; a failing step retried next tick; SIGTERM ends it between steps, leaving
nothing half-written."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import resq
from receivers import ORG, OXY, WebhookReceiver, copy_db, count, seeded_template
from resq.alerting import Watcher, WatcherRunningError, parse_config
from resq.alerting import delivery as delivery_module
from resq.backends.warehouse import WarehouseBackend
from resq.cli import app

ENV = {"RESQ_DB": None, "RESQ_ORG": None, "RESQ_CONFIG": None, "COLUMNS": "250"}
RESQ = Path(sys.executable).with_name("resq")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_template(tmp_path_factory.mktemp("alerting-watch"))


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


def config_file(folder: Path, url: str) -> Path:
    path = folder / "resq.toml"
    path.write_text(
        f"""
[channels.hook]
type = "webhook"
url = "{url}"

[stakeholders.ops]

[[routes]]
tier = 0
stakeholder = "ops"
channels = ["hook"]
""",
        encoding="utf-8",
    )
    return path


def chaos_db(template: Path, tmp_path: Path) -> str:
    db = copy_db(template, tmp_path / "watched.duckdb")
    with resq.connect(db) as backend:
        resq.SelfHealingEngine(backend).drop_stock(ORG, OXY, actor="chaos-monkey")
    return db


def check_nothing_half_written(backend: WarehouseBackend) -> None:
    """The audit chain verifies and every row a heal or delivery writes has its event."""
    # A heal cycle audits its orders and alerts in one heal.actions event per organization,
    # whose digests verify_audit recomputes from the tables (so each row is covered once).
    assert backend.verify_audit().ok
    in_heal_event = (
        "SELECT 1 FROM audit_log AS a WHERE a.action = 'heal.actions' AND a.entity_id = "
        "x.cycle_id AND a.org_id = x.org_id AND x.{id} IS NOT NULL"
    )
    unaudited = {
        "orders": "SELECT COUNT(*) FROM purchase_orders AS x WHERE x.cycle_id IS NOT NULL "
        f"AND NOT EXISTS ({in_heal_event.format(id='po_id')})",
        "alerts": "SELECT COUNT(*) FROM alerts AS x "
        f"WHERE NOT EXISTS ({in_heal_event.format(id='alert_id')})",
        "sent": "SELECT COUNT(*) FROM notifications AS n WHERE n.state = 'SENT' AND NOT EXISTS "
        "(SELECT 1 FROM audit_log AS a WHERE a.action = 'notification.delivered' "
        "AND a.entity_id = n.notification_id)",
        "cycles": "SELECT COUNT(*) FROM heal_cycles AS c WHERE c.created > 0 AND NOT EXISTS "
        "(SELECT 1 FROM audit_log AS a WHERE a.action = 'heal.cycle' "
        "AND a.entity_id = c.cycle_id)",
        "outbox": "SELECT COUNT(*) FROM alerts AS l WHERE l.cycle_id IN (SELECT cycle_id FROM "
        # every alert is listed in a digest of its organization
        "heal_cycles) AND NOT EXISTS (SELECT 1 FROM notifications AS n "
        "WHERE n.org_id = l.org_id AND n.payload LIKE '%\"alert_id\":\"' || l.alert_id || '\"%')",
    }
    assert {k: count(backend, q) for k, q in unaudited.items()} == dict.fromkeys(unaudited, 0)


# ---------------------------------------------------------------- the command


def test_watch_three_cycles_orders_and_delivers_the_alert_once(
    template: Path, tmp_path: Path, hook: WebhookReceiver
) -> None:
    db = chaos_db(template, tmp_path)
    cfg = config_file(tmp_path, hook.url)
    result = CliRunner().invoke(
        app,
        ["--db", db, "watch", "--cycles", "3", "--interval", "0", "--config", str(cfg)],
        env=ENV,
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"Watching {db} every 0 s (for 3 tick(s)); config: {cfg}")
    ticks = [line for line in lines if line.startswith("tick ")]
    assert len(ticks) == 3
    assert "heal: 1 order(s), 1 alert(s), 1 queued" in ticks[0]
    assert "deliver: 1 sent" in ticks[0]
    assert "heal: 0 order(s)" in ticks[1] and "deliver: 0 sent" in ticks[2]
    assert lines[-1] == "Stopped after 3 tick(s): 3 cycle(s) done."

    (request,) = hook.requests
    assert (request.body["alert"]["org_id"], request.body["alert"]["sku"]) == (ORG, OXY)
    with resq.connect(db) as backend:
        orders = backend.sql(
            "SELECT vendor, status FROM purchase_orders WHERE org_id = ? AND sku = ?",
            [ORG, OXY],
        ).to_pylist()
        # oxygen comes from the authorized medical-gas supplier, never a quick-commerce app
        assert orders == [{"vendor": "MedGas Oxygen", "status": "PLACED"}]
        assert count(backend, "SELECT COUNT(*) FROM heal_cycles") == 4  # template + 3 ticks
        check_nothing_half_written(backend)
    assert (tmp_path / "watched.duckdb.watch.lock").exists()  # free once the process is gone


def test_watch_json_is_one_document(template: Path, tmp_path: Path, hook: WebhookReceiver) -> None:
    db = chaos_db(template, tmp_path)
    cfg = config_file(tmp_path, hook.url)
    result = CliRunner().invoke(
        app,
        ["--db", db, "--json", "watch", "--cycles", "2", "--interval", "0", "--config", str(cfg)],
        env=ENV,
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and len(doc["ticks"]) == 2
    assert [s["step"] for s in doc["ticks"][0]["steps"]] == [
        "refresh",
        "heal",
        "escalate",
        "deliver",
    ]
    assert doc["ticks"][0]["steps"][3]["detail"]["sent"] == 1


def test_watch_refuses_missing_credentials_and_org_scope(tmp_path: Path, template: Path) -> None:
    db = copy_db(template, tmp_path / "db.duckdb")
    cfg = tmp_path / "resq.toml"
    cfg.write_text(
        '[channels.hook]\ntype = "webhook"\nurl_env = "RESQ_TEST_UNSET_URL"\n', encoding="utf-8"
    )
    runner = CliRunner()
    result = runner.invoke(app, ["--db", db, "watch", "--config", str(cfg)], env=ENV)
    assert result.exit_code == 2
    assert "RESQ_TEST_UNSET_URL" in result.stderr
    scoped = runner.invoke(app, ["--db", db, "--org", ORG, "watch", "--cycles", "1"], env=ENV)
    assert scoped.exit_code == 2 and "--org" in scoped.stderr


# ---------------------------------------------------------------- the library


def test_a_failing_step_is_logged_and_retried_next_tick(
    template: Path,
    tmp_path: Path,
    hook: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = chaos_db(template, tmp_path)
    cfg = parse_config(
        {
            "channels": {"hook": {"type": "webhook", "url": hook.url}},
            "stakeholders": {"ops": {}},
            "routes": [{"stakeholder": "ops", "channels": ["hook"]}],
        },
        source="test",
    )
    real = delivery_module.Deliverer.deliver
    calls = []

    def flaky(self: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the outbox table is busy")
        return real(self, **kwargs)

    monkeypatch.setattr(delivery_module.Deliverer, "deliver", flaky)
    caplog.set_level(logging.INFO, logger="resq")
    with resq.connect(db) as backend:
        report = Watcher(backend, cfg, interval=0).run(cycles=2, handle_signals=False)
        check_nothing_half_written(backend)
    first, second = report.ticks
    assert [s.ok for s in first.steps] == [True, True, True, False]
    assert first.steps[3].error == "the outbox table is busy"
    assert second.ok and second.steps[3].detail["sent"] == 1
    assert report.ok and report.stopped_by == "2 cycle(s) done"
    assert len(hook.requests) == 1
    assert "tick 1: deliver failed (retried next tick): the outbox table is busy" in caplog.text


def test_a_second_watcher_on_the_same_file_is_refused_naming_the_holder(
    template: Path, tmp_path: Path
) -> None:
    db = copy_db(template, tmp_path / "db.duckdb")
    first = Watcher(lambda: resq.connect(db), interval=0.05)
    ticked = threading.Event()
    first.on_tick = lambda tick: ticked.set()
    thread = threading.Thread(target=first.run, kwargs={"handle_signals": False})
    thread.start()
    try:
        assert ticked.wait(30)
        with pytest.raises(WatcherRunningError) as info:
            Watcher(lambda: resq.connect(db), interval=0).run(cycles=1, handle_signals=False)
    finally:
        first.stop()
        thread.join(30)
    message = str(info.value)
    assert "another `resq watch` is already watching" in message
    assert f"process {os.getpid()}" in message and "db.duckdb.watch.lock" in message
    # Once the first has stopped, the lock is free again.
    again = Watcher(lambda: resq.connect(db), interval=0).run(cycles=1, handle_signals=False)
    assert len(again.ticks) == 1


def test_in_memory_watchers_share_a_lease(tmp_path: Path) -> None:
    with resq.connect("duckdb://") as backend:
        backend.init()
        resq.SelfHealingEngine(backend).seed(days=0)
        first = Watcher(backend, interval=0)
        with first._locked(), pytest.raises(WatcherRunningError, match="its lease expires at"):
            Watcher(backend, interval=0).run(cycles=1, handle_signals=False)
        assert Watcher(backend, interval=0).run(cycles=1, handle_signals=False).ok


def test_the_database_is_free_between_ticks(template: Path, tmp_path: Path) -> None:
    """While the watcher sleeps, other commands (resq ack, status) can use the file."""
    db = copy_db(template, tmp_path / "db.duckdb")
    watcher = Watcher(lambda: resq.connect(db), interval=0.3)
    ticked = threading.Event()
    watcher.on_tick = lambda tick: ticked.set()
    thread = threading.Thread(target=watcher.run, kwargs={"handle_signals": False})
    thread.start()
    try:
        assert ticked.wait(30)
        result = CliRunner().invoke(app, ["--db", db, "--json", "alerts"], env=ENV)
    finally:
        watcher.stop()
        thread.join(30)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["alerts"]


# ---------------------------------------------------------------- signals


def start_watch(db: str, cfg: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(RESQ), "--db", db, "watch", "--interval", "0", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("RESQ_")},
    )


@pytest.mark.parametrize("moment", ["while delivering", "right after start"])
def test_sigterm_ends_the_loop_between_steps_leaving_nothing_half_written(
    template: Path, tmp_path: Path, hook: WebhookReceiver, moment: str
) -> None:
    db = chaos_db(template, tmp_path)
    cfg = config_file(tmp_path, hook.url)
    hook.delay = 0.3  # the webhook is slow: the signal lands while a delivery is in flight
    arrived = threading.Event()
    hook.on_request = lambda request: arrived.set()
    proc = start_watch(db, cfg)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Watching"), (first, proc.stderr.read() if proc.stderr else "")
        if moment == "while delivering":
            assert arrived.wait(30)
        else:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "SIGTERM received: stopping after the current step" in err
    assert "Stopped after" in out and "signal SIGTERM" in out
    with resq.connect(db) as backend:
        check_nothing_half_written(backend)
        if moment == "while delivering":
            # The step in flight finished: what the receiver accepted is recorded as SENT.
            sent = count(
                backend,
                "SELECT COUNT(*) FROM notifications WHERE state = 'SENT' AND channel = 'hook'",
            )
            assert sent == len(hook.requests) == 1


def test_a_second_watch_command_is_refused_while_one_runs(
    template: Path, tmp_path: Path, hook: WebhookReceiver
) -> None:
    db = copy_db(template, tmp_path / "db.duckdb")
    cfg = config_file(tmp_path, hook.url)
    proc = subprocess.Popen(
        [str(RESQ), "--db", db, "watch", "--interval", "0.5", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Watching")
        assert proc.stdout.readline().startswith("tick 1")
        result = CliRunner().invoke(
            app, ["--db", db, "watch", "--cycles", "1", "--config", str(cfg)], env=ENV
        )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert result.exit_code == 2, result.stdout
    assert f"process {proc.pid}" in result.stderr or f"PID {proc.pid}" in result.stderr
    assert "Traceback" not in result.stderr
    assert proc.returncode == 0
