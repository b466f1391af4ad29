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
    content_checked: int | None = None
    """How many heal.actions events had their order and alert digests recomputed."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "broken_seq": self.broken_seq,
            "problem": self.problem,
            "keyed_from": self.keyed_from,
            "repairs": list(self.repairs),
            "anchored": self.anchored,
            "content_checked": self.content_checked,
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


# ---------------------------------------------------------------- content digests
#
# A heal cycle's ``heal.actions`` event (one per organization) holds counts and a SHA-256
# over the canonical content of the orders and alerts the cycle created there, so editing an
# order or an alert afterwards is detected, not only editing the audit row. The content is
# what the cycle decided and never changes legitimately; lifecycle columns (an order's
# status, price, reason and updated_at; an alert's state, tier and acknowledgement) are left
# out, because approvals, receipts, cancellations, escalations and acks change them. An
# order's quantity and vendor are covered as the cycle created them: the only legitimate
# changes (``order.set_quantity``, ``order.resourced``) are audited with the values, and
# :func:`as_created` undoes them before hashing (checking the row now holds the last
# audited value).

CONTENT_VERSION = "c1"
"""Names the canonical form below; stored in each event so a later form can coexist."""

ORDER_CONTENT: tuple[str, ...] = (
    "po_id",
    "idempotency_key",
    "org_id",
    "sku",
    "vendor",
    "quantity",
    "priority",
    "rank",
    "data_source",
    "cycle_id",
    "created_at",
)
"""The columns of a purchase order a heal-cycle digest covers."""

ALERT_CONTENT: tuple[str, ...] = (
    "alert_id",
    "dedup_key",
    "org_id",
    "sku",
    "po_id",
    "kind",
    "severity",
    "message",
    "data_source",
    "cycle_id",
    "created_at",
)
"""The columns of an alert a heal-cycle digest covers."""

QUANTITY_SCALE = 1_000_000
"""Quantities are hashed as whole millionths (an integer), never as float text."""


def read_columns(table: str) -> tuple[str, ...]:
    """The columns read from ``table`` (``purchase_orders`` or ``alerts``) to audit a cycle:
    the content a digest covers, then the provenance parts its labels are counted from
    (``stock_source``, ... : resq.core.provenance.COLUMNS)."""
    from resq.core import provenance

    content = {"purchase_orders": ORDER_CONTENT, "alerts": ALERT_CONTENT}[table]
    return (*content, *provenance.COLUMNS.values())


def content_query(table: str) -> str:
    """The query reading a cycle's content and provenance parts (parameter: the cycle id)
    from ``table`` (``purchase_orders`` or ``alerts``): the fixed :func:`read_columns`."""
    return f"SELECT {', '.join(read_columns(table))} FROM {table} WHERE cycle_id = ?"


SCALED: frozenset[str] = frozenset({"quantity"})
"""The covered columns hashed as whole millionths; every other number is an integer."""


def _canonical_column(column: Any, name: str) -> Any:
    """One column as canonical text: length-prefixed like :func:`canonical` (``N:text``),
    NULL as ``-``; quantities as whole millionths and other numbers as integers, timestamps
    as microseconds since 1970 (naive UTC), decided by the column (not by the type an
    engine's driver returned), so the text is the same whatever engine read it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    t = column.type
    numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        text = pc.cast(pc.cast(column, pa.timestamp("us")), pa.int64())
    elif name in SCALED and numeric:
        scaled = pc.multiply(pc.cast(column, pa.float64()), float(QUANTITY_SCALE))
        text = pc.cast(pc.round(scaled), pa.int64())
    elif pa.types.is_integer(t):
        text = pc.cast(column, pa.int64())
    elif numeric:
        text = pc.cast(pc.round(pc.cast(column, pa.float64())), pa.int64())
    else:
        text = column
    text = pc.cast(text, pa.string())
    prefixed = pc.binary_join_element_wise(pc.cast(pc.utf8_length(text), pa.string()), text, ":")
    return pc.fill_null(prefixed, "-")


def canonical_rows(table: Any, columns: tuple[str, ...]) -> Any:
    """Every row of ``table`` as one canonical line over ``columns`` (an Arrow string
    array, columnar): the fields in the order given, joined by ``|``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not table.num_rows:
        return pa.array([], pa.string())
    parts = [_canonical_column(table.column(name), name) for name in columns]
    return pc.binary_join_element_wise(*parts, "|")


def content_digests(table: Any, columns: tuple[str, ...]) -> dict[str, tuple[int, str]]:
    """Per organization: (rows, SHA-256 hex) over the canonical lines of ``table``'s rows
    sorted by their id (the first column), joined by newlines.

    >>> import pyarrow as pa
    >>> t = pa.table({"po_id": ["P2", "P1"], "org_id": ["H", "H"], "quantity": [2.5, None]})
    >>> n, digest = content_digests(t, ("po_id", "org_id", "quantity"))["H"]
    >>> n, digest == hashlib.sha256(b"2:P1|1:H|-\\n2:P2|1:H|7:2500000").hexdigest()
    (2, True)
    """
    return {key[0]: value for key, value in _grouped(table, columns, ("org_id",)).items()}


def _grouped(
    table: Any, columns: tuple[str, ...], keys: tuple[str, ...]
) -> dict[tuple[str, ...], tuple[int, str]]:
    """(rows, SHA-256) per distinct ``keys``, over the rows sorted by ``columns[0]``."""
    import pyarrow.compute as pc

    if table is None or not table.num_rows:
        return {}
    order = pc.sort_indices(table, [*((k, "ascending") for k in keys), (columns[0], "ascending")])
    table = table.take(order)
    lines = canonical_rows(table, columns).to_pylist()
    groups = list(zip(*(table.column(k).to_pylist() for k in keys), strict=True))
    out: dict[tuple[str, ...], tuple[int, str]] = {}
    start = 0
    for i in range(1, len(groups) + 1):
        if i == len(groups) or groups[i] != groups[start]:
            text = "\n".join(lines[start:i])
            key = tuple(str(k) for k in groups[start])
            out[key] = (i - start, hashlib.sha256(text.encode()).hexdigest())
            start = i
    return out


UNLABELLED = "-"
"""The label counted for a row with neither provenance parts nor a data_source."""


def label_counts(table: Any) -> dict[str, dict[str, int]]:
    """Per organization: how many of ``table``'s rows (orders or alerts) carry each
    provenance label, computed from their part columns as the CLI and the dashboard label a
    row (resq.core.provenance.labels; a row stored before parts by its data_source).

    >>> import pyarrow as pa
    >>> t = pa.table({"org_id": ["H", "H", "P"], "data_source": ["SIMULATED"] * 3,
    ...               "stock_source": ["REAL", "REAL", "SIMULATED"],
    ...               "weather_source": ["SIMULATED", "SIMULATED", "SIMULATED"]})
    >>> label_counts(t)
    {'H': {'REAL stock · SIMULATED weather': 2}, 'P': {'SIMULATED': 1}}
    """
    return {key[0]: value for key, value in _labels_grouped(table, ("org_id",)).items()}


def _labels_grouped(table: Any, keys: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, int]]:
    """Label counts per distinct ``keys`` (sorted by label, so equal counts compare equal
    and print the same)."""
    from resq.core import provenance

    if table is None or not table.num_rows:
        return {}
    names = set(table.column_names)
    parts = [
        table.column(c).to_pylist() if c in names else None for c in provenance.COLUMNS.values()
    ]
    if parts[0] is None:  # no parts at all: every row is labelled by its data_source
        parts[0] = [None] * table.num_rows
    sources = table.column("data_source").to_pylist() if "data_source" in names else None
    text = provenance.labels(*parts, data_source=sources)
    groups = zip(*(table.column(k).to_pylist() for k in keys), strict=True)
    counts: dict[tuple[str, ...], dict[str, int]] = {}
    for group, label in zip(groups, text, strict=True):
        per = counts.setdefault(tuple(str(k) for k in group), {})
        name = UNLABELLED if label is None else str(label)
        per[name] = per.get(name, 0) + 1
    return {k: dict(sorted(v.items())) for k, v in counts.items()}


def describe_labels(details: Any) -> str | None:
    """A ``heal.actions`` event's provenance in one line for people: how many orders and
    alerts carried each label ("2 orders: 2 REAL stock · SIMULATED weather; 1 alert: 1
    SIMULATED"). None for an event without labels (another action, or written before
    labels were recorded).

    >>> describe_labels({"orders": 2, "alerts": 0, "labels": {"orders": {"REAL": 2},
    ...                  "alerts": {}}})
    '2 orders: 2 REAL; 0 alerts'
    """
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            return None
    if not isinstance(details, Mapping) or not isinstance(details.get("labels"), Mapping):
        return None
    out = []
    for kind, one in (("orders", "order"), ("alerts", "alert")):
        n = details.get(kind)
        counts = details["labels"].get(kind) or {}
        head = f"{n} {one if n == 1 else kind}"
        shown = ", ".join(f"{c} {label}" for label, c in counts.items())
        out.append(f"{head}: {shown}" if shown else head)
    return "; ".join(out)


def as_created(orders: Any, changes: Iterable[Mapping[str, Any]]) -> tuple[Any, list[str]]:
    """The orders as their cycle created them: the audited quantity changes
    (``order.set_quantity``: ``quantity_from`` / ``quantity_to``) and vendor choices
    (``order.resourced``: a waiting order, created without a vendor, given ``vendor``)
    undone, given in ``seq`` order as ``{"action", "entity_id", "details"}``. Also returns
    the problems found: an order whose row does not hold its last audited value."""
    import pyarrow as pa

    first_qty: dict[str, float] = {}
    last_qty: dict[str, float] = {}
    vendor: dict[str, Any] = {}
    for c in changes:
        details = c.get("details")
        if isinstance(details, str):
            try:
                details = json.loads(details)
            except ValueError:
                continue
        if not isinstance(details, Mapping):
            continue
        po = str(c.get("entity_id"))
        if c.get("action") == "order.set_quantity" and "quantity_to" in details:
            first_qty.setdefault(po, float(details["quantity_from"]))
            last_qty[po] = float(details["quantity_to"])
        elif c.get("action") == "order.resourced":
            vendor[po] = details.get("vendor")
    if not (first_qty or vendor) or not orders.num_rows:
        return orders, []
    rows = orders.to_pylist()
    problems: list[str] = []
    for row in rows:
        po = str(row["po_id"])
        if po in last_qty:
            if row["quantity"] is None or _micro(row["quantity"]) != _micro(last_qty[po]):
                problems.append(
                    f"order {po} ({row['org_id']}, cycle {row['cycle_id']}): quantity "
                    f"{row['quantity']} is not its last audited quantity {last_qty[po]}"
                )
            row["quantity"] = first_qty[po]
        if po in vendor:
            if row["vendor"] != vendor[po]:
                problems.append(
                    f"order {po} ({row['org_id']}, cycle {row['cycle_id']}): vendor "
                    f"{row['vendor']!r} is not the audited vendor {vendor[po]!r}"
                )
            row["vendor"] = None
    return pa.Table.from_pylist(rows, schema=orders.schema), problems


def _micro(value: Any) -> int:
    return round(float(value) * QUANTITY_SCALE)


@dataclass(frozen=True)
class ContentCheck:
    """What :func:`check_content` found: the ``heal.actions`` events whose digests were
    recomputed, and the first mismatch (event seq, cycle, organization, what differs)."""

    checked: int
    broken_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def heal_details(
    cycle_id: str,
    orders: tuple[int, str] | None,
    alerts: tuple[int, str] | None,
    labels: Mapping[str, Mapping[str, int] | None] | None = None,
) -> str:
    """The JSON details of one ``heal.actions`` event: counts, content digests and, when
    ``labels`` is given (``{"orders": {label: n}, "alerts": {label: n}}``, from
    :func:`label_counts`), how many orders and alerts carried each provenance label.

    >>> json.loads(heal_details("CY-1", (1, "ab"), None, {"orders": {"REAL": 1}}))["labels"]
    {'alerts': {}, 'orders': {'REAL': 1}}
    """
    empty = hashlib.sha256(b"").hexdigest()
    n_orders, orders_sha = orders or (0, empty)
    n_alerts, alerts_sha = alerts or (0, empty)
    doc: dict[str, Any] = {
        "alerts": n_alerts,
        "alerts_sha256": alerts_sha,
        "content": CONTENT_VERSION,
        "cycle_id": cycle_id,
        "orders": n_orders,
        "orders_sha256": orders_sha,
    }
    if labels is not None:
        doc["labels"] = {
            kind: dict(sorted((labels.get(kind) or {}).items())) for kind in ("alerts", "orders")
        }
    # the labels are written as text ("·", not an escape), readable in the table itself
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def check_content(
    events: Iterable[Mapping[str, Any]],
    orders: Any,
    alerts: Any,
    changes: Iterable[Mapping[str, Any]] = (),
) -> ContentCheck:
    """Recompute every ``heal.actions`` event's digests from the tables: ``events`` are the
    audit rows (``seq``, ``org_id``, ``entity_id`` = cycle, ``details``), ``orders`` and
    ``alerts`` the rows of every cycle with their :func:`read_columns`, ``changes`` the
    audited order changes in seq order. An event's provenance label counts, where it has
    them, are recounted from the part columns too. Events written before digests (copies
    of the items) have no ``content`` key and are left to the chain check; events written
    before labels have no ``labels`` key and only their digests are checked."""
    orders, problems = as_created(orders, changes)
    by_cycle_orders = _by_cycle(orders, ORDER_CONTENT)
    by_cycle_alerts = _by_cycle(alerts, ALERT_CONTENT)
    labelled = {
        "orders": _labels_grouped(orders, ("cycle_id", "org_id")),
        "alerts": _labels_grouped(alerts, ("cycle_id", "org_id")),
    }
    seen: set[tuple[str, str]] = set()
    checked = 0
    empty = hashlib.sha256(b"").hexdigest()
    for event in events:
        try:
            details = json.loads(event["details"])
        except (TypeError, ValueError):
            continue
        if not isinstance(details, dict) or details.get("content") != CONTENT_VERSION:
            continue
        cycle, org, seq = str(event["entity_id"]), str(event["org_id"]), int(event["seq"])
        seen.add((cycle, org))
        for kind, found in (("orders", by_cycle_orders), ("alerts", by_cycle_alerts)):
            n, digest = found.get(cycle, {}).get(org, (0, empty))
            if n != details.get(kind) or digest != details.get(f"{kind}_sha256"):
                what = (
                    f"{n} {kind} in the table, {details.get(kind)} audited"
                    if n != details.get(kind)
                    else f"the {kind}' content differs from the audited digest (edited)"
                )
                return ContentCheck(
                    checked,
                    seq,
                    f"heal cycle {cycle}, organization {org}: {what}",
                )
        audited = details.get("labels")
        if audited is not None:  # events written before labels have none to check
            for kind in ("orders", "alerts"):
                counted = labelled[kind].get((cycle, org), {})
                said = audited.get(kind) if isinstance(audited, Mapping) else None
                if counted != said:
                    return ContentCheck(
                        checked,
                        seq,
                        f"heal cycle {cycle}, organization {org}: the {kind}' provenance "
                        f"labels differ from the audited labels (edited): {_counts(counted)} in "
                        f"the table, {_counts(said)} audited",
                    )
        checked += 1
    if problems:
        return ContentCheck(checked, None, problems[0])
    # Rows of an audited cycle that no event covers were added afterwards.
    for kind, found in (("orders", by_cycle_orders), ("alerts", by_cycle_alerts)):
        cycles = {c for c, _ in seen}
        for cycle, per_org in found.items():
            for org, (n, _digest) in per_org.items():
                if cycle in cycles and (cycle, org) not in seen:
                    return ContentCheck(
                        checked,
                        None,
                        f"heal cycle {cycle}, organization {org}: {n} {kind} no audit event "
                        "covers (added afterwards)",
                    )
    return ContentCheck(checked)


def _counts(counts: Any) -> str:
    if not isinstance(counts, Mapping) or not counts:
        return "none" if not counts else str(counts)
    return ", ".join(f"{n} {label}" for label, n in counts.items())


def _by_cycle(table: Any, columns: tuple[str, ...]) -> dict[str, dict[str, tuple[int, str]]]:
    out: dict[str, dict[str, tuple[int, str]]] = {}
    for (cycle, org), value in _grouped(table, columns, ("cycle_id", "org_id")).items():
        out.setdefault(cycle, {})[org] = value
    return out
