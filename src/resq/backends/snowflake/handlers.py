"""The Python that runs inside Snowflake: the handlers of GET_WEATHER_DATA,
GET_VENDOR_STATUS (vectorized), GENERATE_REALISTIC_SIMULATION (a table function) and the
RESQ_HEAL procedure (sql/snowflake/functions.sql and procedure.sql).

Each is a thin shell over the library (resq.simulation, the engine), so Snowflake computes
exactly what the library does. The same functions run as local Python in Snowpark's local
testing mode (tests/test_snowflake_tier1_*). Nothing here imports Snowflake modules or
pandas at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from resq import simulation

STREAM = "STOCK_ANALYSIS_CHANGES"
NEEDS_DECISION = ("CRITICAL", "WARNING")


def _vectorized(func: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Mark ``func`` as a vectorized (pandas batch) UDF inside Snowflake; elsewhere (no
    ``_snowflake`` module) it stays a plain function."""
    try:
        from _snowflake import vectorized
    except ImportError:
        return func
    import pandas as pd

    marked: Callable[[Any], Any] = vectorized(input=pd.DataFrame)(func)
    return marked


# --------------------------------------------------------------------------- functions


def weather_series(cities: Any) -> Any:
    """GET_WEATHER_DATA over a pandas Series of city names (None stays None)."""
    import pandas as pd

    values = pa.array(cities.astype(object).where(cities.notna(), None).tolist(), pa.string())
    return pd.Series(simulation.get_weather_data_batch(values).to_pylist(), index=cities.index)


def vendor_status_series(vendors: Any) -> Any:
    """GET_VENDOR_STATUS over a pandas Series of vendor names: one OBJECT (a dict with
    status, latency_ms and data_source) per row, None for a NULL vendor."""
    import pandas as pd

    values = pa.array(vendors.astype(object).where(vendors.notna(), None).tolist(), pa.string())
    return pd.Series(simulation.get_vendor_status_batch(values).to_pylist(), index=vendors.index)


@_vectorized
def weather_batch(frame: Any) -> Any:
    """The vectorized GET_WEATHER_DATA handler: column 0 of the batch is the city."""
    return weather_series(frame[0])


@_vectorized
def vendor_status_batch(frame: Any) -> Any:
    """The vectorized GET_VENDOR_STATUS handler: column 0 of the batch is the vendor."""
    return vendor_status_series(frame[0])


SERIES_COLUMNS = ("org_id", "sku", "day", "consumption", "stock", "stockout", "data_source")


class SimulationSeries:
    """GENERATE_REALISTIC_SIMULATION(org_id, sku, days, seed): one row per day, exactly
    ``resq.simulation.generate_realistic_simulation`` for that item (labelled SIMULATED)."""

    def process(self, org_id: str, sku: str, days: Any, seed: Any) -> Iterator[tuple[Any, ...]]:
        table = simulation.generate_realistic_simulation([org_id], [sku], int(days), int(seed))
        columns = [table.column(name).to_pylist() for name in SERIES_COLUMNS]
        yield from zip(*columns, strict=True)


# --------------------------------------------------------------------------- procedure


def needs_healing(session: Any) -> bool:
    """Whether any stock_analysis row is CRITICAL or WARNING: the cheap check (a Snowpark
    DataFrame, computed in the warehouse) that makes a spurious trigger a no-op."""
    from snowflake.snowpark.functions import col

    rows = session.table("STOCK_ANALYSIS").filter(col("STATUS").isin(*NEEDS_DECISION))
    return bool(rows.limit(1).count())


def consume_stream(session: Any) -> int:
    """Read the stream on stock_analysis in a DML statement (which advances its offset) and
    log the trigger; returns how many changed rows it held."""
    session.sql(
        "INSERT INTO resq_heal_triggers (triggered_at, changed_rows) "
        f"SELECT CURRENT_TIMESTAMP()::TIMESTAMP_NTZ, COUNT(*) FROM {STREAM}"
    ).collect()
    rows = session.sql(
        "SELECT changed_rows FROM resq_heal_triggers ORDER BY triggered_at DESC LIMIT 1"
    ).collect()
    return int(rows[0][0]) if rows else 0


def heal_procedure(session: Any, dry_run: bool = False, triggered_by: str = "MANUAL") -> dict:
    """``CALL RESQ_HEAL(dry_run, triggered_by)``: one heal cycle of the same engine, or a
    no-op when nothing needs a decision. Returns the report as a VARIANT."""
    from resq.backends.snowflake import from_session
    from resq.engine import SelfHealingEngine

    result: dict[str, Any] = {"triggered_by": triggered_by}
    if str(triggered_by).upper() == "STREAM":
        result["changed_rows"] = consume_stream(session)
    if not needs_healing(session):
        return {**result, "noop": True, "reason": "no CRITICAL or WARNING item"}
    backend = from_session(session)
    engine = SelfHealingEngine(backend, actor=f"resq-procedure:{triggered_by}".lower())
    proposals, covered = engine.plan()
    if proposals.num_rows == 0:
        return {
            **result,
            "noop": True,
            "reason": "every item that needs a decision is covered by an open order",
            "covered": covered,
        }
    report = engine.heal(dry_run=bool(dry_run))
    return {**result, "noop": False, **_jsonable(report.as_dict())}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# --------------------------------------------------------------------------- write procedures
#
# The app role writes nothing directly: overrides, acknowledgements, chaos and heal go
# through these owner's-rights procedures (sql/snowflake/procedure.sql). Each first checks
# that the calling user (CURRENT_USER(), the viewer even in Streamlit in Snowflake) is
# entitled in RESQ_ENTITLEMENTS to the organization it acts for, then runs the library's
# own action, audited as that user. Shared data (vendors, weather) and a heal of every
# organization need the '*' entitlement.

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
