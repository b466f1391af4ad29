"""The handlers of the app's write procedures (sql/snowflake/procedure.sql):
RESQ_OVERRIDE_ORDER, RESQ_ACK_ALERT, RESQ_CHAOS and RESQ_HEAL_ORG; and RESQ_VERIFY_AUDIT,
which walks the whole audit chain for a user the row access policy shows only part of.

The app role writes nothing directly: overrides, acknowledgements, chaos and heal go
through these owner's-rights procedures. Each first checks that the calling user
(CURRENT_USER(), the viewer even in Streamlit in Snowflake) is entitled in
RESQ_ENTITLEMENTS to the organization it acts for, then runs the library's own action,
audited as that user. Shared data (vendors, weather) and a heal of every organization need
the '*' entitlement.

Import surface: as RESQ_HEAL's (Snowpark, numpy, pandas, pyarrow, sqlglot), all imported
when a procedure is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from resq.inside.heal import _jsonable

ENTITLED = "SELECT COUNT(*) AS n FROM resq_entitlements WHERE user_name = ? AND org_id IN ('*', ?)"


def caller(backend: Any) -> str:
    """The calling user, as Snowflake reports it (CURRENT_USER())."""
    from resq.errors import TenantScopeError

    user = backend.fetch(backend.render("SELECT CURRENT_USER() AS u")).column(0)[0].as_py()
    if not user:
        raise TenantScopeError(
            "CURRENT_USER() is NULL: the app's owner role needs READ SESSION on the account"
        )
    return str(user)


def require_entitled(backend: Any, user: str, org_id: str | None) -> None:
    """Refuse unless ``user`` is entitled to ``org_id`` (None: to every organization)."""
    from resq.errors import TenantScopeError

    wanted = "*" if org_id is None else str(org_id)
    n = backend.fetch(backend.render(ENTITLED), [user, wanted]).column(0)[0].as_py()
    if not n:
        what = "every organization ('*')" if org_id is None else f"organization {org_id!r}"
        raise TenantScopeError(f"user {user!r} is not entitled to act for {what}")


ANY_ENTITLEMENT = "SELECT COUNT(*) AS n FROM resq_entitlements WHERE user_name = ?"


def verify_audit_as(backend: Any, user: str, anchor: str | None = None) -> dict[str, Any]:
    """The verdict on the whole audit chain, for any entitled user. A tenant's own view of
    ``audit_log`` holds only its organization's events, whose gaps look like deletions;
    the owner sees every row. Only the verdict leaves (ok, events checked, the first
    broken sequence number and why), never another organization's events."""
    from resq.errors import TenantScopeError

    n = backend.fetch(backend.render(ANY_ENTITLEMENT), [user]).column(0)[0].as_py()
    if not n:
        raise TenantScopeError(f"user {user!r} is not entitled to any organization")
    from resq.core.audit import Anchor

    parsed = None if anchor is None else Anchor.parse(str(anchor))
    return dict(backend.verify_audit(parsed).as_dict())


def override_order_as(
    backend: Any,
    user: str,
    po_id: str,
    action: str,
    quantity: float | None = None,
    org_id: str | None = None,
) -> dict[str, Any]:
    """approve / cancel / receive / set_quantity for an order of an organization ``user`` is
    entitled to (``org_id`` narrows it further, as a tenant view does)."""
    order = backend.order(str(po_id), org_id=org_id)
    require_entitled(backend, user, order["org_id"])
    return dict(
        backend.override_order(
            str(po_id), str(action), actor=user, quantity=quantity, org_id=order["org_id"]
        )
    )


def ack_alert_as(
    backend: Any, user: str, alert_id: str, org_id: str | None = None
) -> dict[str, Any]:
    """Acknowledge an alert of an organization ``user`` is entitled to."""
    from resq.errors import NotFoundError

    rows = backend.read("alerts", org_id=org_id, where={"alert_id": str(alert_id)}).to_pylist()
    if not rows:
        raise NotFoundError(f"no alert {alert_id!r}")
    require_entitled(backend, user, rows[0]["org_id"])
    return dict(backend.ack_alert(str(alert_id), actor=user, org_id=rows[0]["org_id"]))


CHAOS_FIELDS = ("kind", "table", "key", "values", "upsert", "description")


def chaos_as(backend: Any, user: str, event: dict[str, Any]) -> dict[str, Any]:
    """Apply a chaos event (``ChaosEvent.as_dict()``): an item's stock or demand needs the
    item's organization, a vendor's status or a city's weather (shared by everyone) '*'."""
    from resq.errors import ValidationError
    from resq.simulation import ChaosEvent

    try:
        chaos = ChaosEvent(**{k: event[k] for k in CHAOS_FIELDS})
    except (KeyError, TypeError) as exc:
        raise ValidationError("not a chaos event", []) from exc
    org_id = chaos.key.get("org_id") if chaos.table == "inventory_master" else None
    require_entitled(backend, user, None if org_id is None else str(org_id))
    backend.apply_chaos(chaos, actor=user)
    return {**chaos.as_dict(), "actor": user}


def heal_as(
    backend: Any, user: str, org_id: str | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """One heal cycle for ``org_id`` (None: every organization, which needs '*')."""
    from resq.engine import SelfHealingEngine

    require_entitled(backend, user, org_id)
    # Each CALL is a new backend that has written nothing yet: refresh first, so a heal
    # right after a chaos edit or an override (another CALL) sees it, as the library does.
    backend.refresh_analysis(force=True)
    engine = SelfHealingEngine(backend, actor=user)
    return _jsonable(engine.heal(org_id=org_id, dry_run=bool(dry_run)).as_dict())


def _as_caller(session: Any, action: Callable[..., Any], *args: Any) -> Any:
    from resq.backends.snowflake import from_session

    backend = from_session(session)
    return _jsonable(action(backend, caller(backend), *args))


def override_order_procedure(
    session: Any, po_id: str, action: str, quantity: Any = None, org_id: Any = None
) -> dict:
    """``CALL RESQ_OVERRIDE_ORDER(po_id, action, quantity, org_id)``."""
    qty = None if quantity is None else float(quantity)
    result: dict = _as_caller(session, override_order_as, po_id, action, qty, org_id)
    return result


def ack_alert_procedure(session: Any, alert_id: str, org_id: Any = None) -> dict:
    """``CALL RESQ_ACK_ALERT(alert_id, org_id)``."""
    result: dict = _as_caller(session, ack_alert_as, alert_id, org_id)
    return result


def chaos_procedure(session: Any, event: Any) -> dict:
    """``CALL RESQ_CHAOS(event)``: the event as JSON text (``ChaosEvent.as_dict()``)."""
    import json

    parsed = json.loads(event) if isinstance(event, str) else dict(event)
    result: dict = _as_caller(session, chaos_as, parsed)
    return result


def heal_org_procedure(session: Any, org_id: Any = None, dry_run: bool = False) -> dict:
    """``CALL RESQ_HEAL_ORG(org_id, dry_run)``: the dashboard's heal button."""
    result: dict = _as_caller(session, heal_as, org_id, bool(dry_run))
    return result


def verify_audit_procedure(session: Any, anchor: Any = None) -> dict:
    """``CALL RESQ_VERIFY_AUDIT(anchor)``: the dashboard's "Verify the hash chain" on
    Snowflake (``anchor``: what ``resq audit anchor`` printed, or NULL)."""
    result: dict = _as_caller(session, verify_audit_as, anchor)
    return result
