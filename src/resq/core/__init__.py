"""resq.core: the business rules, pure Python and columnar, with no I/O and no backend.

Each rule is written once here and takes scalars or columns (numpy / pyarrow). The
warehouse SQL that computes the same thing is held to these functions by property tests.
"""

from __future__ import annotations

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
