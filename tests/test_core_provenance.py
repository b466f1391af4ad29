"""Provenance by part (issue 14, item 3): each part is SIMULATED exactly when its input is,
the label names every simulated signal of a REAL stock row, and the overall flag is
SIMULATED when any part is."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from resq.core import provenance

SOURCES = st.sampled_from(["REAL", "SIMULATED"])
PART = st.one_of(st.none(), SOURCES)


@settings(max_examples=100)
@given(
    rows=st.lists(
        st.tuples(SOURCES, SOURCES, st.one_of(st.none(), SOURCES), st.booleans(), SOURCES),
        min_size=1,
        max_size=20,
    )
)
def test_a_part_is_simulated_iff_its_input_is(rows: list[tuple]) -> None:
    inv, org, wx, applied, demand = (list(c) for c in zip(*rows, strict=True))
    parts = provenance.analysis_parts(inv, org, wx, applied, demand)
    for j in range(len(rows)):
        assert (parts["stock"][j] == "SIMULATED") == ("SIMULATED" in (inv[j], org[j]))
        assert (parts["weather"][j] == "SIMULATED") == (wx[j] == "SIMULATED" and applied[j])
        assert (parts["demand"][j] == "SIMULATED") == (demand[j] == "SIMULATED")
    overall = provenance.overall(parts)
    assert list(overall) == [
        "SIMULATED" if any(parts[p][j] == "SIMULATED" for p in parts) else "REAL"
        for j in range(len(rows))
    ]


def test_demand_defaults_to_the_inventory_source() -> None:
    parts = provenance.analysis_parts(["REAL", "SIMULATED"], "REAL", None, False)
    assert list(parts["demand"]) == ["REAL", "SIMULATED"]
    assert list(parts["weather"]) == ["REAL", "REAL"]  # no weather row: nothing simulated


@settings(max_examples=100)
@given(rows=st.lists(st.tuples(SOURCES, PART, PART, PART), min_size=1, max_size=20))
def test_the_label_names_exactly_the_simulated_parts(rows: list[tuple]) -> None:
    stock, weather, vendor, demand = (list(c) for c in zip(*rows, strict=True))
    got = provenance.labels(stock, weather, vendor, demand)
    for j, (s, w, v, d) in enumerate(rows):
        text = str(got[j])
        if s == "SIMULATED":
            assert text == "SIMULATED"  # the stock basis itself is demo data
            continue
        named = [
            n for n, p in (("weather", w), ("vendor status", v), ("demand", d)) if p == "SIMULATED"
        ]
        if not named:
            assert text == "REAL"
        else:
            assert text == "REAL stock · SIMULATED " + ", ".join(named)
            assert text.startswith("REAL stock")
        for name, part in (("weather", w), ("vendor status", v), ("demand", d)):
            assert (name in text) == (part == "SIMULATED")


def test_rows_without_parts_are_labelled_by_their_data_source() -> None:
    got = provenance.labels([None, "REAL"], None, None, None, data_source=["SIMULATED", "REAL"])
    assert list(got) == ["SIMULATED", "REAL"]
    assert provenance.row_label({"data_source": "REAL"}) == "REAL"


def test_annotate_folds_the_parts_into_json_and_a_label() -> None:
    row = {
        "po_id": "PO-1",
        "data_source": "SIMULATED",
        "stock_source": "REAL",
        "weather_source": "SIMULATED",
        "vendor_status_source": "SIMULATED",
        "demand_source": "REAL",
    }
    (shown,) = provenance.annotate([row])
    assert shown == {
        "po_id": "PO-1",
        "data_source": "SIMULATED",
        "provenance": {
            "stock": "REAL",
            "weather": "SIMULATED",
            "vendor_status": "SIMULATED",
            "demand": "REAL",
        },
        "source_label": "REAL stock · SIMULATED weather, vendor status",
    }
    plain = {"table": "x", "data_source": "REAL"}
    assert provenance.annotate([plain]) == [plain]


def test_labels_are_vectorized_over_arrow_columns() -> None:
    import pyarrow as pa

    n = 1000
    stock = pa.array(["REAL"] * n)
    weather = pa.array(np.where(np.arange(n) % 2 == 0, "SIMULATED", "REAL").tolist())
    got = provenance.labels(stock, weather, "SIMULATED", "REAL")
    assert got[0] == "REAL stock · SIMULATED weather, vendor status"
    assert got[1] == "REAL stock · SIMULATED vendor status"
