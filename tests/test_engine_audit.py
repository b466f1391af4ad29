"""The audit log: append-only and hash-chained; verify names the first broken link."""

from __future__ import annotations

import itertools
import json

import pytest

from resq.backends.warehouse import WarehouseBackend
from resq.core import audit as audit_chain
from resq.engine import SelfHealingEngine

ORG, OXY = "HOSP-BLR-001", "OXY-CYL"


@pytest.fixture
def audited_db(seeded: WarehouseBackend) -> WarehouseBackend:
    """A seeded database whose audit log has loads, chaos, a cycle and an override."""
    engine = SelfHealingEngine(seeded)
    engine.drop_stock(ORG, OXY, actor="alice")
    engine.heal()
    po = seeded.sql("SELECT po_id FROM purchase_orders WHERE sku = ?", [OXY]).scalar()
    engine.set_quantity(po, 200, actor="bob")
    assert last_seq(seeded) >= 10
    return seeded


def last_seq(backend: WarehouseBackend) -> int:
    return int(backend.sql("SELECT MAX(seq) FROM audit_log").scalar())


def rows(backend: WarehouseBackend) -> list[dict]:
    return backend.read("audit_log", order_by=("seq",)).to_pylist()


def test_untouched_log_verifies(audited_db: WarehouseBackend) -> None:
    check = audited_db.verify_audit()
    assert check.ok
    assert check.checked == last_seq(audited_db)
    assert check.broken_seq is None and check.problem is None


def test_log_is_a_contiguous_hash_chain(audited_db: WarehouseBackend) -> None:
    log = rows(audited_db)
    assert [r["seq"] for r in log] == list(range(1, len(log) + 1))
    assert log[0]["prev_hash"] == audit_chain.GENESIS
    for prev, row in itertools.pairwise(log):
        assert row["prev_hash"] == prev["hash"]
        assert row["hash"] == audit_chain.event_hash(prev["hash"], row)
    head = audited_db.read("audit_head").to_pylist()[0]
    assert (head["seq"], head["hash"]) == (log[-1]["seq"], log[-1]["hash"])


def test_appends_never_change_earlier_rows(audited_db: WarehouseBackend) -> None:
    before = rows(audited_db)
    engine = SelfHealingEngine(audited_db)
    engine.vendor_offline("Zepto", actor="carol")
    engine.heal()
    after = rows(audited_db)
    assert after[: len(before)] == before
    assert len(after) > len(before)
    assert audited_db.verify_audit().ok


def test_empty_log_verifies(backend: WarehouseBackend) -> None:
    assert backend.verify_audit().ok
    assert backend.verify_audit().checked == 0


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("details", '{"rows": 999999}'),
        ("actor", "mallory"),
        ("action", "data.deleted"),
        ("org_id", "PDS-DEL-001"),
        ("entity_id", "PO-FORGED"),
    ],
)
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_editing_any_row_is_detected_at_that_row(
    audited_db: WarehouseBackend, column: str, value: str, where: str
) -> None:
    n = last_seq(audited_db)
    seq = {"first": 1, "middle": n // 2, "last": n}[where]
    audited_db.sql(f"UPDATE audit_log SET {column} = ? WHERE seq = ?", [value, seq])
    check = audited_db.verify_audit()
    assert not check.ok
    assert check.broken_seq == seq
    assert check.checked == seq - 1
    assert "edited" in (check.problem or "")


def test_editing_the_timestamp_is_detected(audited_db: WarehouseBackend) -> None:
    audited_db.sql("UPDATE audit_log SET event_ts = DATEADD(day, -1, event_ts) WHERE seq = 3")
    assert audited_db.verify_audit().broken_seq == 3


def test_rehashing_an_edited_row_breaks_the_next_link(audited_db: WarehouseBackend) -> None:
    """A forger who recomputes the edited row's own hash is caught at the next row."""
    target = rows(audited_db)[4]
    forged = dict(target, details=json.dumps({"rows": 1}))
    new_hash = audit_chain.event_hash(target["prev_hash"], forged)
    audited_db.sql(
        "UPDATE audit_log SET details = ?, hash = ? WHERE seq = ?",
        [forged["details"], new_hash, target["seq"]],
    )
    check = audited_db.verify_audit()
    assert not check.ok
    assert check.broken_seq == target["seq"] + 1
    assert "prev_hash" in (check.problem or "")


def test_rechaining_the_whole_tail_is_caught_by_the_head(audited_db: WarehouseBackend) -> None:
    """Rewriting every later row consistently still disagrees with the chain head."""
    log = rows(audited_db)
    prev = log[1]["hash"]
    for row in log[2:]:
        forged = dict(row, prev_hash=prev)
        if row["seq"] == 3:
            forged["actor"] = "mallory"
        forged["hash"] = audit_chain.event_hash(prev, forged)
        audited_db.sql(
            "UPDATE audit_log SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            [forged["actor"], forged["prev_hash"], forged["hash"], row["seq"]],
        )
        prev = forged["hash"]
    check = audited_db.verify_audit()
    assert not check.ok
    assert check.broken_seq == log[-1]["seq"] + 1


@pytest.mark.parametrize("where", ["first", "middle"])
def test_deleting_a_row_is_detected(audited_db: WarehouseBackend, where: str) -> None:
    n = last_seq(audited_db)
    seq = {"first": 1, "middle": n // 2}[where]
    audited_db.sql("DELETE FROM audit_log WHERE seq = ?", [seq])
    check = audited_db.verify_audit()
    assert not check.ok
    assert check.broken_seq == seq


def test_deleting_the_newest_row_is_detected(audited_db: WarehouseBackend) -> None:
    n = last_seq(audited_db)
    audited_db.sql("DELETE FROM audit_log WHERE seq = ?", [n])
    check = audited_db.verify_audit()
    assert not check.ok
    assert check.broken_seq == n
    assert "deleted" in (check.problem or "")


def test_deleting_the_newest_rows_is_detected(audited_db: WarehouseBackend) -> None:
    n = last_seq(audited_db)
    audited_db.sql("DELETE FROM audit_log WHERE seq > ?", [n - 3])
    assert audited_db.verify_audit().broken_seq == n - 2


def test_deleting_every_row_is_detected(audited_db: WarehouseBackend) -> None:
    audited_db.sql("DELETE FROM audit_log")
    check = audited_db.verify_audit()
    assert not check.ok
    assert check.broken_seq == 1


def test_a_failed_transaction_appends_nothing(audited_db: WarehouseBackend) -> None:
    before = rows(audited_db)
    with pytest.raises(RuntimeError), audited_db.transaction():
        audited_db.append_audit([{"actor": "x", "action": "test.event"}])
        raise RuntimeError("abort")
    assert rows(audited_db) == before
    assert audited_db.verify_audit().ok
