"""The handler of the RESQ_HEAL procedure (sql/snowflake/procedure.sql): one heal cycle of
the library's engine, run inside Snowflake through the procedure's Snowpark session.

Import surface: Snowpark, numpy, pandas, pyarrow and sqlglot (the engine and the Snowflake
backend), all imported when the procedure is called; the engine reads the stored alert
routing through the backend, so alert delivery (and its retry library) is not needed here.
"""

from __future__ import annotations

from typing import Any

STREAM = "STOCK_ANALYSIS_CHANGES"
NEEDS_DECISION = ("CRITICAL", "WARNING")


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
    # an order waiting for a vendor that has one now is work too (re-sourced by the cycle)
    if proposals.num_rows == 0 and not any(engine.resource()["resourced"].to_pylist()):
        return {
            **result,
            "noop": True,
            "reason": "every item that needs a decision is covered by an open order",
            "covered": covered,
        }
    report = engine.heal(dry_run=bool(dry_run))
    return {**result, "noop": False, **_jsonable(report.as_dict())}


def _jsonable(value: Any) -> Any:
    """A value a VARIANT result can hold: timestamps as ISO text, decimals (a SUM over
    integers) as int or float."""
    from decimal import Decimal

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
