"""The dashboard, page by page and control by control, with Streamlit's AppTest against a
temporary seeded DuckDB file (its URL passed in RESQ_DB, as `resq dashboard` does).

The app has no rules of its own, so these tests check what a person sees and that every
control reaches the library: the chaos button then heal raises the order (with the
fallback from Dunzo to Blinkit on a relief kit), overrides and acknowledgements land in the
audit log with the person's name, and a tenant scope shows nothing of another organization.
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import resq
from resq.backends.warehouse import WarehouseBackend
from resq.dashboard import APP, DB_ENV, ORG_ENV

ORG = "HOSP-BLR-001"
OTHER_ORGS = ("PDS-BLR-001", "NGO-BLR-001", "HOSP-DEL-001", "PDS-DEL-001", "NGO-DEL-001")
BADGES = (":violet-badge[", ":green-badge[", ":gray-badge[")


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Each test connects anew (the app caches its connection per URL)."""
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def _open(url: str) -> WarehouseBackend:
    return resq.connect(url)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A seeded network (6 organizations, Dunzo OFFLINE, Blinkit ONLINE at 12 ms) in a
    DuckDB file, handed to the app through RESQ_DB; not locked to an organization."""
    url = f"duckdb:///{tmp_path}/dashboard.duckdb"
    backend = _open(url)
    backend.init()
    resq.SelfHealingEngine(backend).seed(actor="test-setup")
    backend.close()
    monkeypatch.setenv(DB_ENV, url)
    monkeypatch.delenv(ORG_ENV, raising=False)
    return url


@pytest.fixture
def healed(db: str) -> str:
    """``db`` after the chaos button on HOSP-BLR-001 / OXY-CYL and one heal cycle: open
    orders and open alerts in several organizations."""
    backend = _open(db)
    engine = resq.SelfHealingEngine(backend)
    engine.drop_stock(ORG, "OXY-CYL", 0, actor="test-setup")
    engine.heal()
    backend.close()
    return db


def _app(page: str | None = None, **state: Any) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    _ok(at)
    if page:
        at.switch_page(f"views/{page}.py").run()
        _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _text(markdown: Any) -> str:
    """The text a person reads in a markdown element whose values the app escaped (every
    interpolated value has its punctuation backslash-escaped: resq.dashboard._ui.md)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(markdown))


def _frame(at: AppTest, column: str, value: str) -> Any:
    """The first data table with ``value`` in ``column``."""
    for df in (d.value for d in at.dataframe):
        if column in df.columns and (df[column].astype(str) == value).any():
            return df
    raise AssertionError(f"no table has {value!r} in column {column!r}")


def _everything_shown(at: AppTest, *, selector: bool = True) -> str:
    """All text the app shows: markdown, messages, metrics, tables, widget options and
    the data behind the charts (without the organization selector's own options when
    ``selector`` is False)."""
    parts: list[str] = []
    for kind in ("title", "markdown", "caption", "success", "info", "warning", "error"):
        parts += [_text(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [d.value.to_csv() for d in at.dataframe]
    for box in at.selectbox:
        if selector or box.key != "org":
            parts += [str(o) for o in box.options]
    parts += [str(b.label) for b in at.button]
    parts += [str(chart.proto) for chart in at.get("vega_lite_chart")]
    return "\n".join(parts)


# ---------------------------------------------------------------------- Operations


def test_operations_page_shows_sectors_critical_items_charts_and_health(healed: str) -> None:
    at = _app()
    assert at.title[0].value == "Operations"
    shown = _everything_shown(at)
    for section in ("System health", "By sector", "Critical items", "Days remaining by sector"):
        assert section in shown
    for section in ("Orders over time", "Purchase orders", "Alerts", "Stock trajectory"):
        assert section in shown
    # Per-sector figures, hospitals first.
    labels = [m.label for m in at.metric]
    assert labels.count(":red[**Critical**]") == 3 and labels.count("Open orders") == 3
    sectors = [m.value for m in at.markdown if m.value.startswith("**:material/")]
    assert [s.split()[1].strip("*") for s in sectors] == ["HOSPITAL", "PDS", "NGO"]
    # Critical items, most urgent first: the oxygen the chaos button emptied comes first.
    critical = _frame(at, "SKU", "OXY-CYL")
    assert critical["Organization"].iloc[0] == ORG
    assert set(critical["Status"]) == {"CRITICAL"}
    assert critical["Days left"].iloc[0] == 0
    # System health, with its reasons.
    health = [m.value for m in (*at.success, *at.warning, *at.error)]
    assert any(h.startswith(("**GREEN**", "**AMBER**", "**RED**")) for h in health), health
    # Three charts: days remaining by sector, orders over time, the stock trajectory.
    assert len(at.get("vega_lite_chart")) == 3


def test_every_data_display_has_a_real_or_simulated_badge(healed: str) -> None:
    for page in (None, "validation"):
        at = _app(page)
        headings = [m.value for m in at.markdown if m.value.startswith("#### ")]
        data_headings = [h for h in headings if "Self-healing" not in h]  # a button row
        assert data_headings, "no section headings"
        for heading in data_headings:
            assert any(b in heading for b in BADGES), f"no data badge on {heading!r}"
        assert any(":violet-badge[" in h and "SIMULATED" in h for h in data_headings)
        # every table says where its rows come from, row by row
        for df in (d.value for d in at.dataframe):
            if "Source" in df.columns:
                assert set(df["Source"]) <= {"REAL", "SIMULATED"}


def test_the_stock_trajectory_follows_the_chosen_item(db: str) -> None:
    at = _app()
    box = at.selectbox(key="trajectory_item")
    box.set_value((ORG, "OXY-CYL")).run()
    _ok(at)
    heading = [_text(m.value) for m in at.markdown if m.value.startswith("#### Stock trajectory")]
    assert heading and "Medical oxygen cylinder" in heading[0] and ORG in heading[0]
    assert any(c.value.startswith("30 days;") for c in at.caption)


# ---------------------------------------------------------------------- Validation


def test_validation_checks_pass_through_the_sql_functions(db: str) -> None:
    at = _app("validation")
    assert at.title[0].value == "Validation"
    checks = _frame(at, "Check", "GET_WEATHER_DATA('Bangalore')")
    assert list(checks["Result"]) == ["PASS"] * 4
    assert dict(zip(checks["Check"], checks["Actual"], strict=True)) == {
        "GET_WEATHER_DATA('Bangalore')": "Rain",
        "GET_WEATHER_DATA('Delhi')": "Haze",
        "GET_VENDOR_STATUS('Blinkit')": "ONLINE 12 ms",
        "GET_VENDOR_STATUS('Dunzo')": "OFFLINE",
    }
    assert at.metric[0].value == "4 / 4"


def test_chaos_button_then_heal_raises_the_order_with_the_vendor_fallback(db: str) -> None:
    at = _app("validation", actor="Asha")
    at.selectbox(key="chaos_item").set_value((ORG, "OXY-CYL")).run()
    at.button(key="chaos_drop").click().run()
    _ok(at)
    assert any(
        _text(s.value).startswith(f"Chaos (simulated): stock of OXY-CYL at {ORG} dropped to 0")
        for s in at.success
    ), [s.value for s in at.success]
    at.button(key="heal").click().run()
    _ok(at)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Orders created"]) >= 1
    cards = [_text(m.value) for m in at.markdown]
    oxygen = [i for i, text in enumerate(cards) if f"{ORG} / **OXY-CYL**" in text]
    assert oxygen, cards
    card = cards[oxygen[0]]
    # oxygen only from a licensed medical-gas supplier
    assert "from **MedGas Oxygen**" in card and "PLACED" in card and "SIMULATED" in card
    why, vendor = cards[oxygen[0] + 1], cards[oxygen[0] + 2]
    assert why.startswith("Why: **CRITICAL**, 0.0 days left")
    assert vendor.startswith("Vendor **MedGas Oxygen** (104 ms); passed over OxyCare Supply")
    # a relief kit that prefers Dunzo (offline) falls back to Blinkit
    fallback = [t for t in cards if t.startswith("Fallback: preferred vendor **Dunzo** is OFFLINE")]
    assert fallback and "ordered from **Blinkit** (12 ms)" in fallback[0], cards
    # The chaos edit is audited as chaos, with the person's name.
    at.switch_page("views/operations.py").run()
    audit = _frame(at, "What", "chaos.stock")
    assert audit.loc[audit["What"] == "chaos.stock", "Who"].tolist() == ["Asha"]
    assert not _frame(at, "SKU", "OXY-CYL").empty  # the order is listed on Operations


def test_vendor_weather_and_demand_controls(db: str) -> None:
    at = _app("validation", actor="Ravi")
    at.selectbox(key="chaos_vendor").set_value("Blinkit")
    at.button(key="chaos_vendor_offline").click().run()
    _ok(at)
    vendors = _frame(at, "Vendor", "Blinkit")
    row = vendors[vendors["Vendor"] == "Blinkit"].iloc[0]
    assert (row["Status"], row["Set by"], row["Source"]) == ("OFFLINE", "CHAOS", "SIMULATED")

    at.selectbox(key="chaos_city").set_value("Delhi")
    at.selectbox(key="chaos_condition").set_value("Storm")
    at.button(key="chaos_weather").click().run()
    _ok(at)
    weather = _frame(at, "City", "Delhi")
    assert weather.loc[weather["City"] == "Delhi", "Condition"].tolist() == ["Storm"]

    at.selectbox(key="spike_item").set_value(("NGO-DEL-001", "KIT-EMR"))
    at.slider(key="spike_factor").set_value(3.0)
    at.button(key="chaos_spike").click().run()
    _ok(at)
    assert any("KIT-EMR" in _text(s.value) and "3" in s.value for s in at.success), at.success

    at.selectbox(key="chaos_vendor").set_value("Blinkit")
    at.button(key="chaos_vendor_online").click().run()
    _ok(at)
    vendors = _frame(at, "Vendor", "Blinkit")
    assert vendors.loc[vendors["Vendor"] == "Blinkit", "Status"].tolist() == ["ONLINE"]

    at.switch_page("views/operations.py").run()
    audit = _frame(at, "Who", "Ravi")
    actions = set(audit.loc[audit["Who"] == "Ravi", "What"])
    assert actions == {"chaos.vendor", "chaos.weather", "chaos.demand"}


def test_heal_with_nothing_new_says_so(healed: str) -> None:
    at = _app("validation")
    at.button(key="heal").click().run()
    _ok(at)
    assert {m.label: m.value for m in at.metric}["Orders created"] == "0"
    assert any("already cover every shortfall" in i.value for i in at.info)


# ---------------------------------------------------------------------- overrides and alerts


def _order_of(at: AppTest, org: str, sku: str) -> str:
    orders = next(d.value for d in at.dataframe if "PO" in d.value.columns)
    return str(orders[(orders["Organization"] == org) & (orders["SKU"] == sku)]["PO"].iloc[0])


def test_overrides_change_the_order_and_the_audit_shows_who(healed: str) -> None:
    at = _app(actor="Meera")
    po = _order_of(at, ORG, "OXY-CYL")
    at.selectbox(key="override_po").set_value(po).run()
    assert at.button(key="override_approve").disabled, "only PENDING_APPROVAL can be approved"

    at.number_input(key=f"override_qty_{po}").set_value(150.0)
    at.button(key="override_set_quantity").click().run()
    _ok(at)
    assert any(f"{po} quantity set to 150 by Meera" in _text(s.value) for s in at.success)
    orders = _frame(at, "PO", po)
    assert orders.loc[orders["PO"] == po, "Quantity"].tolist() == [150.0]

    at.button(key="override_receive").click().run()
    _ok(at)
    orders = _frame(at, "PO", po)
    assert orders.loc[orders["PO"] == po, "Status"].tolist() == ["RECEIVED"]
    assert at.button(key="override_cancel").disabled, "a received order cannot be cancelled"

    audit = _frame(at, "On", po)
    mine = audit[(audit["On"] == po) & (audit["Who"] == "Meera")]
    assert set(mine["What"]) == {"order.set_quantity", "order.receive"}

    other = _order_of(at, "PDS-BLR-001", "RICE")
    at.selectbox(key="override_po").set_value(other).run()
    at.button(key="override_cancel").click().run()
    _ok(at)
    orders = _frame(at, "PO", other)
    assert orders.loc[orders["PO"] == other, "Status"].tolist() == ["CANCELLED"]
    audit = _frame(at, "On", other)
    assert audit.loc[audit["On"] == other, "Who"].tolist()[0] == "Meera"


def test_a_refused_override_says_why(healed: str) -> None:
    at = _app()
    po = _order_of(at, ORG, "OXY-CYL")
    at.selectbox(key="override_po").set_value(po).run()
    at.number_input(key=f"override_qty_{po}").set_value(0.0)
    at.button(key="override_set_quantity").click().run()
    assert any("quantity" in e.value and "> 0" in _text(e.value) for e in at.error), at.error


def test_acknowledge_an_alert(healed: str) -> None:
    at = _app(actor="Kiran")
    box = at.selectbox(key="ack_alert")
    alert = str(box.value)
    at.button(key="ack").click().run()
    _ok(at)
    assert any(f"{alert} acknowledged by Kiran" in _text(s.value) for s in at.success)
    alerts = _frame(at, "Alert", alert)
    row = alerts[alerts["Alert"] == alert].iloc[0]
    assert (row["State"], row["Acknowledged by"]) == ("ACKED", "Kiran")
    audit = _frame(at, "On", alert)
    assert audit.loc[audit["On"] == alert, ["What", "Who"]].values.tolist() == [
        ["alert.ack", "Kiran"]
    ]


# ---------------------------------------------------------------------- tenant scope


def test_all_organizations_shows_every_tenant(healed: str) -> None:
    shown = _everything_shown(_app())
    for org in (ORG, *OTHER_ORGS):
        assert org in shown  # so the isolation tests below are not vacuous


@pytest.mark.parametrize("page", [None, "validation"])
def test_locked_to_one_organization_shows_nothing_of_another(
    healed: str, monkeypatch: pytest.MonkeyPatch, page: str | None
) -> None:
    monkeypatch.setenv(ORG_ENV, ORG)
    at = _app(page)
    selector = at.sidebar.selectbox(key="org")
    assert selector.disabled and selector.options == [f"{ORG} · Bangalore District Hospital 001"]
    shown = _everything_shown(at)
    assert ORG in shown
    leaked = [org for org in OTHER_ORGS if org in shown]
    assert not leaked, f"organizations outside the scope appear: {leaked}"
    if page == "validation":
        for key in ("chaos_vendor_offline", "chaos_vendor_online", "chaos_weather"):
            assert at.button(key=key).disabled, f"{key} changes shared data"


def test_locked_scope_acts_only_on_its_own_organization(
    healed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ORG_ENV, "PDS-BLR-001")
    at = _app("validation", actor="Asha")
    items = at.selectbox(key="chaos_item").options
    assert items and all(i.startswith("PDS-BLR-001 · ") for i in items)
    at.button(key="chaos_drop").click().run()
    at.button(key="heal").click().run()
    _ok(at)
    assert ORG not in _everything_shown(at)


def test_choosing_an_organization_scopes_every_display(healed: str) -> None:
    at = _app()
    at.sidebar.selectbox(key="org").set_value("NGO-DEL-001").run()
    _ok(at)
    shown = _everything_shown(at, selector=False)
    assert "NGO-DEL-001" in shown
    assert not [o for o in (ORG, *OTHER_ORGS) if o != "NGO-DEL-001" and o in shown]


def test_locked_to_an_unknown_organization_says_so(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ORG_ENV, "NOPE")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert any("NOPE" in e.value for e in at.error)


# ---------------------------------------------------------------------- an empty warehouse


def test_an_empty_warehouse_offers_a_simulated_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DB_ENV, f"duckdb:///{tmp_path}/empty.duckdb")
    monkeypatch.delenv(ORG_ENV, raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    _ok(at)
    assert any("no resq data yet" in i.value for i in at.info)
    at.button(key="setup").click().run()
    at.run()  # the rerun the button asked for
    _ok(at)
    assert at.title[0].value == "Operations"
    assert "HOSP-BLR-001" in _everything_shown(at)


# ---------------------------------------------------------------------- which warehouse


def test_in_streamlit_in_snowflake_the_app_uses_the_active_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from resq.dashboard import _context

    session, wrapped = object(), []
    fake = types.ModuleType("resq.backends.snowflake")
    fake.from_session = lambda s, **o: wrapped.append((s, o)) or "the session's backend"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "resq.backends.snowflake", fake)
    monkeypatch.setattr(_context, "_active_session", lambda: session)
    monkeypatch.delenv(DB_ENV, raising=False)
    backend, source = _context.connection()
    assert (backend, source) == ("the session's backend", "Snowflake (the app's Snowpark session)")
    # the app role writes no table, and reads the dynamic table's inputs through their views
    assert wrapped == [(session, {"writes": "procedures", "reads": "app"})]
    monkeypatch.undo()  # the real backend module: the privileges check simulates these options
    from resq.backends.snowflake.backend import APP_OPTIONS

    assert wrapped[0][1] == APP_OPTIONS


def test_outside_snowflake_without_a_url_it_opens_the_default_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resq.dashboard import _context

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(DB_ENV, raising=False)
    monkeypatch.setattr(_context, "_active_session", lambda: None)
    backend, source = _context.connection()
    assert source == "duckdb:///resq.duckdb" and backend.schema_version() == 0
    assert (tmp_path / "resq.duckdb").exists()
    backend.close()


def test_chaos_controls_start_on_oxygen_and_adverse_weather(db: str) -> None:
    """Issue 14 item 8: the chaos button tells the demo's story without changing a control."""
    from resq.core.sectors import ADVERSE_WEATHER

    at = _app("validation")
    org, sku = at.selectbox(key="chaos_item").value
    backend = _open(db)
    try:
        (item,) = backend.read("inventory_master", where={"org_id": org, "sku": sku}).to_pylist()
    finally:
        backend.close()
    assert item["category"] == "OXYGEN", item
    assert at.selectbox(key="chaos_condition").value in ADVERSE_WEATHER
