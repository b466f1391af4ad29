"""The Operations page: where stock stands per sector, what is critical, the orders with
manual override, the alerts to acknowledge, system health and the charts.

Everything is read through the page's :class:`~resq.dashboard._context.Scope` and every
change goes through the library (``override_order``, ``ack_alert``), audited with the
name the person gave.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import pandas as pd
import streamlit as st

from resq.core import urgency
from resq.core.ordering import OVERRIDES
from resq.dashboard import _ui
from resq.errors import ResqError

if TYPE_CHECKING:
    from resq.dashboard._context import Scope

FLASH = "ops_flash"
DAYS_AXIS_CAP = 60.0  # the chart's x axis ends here; items beyond it sit on the edge


def render(scope: Scope) -> None:
    st.title("Operations")
    st.caption(
        f"Stock, orders and alerts for **{_ui.md(scope.label)}**. Most urgent first; every "
        f"change is recorded in the audit log as **{_ui.md(scope.actor)}**."
    )
    _health(scope)
    _sector_figures(scope)
    analysis = scope.read("stock_analysis", order_by=urgency.ITEMS)
    _critical_items(analysis)
    orders = scope.read("purchase_orders", order_by=urgency.ORDERS, limit=1000)
    left, right = st.columns(2)
    with left:
        _days_by_sector(analysis)
    with right:
        _orders_over_time(orders)
    _orders(scope, orders, analysis)
    _alerts(scope)
    _trajectory(scope, analysis)
    _audit(scope, analysis)


# ---------------------------------------------------------------------- figures


def _health(scope: Scope) -> None:
    report = scope.engine.health()
    vendors = scope.read("vendor_status")
    _ui.section(
        "System health",
        _ui.frame_source(vendors),
        help="Shared by every organization: vendors online, freshness of the stock "
        "analysis, the last heal cycle and the notification outbox.",
    )
    status = report.status.value
    text = f"**{_ui.md(status)}** — " + (
        "; ".join(_ui.md(r) for r in report.reasons) or "all systems normal"
    )
    show = {"GREEN": st.success, "AMBER": st.warning}.get(status, st.error)
    show(text, icon=_ui.HEALTH_ICON.get(status))


def _sector_figures(scope: Scope) -> None:
    summary = scope.view.sector_summary().to_pandas()
    _ui.section("By sector", _ui.frame_source(summary))
    if summary.empty:
        st.info("No items in this scope yet.")
        return
    columns = st.columns(len(summary))
    for column, row in zip(columns, summary.to_dict("records"), strict=True):
        with column, st.container(border=True, key=f"sector-{row['sector']}"):
            st.markdown(
                f"**{_ui.SECTOR_ICON.get(row['sector'], '')} {_ui.md(row['sector'])}** "
                f"&nbsp; {_ui.badge(row['data_source'])}"
            )
            a, b, c = st.columns(3)
            a.metric(":red[**Critical**]", int(row["critical"]))
            b.metric(":orange[**Warning**]", int(row["warning"]))
            c.metric(":green[**OK**]", int(row["ok"]))
            d, e = st.columns(2)
            d.metric("Open orders", int(row["open_orders"]))
            e.metric("Alerts open", int(row["open_alerts"]))


def _critical_items(analysis: pd.DataFrame) -> None:
    critical = analysis[analysis["status"] == "CRITICAL"]
    with st.container(key="critical-items"):
        _ui.section(
            "Critical items",
            _ui.frame_source(critical) or _ui.frame_source(analysis),
            help="Most urgent first: by sector priority, then fewest days of stock left.",
        )
        if critical.empty:
            st.success("No item is critical.", icon=":material/check_circle:")
            return
        shown = pd.DataFrame(
            {
                "Organization": critical["org_id"],
                "Item": critical["item_name"],
                "SKU": critical["sku"],
                "Stock": critical["current_stock"],
                "Unit": critical["unit"],
                "Daily use": critical["effective_consumption"],
                "Days left": critical["days_remaining"],
                "Critical at": critical["critical_days"],
                "Status": critical["status"],
                "Priority": critical["priority"],
                "Source": _ui.row_labels(critical),
            }
        )
        _ui.table(
            shown,
            column_config={
                "Stock": st.column_config.NumberColumn(format="%.0f"),
                "Daily use": st.column_config.NumberColumn(format="%.1f"),
                "Days left": st.column_config.NumberColumn(format="%.1f days"),
                "Critical at": st.column_config.NumberColumn(format="≤ %.0f days"),
            },
        )


def _days_by_sector(analysis: pd.DataFrame) -> None:
    _ui.section(
        "Days remaining by sector",
        _ui.frame_source(analysis),
        help=f"Each dot is an item; items with more than {DAYS_AXIS_CAP:.0f} days sit on "
        "the right edge, items that never run out are not drawn. The red ticks are the "
        "critical thresholds (adverse weather raises the NGO one).",
    )
    data = analysis.dropna(subset=["days_remaining"])
    if data.empty:
        st.info("No item runs out at its current consumption.")
        return
    data = data.assign(
        item=data["org_id"] + " · " + data["item_name"],
        spread=[(i % 7) / 7.0 for i in range(len(data))],
    )
    sectors = list(dict.fromkeys(data["sector"]))
    colours = alt.Scale(domain=list(_ui.STATUS_COLOURS), range=list(_ui.STATUS_COLOURS.values()))
    x_scale = alt.Scale(domain=[0, DAYS_AXIS_CAP], clamp=True)
    dots = (
        alt.Chart(data)
        .mark_circle(size=140, opacity=0.85)
        .encode(
            x=alt.X("days_remaining:Q", title="Days of stock left", scale=x_scale),
            y=alt.Y("sector:N", sort=sectors, title=None),
            yOffset=alt.YOffset("spread:Q"),
            color=alt.Color(
                "status:N", title="Status", scale=colours, legend=alt.Legend(orient="bottom")
            ),
            tooltip=[
                alt.Tooltip("item:N", title="Item"),
                alt.Tooltip("days_remaining:Q", title="Days left", format=".1f"),
                alt.Tooltip("status:N", title="Status"),
                alt.Tooltip("data_source:N", title="Source"),
            ],
        )
    )
    thresholds = (
        alt.Chart(data[["sector", "critical_days"]].drop_duplicates())
        .mark_tick(color=_ui.STATUS_COLOURS["CRITICAL"], thickness=3, size=26)
        .encode(
            x=alt.X("critical_days:Q", scale=x_scale),
            y=alt.Y("sector:N", sort=sectors),
            tooltip=[alt.Tooltip("critical_days:Q", title="Critical at (days)")],
        )
    )
    st.altair_chart((thresholds + dots).properties(height=260), width="stretch")


def _orders_over_time(orders: pd.DataFrame) -> None:
    _ui.section("Orders over time", _ui.frame_source(orders))
    if orders.empty:
        st.info("No purchase orders yet: a heal cycle raises them for critical stock.")
        return
    created = pd.to_datetime(orders["created_at"])
    span = created.max() - created.min()
    if span > pd.Timedelta(days=2):
        bucket, label = created.dt.floor("D"), "%d %b"
    elif span > pd.Timedelta(hours=2):
        bucket, label = created.dt.floor("h"), "%d %b %H:00"
    else:
        bucket, label = created.dt.floor("min"), "%d %b %H:%M"
    counts = (
        orders.assign(bucket=bucket)
        .groupby(["bucket", "status"], as_index=False)
        .size()
        .rename(columns={"size": "orders"})
        .sort_values("bucket")
    )
    counts["when"] = counts["bucket"].dt.strftime(label)
    present = set(counts["status"])
    statuses = [s for s in _ui.ORDER_COLOURS if s in present]
    statuses += sorted(present - set(statuses))  # any status not listed there: grey
    chart = (
        alt.Chart(counts)
        .mark_bar(size=36, cornerRadiusTopLeft=3, cornerRadiusTopRight=3)
        .encode(
            x=alt.X("when:O", title="Created", sort=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("orders:Q", title="Orders"),
            color=alt.Color(
                "status:N",
                title="Status",
                scale=alt.Scale(
                    domain=statuses, range=[_ui.ORDER_COLOURS.get(s, "#6b7280") for s in statuses]
                ),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("when:O", title="Created"),
                alt.Tooltip("status:N", title="Status"),
                alt.Tooltip("orders:Q", title="Orders"),
            ],
        )
        .properties(height=260)
    )
    st.altair_chart(chart, width="stretch")


# ---------------------------------------------------------------------- actions


def _flash(where: str) -> None:
    message = st.session_state.get(FLASH)
    if message and message[0] == where:
        st.session_state.pop(FLASH)
        (st.success if message[1] else st.error)(_ui.md(message[2]))


def _override(scope: Scope, action: str) -> None:
    """A manual override of the order chosen in the form, with its quantity field."""
    po_id = str(st.session_state.get("override_po"))
    quantity = st.session_state.get(f"override_qty_{po_id}")
    try:
        scope.override_order(po_id, action, quantity)
    except ResqError as exc:
        st.session_state[FLASH] = ("orders", False, str(exc))
        return
    done = {
        "approve": "approved",
        "cancel": "cancelled",
        "receive": "marked received",
        "set_quantity": f"quantity set to {_ui.number(quantity)}",
    }[action]
    st.session_state[FLASH] = ("orders", True, f"{po_id} {done} by {scope.actor}.")


def _ack(scope: Scope) -> None:
    alert_id = str(st.session_state.get("ack_alert"))
    try:
        scope.ack_alert(alert_id)
    except ResqError as exc:
        st.session_state[FLASH] = ("alerts", False, str(exc))
        return
    st.session_state[FLASH] = ("alerts", True, f"{alert_id} acknowledged by {scope.actor}.")


def _orders(scope: Scope, orders: pd.DataFrame, analysis: pd.DataFrame) -> None:
    _ui.section(
        "Purchase orders",
        _ui.frame_source(orders),
        help="Newest first. Overrides go through the same audited path as a heal cycle.",
    )
    _flash("orders")
    if orders.empty:
        st.info("No purchase orders in this scope.")
        return
    shown = pd.DataFrame(
        {
            "PO": orders["po_id"],
            "Organization": orders["org_id"],
            "SKU": orders["sku"],
            "Quantity": orders["quantity"],
            "Vendor": orders["vendor"].fillna("-"),
            "Status": orders["status"],
            "Priority": orders["priority"],
            "Created": orders["created_at"],
            "Why": orders["reason"].map(_ui.why),
            "Source": _ui.row_labels(orders),
        }
    )
    _ui.table(
        shown,
        column_config={
            "Quantity": st.column_config.NumberColumn(format="%.0f"),
            "Created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
            "Why": st.column_config.TextColumn(width="large"),
        },
    )
    records = {str(r["po_id"]): r for r in orders.to_dict("records")}
    with st.container(border=True, key="order-override"):
        st.markdown("**Manual override**")
        pick, qty = st.columns([3, 1])
        po_id = pick.selectbox(
            "Order",
            list(records),
            key="override_po",
            format_func=lambda p: (
                f"{p} · {records[p]['org_id']} / {records[p]['sku']} · "
                f"{_ui.number(records[p]['quantity'])} · {records[p]['status']}"
            ),
        )
        order = records[str(po_id)]
        status = str(order["status"])
        qty.number_input(
            "New quantity",
            min_value=0.0,
            value=float(order["quantity"]),
            step=1.0,
            key=f"override_qty_{po_id}",
        )
        buttons = st.columns(4)
        for column, (action, label) in zip(
            buttons,
            [
                ("approve", "Approve"),
                ("cancel", "Cancel"),
                ("set_quantity", "Change quantity"),
                ("receive", "Mark received"),
            ],
            strict=True,
        ):
            allowed = status in OVERRIDES[action][0]
            column.button(
                label,
                key=f"override_{action}",
                disabled=not allowed,
                width="stretch",
                on_click=_override,
                args=(scope, action),
                help=None
                if allowed
                else f"Only orders that are {' or '.join(OVERRIDES[action][0])}.",
            )


def _alerts(scope: Scope) -> None:
    alerts = scope.read("alerts", order_by=urgency.ALERTS, limit=1000)
    _ui.section("Alerts", _ui.frame_source(alerts))
    _flash("alerts")
    if alerts.empty:
        st.info("No alerts in this scope.")
        return
    open_first = alerts  # most urgent first, as read (resq.core.urgency.ALERTS)
    _ui.table(
        pd.DataFrame(
            {
                "Alert": open_first["alert_id"],
                "Severity": open_first["severity"],
                "State": open_first["state"],
                "Organization": open_first["org_id"],
                "Message": open_first["message"],
                "Created": open_first["created_at"],
                "Acknowledged by": open_first["acked_by"].fillna(""),
                "Source": _ui.row_labels(open_first),
            }
        ),
        column_config={
            "Message": st.column_config.TextColumn(width="large"),
            "Created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        },
    )
    open_alerts = {
        str(r["alert_id"]): r for r in open_first.to_dict("records") if r["state"] == "OPEN"
    }
    if not open_alerts:
        st.caption("Every alert is acknowledged.")
        return
    with st.container(border=True, key="alert-ack"):
        pick, act = st.columns([3, 1], vertical_alignment="bottom")
        pick.selectbox(
            "Open alert",
            list(open_alerts),
            key="ack_alert",
            format_func=lambda a: (
                f"{a} · {open_alerts[a]['severity']} · {open_alerts[a]['message']}"
            ),
        )
        act.button(
            "Acknowledge",
            key="ack",
            type="primary",
            width="stretch",
            on_click=_ack,
            args=(scope,),
        )


# ---------------------------------------------------------------------- history


def _trajectory(scope: Scope, analysis: pd.DataFrame) -> None:
    items = analysis[["org_id", "sku", "item_name", "unit"]].drop_duplicates()
    if items.empty:
        return
    keys = [(str(r["org_id"]), str(r["sku"])) for r in items.to_dict("records")]
    names = {
        (str(r["org_id"]), str(r["sku"])): f"{r['org_id']} · {r['item_name']} ({r['unit']})"
        for r in items.to_dict("records")
    }
    choice = st.selectbox(
        "Stock trajectory of",
        keys,
        key="trajectory_item",
        format_func=lambda k: names[k],
    )
    org_id, sku = choice
    history = scope.read("stock_history", where={"org_id": org_id, "sku": sku}, order_by=("day",))
    _ui.section(f"Stock trajectory: {names[choice]}", _ui.frame_source(history))
    if history.empty:
        st.info("No daily history for this item (seed with days > 0, or load stock_history).")
        return
    history = history.assign(day=pd.to_datetime(history["day"]))
    base = alt.Chart(history).encode(x=alt.X("day:T", title=None))
    area = base.mark_area(line={"color": "#0f766e"}, color="#99f6e4", opacity=0.6).encode(
        y=alt.Y("stock:Q", title="Stock at end of day"),
        tooltip=[
            alt.Tooltip("day:T", title="Day"),
            alt.Tooltip("stock:Q", title="Stock", format=",.1f"),
            alt.Tooltip("consumption:Q", title="Consumed", format=",.1f"),
        ],
    )
    outs = (
        base.transform_filter("datum.stockout")
        .mark_point(color=_ui.STATUS_COLOURS["CRITICAL"], size=80, filled=True)
        .encode(y="stock:Q", tooltip=[alt.Tooltip("day:T", title="Stock-out")])
    )
    st.altair_chart((area + outs).properties(height=240), width="stretch")
    stockouts = int(history["stockout"].sum())
    st.caption(
        f"{len(history)} days; {stockouts} stock-out day{'s' if stockouts != 1 else ''} "
        "(red points)."
    )


def _audit(scope: Scope, analysis: pd.DataFrame) -> None:
    events = scope.read("audit_log", order_by=("seq DESC",), limit=50)
    _ui.section(
        "Audit trail",
        _ui.audit_source(events["details"], analysis["data_source"]),
        help="The newest 50 events of the append-only, hash-chained audit log.",
    )
    if events.empty:
        st.info("No audit events in this scope.")
        return
    _ui.table(
        pd.DataFrame(
            {
                "#": events["seq"],
                "When": events["event_ts"],
                "Who": events["actor"],
                "What": events["action"],
                "Organization": events["org_id"].fillna(""),
                "On": events["entity_id"].fillna(""),
                "Provenance": _ui.audit_labels(events["details"]),
                "Details": events["details"],
            }
        ),
        column_config={"When": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")},
    )
    if not scope.locked and st.button("Verify the hash chain", key="verify_audit"):
        check = scope.backend.verify_audit()
        if check.ok:
            st.success(f"Verified: {check.checked} events, the hash chain is unbroken.")
        else:
            st.error(
                _ui.md(f"Tampered: the chain breaks at event {check.broken_seq}: {check.problem}")
            )
