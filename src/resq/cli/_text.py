"""Turning library values into text and JSON a person or a pipeline can read safely.

Purely presentational: no rule of the supply chain lives here.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

# Control characters (C0 except newline, DEL, C1) could move the cursor or recolour a
# terminal; values from the warehouse are shown with them escaped.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")

# Columns that hold JSON text in the warehouse; --json output shows them as objects.
JSON_TEXT_COLUMNS = frozenset({"reason", "details", "payload"})


def clean(value: object) -> str:
    """Text with control characters escaped (``\\x1b`` instead of an escape sequence)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def number(value: float | int | None, digits: int = 1) -> str:
    """A compact number: whole numbers without decimals, others rounded, thousands grouped."""
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    value = float(value)
    if value.is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def days(value: float | None) -> str:
    """Days remaining; None means the item is not consumed, so it never runs out."""
    return "never" if value is None else number(value)


def utc(value: datetime) -> datetime:
    """A warehouse timestamp in UTC: naive values are UTC already (every table stores UTC),
    aware ones are converted."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def when(value: object) -> str:
    """A timestamp with its zone said: ``2026-12-01 19:23:13 UTC``."""
    if isinstance(value, datetime):
        return utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "-" if value is None else clean(value)


def cell(value: object) -> str:
    """Any warehouse value as table text."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, Decimal)):
        return number(float(value))
    if isinstance(value, datetime):
        return when(value)
    return clean(value)


def parse_json_text(value: object) -> Any:
    """The object a JSON-text column holds, or the value unchanged if it is not JSON."""
    if isinstance(value, str) and value[:1] in {"{", "["}:
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def jsonable(value: Any) -> Any:
    """A structure json.dumps accepts: ISO timestamps, floats for decimals, null for NaN,
    and JSON-text columns (reason, details) as objects."""
    if isinstance(value, dict):
        return {
            str(k): jsonable(parse_json_text(v) if k in JSON_TEXT_COLUMNS else v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return jsonable(float(value))
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "as_dict"):
        return jsonable(value.as_dict())
    return str(value)
