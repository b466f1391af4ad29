"""Typed records for the things resq handles, validated with the same rules as a load."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from resq.core.alerts import Severity
from resq.core.ordering import OrderStatus
from resq.core.sectors import Sector, SectorConfig
from resq.core.validation import validate_record

__all__ = [
    "Alert",
    "AuditEvent",
    "InventoryItem",
    "Organization",
    "PurchaseOrder",
    "Sector",
    "SectorConfig",
]


class _Record:
    _table: str = ""

    def __post_init__(self) -> None:
        if self._table:
            validate_record(self._table, self.as_row())

    def as_row(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Organization(_Record):
    """A hospital, a PDS ration shop or an NGO, in one city."""

    _table = "organizations"
    org_id: str
    org_name: str
    sector: str
    city: str
    disaster_zone: bool = False
    phh_persons: int | None = None
    aay_households: int | None = None
    budget_cap: float | None = None
    data_source: str = "REAL"


@dataclass(frozen=True)
class InventoryItem(_Record):
    """One item an organization stocks: how much it has and how fast it goes."""

    _table = "inventory_master"
    org_id: str
    sku: str
    item_name: str
    current_stock: float
    daily_consumption: float
    category: str = "OTHER"
    unit: str = "unit"
    pack_size: float = 1.0
    lead_time_days: float = 1.0
    preferred_vendor: str | None = None
    data_source: str = "REAL"

    @property
    def days_remaining(self) -> float | None:
        from resq.core.stock import days_remaining

        result: float | None = days_remaining(self.current_stock, self.daily_consumption)
        return result


@dataclass(frozen=True)
class PurchaseOrder:
    """A purchase order raised by a heal cycle or changed by a manual override."""

    po_id: str
    idempotency_key: str
    org_id: str
    sku: str
    vendor: str | None
    quantity: float
    status: OrderStatus
    priority: int
    reason: dict[str, Any]
    data_source: str
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.po_id or not self.idempotency_key:
            raise ValueError("po_id and idempotency_key must not be empty")
        if not (self.quantity >= 0):
            raise ValueError(f"quantity must be >= 0, got {self.quantity!r}")
        OrderStatus(self.status)


@dataclass(frozen=True)
class Alert:
    """A stakeholder-facing alert, with its escalation tier."""

    alert_id: str
    org_id: str
    kind: str
    severity: Severity
    message: str
    state: str = "OPEN"
    tier: int = 0
    sku: str | None = None
    data_source: str = "REAL"

    def __post_init__(self) -> None:
        Severity(self.severity)
        if not self.alert_id or not self.org_id:
            raise ValueError("alert_id and org_id must not be empty")


@dataclass(frozen=True)
class AuditEvent:
    """One row of the hash-chained audit log."""

    seq: int
    event_id: str
    event_ts: datetime
    actor: str
    action: str
    org_id: str | None
    entity_id: str | None
    details: str
    prev_hash: str
    hash: str
