"""How the dashboard shows things: badges, section headings, labels, the reason of an order.

Presentation only; every number comes from the library.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import streamlit as st

from resq.simulation import REAL, SIMULATED

if TYPE_CHECKING:
    import pandas as pd

# Material icons and colours (bundled with Streamlit: no emoji font needed to render them).
STATUS_COLOURS = {"CRITICAL": "#dc2626", "WARNING": "#d97706", "OK": "#16a34a"}
STATUS_MARKDOWN = {"CRITICAL": "red", "WARNING": "orange", "OK": "green"}
SECTOR_ICON = {
    "HOSPITAL": ":material/local_hospital:",
    "PDS": ":material/grocery:",
    "NGO": ":material/volunteer_activism:",
}
HEALTH_ICON = {
    "GREEN": ":material/check_circle:",
    "AMBER": ":material/warning:",
    "RED": ":material/error:",
}
ORDER_COLOURS = {
    "PLACED": "#0f766e",
    "PENDING_APPROVAL": "#d97706",
    "PENDING_VENDOR": "#dc2626",
    "RECEIVED": "#16a34a",
    "CANCELLED": "#9ca3af",
}
COLOURED_COLUMNS = ("Status", "State", "Result", "Source")
# Cell colours for values a person scans for: statuses, check results, vendor states.
CELL_COLOURS = {
    **STATUS_COLOURS,
    "PASS": "#16a34a",
    "FAIL": "#dc2626",
    "ONLINE": "#16a34a",
    "OFFLINE": "#dc2626",
    "OPEN": "#d97706",
    "SIMULATED": "#7c3aed",
    "REAL": "#16a34a",
}


_MARKDOWN_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")
_WHITESPACE = re.compile(r"\s+")


def md(value: Any) -> str:
    r"""``value`` as literal text inside Streamlit markdown: every ASCII punctuation mark is
    backslash-escaped (CommonMark allows it for all of them), so loaded text (a sku, an item,
    organization or vendor name, an error message quoting one) can never become a link, an
    image, HTML, a heading, emphasis, a ``:colour[...]`` directive, a ``:material/...:``
    icon, LaTeX (``$``) or an autolinked URL (``https\://`` and ``www\.`` do not link); a run
    of whitespace (line breaks, tabs) becomes one space, as HTML would show it anyway, so a
    value cannot start a block of its own (a heading, a list, a code block). Every value the
    dashboard interpolates into markdown goes through here."""
    text = "" if value is None else str(value)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _WHITESPACE.sub(" ", text))


def source_of(values: Iterable[Any]) -> str | None:
    """SIMULATED when any value is, REAL when all are, None for no rows: what a display
    derived from these rows is (anything derived from a simulated input is simulated)."""
    seen = {str(v) for v in values}
    if not seen:
        return None
    return REAL if seen == {REAL} else SIMULATED


def frame_source(df: pd.DataFrame, column: str = "data_source") -> str | None:
    """The provenance label of what a display derived from ``df`` rests on: each part
    (resq.core.provenance) is SIMULATED when any row's is, so "REAL stock · SIMULATED
    weather" when the rows carry parts; else REAL / SIMULATED from ``column``."""
    from resq.core import provenance

    parts = {p: c for p, c in provenance.COLUMNS.items() if c in df.columns}
    if "stock" in parts and not df.empty and df[parts["stock"]].notna().all():
        merged = {
            p: SIMULATED if (df[c].astype(str) != REAL).any() else REAL for p, c in parts.items()
        }
        return str(provenance.labels(*(merged.get(p) for p in provenance.PARTS))[0])
    return source_of(df[column]) if column in df.columns else None


def row_labels(df: pd.DataFrame) -> pd.Series:
    """The provenance label of each row (its data_source where it has no parts)."""
    import pandas as pd

    from resq.core import provenance

    if "stock_source" not in df.columns:
        return df["data_source"]
    parts = [
        df[provenance.COLUMNS[p]].to_numpy(object) if provenance.COLUMNS[p] in df.columns else None
        for p in provenance.PARTS
    ]
    text = provenance.labels(*parts, data_source=df["data_source"].to_numpy(object))
    return pd.Series(text, index=df.index, dtype=object)


def badge(source: str | None) -> str:
    """The provenance badge, as Streamlit markdown: REAL, SIMULATED, or REAL stock with the
    simulated signals named (resq.core.provenance)."""
    if source == REAL:
        return ":green-badge[:material/verified: REAL]"
    if source == SIMULATED:
        return ":violet-badge[:material/science: SIMULATED]"
    if source:
        return f":orange-badge[:material/science: {md(source)}]"
    return ":gray-badge[no data]"


def section(title: str, source: str | None, *, help: str | None = None) -> None:
    """A section heading (plain text, escaped) with its data badge beside it."""
    st.markdown(f"#### {md(title)} &nbsp; {badge(source)}", help=help)


def days(value: Any) -> str:
    if value is None or value != value:  # None or NaN: consumption is zero
        return "never runs out"
    return f"{float(value):.1f}"


def number(value: Any) -> str:
    if value is None or value != value:
        return "-"
    v = float(value)
    return f"{v:,.0f}" if v == int(v) or abs(v) >= 100 else f"{v:,.1f}"


def styled(df: pd.DataFrame, *columns: str) -> Any:
    """``df`` with the values of ``columns`` coloured (statuses, PASS / FAIL, sources)."""

    def colour(value: Any) -> str:
        c = CELL_COLOURS.get(str(value))
        return f"color: {c}; font-weight: 600" if c else ""

    present: list[Hashable] = [c for c in columns if c in df.columns]
    if not present:
        return df
    style = df.style
    return style.map(colour, subset=present)


def parse_reason(reason: Any) -> dict[str, Any]:
    if isinstance(reason, Mapping):
        return dict(reason)
    try:
        parsed = json.loads(str(reason))
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def why(reason: Any) -> str:
    """An order's reason in one line (resq.core.explain_reason)."""
    from resq.core.ordering import explain_reason

    return explain_reason(parse_reason(reason)) or "-"


def vendor_story(reason: Any, preferred: str | None) -> str:
    """Markdown: which vendor took the order, and the fallback when the preferred one was
    passed over (Dunzo OFFLINE -> Blinkit)."""
    r = parse_reason(reason)
    chosen = r.get("vendor")
    rejected = {str(v.get("vendor")): str(v.get("why")) for v in r.get("vendors_rejected") or []}
    latency = r.get("vendor_latency_ms")
    chosen_text = f"**{md(chosen)}**" + (
        f" ({md(number(latency))} ms)" if latency is not None else ""
    )
    if not chosen:
        return (
            "No authorized vendor online: the order waits for one (PENDING_VENDOR) and is "
            "escalated."
        )
    if preferred and preferred in rejected and preferred != chosen:
        return (
            f"Fallback: preferred vendor **{md(preferred)}** is {md(rejected[preferred])} "
            f"→ ordered from {chosen_text}"
        )
    others = ", ".join(f"{md(v)} ({md(w)})" for v, w in rejected.items())
    return f"Vendor {chosen_text}" + (f"; passed over {others}" if others else "")


_SIMULATED_FIELD = re.compile(r'"data_source"\s*:\s*"SIMULATED"')


def audit_source(details: Iterable[Any], acted_on: Iterable[Any] = ()) -> str | None:
    """An audit trail is SIMULATED when any event it shows mentions simulated data, or
    the data its scope acted on (``acted_on``: data_source values) is simulated."""
    events = [SIMULATED if _SIMULATED_FIELD.search(str(d)) else REAL for d in details]
    if not events:
        return None
    return source_of([*events, *acted_on])


def audit_labels(details: Iterable[Any]) -> list[str]:
    """Each audit event's provenance for the table: a heal event's label counts
    (resq.core.audit.describe_labels, as the CLI shows them), else the data_source its
    details name, else blank."""
    from resq.core.audit import describe_labels

    out = []
    for d in details:
        text = describe_labels(d)
        if text is None:
            named = _SOURCE_FIELD.search(str(d))
            text = named.group(1) if named else ""
        out.append(text)
    return out


_SOURCE_FIELD = re.compile(r'"data_source"\s*:\s*"([A-Z]+)"')


def show_error(exc: BaseException) -> None:
    st.error(md(str(exc) or type(exc).__name__), icon=":material/error:")


def table(df: pd.DataFrame, **kwargs: Any) -> Any:
    """A full-width data table, index hidden, statuses and sources coloured."""
    kwargs.setdefault("hide_index", True)
    kwargs.setdefault("width", "stretch")
    return st.dataframe(styled(df, *COLOURED_COLUMNS), **kwargs)
