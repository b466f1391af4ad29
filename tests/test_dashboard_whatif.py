"""The What-if page with Streamlit's AppTest against a seeded DuckDB file: the controls
reach resq.replay, the charts and tables show its summary, and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import resq
from resq import replay as rp
from resq.dashboard import APP, DB_ENV, ORG_ENV


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"duckdb:///{tmp_path}/whatif.duckdb"
    backend = resq.connect(url)
    backend.init()
    resq.SelfHealingEngine(backend).seed(actor="test-setup", days=0)
    backend.close()
    monkeypatch.setenv(DB_ENV, url)
    monkeypatch.delenv(ORG_ENV, raising=False)
    return url


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _whatif(**state: object) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    _ok(at)
    at.switch_page("views/whatif.py").run()
    _ok(at)
    return at


def _counts(url: str) -> dict[str, int]:
    backend = resq.connect(url)
    try:
        return {
            t: int(backend.sql(f"SELECT COUNT(*) FROM {t}").scalar())
            for t in ("purchase_orders", "audit_log", "alerts")
        }
    finally:
        backend.close()


def test_whatif_runs_the_scenario_and_shows_the_library_summary(db: str) -> None:
    before = _counts(db)
    at = _whatif()
    assert at.title[0].value == "What-if"
    assert at.selectbox(key="whatif_vendor").value == "Dunzo"
    assert at.selectbox(key="whatif_city").value == "Bangalore"
    at.multiselect(key="whatif_policies").set_value(["resq", "s-S"])
    at.slider(key="whatif_days").set_value(30)
    at.selectbox(key="whatif_vendor").set_value("Blinkit")
    at.button(key="whatif_run").click().run()
    _ok(at)
    # three charts (fill rate, stockout days, cover per sector)
    assert len(at.get("vega_lite_chart")) == 3
    frames = [d.value for d in at.dataframe]
    comparison = next(df for df in frames if "Cycle service level" in df.columns)
    assert set(comparison["Policy"]) == {"resq", "s-S"}
    assert set(comparison["Sector"]) == {"HOSPITAL", "PDS", "NGO"}
    # the same numbers as the library on the same network and scenario
    backend = resq.connect(db)
    try:
        network = rp.from_backend(backend)
    finally:
        backend.close()
    chaos = rp.ChaosSchedule(
        vendor_offline=(("Blinkit", 1, 10),), weather=(("Bangalore", "Rain", 20, 26),)
    )
    expected = rp.replay(network, ["resq", "s-S"], 30, chaos=chaos).summary("sector")
    got = {(r["Sector"], r["Policy"]): r["Orders"] for r in comparison.to_dict("records")}
    want = {(r["sector"], r["policy"]): r["orders"] for r in expected.to_pylist()}
    assert got == want
    captions = " ".join(str(c.value) for c in at.caption)
    assert "Blinkit offline days 1-10" in captions.replace("\\", "")
    stocked = next(df for df in frames if "First stockout day" in df.columns)
    assert (
        len(stocked) == rp.replay(network, ["resq", "s-S"], 30, chaos=chaos).stocked_out().num_rows
    )
    assert _counts(db) == before  # nothing written


def test_whatif_for_one_organization_replays_only_its_items(db: str) -> None:
    at = _whatif(org="HOSP-BLR-001")
    at.multiselect(key="whatif_policies").set_value(["seed-rule"])
    at.slider(key="whatif_days").set_value(10)
    at.button(key="whatif_run").click().run()
    _ok(at)
    comparison = next(d.value for d in at.dataframe if "Cycle service level" in d.value.columns)
    assert list(comparison["Sector"]) == ["HOSPITAL"]
