"""An order's reason as typed columns (resq.core.reasons): what a reader gets back is the
reason object of the JSON text column it replaced, for every reason, on every backend.

The oracle is the code path of schema version 5: a heal cycle's reason was written as
``TO_JSON`` of the staged struct (sql/merge_orders.sql), a re-sourced one as
``json.dumps(sort_keys=True)`` of the stored object updated in Python, and readers parsed
the text.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resq.backends.warehouse import WarehouseBackend
from resq.core import reasons
from resq.core.ordering import _CAPS, explain_reason
from resq.engine import _resourced_stage
from strategies import names

REASON_TYPE = pa.struct([pa.field(k, t) for k, t in reasons.KEYS])

floats = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 3.0])
)
texts = st.one_of(st.none(), names)
rejected = st.one_of(
    st.none(),
    st.lists(st.fixed_dictionaries({"vendor": texts, "why": texts}), max_size=4),
)
caps = st.one_of(st.none(), st.lists(st.sampled_from(_CAPS), max_size=3, unique=True))


@st.composite
def reason_rows(draw: st.DrawFn) -> dict[str, Any]:
    """One reason as plan_orders builds it: every key, any value its type holds."""
    row: dict[str, Any] = {}
    for key, kind in reasons.KEYS:
        if key == "vendors_rejected":
            row[key] = draw(rejected)
        elif key == "caps_applied":
            row[key] = draw(caps)
        elif kind == pa.bool_():
            row[key] = draw(st.one_of(st.none(), st.booleans()))
        elif kind == pa.string():
            row[key] = draw(texts)
        else:
            row[key] = draw(floats)
    return row


_same = reasons._same  # equal reason objects: same keys in order, NaN == NaN, same types


def _v5_texts(rows: list[dict[str, Any]]) -> list[str]:
    """What version 5 stored: DuckDB's TO_JSON of the staged struct."""
    staged = pa.table({"reason": pa.array(rows, REASON_TYPE)})
    with duckdb.connect() as conn:
        conn.register("staged", staged)
        return [r[0] for r in conn.sql("SELECT TO_JSON(reason) FROM staged").fetchall()]


def _v5_resourced(stored: str, vendor: Any, latency: Any, rejected: Any, to: str, cycle: str,
                  now: datetime, created: datetime | None) -> str:  # fmt: skip
    """What version 5's re-sourcing wrote (resq.engine._resourced_stage of version 5)."""
    try:
        reason = json.loads(stored or "{}")
    except ValueError:
        reason = {}
    if not isinstance(reason, dict):
        reason = {}
    waited = (now - created).total_seconds() if created else None
    reason.update(
        vendor=vendor,
        vendor_latency_ms=latency,
        vendors_rejected=rejected or [],
        resourced={
            "from": "PENDING_VENDOR",
            "to": to,
            "cycle_id": cycle,
            "at": now.isoformat(),
            "waited_s": waited,
        },
    )
    return json.dumps(reason, sort_keys=True, default=str)


NOW = datetime(2026, 1, 2, 3, 4, 5, 678901)


def _write_orders(backend: WarehouseBackend, rows: list[dict[str, Any]], status: str) -> list[str]:
    """Write orders with these reasons the way the heal cycle's MERGE does (the staged
    typed columns, cast as sql/merge_orders.sql casts them); their po_ids."""
    n = len(rows)
    ids = [f"PO-{i:04d}" for i in range(n)]
    typed = reasons.to_columns(pa.array(rows, REASON_TYPE))
    staged = pa.table(
        {
            "po_id": pa.array(ids, pa.string()),
            **typed,
            "created_at": pa.array([NOW - timedelta(seconds=90)] * n, pa.timestamp("us")),
        }
    )
    backend.sql("DELETE FROM purchase_orders")
    backend.stage("resq_test_reasons", staged)
    columns = list(reasons.STAGE_COLUMNS)
    values = [
        f"CAST(s.{c} AS ARRAY(VARCHAR))"
        if pa.types.is_list(reasons.SCHEMA.field(c).type)
        else f"s.{c}"
        for c in columns
    ]
    backend.sql(
        "INSERT INTO purchase_orders (po_id, idempotency_key, org_id, sku, quantity, status, "
        f"priority, data_source, created_at, updated_at, {', '.join(columns)}) "
        f"SELECT s.po_id, s.po_id, 'ORG', 'SKU', 1, '{status}', 1, 'SIMULATED', s.created_at, "
        f"s.created_at, {', '.join(values)} FROM resq_test_reasons AS s"
    )
    return ids


def _as_staged(backend: WarehouseBackend, value: Any) -> Any:
    """``value`` as ``backend`` stages it: Snowflake's staging (one bound JSON document,
    resq.backends.snowflake._arrow) turns a non-finite number into NULL, as it did for the
    JSON reason of version 5."""
    if backend.name != "snowflake":
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _as_staged(backend, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_staged(backend, v) for v in value]
    return value


def _read(backend: WarehouseBackend) -> list[str]:
    rows = backend.read("purchase_orders", order_by=("po_id",)).to_pylist()
    return [r["reason"] for r in rows]


_BACKEND_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.slow
@_BACKEND_SETTINGS
@given(rows=st.lists(reason_rows(), min_size=1, max_size=5))
def test_a_written_reason_reads_back_as_the_object_version_5_stored(
    backend: WarehouseBackend, rows: list[dict[str, Any]]
) -> None:
    """Write -> read of any reason gives the object version 5's JSON text parsed to, keys
    in the same order, and explain_reason says the same of it."""
    expected = [_as_staged(backend, json.loads(t)) for t in _v5_texts(rows)]
    _write_orders(backend, rows, "PLACED")

    got = [json.loads(t) for t in _read(backend)]

    assert all(_same(g, e) for g, e in zip(got, expected, strict=True)), (got, expected)
    assert [explain_reason(g) for g in got] == [explain_reason(e) for e in expected]


@pytest.mark.slow
@_BACKEND_SETTINGS
@given(
    row=reason_rows(),
    vendor=texts,
    latency=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    rejected=rejected,
    to=st.sampled_from(["PLACED", "PENDING_APPROVAL"]),
)
def test_a_resourced_reason_reads_back_as_version_5_wrote_it(
    backend: WarehouseBackend,
    row: dict[str, Any],
    vendor: Any,
    latency: Any,
    rejected: Any,
    to: str,
) -> None:
    """Re-sourcing (the staged typed columns and sql/pending_vendor.sql's UPDATE) gives
    the reason version 5's re-sourcing wrote: the stored object with the new vendor choice
    and its ``resourced`` record, keys sorted."""
    (stored,) = _v5_texts([row])
    (po,) = _write_orders(backend, [row], "PENDING_VENDOR")
    waiting = pa.table(
        {
            "po_id": [po],
            "vendor": pa.array([vendor], pa.string()),
            "unit_price": pa.array([1.5], pa.float64()),
            "order_status": [to],
            "resourced": [True],
            "vendor_latency_ms": pa.array([latency], pa.float64()),
            "vendors_rejected": pa.array([rejected], REASON_TYPE.field("vendors_rejected").type),
            "created_at": pa.array([NOW - timedelta(seconds=90)], pa.timestamp("us")),
        }
    )
    backend.stage("resq_stage_resourced", _resourced_stage(waiting, "CY-1", NOW))
    backend.execute(backend._file("pending_vendor", 1), [NOW])
    expected = _v5_resourced(
        json.dumps(_as_staged(backend, json.loads(stored))), vendor, latency, rejected, to,
        "CY-1", NOW, NOW - timedelta(seconds=90),
    )  # fmt: skip

    (got,) = _read(backend)

    assert _same(json.loads(got), _as_staged(backend, json.loads(expected))), (got, expected)


# ---------------------------------------------------------------- converting version 5

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def v5_texts(draw: st.DrawFn) -> str:
    """Any text a version-5 reason column may hold: a heal cycle's, a re-sourced one, one
    from an older version (some keys only, or other keys), any JSON, not JSON at all."""
    row = draw(reason_rows())
    (heal,) = _v5_texts([row])
    kind = draw(st.sampled_from(["heal", "resourced", "subset", "other", "any", "broken"]))
    if kind == "heal":
        return heal
    if kind == "resourced":
        return _v5_resourced(
            heal, draw(texts), draw(floats), draw(rejected), "PLACED", draw(st.text()),
            NOW, draw(st.sampled_from([None, NOW - timedelta(days=2)])),
        )  # fmt: skip
    if kind == "subset":
        keep = draw(st.sets(st.sampled_from(reasons.KEY_NAMES)))
        return json.dumps({k: v for k, v in json.loads(heal).items() if k in keep})
    if kind == "other":
        return json.dumps({**json.loads(heal), **draw(st.dictionaries(st.text(), json_values))})
    if kind == "any":
        return json.dumps(draw(json_values))
    return draw(st.text())


@settings(max_examples=100, deadline=None)
@given(text=v5_texts())
def test_converting_a_version_5_reason_loses_nothing(text: str) -> None:
    """Every stored text converts to typed columns that read back as the object it held (and
    the very text, where it is kept as legacy); heal-cycle and re-sourced texts convert
    to typed columns alone."""
    converted = reasons.from_text(text)

    back = reasons.reason_text(converted)

    if converted[reasons.LEGACY] is None:
        assert _same(json.loads(back), json.loads(text))
    else:
        assert back == text
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    written_by_resq = isinstance(parsed, dict) and list(parsed) in (
        list(reasons.KEY_NAMES),
        sorted([*reasons.KEY_NAMES, "resourced"]),
    )
    if written_by_resq and _v5_texts_fit(parsed):
        assert converted[reasons.LEGACY] is None, text


def _v5_texts_fit(parsed: dict[str, Any]) -> bool:
    """Whether every value has its key's JSON type (floats as floats: an integer, which
    only an edit can leave, is kept as legacy text)."""
    return all(reasons._fits(kind, parsed.get(key)) for key, kind in reasons.KEYS)


def test_fold_puts_the_reason_after_rank_and_keeps_other_columns() -> None:
    row = {c: None for c in reasons.COLUMNS}
    table = pa.table(
        {"po_id": ["P"], "rank": [1], "updated_at": [NOW], **{c: [row[c]] for c in row}},
        schema=pa.schema(
            [("po_id", pa.string()), ("rank", pa.int64()), ("updated_at", pa.timestamp("us")),
             *reasons.SCHEMA]
        ),
    )  # fmt: skip
    folded = reasons.fold(table)
    assert folded.column_names == ["po_id", "rank", "reason", "updated_at"]
    assert list(json.loads(folded["reason"][0].as_py())) == list(reasons.KEY_NAMES)
