"""Alert severity, stakeholder routing and the escalation ladder (delivery lives elsewhere).

Severity comes from the stock status and the sector: a critical hospital oxygen item is the
highest (SEV1). Each alert is routed to the stakeholders of its sector, organization and
severity at tier 0; an alert not acknowledged within its severity's timeout escalates to
the next tier, until acknowledged, resolved, or out of tiers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from resq.core._columns import broadcast, eq_mask, from_codes, is_scalar, to_bool, to_str
from resq.core.codes import AlertState as AlertState  # re-exported: its home for rules
from resq.core.codes import Severity

SEVERITY_ORDER = (Severity.SEV1, Severity.SEV2, Severity.SEV3, Severity.SEV4)


class AlertKind(StrEnum):
    """Why an alert was raised."""

    CRITICAL_STOCK = "CRITICAL_STOCK"  # an item is at or below its critical threshold
    NO_VENDOR = "NO_VENDOR"  # an order is pending because no vendor is online
    BUDGET_HOLD = "BUDGET_HOLD"  # an order waits for approval because of a budget cap
    ALLOTMENT_EXHAUSTED = "ALLOTMENT_EXHAUSTED"  # a PDS cap left nothing to order
    DATA_ERROR = "DATA_ERROR"  # the item's numbers give no plausible order: held, not ordered


def severity(status: Any, sector: Any, category: Any = None, disaster_zone: Any = False) -> Any:
    """Severity of a stock situation (columnar; scalars give a str, None for OK).

    CRITICAL: SEV1 for hospital oxygen and for any item in an active disaster zone, SEV2
    otherwise. WARNING: SEV3. OK: no alert (None).

    >>> severity("CRITICAL", "HOSPITAL", "OXYGEN")
    'SEV1'
    >>> severity("CRITICAL", "PDS", "RICE")
    'SEV2'
    """
    st = to_str(status)
    n = len(st)
    sec = broadcast(n, to_str(sector))
    cat = broadcast(n, to_str(category))
    zone = broadcast(n, to_bool(disaster_zone))
    top = ((sec == "HOSPITAL") & (cat == "OXYGEN")) | zone
    out = np.full(n, None, dtype=object)
    out[st == "WARNING"] = Severity.SEV3.value
    critical = st == "CRITICAL"
    out[critical & top] = Severity.SEV1.value
    out[critical & ~top] = Severity.SEV2.value
    return out[0] if is_scalar(status) else out


def _severity_codes(
    status: Any, sector: Any, category: Any, disaster_zone: Any
) -> npt.NDArray[np.int8]:
    """:func:`severity` of Arrow columns as codes into :data:`SEVERITY_ORDER` (-1 for no
    alert), computed from masks: the same rule without a Python object per row."""
    n = len(status)
    zone = broadcast(n, to_bool(disaster_zone))
    top = (eq_mask(sector, "HOSPITAL") & eq_mask(category, "OXYGEN")) | zone
    out = np.full(n, -1, np.int8)
    out[eq_mask(status, "WARNING")] = SEVERITY_ORDER.index(Severity.SEV3)
    critical = eq_mask(status, "CRITICAL")
    out[critical & top] = SEVERITY_ORDER.index(Severity.SEV1)
    out[critical & ~top] = SEVERITY_ORDER.index(Severity.SEV2)
    return out


def raise_severity(sev: Any, steps: int = 1) -> Any:
    """A more urgent severity (SEV1 stays SEV1): used when no vendor can fill an order."""
    levels = [s.value for s in SEVERITY_ORDER]
    arr = to_str(sev)
    out = np.array(
        [None if s is None else levels[max(0, levels.index(s) - steps)] for s in arr], dtype=object
    )
    return out[0] if is_scalar(sev) else out


def kind_severity(
    kind: npt.NDArray[np.object_], base: npt.NDArray[np.object_]
) -> npt.NDArray[np.object_]:
    """Severity per alert kind: NO_VENDOR is one step more urgent than the stock severity."""
    bumped = raise_severity(base)
    return np.where(kind == AlertKind.NO_VENDOR.value, bumped, base).astype(object)


DEFAULT_TIMEOUTS: dict[str, timedelta | None] = {
    Severity.SEV1: timedelta(minutes=15),
    Severity.SEV2: timedelta(hours=1),
    Severity.SEV3: timedelta(hours=4),
    Severity.SEV4: None,
}
"""How long an alert may go unacknowledged before it escalates; None never escalates."""


@dataclass(frozen=True)
class Route:
    """Who hears about an alert at one tier: a stakeholder and the channels to reach them.

    ``sector``, ``org_id`` and ``severities`` narrow the route; None matches anything.
    """

    tier: int
    stakeholder: str
    channels: tuple[str, ...] = ("console",)
    sector: str | None = None
    org_id: str | None = None
    severities: tuple[str, ...] | None = None

    def matches(self, sector: str, org_id: str, sev: str) -> bool:
        return (
            (self.sector is None or self.sector == sector)
            and (self.org_id is None or self.org_id == org_id)
            and (self.severities is None or sev in self.severities)
        )


@dataclass(frozen=True)
class RoutingPolicy:
    """The stakeholder routes and escalation timeouts of an installation."""

    routes: tuple[Route, ...]
    timeouts: dict[str, timedelta | None] = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))

    def recipients(self, sector: str, org_id: str, sev: str, tier: int) -> list[Route]:
        """Routes at exactly this tier; the most specific routes win (org over sector)."""
        found = [r for r in self.routes if r.tier == tier and r.matches(sector, org_id, sev)]
        if not found:
            return []
        best = max(_specificity(r) for r in found)
        return [r for r in found if _specificity(r) == best]

    def max_tier(self, sector: str, org_id: str, sev: str) -> int:
        tiers = [r.tier for r in self.routes if r.matches(sector, org_id, sev)]
        return max(tiers, default=0)

    def next_tier(self, sector: str, org_id: str, sev: str, tier: int) -> int | None:
        """The tier an alert at ``tier`` escalates to: the next one with recipients for it
        (a tier where no route matches is skipped), or None at the top of its ladder."""
        for t in range(tier + 1, self.max_tier(sector, org_id, sev) + 1):
            if self.recipients(sector, org_id, sev, t):
                return t
        return None

    def escalation_due(
        self, sev: str, tier: int, since: datetime, now: datetime, *, sector: str, org_id: str
    ) -> bool:
        """True when an unacknowledged alert at ``tier`` should move up a tier now."""
        timeout = self.timeouts.get(sev)
        if timeout is None or tier >= self.max_tier(sector, org_id, sev):
            return False
        return now - since >= timeout


def _specificity(route: Route) -> int:
    return (
        (route.org_id is not None) * 4
        + (route.sector is not None) * 2
        + (route.severities is not None)
    )


DEFAULT_POLICY = RoutingPolicy(
    routes=(
        Route(0, "store-manager"),
        Route(1, "medical-superintendent", sector="HOSPITAL"),
        Route(1, "district-supply-officer", sector="PDS"),
        Route(1, "relief-coordinator", sector="NGO"),
        Route(2, "state-control-room"),
    )
)
"""Routing used when no ``resq.toml`` configures stakeholders."""


def routes_from_config(entries: Iterable[dict[str, Any]]) -> tuple[Route, ...]:
    """Routes from config dictionaries (``tier``, ``stakeholder``, ``channels``, filters)."""
    out = []
    for i, entry in enumerate(entries, start=1):
        try:
            sev: Sequence[str] | None = entry.get("severities")
            out.append(
                Route(
                    tier=int(entry.get("tier", 0)),
                    stakeholder=str(entry["stakeholder"]),
                    channels=tuple(entry.get("channels", ("console",))),
                    sector=entry.get("sector"),
                    org_id=entry.get("org_id"),
                    severities=tuple(sev) if sev is not None else None,
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"route {i}: {exc!s} is missing or invalid") from None
    return tuple(out)


def stored_routing(
    routes: Sequence[Mapping[str, Any]], timeouts: Sequence[Mapping[str, Any]]
) -> RoutingPolicy:
    """The routing policy from the rows stored in ``alert_routes`` (tier, stakeholder,
    channels, sector, org_id, severities; lists as JSON text) and ``alert_timeouts``
    (severity, timeout_s): :data:`DEFAULT_POLICY` where nothing is stored (no routes: the
    default routes; no timeouts: the default timeouts)."""
    if not routes and not timeouts:
        return DEFAULT_POLICY
    policy_timeouts: dict[str, timedelta | None] = dict(DEFAULT_TIMEOUTS)
    for row in timeouts:
        seconds = row["timeout_s"]
        policy_timeouts[row["severity"]] = None if seconds is None else timedelta(seconds=seconds)
    stored = tuple(
        Route(
            tier=int(r["tier"]),
            stakeholder=str(r["stakeholder"]),
            channels=tuple(json.loads(r["channels"])),
            sector=r["sector"],
            org_id=r["org_id"],
            severities=None if r["severities"] is None else tuple(json.loads(r["severities"])),
        )
        for r in routes
    )
    return RoutingPolicy(routes=stored or DEFAULT_POLICY.routes, timeouts=policy_timeouts)


ALERT_SCHEMA_FIELDS = (
    "dedup_key", "idempotency_key", "has_order", "org_id", "sku", "kind", "severity",
    "message", "data_source", "stock_source", "weather_source", "vendor_status_source",
    "demand_source",
)  # fmt: skip


def alert_id(dedup_key: str) -> str:
    """The alert id of a dedup key: ``AL-`` and 20 hex digits of its SHA-256. The warehouse
    computes the same in ``sql/merge_alerts.sql``."""
    import hashlib

    return "AL-" + hashlib.sha256(dedup_key.encode()).hexdigest()[:20].upper()


def alerts_for(proposals: Any) -> Any:
    """The alerts a heal cycle raises for its proposals, as an Arrow table (columnar).

    A CRITICAL item raises CRITICAL_STOCK; an order pending a vendor raises NO_VENDOR (one
    step more urgent); an order held by a budget raises BUDGET_HOLD; a PDS item whose
    monthly allotment is used up raises ALLOTMENT_EXHAUSTED; an item held because its
    numbers give no plausible quantity (action HELD) raises DATA_ERROR naming the item, as
    urgent as the stock situation. Each alert's dedup key is
    its kind and the item's shortfall episode (``KIND:idempotency key``), so re-runs never
    raise it twice. The warehouse derives the alert id and links the order.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    col = proposals.column
    # severity as codes into SEVERITY_ORDER (no Python string per row); no alert is SEV4
    base = _severity_codes(col("status"), col("sector"), col("category"), col("disaster_zone"))
    base[base < 0] = SEVERITY_ORDER.index(Severity.SEV4)
    levels = [s.value for s in SEVERITY_ORDER]
    order_status = col("order_status")
    masks = {
        AlertKind.CRITICAL_STOCK: eq_mask(col("status"), "CRITICAL"),
        AlertKind.NO_VENDOR: eq_mask(order_status, "PENDING_VENDOR"),
        AlertKind.BUDGET_HOLD: eq_mask(order_status, "PENDING_APPROVAL"),
        AlertKind.ALLOTMENT_EXHAUSTED: eq_mask(col("action"), "CAPPED"),
        AlertKind.DATA_ERROR: eq_mask(col("action"), "HELD"),
    }
    # Only the columns alerts read are taken per kind (never the bulky reason).
    used = [c for c in _ALERT_INPUTS if c in proposals.column_names]
    source = proposals.select(used)
    parts = []
    for kind, mask in masks.items():
        idx = np.flatnonzero(mask)
        if not len(idx):
            continue
        rows = source.take(pa.array(idx))
        sev = base[idx] if kind != AlertKind.NO_VENDOR else np.maximum(base[idx] - 1, 0)
        kind_col = pa.repeat(pa.scalar(kind.value, pa.string()), len(idx))
        parts.append(
            pa.table(
                {
                    "dedup_key": pc.binary_join_element_wise(
                        kind_col, rows["idempotency_key"], ":"
                    ),
                    "idempotency_key": rows["idempotency_key"],
                    "has_order": pc.equal(rows["action"], "ORDER"),
                    "org_id": rows["org_id"],
                    "sku": rows["sku"],
                    "kind": kind_col,
                    "severity": from_codes(sev, levels),
                    "message": _messages(kind, rows),
                    "data_source": rows["data_source"],
                    **{
                        c: rows[c] if c in rows.column_names else pa.nulls(len(idx), pa.string())
                        for c in _PART_COLUMNS
                    },
                }
            )
        )
    if not parts:
        return pa.table(
            {
                name: pa.array([], pa.bool_() if name == "has_order" else pa.string())
                for name in ALERT_SCHEMA_FIELDS
            }
        )
    return pa.concat_tables(parts)


#: The proposal columns :func:`alerts_for` and its messages read.
_ALERT_INPUTS = (
    "idempotency_key", "action", "org_id", "sku", "data_source", "days_remaining",
    "item_name", "quantity", "vendor", "stock_source", "weather_source", "vendor_status_source",
    "demand_source",
)  # fmt: skip
_PART_COLUMNS = ("stock_source", "weather_source", "vendor_status_source", "demand_source")


def _messages(kind: AlertKind, rows: Any) -> Any:
    """One readable sentence per alert, built column-wise."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def text(values: Any) -> Any:
        return pc.cast(values, pa.string())

    days = pc.if_else(
        pc.is_null(rows["days_remaining"]),
        pa.scalar("no", pa.string()),
        text(pc.round(rows["days_remaining"], 1)),
    )
    name = (
        pc.coalesce(rows["item_name"], rows["sku"])
        if "item_name" in rows.column_names
        else rows["sku"]
    )
    head = pc.binary_join_element_wise(
        name,
        pa.scalar(" at "),
        rows["org_id"],
        pa.scalar(": "),
        days,
        pa.scalar(" days of stock left"),
        "",
    )
    qty = text(rows["quantity"])
    vendor = pc.coalesce(rows["vendor"], pa.scalar("-", pa.string()))
    tails = {
        AlertKind.CRITICAL_STOCK: pc.if_else(
            pc.equal(rows["action"], "ORDER"),
            pc.binary_join_element_wise(
                pa.scalar("; ordered "), qty, pa.scalar(" from "), vendor, ""
            ),
            pa.scalar("; an open order covers it"),
        ),
        AlertKind.NO_VENDOR: pa.scalar(
            "; no vendor is online, order is PENDING_VENDOR", pa.string()
        ),
        AlertKind.BUDGET_HOLD: pa.scalar(
            "; order held for approval by the budget cap", pa.string()
        ),
        AlertKind.ALLOTMENT_EXHAUSTED: pa.scalar(
            "; the month's PDS allotment is used up, nothing ordered", pa.string()
        ),
        AlertKind.DATA_ERROR: pc.binary_join_element_wise(
            pa.scalar("; nothing ordered: the data of "),
            rows["sku"],
            pa.scalar(
                " gives no plausible quantity (check its stock, consumption, pack size and "
                "lead time)"
            ),
            "",
        ),
    }
    tail = tails[kind]
    if isinstance(tail, pa.Scalar):
        tail = pa.repeat(tail, len(rows))
    return pc.binary_join_element_wise(head, tail, "")
