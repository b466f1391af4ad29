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
    from ``table`` (``purchase_orders`` or ``alerts``): the fixed :func:`read_columns`, in
    the order the digests hash them (by organization, then id), so that the rows need no
    sort in Python (:func:`content_digests` checks the order and sorts when it differs)."""
    columns = read_columns(table)
    return (
        f"SELECT {', '.join(columns)} FROM {table} WHERE cycle_id = ? ORDER BY org_id, {columns[0]}"
    )


def verify_query(table: str) -> str:
    """The query reading every cycle's content and provenance parts from ``table`` for
    ``verify`` (:func:`check_content`), in the order its digests hash them (by cycle,
    organization, then id)."""
    columns = read_columns(table)
    return (
        f"SELECT {', '.join(columns)} FROM {table} WHERE cycle_id IS NOT NULL "
        f"ORDER BY cycle_id, org_id, {columns[0]}"
    )


SCALED: frozenset[str] = frozenset({"quantity"})
"""The covered columns hashed as whole millionths; every other number is an integer."""


def _canonical_column(column: Any, name: str) -> Any:
    """One column as canonical text: length-prefixed like :func:`canonical` (``N:text``),
    NULL as ``-``; quantities as whole millionths and other numbers as integers, timestamps
    as microseconds since 1970 (naive UTC), decided by the column (not by the type an
    engine's driver returned), so the text is the same whatever engine read it."""
    import pyarrow.compute as pc

    prefix, text = _canonical_pieces(column, name)
    return pc.binary_join_element_wise(
        prefix, text, "", null_handling="replace", null_replacement=""
    )


def _column_text(column: Any, name: str) -> Any:
    """The values of one column as text (NULL stays NULL), the rules of
    :func:`_canonical_column`."""
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
    return pc.cast(text, pa.string())


def _canonical_pieces(column: Any, name: str, separator: str = "") -> tuple[Any, Any]:
    """One column's field as two arrays, ``separator`` + ``N:`` (``-`` for NULL) and the
    text (NULL for NULL), so a whole line is one join of every column's pieces with no
    intermediate string per field: the prefixes are taken from a small table of every
    length the column has instead of formatting a number per row."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    text = _column_text(column, name)
    length = pc.utf8_length(text)
    top = pc.max(length).as_py() or 0
    numbers = pc.cast(pa.array(np.arange(top + 1, dtype=np.int64)), pa.string())
    table = pa.concat_arrays(
        [
            pc.binary_join_element_wise(separator, numbers, ":", ""),
            pa.array([separator + "-"], pa.string()),
        ]
    )
    return table.take(length.fill_null(top + 1)), text


def canonical_rows(table: Any, columns: tuple[str, ...]) -> Any:
    """Every row of ``table`` as one canonical line over ``columns`` (an Arrow string
    array, columnar): the fields in the order given, joined by ``|``."""
    import pyarrow as pa

    if not table.num_rows:
        return pa.array([], pa.string())
    return _lines(table, columns, "")


def _lines(table: Any, columns: tuple[str, ...], end: str) -> Any:
    """The canonical lines of ``table``'s rows, each followed by ``end``: one join."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pieces = [
        piece
        for i, name in enumerate(columns)
        for piece in _canonical_pieces(table.column(name), name, "|" if i else "")
    ]
    lines = pc.binary_join_element_wise(
        *pieces, pa.scalar(end), "", null_handling="replace", null_replacement=""
    )
    return lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines


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


_BATCH_ROWS = 1 << 16
"""Rows turned into canonical lines at a time: the text of one batch is hashed and dropped
before the next, so memory stays flat however many rows a cycle (or ``verify``) covers."""


def _grouped(
    table: Any, columns: tuple[str, ...], keys: tuple[str, ...]
) -> dict[tuple[str, ...], tuple[int, str]]:
    """(rows, SHA-256) per distinct ``keys``, over the rows sorted by ``columns[0]``.

    Columnar: the rows are sorted by the keys and the id, and each batch of them becomes
    one Arrow array of canonical lines, each ending in a newline; a group is a contiguous
    byte range of that array's data, fed to its hash without a Python string per row (the
    last line's newline left out, so the text is the lines joined by newlines)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if table is None or not table.num_rows:
        return {}
    n = table.num_rows
    by = (*keys, columns[0])
    order = (
        pa.array(np.arange(n, dtype=np.uint64))  # read back sorted: no sort, no copy
        if _in_order(table, by)
        else pc.sort_indices(table, [(k, "ascending") for k in by])
    )
    in_place = _is_identity(order)
    starts, names = _group_starts(table, keys, order)
    ends = [*starts[1:].tolist(), len(order)]
    content = table.select(list(dict.fromkeys(columns)))
    out: dict[tuple[str, ...], tuple[int, str]] = {}
    group, digest = 0, hashlib.sha256()
    for lo in range(0, len(order), _BATCH_ROWS):
        batch = (
            content.slice(lo, _BATCH_ROWS)
            if in_place
            else content.take(order.slice(lo, _BATCH_ROWS))
        )
        lines = _lines(batch, columns, "\n")
        offsets = np.frombuffer(
            lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4
        ).tolist()
        data = memoryview(lines.buffers()[2])
        position, hi = lo, lo + len(lines)
        while position < hi:
            end = min(ends[group], hi)
            first, last = offsets[position - lo], offsets[end - lo]
            if end == ends[group]:  # the group ends here: its last newline is not hashed
                digest.update(data[first : last - 1])
                out[names[group]] = (ends[group] - int(starts[group]), digest.hexdigest())
                group, digest = group + 1, hashlib.sha256()
            else:
                digest.update(data[first:last])
            position = end
    return out


def _in_order(table: Any, names: tuple[str, ...]) -> bool:
    """Whether ``table``'s rows are already sorted by ``names`` (ascending, no NULLs), as a
    query with that ORDER BY returns them: then the stable sort would keep every row where
    it is, and is skipped."""
    import pyarrow.compute as pc

    columns = [table.column(name) for name in names]
    n = table.num_rows
    if any(c.null_count for c in columns) or len(set(names)) != len(names):
        return False
    if n < 2:
        return True
    ok = None  # row i <= row i + 1 over the columns from this one on
    for column in reversed(columns):
        a, b = column.slice(0, n - 1), column.slice(1)
        ok = (
            pc.less_equal(a, b)
            if ok is None
            else pc.or_(pc.less(a, b), pc.and_(pc.equal(a, b), ok))
        )
    return bool(pc.all(ok).as_py())


def _is_identity(order: Any) -> bool:
    import numpy as np

    values = np.asarray(order)
    return bool((values == np.arange(len(values), dtype=values.dtype)).all())


def _group_starts(table: Any, keys: tuple[str, ...], order: Any) -> tuple[Any, list[Any]]:
    """Where each distinct ``keys`` starts in ``order`` (positions, ascending) and its key
    as text (NULL as ``None``, like ``str``)."""
    import numpy as np
    import pyarrow as pa

    n = len(order)
    change = np.zeros(n, bool)
    change[0] = True
    for k in keys:
        column = table.column(k).take(order)
        column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        codes = column.dictionary_encode().indices.fill_null(-1)
        codes = np.asarray(codes.to_numpy(zero_copy_only=False))
        change[1:] |= codes[1:] != codes[:-1]
    starts = np.flatnonzero(change)
    rows = order.take(pa.array(starts))
    values = [table.column(k).take(rows).to_pylist() for k in keys]
    return starts, [tuple(str(v) for v in key) for key in zip(*values, strict=True)]


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
    and print the same): every row's label in Arrow (resq.core.provenance.label_array),
    counted by integer key codes (no Acero group-by: its import alone is ~40 ms of a
    short command); Python sees only the distinct (keys, label) pairs."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from resq.core import provenance
    from resq.core._columns import group_counts

    if table is None or not table.num_rows:
        return {}
    names = set(table.column_names)
    parts = {p: table.column(c) for p, c in provenance.COLUMNS.items() if c in names}
    sources = table.column("data_source") if "data_source" in names else None
    label = pc.fill_null(provenance.label_array(parts, sources, table.num_rows), UNLABELLED)
    columns = [table.column(k) for k in keys]
    first, n_rows = group_counts(*columns, label)
    taken = pa.array(first, pa.int64())
    values = [c.take(taken).to_pylist() for c in columns]
    labels = label.take(taken).to_pylist()
    counts: dict[tuple[str, ...], dict[str, int]] = {}
    for *key, name, n in zip(*values, labels, n_rows.tolist(), strict=True):
        per = counts.setdefault(tuple(str(k) for k in key), {})
        per[name] = per.get(name, 0) + n
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
    import pyarrow.compute as pc

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
    # only the changed orders become Python rows; the others stay columns as they are
    ids = pc.cast(orders.column("po_id"), pa.string())
    changed = pc.is_in(ids, value_set=pa.array(sorted({*first_qty, *vendor}), pa.string()))
    changed = changed.combine_chunks() if isinstance(changed, pa.ChunkedArray) else changed
    rows = orders.filter(changed).to_pylist()
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
    if not rows:
        return orders, problems
    for name in ("quantity", "vendor"):
        i = orders.schema.get_field_index(name)
        column = orders.column(i).combine_chunks()
        values = pa.array([row[name] for row in rows], type=column.type)
        orders = orders.set_column(
            i, orders.field(i), pc.replace_with_mask(column, changed, values)
        )
    return orders, problems


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
