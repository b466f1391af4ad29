"""The columnar audit digests and label counts equal the row-by-row implementation they
replaced, kept here as the oracle: events written before still verify, and ``verify``
recomputes the same values. Random orders and alerts tables with NULLs, unicode and the
separators in the text, NULL and "None" organizations, floats such as -0.0 and 1e-7,
every combination of provenance columns present or absent, rows read back sorted or not,
in one chunk or several, and groups split across batches."""

from __future__ import annotations

import hashlib
import itertools
import json
import string
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from resq.core import audit, provenance

# ---------------------------------------------------------------- the oracle (as it was)


def old_canonical_column(column: Any, name: str) -> Any:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    t = column.type
    numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        text = pc.cast(pc.cast(column, pa.timestamp("us")), pa.int64())
    elif name in audit.SCALED and numeric:
        scaled = pc.multiply(pc.cast(column, pa.float64()), float(audit.QUANTITY_SCALE))
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


def old_canonical_rows(table: Any, columns: tuple[str, ...]) -> Any:
    if not table.num_rows:
        return pa.array([], pa.string())
    parts = [old_canonical_column(table.column(name), name) for name in columns]
    return pc.binary_join_element_wise(*parts, "|")


def old_grouped(
    table: Any, columns: tuple[str, ...], keys: tuple[str, ...]
) -> dict[tuple[str, ...], tuple[int, str]]:
    if table is None or not table.num_rows:
        return {}
    order = pc.sort_indices(table, [*((k, "ascending") for k in keys), (columns[0], "ascending")])
    table = table.take(order)
    lines = old_canonical_rows(table, columns).to_pylist()
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


def old_labels_grouped(table: Any, keys: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, int]]:
    if table is None or not table.num_rows:
        return {}
    names = set(table.column_names)
    parts = [
        table.column(c).to_pylist() if c in names else None for c in provenance.COLUMNS.values()
    ]
    if parts[0] is None:
        parts[0] = [None] * table.num_rows
    sources = table.column("data_source").to_pylist() if "data_source" in names else None
    text = provenance.labels(*parts, data_source=sources)
    groups = zip(*(table.column(k).to_pylist() for k in keys), strict=True)
    counts: dict[tuple[str, ...], dict[str, int]] = {}
    for group, label in zip(groups, text, strict=True):
        per = counts.setdefault(tuple(str(k) for k in group), {})
        name = audit.UNLABELLED if label is None else str(label)
        per[name] = per.get(name, 0) + 1
    return {k: dict(sorted(v.items())) for k, v in counts.items()}


# ---------------------------------------------------------------- random tables

ALPHABET = string.ascii_letters + string.digits + "|:-\n ·é日\u2028"
texts = st.text(alphabet=ALPHABET, max_size=8)
maybe_texts = st.one_of(st.none(), texts)
orgs = st.sampled_from([None, "None", "", "H", "HOSP-BLR-001", "P|2", "N\n3", "日本", "-"])
cycles = st.sampled_from(["CY-1", "CY-2", "CY|3"])
quantities = st.one_of(
    st.none(),
    st.sampled_from([0.0, -0.0, 1e-7, 4.9999995e-7, 5e-7, 2.5e-6, 1e9, -3.25, 123456.789]),
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
)
ints = st.one_of(st.none(), st.integers(min_value=-(2**40), max_value=2**40))
times = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda t: t.replace(microsecond=t.microsecond)
    ),
)
part_values = st.sampled_from([None, "REAL", "SIMULATED", "", "real", "OTHER"])

ORDER_TYPES = {
    "po_id": pa.string(),
    "idempotency_key": pa.string(),
    "org_id": pa.string(),
    "sku": pa.string(),
    "vendor": pa.string(),
    "quantity": pa.float64(),
    "priority": pa.int32(),
    "rank": pa.int64(),
    "data_source": pa.string(),
    "cycle_id": pa.string(),
    "created_at": pa.timestamp("us"),
}
ALERT_TYPES = {
    **{c: pa.string() for c in audit.ALERT_CONTENT},
    "created_at": pa.timestamp("us"),
}
PART_COLUMNS = tuple(provenance.COLUMNS.values())


def row_values(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    types = ORDER_TYPES if kind == "orders" else ALERT_TYPES
    values: dict[str, Any] = {}
    for name, t in types.items():
        if name == "org_id":
            values[name] = orgs
        elif name == "cycle_id":
            values[name] = cycles
        elif name == "quantity":
            values[name] = quantities
        elif name == "created_at":
            values[name] = times
        elif name == "data_source":
            values[name] = part_values
        elif t == pa.int32():
            values[name] = st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1))
        elif pa.types.is_integer(t):
            values[name] = ints
        else:
            values[name] = maybe_texts
    values.update({c: part_values for c in PART_COLUMNS})
    return st.fixed_dictionaries(values)


@st.composite
def tables(draw: st.DrawFn, kind: str) -> pa.Table:
    """A table as a cycle's query reads it back: maybe sorted the way the queries sort it,
    maybe in several chunks, with any subset of the provenance columns (and data_source)."""
    types = ORDER_TYPES if kind == "orders" else ALERT_TYPES
    rows = draw(st.lists(row_values(kind), max_size=30))
    present = draw(st.sets(st.sampled_from([*PART_COLUMNS, "data_source"])))
    schema = pa.schema(
        [
            *types.items(),
            *((c, pa.string()) for c in PART_COLUMNS if c in present),
        ]
    )
    if "data_source" not in present:
        schema = schema.remove(schema.get_field_index("data_source"))
    table = pa.Table.from_pylist(rows, schema=schema)
    if draw(st.booleans()) and table.num_rows:
        first = "po_id" if kind == "orders" else "alert_id"
        keys = ["cycle_id", "org_id", first] if draw(st.booleans()) else ["org_id", first]
        table = table.sort_by([(k, "ascending") for k in keys])
    cuts = sorted(draw(st.lists(st.integers(0, table.num_rows), max_size=3)))
    if cuts:
        bounds = [0, *cuts, table.num_rows]
        table = pa.concat_tables([table.slice(a, b - a) for a, b in itertools.pairwise(bounds)])
    return table


def with_batch(rows: int, fn: Any) -> Any:
    saved = audit._BATCH_ROWS
    audit._BATCH_ROWS = rows
    try:
        return fn()
    finally:
        audit._BATCH_ROWS = saved


batches = st.sampled_from([1, 2, 3, 7, 1 << 16])


# ---------------------------------------------------------------- new == old


@settings(max_examples=100, deadline=None)
@given(kind=st.sampled_from(["orders", "alerts"]), data=st.data(), batch=batches)
def test_the_digests_equal_the_row_by_row_digests(kind: str, data: Any, batch: int) -> None:
    table = data.draw(tables(kind))
    columns = audit.ORDER_CONTENT if kind == "orders" else audit.ALERT_CONTENT
    if "data_source" not in table.column_names:
        columns = tuple(c for c in columns if c != "data_source")
    expected = {k[0]: v for k, v in old_grouped(table, columns, ("org_id",)).items()}
    assert with_batch(batch, lambda: audit.content_digests(table, columns)) == expected
    for keys in (("cycle_id", "org_id"), ("org_id",)):
        assert with_batch(batch, lambda k=keys: audit._grouped(table, columns, k)) == old_grouped(
            table, columns, keys
        )
    assert audit.canonical_rows(table, columns).to_pylist() == (
        old_canonical_rows(table, columns).to_pylist()
    )


@settings(max_examples=100, deadline=None)
@given(kind=st.sampled_from(["orders", "alerts"]), data=st.data())
def test_the_label_counts_equal_the_row_by_row_counts(kind: str, data: Any) -> None:
    table = data.draw(tables(kind))
    expected = {k[0]: v for k, v in old_labels_grouped(table, ("org_id",)).items()}
    assert audit.label_counts(table) == expected
    keys = ("cycle_id", "org_id")
    assert audit._labels_grouped(table, keys) == old_labels_grouped(table, keys)


@settings(max_examples=40, deadline=None)
@given(
    parts=st.fixed_dictionaries(
        {},
        optional={p: st.lists(part_values, min_size=5, max_size=5) for p in provenance.PARTS},
    ),
    sources=st.one_of(st.none(), st.lists(part_values, min_size=5, max_size=5)),
)
def test_label_array_equals_labels(
    parts: dict[str, list[str | None]], sources: list[str | None] | None
) -> None:
    """provenance.label_array is provenance.labels in Arrow: the same text for every
    combination of parts present, absent and NULL."""
    columns = [parts.get(p) for p in provenance.PARTS]
    if columns[0] is None:
        columns[0] = [None] * 5
    expected = provenance.labels(*columns, data_source=sources).tolist()
    got = provenance.label_array(
        {p: pa.array(v, pa.string()) for p, v in parts.items()},
        None if sources is None else pa.array(sources, pa.string()),
        5,
    )
    assert got.to_pylist() == expected


def test_many_organizations_and_types_from_other_drivers() -> None:
    """Thousands of rows over hundreds of organizations, with the types another engine's
    driver returns (decimal integers, nanosecond timestamps), read back sorted and not."""
    rng = np.random.default_rng(13)
    n = 5000
    table = pa.table(
        {
            "po_id": pa.array([f"PO-{i:06x}é" for i in rng.permutation(n)]),
            "idempotency_key": pa.array([f"k{i}" for i in rng.integers(0, 10**9, n)]),
            "org_id": pa.array([f"ORG-{i}" for i in rng.integers(0, 700, n)]),
            "sku": pa.array(["OXY-CYL", None, "RICE·KG"]).take(pa.array(rng.integers(0, 3, n))),
            "vendor": pa.array(["Zepto", None]).take(pa.array(rng.integers(0, 2, n))),
            "quantity": pa.array(rng.normal(0, 1e5, n)),
            "priority": pa.array(rng.integers(0, 5, n)).cast(pa.decimal128(38, 0)),
            "rank": pa.array(rng.integers(0, 10**6, n)),
            "data_source": pa.array(["REAL", "SIMULATED"]).take(pa.array(rng.integers(0, 2, n))),
            "cycle_id": pa.array(["CY-1", "CY-2"]).take(pa.array(rng.integers(0, 2, n))),
            "created_at": pa.array(
                [datetime(2026, 1, 1) + timedelta(microseconds=int(i)) for i in range(n)],
                pa.timestamp("us"),
            ).cast(pa.timestamp("ns")),
            **{
                c: pa.array(["REAL", "SIMULATED", None]).take(pa.array(rng.integers(0, 3, n)))
                for c in PART_COLUMNS
            },
        }
    )
    for t in (table, table.sort_by([("org_id", "ascending"), ("po_id", "ascending")])):
        for batch in (64, 1 << 16):
            got = with_batch(batch, lambda t=t: audit.content_digests(t, audit.ORDER_CONTENT))
            assert got == {
                k[0]: v for k, v in old_grouped(t, audit.ORDER_CONTENT, ("org_id",)).items()
            }
            assert len(got) > 500
        assert audit.label_counts(t) == {
            k[0]: v for k, v in old_labels_grouped(t, ("org_id",)).items()
        }


def old_as_created(orders: Any, changes: list[dict[str, Any]]) -> tuple[Any, list[str]]:
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
        if not isinstance(details, dict):
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
            if row["quantity"] is None or round(float(row["quantity"]) * 1e6) != round(
                float(last_qty[po]) * 1e6
            ):
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


@st.composite
def order_changes(draw: st.DrawFn, ids: list[Any]) -> list[dict[str, Any]]:
    targets = st.sampled_from([*ids, "PO-missing"]) if ids else st.just("PO-missing")
    change = st.one_of(
        st.fixed_dictionaries(
            {
                "action": st.just("order.set_quantity"),
                "entity_id": targets,
                "details": st.fixed_dictionaries(
                    {
                        "quantity_from": quantities.filter(bool),
                        "quantity_to": quantities.filter(bool),
                    }
                ).map(json.dumps),
            }
        ),
        st.fixed_dictionaries(
            {
                "action": st.just("order.resourced"),
                "entity_id": targets,
                "details": st.fixed_dictionaries({"vendor": maybe_texts}).map(json.dumps),
            }
        ),
        st.just({"action": "order.resourced", "entity_id": "x", "details": "not json"}),
    )
    return draw(st.lists(change, max_size=6))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_undoing_audited_changes_equals_the_row_by_row_undo(data: Any) -> None:
    """verify's as-created orders: the audited quantity and vendor changes undone in place,
    the same table and the same problems as undoing them row by row."""
    table = data.draw(tables("orders"))
    ids = [i for i in table.column("po_id").to_pylist() if i is not None]
    changes = data.draw(order_changes(ids))
    got, problems = audit.as_created(table, changes)
    expected, expected_problems = old_as_created(table, changes)
    assert problems == expected_problems
    assert got.to_pylist() == expected.to_pylist()
    columns = tuple(c for c in audit.ORDER_CONTENT if c in table.column_names)
    assert audit.content_digests(got, columns) == {
        k[0]: v for k, v in old_grouped(expected, columns, ("org_id",)).items()
    }
