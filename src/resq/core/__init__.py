"""resq.core: the business rules, pure Python and columnar, with no I/O and no backend.

Each rule is written once here and takes scalars or columns (numpy / pyarrow). The
warehouse SQL that computes the same thing is held to these functions by property tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resq.core.alerts import (
        DEFAULT_POLICY,
        AlertKind,
        Route,
        RoutingPolicy,
        Severity,
        raise_severity,
        severity,
    )
    from resq.core.audit import GENESIS, ChainCheck, verify_chain
    from resq.core.health import Health, HealthInputs, HealthReport, assess
    from resq.core.models import (
        Alert,
        AuditEvent,
        InventoryItem,
        Organization,
        PurchaseOrder,
    )
    from resq.core.ordering import (
        OPEN_STATUSES,
        Action,
        OrderStatus,
        PlanOptions,
        choose_vendors,
        explain_reason,
        idempotency_key,
        needs_decision,
        plan_orders,
        po_id,
        priority_rank,
        reorder_point,
        safety_stock,
    )
    from resq.core.sectors import (
        ADVERSE_WEATHER,
        DEFAULT_SECTOR_CONFIG,
        WEATHER_DELAY_DAYS,
        Analysis,
        Sector,
        SectorConfig,
        analyse,
        monthly_allotment_kg,
    )
    from resq.core.stock import Status, classify, days_remaining
    from resq.core.validation import TABLES, validate_record, validate_table

# Each name is imported from its module when it is first read (PEP 562), so a command that
# needs one rule (``from resq.core import urgency``) does not pay for all of them.
_HOME = {
    "ADVERSE_WEATHER": "resq.core.sectors",
    "Action": "resq.core.ordering",
    "Alert": "resq.core.models",
    "AlertKind": "resq.core.alerts",
    "Analysis": "resq.core.sectors",
    "AuditEvent": "resq.core.models",
    "ChainCheck": "resq.core.audit",
    "DEFAULT_POLICY": "resq.core.alerts",
    "DEFAULT_SECTOR_CONFIG": "resq.core.sectors",
    "GENESIS": "resq.core.audit",
    "Health": "resq.core.health",
    "HealthInputs": "resq.core.health",
    "HealthReport": "resq.core.health",
    "InventoryItem": "resq.core.models",
    "OPEN_STATUSES": "resq.core.ordering",
    "OrderStatus": "resq.core.ordering",
    "Organization": "resq.core.models",
    "PlanOptions": "resq.core.ordering",
    "PurchaseOrder": "resq.core.models",
    "Route": "resq.core.alerts",
    "RoutingPolicy": "resq.core.alerts",
    "Sector": "resq.core.sectors",
    "SectorConfig": "resq.core.sectors",
    "Severity": "resq.core.alerts",
    "Status": "resq.core.stock",
    "TABLES": "resq.core.validation",
    "WEATHER_DELAY_DAYS": "resq.core.sectors",
    "analyse": "resq.core.sectors",
    "assess": "resq.core.health",
    "choose_vendors": "resq.core.ordering",
    "classify": "resq.core.stock",
    "days_remaining": "resq.core.stock",
    "explain_reason": "resq.core.ordering",
    "idempotency_key": "resq.core.ordering",
    "monthly_allotment_kg": "resq.core.sectors",
    "needs_decision": "resq.core.ordering",
    "plan_orders": "resq.core.ordering",
    "po_id": "resq.core.ordering",
    "priority_rank": "resq.core.ordering",
    "raise_severity": "resq.core.alerts",
    "reorder_point": "resq.core.ordering",
    "safety_stock": "resq.core.ordering",
    "severity": "resq.core.alerts",
    "validate_record": "resq.core.validation",
    "validate_table": "resq.core.validation",
    "verify_chain": "resq.core.audit",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "ADVERSE_WEATHER",
    "DEFAULT_POLICY",
    "DEFAULT_SECTOR_CONFIG",
    "GENESIS",
    "OPEN_STATUSES",
    "TABLES",
    "WEATHER_DELAY_DAYS",
    "Action",
    "Alert",
    "AlertKind",
    "Analysis",
    "AuditEvent",
    "ChainCheck",
    "Health",
    "HealthInputs",
    "HealthReport",
    "InventoryItem",
    "OrderStatus",
    "Organization",
    "PlanOptions",
    "PurchaseOrder",
    "Route",
    "RoutingPolicy",
    "Sector",
    "SectorConfig",
    "Severity",
    "Status",
    "analyse",
    "assess",
    "choose_vendors",
    "classify",
    "days_remaining",
    "explain_reason",
    "idempotency_key",
    "monthly_allotment_kg",
    "needs_decision",
    "plan_orders",
    "po_id",
    "priority_rank",
    "raise_severity",
    "reorder_point",
    "safety_stock",
    "severity",
    "validate_record",
    "validate_table",
    "verify_chain",
]
