"""The What-if page: replay policies over the warehouse's network under a chaos scenario
(a vendor offline for some days, a spell of weather in a city, a demand spike) and compare
fill rate, stockout days and cover per sector, with the items that ran short.

Everything is computed by :mod:`resq.replay`; the page only collects the choices and
draws the summary. Nothing is written to the warehouse.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import altair as alt
import pandas as pd
import pyarrow.compute as pc
import streamlit as st

from resq.dashboard import _ui
from resq.simulation import WEATHER_CONDITIONS

if TYPE_CHECKING:
    from resq.core.replay import ReplayNetwork
    from resq.dashboard._context import Scope

RESULT = "whatif_result"
DEFAULT_POLICIES = ["resq", "seed-rule", "service-level"]
NONE = "(none)"


def render(scope: Scope) -> None:
    from resq import replay as rp

    st.title("What-if")
    st.caption(
        "Replay policies day by day over this network's stock, lead times and vendors, "
        "under a scenario you choose, and compare what they achieve. "
        f"For **{_ui.md(scope.label)}**; demand is SIMULATED and nothing is written."
    )
    network = _network(scope)
    if network.n == 0:
        st.info("No items to replay here.")
        return
    vendors = network.vendor_names
    cities = sorted(network.weather) or network.city_names

    left, right = st.columns(2)
    with left:
        policies = st.multiselect(
            "Policies", list(rp.POLICIES), default=DEFAULT_POLICIES, key="whatif_policies"
        )
        days = st.slider("Days", 7, 365, 90, step=1, key="whatif_days")
        spike = st.slider(
            "Demand spike (every item)", 1.0, 3.0, 1.0, step=0.1, key="whatif_spike",
            help="Demand is multiplied by this factor on the scenario's days.",
        )  # fmt: skip
    with right:
        vendor = st.selectbox(
            "Vendor offline", [NONE, *vendors], index=_index(vendors, "Dunzo"),
            key="whatif_vendor",
        )  # fmt: skip
        vendor_days = st.slider("Offline on days", 1, 365, (1, 10), key="whatif_vendor_days")
        city = st.selectbox(
            "Weather in", [NONE, *cities], index=_index(cities, "Bangalore"), key="whatif_city"
        )
        condition = st.selectbox(
            "Condition", list(WEATHER_CONDITIONS), index=WEATHER_CONDITIONS.index("Rain"),
            key="whatif_condition",
        )  # fmt: skip
        weather_days = st.slider("On days", 1, 365, (20, 26), key="whatif_weather_days")
    chaos = rp.ChaosSchedule(
        vendor_offline=((vendor, *vendor_days),) if vendor != NONE else (),
        weather=((city, condition, *weather_days),) if city != NONE else (),
        demand_spikes=((None, None, spike, *weather_days),) if spike != 1.0 else (),
    )
    if st.button("Run the replay", type="primary", key="whatif_run", disabled=not policies):
        with st.spinner(f"Replaying {days} days for {len(policies)} policies"):
            st.session_state[RESULT] = rp.replay(network, policies, days, chaos=chaos)
    shown = st.session_state.get(RESULT)
    if shown is None:
        st.info("Choose the policies and the scenario, then run the replay.")
        return
    _show(shown)


def _index(options: list[str], preferred: str) -> int:
    return options.index(preferred) + 1 if preferred in options else 0


def _network(scope: Scope) -> ReplayNetwork:
    """The warehouse's network, only this organization's items when one is chosen."""
    from resq import replay as rp

    network = rp.from_backend(scope.backend)
    if scope.org_id is None:
        return network
    items = network.items.filter(pc.equal(network.items["org_id"], scope.org_id))
    return dataclasses.replace(network, items=items)


def _show(result: Any) -> None:
    by_sector = result.summary("sector").to_pandas()
    chaos = result.chaos.as_dict()
    scenario = [
        f"{e['vendor']} offline days {e['from']}-{e['to']}" for e in chaos["vendor_offline"]
    ]
    scenario += [
        f"{e['condition']} in {e['city']} days {e['from']}-{e['to']}" for e in chaos["weather"]
    ]
    scenario += [
        f"demand x{e['factor']:g} days {e['from']}-{e['to']}" for e in chaos["demand_spikes"]
    ]
    st.subheader(f"{result.days} days: {', '.join(result.policies)}")
    st.caption("Scenario: " + (_ui.md("; ".join(scenario)) if scenario else "none"))
    by_sector["fill rate (%)"] = 100 * by_sector["fill_rate"]
    charts = st.columns(3)
    for column, (field, title) in zip(
        charts,
        (
            ("fill rate (%)", "Fill rate by sector"),
            ("stockout_days", "Stockout days by sector"),
            ("avg_cover_days", "Average cover (days) by sector"),
        ),
        strict=True,
    ):
        with column:
            st.markdown(f"**{title}**")
            chart = (
                alt.Chart(by_sector)
                .mark_bar()
                .encode(
                    x=alt.X("sector:N", title=None),
                    xOffset="policy:N",
                    y=alt.Y(f"{field}:Q", title=None),
                    color=alt.Color("policy:N", sort=list(result.policies)),
                    tooltip=["sector", "policy", field],
                )
                .properties(height=240)
            )
            st.altair_chart(chart, width="stretch")
    st.markdown("**Comparison by sector**")
    _ui.table(
        pd.DataFrame(
            {
                "Sector": by_sector["sector"],
                "Policy": by_sector["policy"],
                "Fill rate": by_sector["fill_rate"].map(lambda v: f"{100 * v:.2f}%"),
                "Cycle service level": by_sector["cycle_service_level"].map(
                    lambda v: f"{100 * v:.2f}%"
                ),
                "Stockout days": by_sector["stockout_days"],
                "Oxygen days at 0": by_sector["oxygen_zero_days"],
                "Avg cover (days)": by_sector["avg_cover_days"].round(1),
                "Orders": by_sector["orders"],
                "Fallback orders": by_sector["fallback_orders"],
                "Waited for a vendor": by_sector["pending_vendor_orders"],
            }
        )
    )
    short = result.stocked_out().to_pandas()
    st.markdown(f"**Items that stocked out** ({len(short)})")
    if short.empty:
        st.success("No item ran short under any policy.", icon=":material/check_circle:")
        return
    _ui.table(
        pd.DataFrame(
            {
                "Policy": short["policy"],
                "Sector": short["sector"],
                "Organization": short["org_id"],
                "SKU": short["sku"],
                "Stockout days": short["stockout_days"],
                "First stockout day": short["first_stockout_day"],
                "Units short": short["short"].round(1),
            }
        )
    )
