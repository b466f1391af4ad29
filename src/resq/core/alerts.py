"""Alert severity, stakeholder routing and the escalation ladder (delivery lives elsewhere).

Severity comes from the stock status and the sector: a critical hospital oxygen item is the
highest (SEV1). Each alert is routed to the stakeholders of its sector, organization and
severity at tier 0; an alert not acknowledged within its severity's timeout escalates to
the next tier, until acknowledged, resolved, or out of tiers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from resq.core._columns import broadcast, is_scalar, to_bool, to_str


class Severity(StrEnum):
    """SEV1 is the most urgent."""

    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


SEVERITY_ORDER = (Severity.SEV1, Severity.SEV2, Severity.SEV3, Severity.SEV4)


class AlertKind(StrEnum):
    """Why an alert was raised."""

    CRITICAL_STOCK = "CRITICAL_STOCK"  # an item is at or below its critical threshold
    NO_VENDOR = "NO_VENDOR"  # an order is pending because no vendor is online
    BUDGET_HOLD = "BUDGET_HOLD"  # an order waits for approval because of a budget cap
    ALLOTMENT_EXHAUSTED = "ALLOTMENT_EXHAUSTED"  # a PDS cap left nothing to order


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
    out = np.where(
        st == "CRITICAL",
        np.where(top, Severity.SEV1.value, Severity.SEV2.value),
        np.where(st == "WARNING", Severity.SEV3.value, None),
    ).astype(object)
    return out[0] if is_scalar(status) else out


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
