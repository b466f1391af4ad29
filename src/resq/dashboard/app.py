"""ResQ OS dashboard, the entry point: ``resq dashboard``, ``streamlit run``, or Streamlit
in Snowflake.

It connects (cached), lets the person choose an organization (locked when started with
``--org``) and give their name for the audit log, then runs the chosen page.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from resq.dashboard import _context, _ui
from resq.errors import ResqError

VIEWS = Path(__file__).resolve().parent / "views"


def _org_label(orgs: dict[str, dict[str, object]], org_id: str) -> str:
    org = orgs.get(org_id)
    if org is None:
        return org_id
    return f"{org_id} · {org.get('org_name')}"


def _setup(backend: _context.WarehouseBackend, locked: str | None, actor: str) -> None:
    """An empty warehouse: say so, and offer to create a simulated network."""
    st.title(":material/health_and_safety: ResQ OS")
    st.info(
        "This warehouse has no resq data yet. Create a simulated network (hospitals, "
        "ration shops and NGOs in Bangalore and Delhi, labelled SIMULATED), or load your "
        "own with `resq load`.",
        icon=":material/database:",
    )
    if locked:
        st.warning(
            f"The dashboard is locked to {_ui.md(locked)}; setting up data is shared by every "
            "organization, so run `resq init` and `resq seed` without --org first."
        )
        return
    if st.button("Create a simulated network", type="primary", key="setup"):
        with st.spinner("Creating the schema and seeding the simulated network"):
            backend.init()
            _context.SelfHealingEngine(backend).seed(actor=actor)
        st.rerun()


def main() -> None:
    st.set_page_config(
        page_title="ResQ OS", page_icon=":material/health_and_safety:", layout="wide"
    )
    backend, source = _context.connection()
    locked = _context.locked_org()
    with st.sidebar:
        st.markdown("## :material/health_and_safety: ResQ OS")
        st.caption("A self-healing supply chain for hospitals, ration shops and NGOs.")
        actor = st.text_input(
            "Your name",
            value=_context.default_actor(),
            key="actor",
            help="Recorded in the audit log with every change you make here.",
        ).strip()

    if backend.schema_version() == 0:
        _setup(backend, locked, actor)
        return
    try:
        view = backend.tenant(locked) if locked else backend
    except ResqError as exc:
        st.error(_ui.md(f"Cannot open the dashboard for organization {locked!r}: {exc}"))
        st.stop()
    rows = view.read("organizations", order_by=("org_id",)).to_pylist()
    if not rows:
        _setup(backend, locked, actor)
        return
    orgs = {str(r["org_id"]): r for r in rows}
    options = [locked] if locked else [_context.ALL_ORGS, *orgs]
    with st.sidebar:
        choice = st.selectbox(
            "Organization",
            options,
            key="org",
            disabled=bool(locked),
            format_func=lambda o: o if o == _context.ALL_ORGS else _org_label(orgs, o),
            help=(
                f"Locked to {_ui.md(locked)} (started with --org): nothing of another "
                "organization "
                "is shown or can be changed."
                if locked
                else "Choose one organization to see only its stock, orders and alerts."
            ),
        )
        if locked:
            st.caption(f":material/lock: Locked to **{_ui.md(locked)}**")
        st.divider()
        st.caption(f"Warehouse: {_ui.md(source)}")
        st.caption(
            f"Badges: {_ui.badge('REAL')} loaded data, {_ui.badge('SIMULATED')} from the "
            "deterministic simulation or derived from it."
        )
    org_id = None if choice == _context.ALL_ORGS else str(choice)
    st.session_state[_context.SCOPE_KEY] = _context.Scope.make(
        backend, source, org_id, bool(locked), actor
    )
    page = st.navigation(
        [
            st.Page(
                VIEWS / "operations.py",
                title="Operations",
                icon=":material/monitoring:",
                default=True,
            ),
            st.Page(VIEWS / "validation.py", title="Validation", icon=":material/science:"),
            st.Page(VIEWS / "whatif.py", title="What-if", icon=":material/query_stats:"),
        ]
    )
    st.set_page_config(page_title=f"{page.title} · ResQ OS")
    page.run()


main()
