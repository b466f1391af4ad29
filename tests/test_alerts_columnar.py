"""alerts_for computes severities as codes in Arrow; the alerts it raises equal those of
the implementation it replaced (numpy object columns, a Python list per kind), kept here
as the oracle, over random proposals: every status, sector, category, disaster flag,
order status and action, with NULLs, and with the provenance columns present or not."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from resq.core import alerts as core_alerts
from resq.core._columns import eq_mask
from resq.core.alerts import AlertKind, Severity, alerts_for, raise_severity, severity


def old_alerts_for(proposals: Any) -> Any:
    col = proposals.column
    base = severity(col("status"), col("sector"), col("category"), col("disaster_zone"))
    base = np.where(base == None, Severity.SEV4.value, base).astype(object)  # noqa: E711
    order_status = col("order_status")
    masks = {
        AlertKind.CRITICAL_STOCK: eq_mask(col("status"), "CRITICAL"),
        AlertKind.NO_VENDOR: eq_mask(order_status, "PENDING_VENDOR"),
        AlertKind.BUDGET_HOLD: eq_mask(order_status, "PENDING_APPROVAL"),
        AlertKind.ALLOTMENT_EXHAUSTED: eq_mask(col("action"), "CAPPED"),
        AlertKind.DATA_ERROR: eq_mask(col("action"), "HELD"),
    }
    used = [c for c in core_alerts._ALERT_INPUTS if c in proposals.column_names]
    source = proposals.select(used)
    parts = []
    for kind, mask in masks.items():
        idx = np.flatnonzero(mask)
        if not len(idx):
            continue
        rows = source.take(pa.array(idx))
        sev = base[idx] if kind != AlertKind.NO_VENDOR else raise_severity(base[idx])
        kind_col = pa.array([kind.value] * len(idx), pa.string())
        parts.append(
            pa.table(
                {
                    "dedup_key": pc.binary_join_element_wise(
                        kind_col, rows["idempotency_key"], ":"
                    ),
                    "idempotency_key": rows["idempotency_key"],
                    "has_order": pc.equal(rows["action"], "ORDER"),
                    "org_id": rows["org_id"],
                    "sku": rows["sku"],
                    "kind": kind_col,
                    "severity": pa.array(np.asarray(sev, dtype=object), pa.string()),
                    "message": core_alerts._messages(kind, rows),
                    "data_source": rows["data_source"],
                    **{
                        c: rows[c] if c in rows.column_names else pa.nulls(len(idx), pa.string())
                        for c in core_alerts._PART_COLUMNS
                    },
                }
            )
        )
    if not parts:
        return pa.table(
            {
                name: pa.array([], pa.bool_() if name == "has_order" else pa.string())
                for name in core_alerts.ALERT_SCHEMA_FIELDS
            }
        )
    return pa.concat_tables(parts)


def maybe(*values: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from([None, *values])


proposal = st.fixed_dictionaries(
    {
        "status": maybe("CRITICAL", "WARNING", "OK"),
        "sector": maybe("HOSPITAL", "PDS", "NGO"),
        "category": maybe("OXYGEN", "RICE", "KIT"),
        "disaster_zone": maybe(True, False),
        "order_status": maybe("PLACED", "PENDING_VENDOR", "PENDING_APPROVAL"),
        "action": maybe("ORDER", "CAPPED", "HELD", "COVERED"),
        "idempotency_key": st.text(max_size=6),
        "org_id": st.sampled_from(["H1", "P|2", "日本"]),
        "sku": st.sampled_from(["OXY", "RICE"]),
        "data_source": maybe("REAL", "SIMULATED"),
        "days_remaining": st.one_of(st.none(), st.floats(-10, 1e6, allow_nan=False)),
        "item_name": maybe("Oxygen · cylinder"),
        "quantity": st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False)),
        "vendor": maybe("Zepto"),
        **{c: maybe("REAL", "SIMULATED") for c in core_alerts._PART_COLUMNS},
    }
)
TYPES = {
    "disaster_zone": pa.bool_(),
    "days_remaining": pa.float64(),
    "quantity": pa.float64(),
}


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(proposal, max_size=25), drop=st.sets(st.sampled_from(core_alerts._PART_COLUMNS))
)
def test_alerts_for_equals_the_object_column_implementation(
    rows: list[dict[str, Any]], drop: set[str]
) -> None:
    schema = pa.schema(
        [(name, TYPES.get(name, pa.string())) for name in _NAMES if name not in drop]
    )
    table = pa.Table.from_pylist(
        [{k: v for k, v in r.items() if k not in drop} for r in rows], schema=schema
    )
    got, expected = alerts_for(table), old_alerts_for(table)
    assert got.schema == expected.schema
    assert got.to_pylist() == expected.to_pylist()


_NAMES = (
    "status", "sector", "category", "disaster_zone", "order_status", "action",
    "idempotency_key", "org_id", "sku", "data_source", "days_remaining", "item_name",
    "quantity", "vendor", *core_alerts._PART_COLUMNS,
)  # fmt: skip
