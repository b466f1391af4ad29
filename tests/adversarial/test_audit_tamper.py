"""Tampering with the audit chain, as someone with write access to the database but not the
key would (issue 11, item 10): every tamper operation gets the verdict that the table in
docs/concepts.md ("What the audit chain detects") promises, with and without a key
(``RESQ_AUDIT_KEY``) and an anchor (``resq audit anchor``); writes recover from a deleted
head and ``init`` repairs it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import resq
from resq.backends.warehouse import AUDIT_KEY_ENV, WarehouseBackend
from resq.cli import app
from resq.core import audit as audit_chain

KEY = "correct horse battery staple"


@pytest.fixture(scope="module")
def db() -> Iterator[WarehouseBackend]:
    with resq.connect("duckdb://") as backend:
        backend.init()
        yield backend


@pytest.fixture
def fresh() -> Iterator[WarehouseBackend]:
    with resq.connect("duckdb://") as backend:
        backend.init()
        yield backend


def reset(backend: WarehouseBackend, events: int) -> None:
    backend.execute("DELETE FROM audit_log")
    backend.execute("DELETE FROM audit_head")
    backend.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ?)", [audit_chain.GENESIS]
    )
    for i in range(events):
        backend.append_audit([{"actor": "test", "action": "test.event", "details": {"i": i}}])


def log(backend: WarehouseBackend) -> list[dict]:
    return backend.sql("SELECT * FROM audit_log ORDER BY seq").to_pylist()


def set_head(backend: WarehouseBackend, k: int) -> None:
    """Point the head at row ``k`` (0: the genesis), as a rewind does."""
    rows = {r["seq"]: r["hash"] for r in log(backend)}
    backend.execute(
        "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1",
        [k, rows.get(k, audit_chain.GENESIS)],
    )


def rehash_from(backend: WarehouseBackend, k: int) -> None:
    """Edit row ``k`` and recompute every later hash and the head without the key."""
    rows = log(backend)
    prev = audit_chain.GENESIS if k == 1 else rows[k - 2]["hash"]
    for row in rows[k - 1 :]:
        if row["seq"] == k:
            row["actor"] = "mallory"
        row["prev_hash"] = prev
        row["hash"] = audit_chain.event_hash(prev, row)
        backend.execute(
            "UPDATE audit_log SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            [row["actor"], row["prev_hash"], row["hash"], row["seq"]],
        )
        prev = row["hash"]
    backend.execute("UPDATE audit_head SET hash = ? WHERE id = 1", [prev])


OPERATIONS = (
    "delete_head",
    "rewind_head",
    "truncate_tail",
    "edit_row",
    "truncate_and_rewind",
    "truncate_and_delete_head",
    "rehash_from",
)


def tamper(backend: WarehouseBackend, op: str, k: int) -> None:
    if op == "delete_head":
        backend.execute("DELETE FROM audit_head")
    elif op == "rewind_head":
        set_head(backend, k)
    elif op == "truncate_tail":
        backend.execute("DELETE FROM audit_log WHERE seq > ?", [k])
    elif op == "edit_row":
        backend.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = ?", [k])
    elif op == "truncate_and_rewind":
        set_head(backend, k)
        backend.execute("DELETE FROM audit_log WHERE seq > ?", [k])
    elif op == "truncate_and_delete_head":
        backend.execute("DELETE FROM audit_log WHERE seq > ?", [k])
        backend.execute("DELETE FROM audit_head")
    elif op == "rehash_from":
        rehash_from(backend, k)


def documented(op: str, k: int, *, keyed: bool, anchor: int | None) -> bool:
    """The table in docs/concepts.md: is ``op`` at ``k`` detected?"""
    if op == "truncate_and_rewind":  # a chain that ends earlier, consistently
        return (anchor is not None and anchor > k) or (keyed and k == 0)
    if op == "rehash_from":  # rewritten from row k on, without the key
        return keyed or (anchor is not None and anchor >= k)
    return True  # every other operation leaves a broken link or a head that does not match


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    n=st.integers(2, 6),
    op=st.sampled_from(OPERATIONS),
    data=st.data(),
    keyed=st.booleans(),
)
def test_verify_matches_the_documented_table(
    db: WarehouseBackend, monkeypatch: pytest.MonkeyPatch, n: int, op: str, data, keyed: bool
) -> None:
    with monkeypatch.context() as m:
        if keyed:
            m.setenv(AUDIT_KEY_ENV, KEY)
        else:
            m.delenv(AUDIT_KEY_ENV, raising=False)
        a = data.draw(st.integers(1, n), label="anchor at")
        reset(db, a)
        anchor = db.audit_anchor()
        assert anchor.seq == a
        for i in range(n - a):
            db.append_audit([{"actor": "test", "action": "test.later", "details": {"i": i}}])
        assert db.verify_audit().ok and db.verify_audit(anchor).ok
        low = 1 if op in {"edit_row", "rehash_from"} else 0
        k = data.draw(st.integers(low, n if low else n - 1), label="k")
        tamper(db, op, k)
        plain, anchored = db.verify_audit(), db.verify_audit(anchor)
        assert plain.ok is not documented(op, k, keyed=keyed, anchor=None), plain
        assert anchored.ok is not documented(op, k, keyed=keyed, anchor=a), anchored


def test_a_keyed_chain_cannot_be_verified_without_the_key(
    fresh: WarehouseBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, KEY)
    reset(fresh, 3)
    assert fresh.verify_audit().ok
    monkeypatch.setenv(AUDIT_KEY_ENV, "another key")
    check = fresh.verify_audit()
    assert not check.ok and check.broken_seq == 1 and "different key" in str(check.problem)
    monkeypatch.delenv(AUDIT_KEY_ENV)
    check = fresh.verify_audit()
    assert not check.ok and "RESQ_AUDIT_KEY" in str(check.problem)


def test_an_unkeyed_chain_continues_keyed_once_the_key_is_set(
    fresh: WarehouseBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration: the old rows keep their plain hashes; `init` with the key appends the
    first keyed row, and from there every row must be keyed."""
    monkeypatch.delenv(AUDIT_KEY_ENV, raising=False)
    reset(fresh, 3)
    monkeypatch.setenv(AUDIT_KEY_ENV, KEY)
    check = fresh.verify_audit()
    assert not check.ok and "no row is keyed" in str(check.problem)
    fresh.init()
    check = fresh.verify_audit()
    assert check.ok and check.keyed_from == 4 and check.checked == 4
    assert log(fresh)[-1]["action"] == "audit.keyed"


@pytest.mark.parametrize("how", ["append", "init"])
def test_writes_after_the_head_was_deleted_recover_and_say_so(
    fresh: WarehouseBackend, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.delenv(AUDIT_KEY_ENV, raising=False)
    reset(fresh, 4)
    fresh.execute("DELETE FROM audit_head")
    check = fresh.verify_audit()
    assert not check.ok and "head is missing" in str(check.problem)
    if how == "append":
        assert fresh.append_audit([{"actor": "test", "action": "test.after"}]) == 1
    else:
        fresh.init()
    rows = log(fresh)
    assert rows[4]["action"] == audit_chain.HEAD_REPAIRED
    assert json.loads(rows[4]["details"])["log_seq"] == 4
    check = fresh.verify_audit()
    assert check.ok and check.repairs == (5,)
    fresh.append_audit([{"actor": "test", "action": "test.more"}])
    assert fresh.verify_audit().ok


def test_a_rewound_head_is_moved_forward_by_the_next_write(
    fresh: WarehouseBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(AUDIT_KEY_ENV, raising=False)
    reset(fresh, 4)
    set_head(fresh, 2)
    assert "rewound" in str(fresh.verify_audit().problem)
    fresh.append_audit([{"actor": "test", "action": "test.after"}])
    check = fresh.verify_audit()
    assert check.ok and check.checked == 6 and check.repairs == (5,)


def test_cli_anchor_then_truncate_and_rewind_is_caught(tmp_path: Path) -> None:
    runner = CliRunner()
    db_url = f"duckdb:///{tmp_path / 'a.duckdb'}"
    env = {AUDIT_KEY_ENV: ""}
    assert runner.invoke(app, ["--db", db_url, "init"], env=env).exit_code == 0
    with resq.connect(db_url) as b:
        for i in range(5):
            b.append_audit([{"actor": "test", "action": "test.event", "details": {"i": i}}])
    anchor_file = tmp_path / "anchor.json"
    made = runner.invoke(app, ["--db", db_url, "audit", "anchor", "-o", str(anchor_file)], env=env)
    assert made.exit_code == 0, made.output
    anchor = json.loads(anchor_file.read_text())
    assert json.loads(made.stdout) == anchor and anchor["seq"] >= 5
    ok = runner.invoke(
        app, ["--db", db_url, "audit", "--verify", "--anchor", str(anchor_file)], env=env
    )
    assert ok.exit_code == 0 and f"anchor at event {anchor['seq']}" in ok.stdout
    with resq.connect(db_url) as b:
        set_head(b, anchor["seq"] - 2)
        b.execute("DELETE FROM audit_log WHERE seq > ?", [anchor["seq"] - 2])
    plain = runner.invoke(app, ["--db", db_url, "audit", "--verify"], env=env)
    assert plain.exit_code == 0  # consistent, as documented: only the anchor can tell
    caught = runner.invoke(
        app, ["--db", db_url, "audit", "--verify", "--anchor", str(anchor_file)], env=env
    )
    assert caught.exit_code == 1 and "TAMPERED" in caught.stdout and "gone" in caught.stdout
    inline = f"{anchor['seq']}:{anchor['hash']}"
    assert (
        runner.invoke(
            app, ["--db", db_url, "audit", "--verify", "--anchor", inline], env=env
        ).exit_code
        == 1
    )
    bad = runner.invoke(app, ["--db", db_url, "audit", "--verify", "--anchor", "nonsense"])
    assert bad.exit_code == 2


def test_cli_anchor_is_sent_to_a_webhook(tmp_path: Path) -> None:
    from receivers import WebhookReceiver

    runner = CliRunner()
    db_url = f"duckdb:///{tmp_path / 'a.duckdb'}"
    env = {AUDIT_KEY_ENV: ""}
    assert runner.invoke(app, ["--db", db_url, "init"], env=env).exit_code == 0
    hook = WebhookReceiver().start()
    try:
        sent = runner.invoke(
            app, ["--db", db_url, "audit", "anchor", "--webhook", hook.url], env=env
        )
    finally:
        hook.stop()
    assert sent.exit_code == 0, sent.output
    [request] = hook.requests
    assert request.body == json.loads(sent.stdout)
    assert set(request.body) == {"seq", "hash", "at"}


def test_writes_after_any_tamper_never_fail_on_a_reused_database(
    db: WarehouseBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting rows and writing the same seqs again, many times on one database: the next
    write finds the real newest row (a top-N query once returned an older one here)."""
    monkeypatch.delenv(AUDIT_KEY_ENV, raising=False)
    ops = ("delete_head", "truncate_and_rewind", "truncate_and_delete_head", "rewind_head")
    for trial in range(40):
        reset(db, 5)
        tamper(db, ops[trial % 4], trial % 5)
        assert db.append_audit([{"actor": "test", "action": "test.after"}]) == 1
