"""The Validation page: the simulation checks through the warehouse's SQL functions, the
chaos controls, the heal button, and the orders it raised with their reasons.

Chaos edits are SIMULATED and audited as chaos with the person's name; changes to data
every organization shares (vendors, weather) are refused while the app is locked to one
organization, as on the command line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from resq.core import provenance
from resq.dashboard import _ui
from resq.errors import ResqError
from resq.simulation import WEATHER_CONDITIONS

if TYPE_CHECKING:
    from resq.dashboard._context import Scope

FLASH = "val_flash"
LAST_HEAL = "last_heal"


def render(scope: Scope) -> None:
    st.title("Validation")
    st.caption(
        f"Check the simulated world, break it on purpose, and watch resq heal it — for "
        f"**{_ui.md(scope.label)}**, acting as **{_ui.md(scope.actor)}**."
    )
    _checks(scope)
    inventory = scope.read("inventory_master", order_by=("org_id", "sku"))
    _chaos(scope, inventory)
    _heal(scope, inventory)
    _signals(scope)


def _checks(scope: Scope) -> None:
    rows = [c.as_dict() for c in scope.engine.validate()]
    checks = pd.DataFrame(rows)
    passed = sum(1 for r in rows if r["result"] == "PASS")
    _ui.section(
        "Simulation checks",
        _ui.frame_source(checks),
        help="Run through the warehouse's SQL functions GET_WEATHER_DATA and GET_VENDOR_STATUS.",
    )
    summary, table = st.columns([1, 4])
    summary.metric("Checks passing", f"{passed} / {len(rows)}")
    if passed == len(rows):
        summary.success("All PASS", icon=":material/check_circle:")
    else:
        summary.error(f"{len(rows) - passed} FAIL", icon=":material/error:")
    with table:
        _ui.table(
            pd.DataFrame(
                {
                    "Check": checks["check"],
                    "Expected": checks["expected"],
                    "Actual": checks["actual"],
                    "Result": checks["result"],
                    "Source": checks["data_source"],
                }
            )
        )


# ---------------------------------------------------------------------- chaos


def _widgets(*keys: str) -> Callable[[], list[Any]]:
    """Reads the widgets' values when a button is pressed (an item spreads to org, sku)."""

    def values() -> list[Any]:
        out: list[Any] = []
        for key in keys:
            value = st.session_state.get(key)
            out.extend(value if isinstance(value, tuple) else [value])
        return out

    return values


def _run(scope: Scope, what: str, action: Any, arguments: Callable[[], list[Any]]) -> None:
    """Run one library action from a button; remember what happened for the next run."""
    try:
        result = action(*arguments(), actor=scope.actor)
    except (ResqError, ValueError) as exc:
        st.session_state[FLASH] = (False, f"{what} failed: {exc}")
        return
    description = getattr(result, "description", None)
    st.session_state[FLASH] = (True, f"{description or what + ': done'}. Press Heal now.")


# The chaos controls start on the demo's story: an oxygen item, and weather that changes
# something (adverse: it delays deliveries and raises NGO thresholds).
CHAOS_WEATHER = "Rain"


def _oxygen_first(inventory: pd.DataFrame, items: dict[tuple[str, str], str]) -> int:
    """The position of the first oxygen item among ``items`` (0 when there is none)."""
    if "category" not in inventory.columns:
        return 0
    keys = list(items)
    for r in inventory.to_dict("records"):
        if str(r["category"]).strip().upper() == "OXYGEN":
            return keys.index((str(r["org_id"]), str(r["sku"])))
    return 0


def _item_label(inventory: pd.DataFrame) -> dict[tuple[str, str], str]:
    return {
        (str(r["org_id"]), str(r["sku"])): f"{r['org_id']} · {r['item_name']} ({r['sku']})"
        for r in inventory.to_dict("records")
    }


def _chaos(scope: Scope, inventory: pd.DataFrame) -> None:
    _ui.section(
        "Chaos controls",
        _ui.frame_source(inventory),
        help="Every chaos edit is labelled SIMULATED and recorded in the audit log as chaos.",
    )
    message = st.session_state.pop(FLASH, None)
    if message:
        (st.success if message[0] else st.error)(_ui.md(message[1]))
    engine = scope.engine
    items = _item_label(inventory)
    shared_note = (
        f"Vendors and weather are shared by every organization: not available while the "
        f"dashboard is locked to {_ui.md(scope.org_id)}."
    )
    top_left, top_right = st.columns(2)
    with top_left.container(border=True, key="chaos-stock"):
        st.markdown("**:material/bolt: Drop an item's stock** — the chaos button")
        if items:
            st.selectbox(
                "Item",
                list(items),
                index=_oxygen_first(inventory, items),
                key="chaos_item",
                format_func=lambda k: items[k],
            )
            st.number_input("Set stock to", min_value=0.0, value=0.0, key="chaos_to")
            st.button(
                "Chaos: drop stock",
                key="chaos_drop",
                type="primary",
                icon=":material/bolt:",
                on_click=_run,
                args=(scope, "Chaos", engine.drop_stock, _widgets("chaos_item", "chaos_to")),
            )
        else:
            st.caption("No items in this scope.")
    with top_right.container(border=True, key="chaos-demand"):
        st.markdown("**:material/trending_up: Spike demand**")
        if items:
            st.selectbox("Item", list(items), key="spike_item", format_func=lambda k: items[k])
            st.slider(
                "Demand × factor",
                min_value=1.0,
                max_value=5.0,
                value=2.0,
                step=0.5,
                key="spike_factor",
            )
            st.button(
                "Spike demand",
                key="chaos_spike",
                on_click=_run,
                args=(
                    scope,
                    "Demand spike",
                    engine.spike_demand,
                    _widgets("spike_item", "spike_factor"),
                ),
            )
        else:
            st.caption("No items in this scope.")
    bottom_left, bottom_right = st.columns(2)
    vendors = scope.read("vendor_status", order_by=("vendor_id",))
    with bottom_left.container(border=True, key="chaos-vendor"):
        st.markdown("**:material/local_shipping: Vendor offline / online**")
        names = [str(v) for v in vendors["vendor_id"]]
        st.selectbox("Vendor", names, key="chaos_vendor", disabled=scope.locked)
        off, on = st.columns(2)
        off.button(
            "Take offline",
            key="chaos_vendor_offline",
            disabled=scope.locked or not names,
            width="stretch",
            on_click=_run,
            args=(scope, "Vendor offline", engine.vendor_offline, _widgets("chaos_vendor")),
        )
        on.button(
            "Bring online",
            key="chaos_vendor_online",
            disabled=scope.locked or not names,
            width="stretch",
            on_click=_run,
            args=(scope, "Vendor online", engine.vendor_online, _widgets("chaos_vendor")),
        )
        if scope.locked:
            st.caption(shared_note)
    weather = scope.read("city_weather", order_by=("city",))
    with bottom_right.container(border=True, key="chaos-weather"):
        st.markdown("**:material/rainy: City weather**")
        cities = [str(c) for c in weather["city"]]
        city_col, cond_col = st.columns(2)
        city_col.selectbox("City", cities, key="chaos_city", disabled=scope.locked)
        conditions = list(WEATHER_CONDITIONS)
        cond_col.selectbox(
            "Condition",
            conditions,
            index=conditions.index(CHAOS_WEATHER),
            key="chaos_condition",
            disabled=scope.locked,
        )
        st.button(
            "Set weather",
            key="chaos_weather",
            disabled=scope.locked or not cities,
            on_click=_run,
            args=(scope, "Weather", engine.set_weather, _widgets("chaos_city", "chaos_condition")),
        )
        if scope.locked:
            st.caption(shared_note)


# ---------------------------------------------------------------------- heal


def _heal_now(scope: Scope) -> None:
    try:
        report = scope.heal()
    except ResqError as exc:
        st.session_state[FLASH] = (False, f"Heal failed: {exc}")
        return
    st.session_state[LAST_HEAL] = (scope.org_id, report)


def _heal(scope: Scope, inventory: pd.DataFrame) -> None:
    st.divider()
    heading, button = st.columns([3, 1], vertical_alignment="center")
    with heading:
        st.markdown("#### Self-healing")
        st.caption(
            "One heal cycle: critical items get exactly one order each, from a vendor that "
            "is online; an offline preferred vendor falls back to the next."
        )
    button.button(
        "Heal now",
        key="heal",
        type="primary",
        icon=":material/healing:",
        width="stretch",
        on_click=_heal_now,
        args=(scope,),
    )
    last = st.session_state.get(LAST_HEAL)
    preferred = {
        (str(r["org_id"]), str(r["sku"])): r.get("preferred_vendor")
        for r in inventory.to_dict("records")
    }
    units = {(str(r["org_id"]), str(r["sku"])): r.get("unit") for r in inventory.to_dict("records")}
    if last and last[0] == scope.org_id:
        report = last[1]
        cols = st.columns(5)
        for col, (label, key) in zip(
            cols,
            [
                ("Needed a decision", "candidates"),
                ("Orders created", "created"),
                ("Already covered", "covered"),
                ("Waiting for a vendor", "pending_vendor"),
                ("Alerts raised", "alerts_raised"),
            ],
            strict=True,
        ):
            col.metric(label, report.get(key, 0))
        orders = list(report.get("orders") or [])
        title = f"Orders from cycle {report['cycle_id']}"
        if not orders:
            st.info("No new orders: open orders already cover every shortfall.")
            return
    else:
        recent = scope.read("purchase_orders", order_by=("created_at DESC", "po_id"), limit=5)
        orders = [{str(k): v for k, v in row.items()} for row in recent.to_dict("records")]
        title = "Latest orders"
        if not orders:
            st.info("No orders yet. Press the chaos button, then Heal now.")
            return
    _ui.section(title, _ui.frame_source(pd.DataFrame(orders)))
    for order in orders:
        _order_card(order, preferred, units)


def _order_card(
    order: dict[str, Any],
    preferred: dict[tuple[str, str], Any],
    units: dict[tuple[str, str], Any],
) -> None:
    key = (str(order["org_id"]), str(order["sku"]))
    reason = _ui.parse_reason(order.get("reason"))
    with st.container(border=True):
        st.markdown(
            f"**{_ui.md(order['po_id'])}** · {_ui.md(order['org_id'])} / "
            f"**{_ui.md(order['sku'])}** — {_ui.md(_ui.number(order['quantity']))} "
            f"{_ui.md(units.get(key) or '')} from "
            f"**{_ui.md(order.get('vendor') or 'no vendor yet')}** · "
            f"{_ui.md(order['status'])} · priority {_ui.md(order.get('priority'))} &nbsp; "
            f"{_ui.badge(provenance.row_label(order))}"
        )
        if reason:
            target = _ui.number(reason.get("target_days"))
            st.markdown(
                f"Why: **{_ui.md(reason.get('status', '?'))}**, "
                + _ui.md(
                    f"{_ui.days(reason.get('days_remaining'))} days left (threshold "
                    f"{_ui.number(reason.get('threshold_days'))} days, rule "
                    f"{reason.get('rule', '?')}); ordered up to {target} days of cover. "
                    f"Weather: {reason.get('weather', '-')}."
                )
            )
            st.markdown(_ui.vendor_story(reason, preferred.get(key)))
            if reason.get("caps_applied"):
                st.caption("Caps applied: " + ", ".join(map(_ui.md, reason["caps_applied"])))


# ---------------------------------------------------------------------- signals


def _signals(scope: Scope) -> None:
    vendors = scope.read("vendor_status", order_by=("vendor_id",))
    weather = scope.read("city_weather", order_by=("city",))
    left, right = st.columns(2)
    with left.container(key="signals-vendors"):
        _ui.section("Vendors now", _ui.frame_source(vendors))
        _ui.table(
            pd.DataFrame(
                {
                    "Vendor": vendors["vendor_id"],
                    "Status": vendors["status"],
                    "Latency (ms)": vendors["latency_ms"].astype("Int64"),
                    "Set by": vendors["source"],
                    "Source": vendors["data_source"],
                }
            ),
        )
    with right.container(key="signals-weather"):
        _ui.section("Weather now", _ui.frame_source(weather))
        _ui.table(
            pd.DataFrame(
                {
                    "City": weather["city"],
                    "Condition": weather["condition"],
                    "Set by": weather["source"],
                    "Source": weather["data_source"],
                }
            ),
        )
