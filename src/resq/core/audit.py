"""The tamper-evident audit log: each event's hash covers its content and the previous hash.

Editing or deleting any row breaks the chain at that row; :func:`verify_chain` finds the
first broken link. With a key (``RESQ_AUDIT_KEY``) each new hash is an HMAC, so the chain
cannot be recomputed by someone who can write the table but does not hold the key; an
:class:`Anchor` (the head's seq and hash, kept outside the database) makes a truncated and
rewound chain detectable. What is and is not detectable: ``docs/concepts.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

GENESIS = "0" * 64

# A keyed hash is stored with this prefix, so every row says how it was hashed.
KEYED = "k1:"

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


def event_hash(prev_hash: str, event: Mapping[str, Any], key: bytes | None = None) -> str:
    """SHA-256 of the previous hash and the event, or (with ``key``) its HMAC-SHA-256.

    >>> event_hash(GENESIS, {"seq": 1}, b"k").startswith(KEYED)
    True
    """
    message = (prev_hash + "\n" + canonical(event)).encode()
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return KEYED + hmac.new(key, message, hashlib.sha256).hexdigest()


def is_keyed(hash_value: str) -> bool:
    return hash_value.startswith(KEYED)


def chain(
    events: Iterable[dict[str, Any]], prev_hash: str, start_seq: int, key: bytes | None = None
) -> list[dict[str, Any]]:
    """Number and hash new events after ``prev_hash``; returns the rows to append."""
    out = []
    for offset, event in enumerate(events):
        row = dict(event, seq=start_seq + offset, prev_hash=prev_hash)
        row["hash"] = event_hash(prev_hash, row, key)
        prev_hash = row["hash"]
        out.append(row)
    return out


@dataclass(frozen=True)
class Anchor:
    """The chain's head at one moment, to keep outside the database: ``resq audit anchor``
    prints it, ``resq audit --verify --anchor`` checks the chain still extends it."""

    seq: int
    hash: str
    at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "at": self.at}

    def text(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """An anchor from its JSON (``{"seq": .., "hash": ..}``) or ``SEQ:HASH``.

        >>> Anchor.parse('{"seq": 3, "hash": "ab"}').seq, Anchor.parse("3:k1:ab").hash
        (3, 'k1:ab')
        """
        text = text.strip()
        try:
            if text.startswith("{"):
                doc = json.loads(text)
                return cls(int(doc["seq"]), str(doc["hash"]), doc.get("at"))
            seq, _, value = text.partition(":")
            if not value:
                raise ValueError("no hash")
            return cls(int(seq), value)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"not an audit anchor ({exc}): expected the JSON `resq audit anchor` "
                'prints ({"seq": N, "hash": "..."}) or SEQ:HASH'
            ) from None


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    checked: int
    broken_seq: int | None = None
    problem: str | None = None
    keyed_from: int | None = None
    repairs: tuple[int, ...] = field(default=())
    anchored: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "broken_seq": self.broken_seq,
            "problem": self.problem,
            "keyed_from": self.keyed_from,
            "repairs": list(self.repairs),
            "anchored": self.anchored,
        }


HEAD_REPAIRED = "audit.head_repaired"


def verify_chain(
    rows: Iterable[Mapping[str, Any]], first_seq: int = 1, key: bytes | None = None
) -> ChainCheck:
    """Walk the log in ``seq`` order; report the first row whose link or hash is wrong.

    The chain starts at ``first_seq`` (1) after :data:`GENESIS`, so a deleted first row is
    reported as missing at its own seq, like any other deleted row. Keyed rows need ``key``;
    once a row is keyed every later row must be, and with ``key`` the newest row must be
    keyed (so a chain cut back to before its keyed rows, or rewritten without the key, is
    reported).
    """
    prev, expected_seq, n = GENESIS, first_seq, 0
    keyed_from: int | None = None
    repairs: list[int] = []
    for row in rows:
        seq = int(row["seq"])
        if seq != expected_seq:
            return ChainCheck(
                False, n, expected_seq, f"row {expected_seq} is missing (next is {seq})"
            )
        if row["prev_hash"] != prev:
            return ChainCheck(False, n, seq, "prev_hash does not match the previous row's hash")
        stored = str(row["hash"])
        if is_keyed(stored):
            if key is None:
                return ChainCheck(
                    False,
                    n,
                    seq,
                    "the row is keyed (HMAC): set RESQ_AUDIT_KEY to the chain's key to verify it",
                )
            keyed_from = seq if keyed_from is None else keyed_from
            expected = event_hash(prev, row, key)
        elif keyed_from is not None:
            return ChainCheck(
                False, n, seq, "an unkeyed row after keyed rows (rewritten without the key)"
            )
        else:
            expected = event_hash(prev, row)
        if not hmac.compare_digest(expected, stored):
            problem = (
                "content does not match its keyed hash (edited, or a different key)"
                if is_keyed(stored)
                else "content does not match its hash (edited)"
            )
            return ChainCheck(False, n, seq, problem)
        if row.get("action") == HEAD_REPAIRED:
            repairs.append(seq)
        prev, expected_seq, n = stored, seq + 1, n + 1
    if key is not None and keyed_from is None:
        return ChainCheck(
            False,
            n,
            expected_seq,
            "RESQ_AUDIT_KEY is set but no row is keyed: keyed rows were removed or rewritten"
            " (or the key was set without running `resq init`)",
        )
    return ChainCheck(True, n, keyed_from=keyed_from, repairs=tuple(repairs))
