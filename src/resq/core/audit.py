"""The tamper-evident audit log: each event's hash covers its content and the previous hash.

Editing or deleting any row breaks the chain at that row; :func:`verify_chain` finds the
first broken link.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


FIELDS = ("seq", "event_id", "event_ts", "actor", "action", "org_id", "entity_id", "details")


def canonical(event: Mapping[str, Any]) -> str:
    """The exact text that is hashed: every field length-prefixed, so no value can forge
    a field boundary, with ISO timestamps and NULL as ``-``."""
    return "|".join([_field(event.get(name)) for name in FIELDS])


def _field(value: Any) -> str:
    if value is None:
        return "-"
    text = (
        value
        if isinstance(value, str)
        else (value.isoformat() if isinstance(value, datetime) else str(value))
    )
    return f"{len(text)}:{text}"


def event_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev_hash + "\n" + canonical(event)).encode()).hexdigest()


def chain(events: Iterable[dict[str, Any]], prev_hash: str, start_seq: int) -> list[dict[str, Any]]:
    """Number and hash new events after ``prev_hash``; returns the rows to append."""
    out = []
    for offset, event in enumerate(events):
        row = dict(event, seq=start_seq + offset, prev_hash=prev_hash)
        row["hash"] = event_hash(prev_hash, row)
        prev_hash = row["hash"]
        out.append(row)
    return out


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    checked: int
    broken_seq: int | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "broken_seq": self.broken_seq,
            "problem": self.problem,
        }


def verify_chain(rows: Iterable[Mapping[str, Any]], first_seq: int = 1) -> ChainCheck:
    """Walk the log in ``seq`` order; report the first row whose link or hash is wrong.

    The chain starts at ``first_seq`` (1) after :data:`GENESIS`, so a deleted first row is
    reported as missing at its own seq, like any other deleted row.
    """
    prev, expected_seq, n = GENESIS, first_seq, 0
    for row in rows:
        seq = int(row["seq"])
        if seq != expected_seq:
            return ChainCheck(
                False, n, expected_seq, f"row {expected_seq} is missing (next is {seq})"
            )
        if row["prev_hash"] != prev:
            return ChainCheck(False, n, seq, "prev_hash does not match the previous row's hash")
        if event_hash(prev, row) != row["hash"]:
            return ChainCheck(False, n, seq, "content does not match its hash (edited)")
        prev, expected_seq, n = row["hash"], seq + 1, n + 1
    return ChainCheck(True, n)
