"""Which warehouse the dashboard reads, which organization it shows, and who is acting.

Locally the warehouse is the URL in ``RESQ_DB`` (set by ``resq dashboard``); in Streamlit
in Snowflake it is the active Snowpark session. The connection is cached for the server's
life. Every read and action of a page goes through :class:`Scope`, which is a tenant view
(``backend.tenant(org)``) when one organization is chosen, so nothing of another appears.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import streamlit as st

import resq
from resq.backends.warehouse import TenantView, WarehouseBackend, default_actor
from resq.dashboard import DB_ENV, ORG_ENV
from resq.engine import SelfHealingEngine

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_DB = "duckdb:///resq.duckdb"  # the command line's default, for a bare `streamlit run`
ALL_ORGS = "All organizations"
SCOPE_KEY = "resq_scope"


@st.cache_resource(show_spinner="Connecting to the warehouse")
def _connect(url: str) -> WarehouseBackend:
    return resq.connect(url)


def _active_session() -> Any:
    """The Snowpark session Streamlit in Snowflake runs the app in, or None elsewhere."""
    try:
        from snowflake.snowpark.context import get_active_session

        return get_active_session()
    except Exception:
        return None


@st.cache_resource(show_spinner="Connecting to Snowflake")
def _snowflake_backend() -> WarehouseBackend | None:
    session = _active_session()
    if session is None:
        return None
    try:
        from resq.backends.snowflake import from_session
    except ImportError:
        st.error(
            "This app runs in Snowflake, but the installed resq has no Snowflake backend "
            "(resq.backends.snowflake). Install `resq[snowflake]` in the app's packages."
        )
        st.stop()
    # The app role writes no table: overrides, acknowledgements, chaos and heal are calls
    # of the write procedures, which check the viewer's entitlement. It reads the dynamic
    # table's inputs through their secure views (resq.backends.snowflake.backend.APP_OPTIONS).
    backend: WarehouseBackend = from_session(session, writes="procedures", reads="app")
    return backend


def connection() -> tuple[WarehouseBackend, str]:
    """The cached backend, and a short description of where its data lives."""
    url = os.environ.get(DB_ENV, "").strip()
    if not url:
        backend = _snowflake_backend()
        if backend is not None:
            return backend, "Snowflake (the app's Snowpark session)"
        url = DEFAULT_DB
    return _connect(url), url


def locked_org() -> str | None:
    """The organization the app was started for (``resq --org``), if any."""
    return os.environ.get(ORG_ENV, "").strip() or None


@dataclass
class Scope:
    """What a page may see and do: one organization (a tenant view) or all of them."""

    backend: WarehouseBackend
    source: str
    org_id: str | None
    locked: bool
    actor: str
    view: WarehouseBackend | TenantView

    @classmethod
    def make(
        cls, backend: WarehouseBackend, source: str, org_id: str | None, locked: bool, actor: str
    ) -> Scope:
        view: WarehouseBackend | TenantView = backend.tenant(org_id) if org_id else backend
        return cls(backend, source, org_id, locked, actor or default_actor(), view)

    @property
    def engine(self) -> SelfHealingEngine:
        return SelfHealingEngine(self.backend)

    @property
    def label(self) -> str:
        return self.org_id or ALL_ORGS

    def read(self, table: str, **kwargs: Any) -> pd.DataFrame:
        """Rows of a table in this scope, as pandas for Streamlit."""
        return self.view.read(table, **kwargs).to_pandas()

    def override_order(self, po_id: str, action: str, quantity: float | None = None) -> None:
        self.view.override_order(po_id, action, actor=self.actor, quantity=quantity)

    def ack_alert(self, alert_id: str) -> None:
        self.view.ack_alert(alert_id, actor=self.actor)

    def heal(self) -> dict[str, Any]:
        """One heal cycle for this scope, as a report dict: in the warehouse (RESQ_HEAL_ORG,
        with the engine's rights) when the backend writes through procedures, else the
        library's engine here."""
        if getattr(self.backend, "writes_through_procedures", False):
            report: dict[str, Any] = self.backend.heal_in_warehouse(  # type: ignore[attr-defined]
                org_id=self.org_id
            )
            return report
        return self.engine.heal(org_id=self.org_id).as_dict()


def current() -> Scope:
    """The scope the entry point chose for this run (pages call this)."""
    scope = st.session_state.get(SCOPE_KEY)
    if not isinstance(scope, Scope):
        st.error("Open the dashboard through its entry point (`resq dashboard`).")
        st.stop()
    return scope
