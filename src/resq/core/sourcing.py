"""Who may supply what: vendor types and the authorization of a (sector, category).

Authorization is data (the ``vendor_authorization`` table, seeded with
:data:`DEFAULT_AUTHORIZATION` and editable with ``resq load``). The rule, written once
here and used by the heal cycle, the re-sourcing of waiting orders, the replay and the
simulated catalog:

* a (sector, category) that no authorization row names is open to every vendor;
* a (sector, category) that some row names is restricted: only the vendor types with a row
  for it whose ``authorized`` is true may supply it (a row with ``authorized`` false names
  the pair without allowing the type, so an edit can revoke a default).

So, by default, PDS rice and wheat come only from depots (FCI and the state civil supplies
corporations, type ``DEPOT``), medical oxygen only from licensed medical-gas suppliers
(``MEDICAL_GAS``, for every sector), and quick-commerce apps (``QUICK_COMMERCE``: Blinkit,
Zepto, Dunzo) supply the open categories: relief kits, water, medicines and other
consumables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from resq.core._columns import as_arrow, to_bool

if TYPE_CHECKING:
    import pyarrow.compute as pc
else:  # imported on first use: read commands call no compute kernel
    from resq._lazy import LazyModule

    pc = LazyModule("pyarrow.compute")

DEFAULT_VENDOR_TYPE = "GENERAL"
"""The type of a vendor loaded without one: it may supply only the open categories."""

VENDOR_TYPES = ("DEPOT", "MEDICAL_GAS", "DISTRIBUTOR", "QUICK_COMMERCE", DEFAULT_VENDOR_TYPE)
"""Vendor types: an authorized PDS depot (FCI, a state civil supplies corporation), a
licensed medical-gas supplier, a pharmaceutical or wholesale distributor, a quick-commerce
app, and any other vendor."""

DEFAULT_AUTHORIZATION: tuple[tuple[str, str, str], ...] = (
    ("PDS", "RICE", "DEPOT"),
    ("PDS", "WHEAT", "DEPOT"),
    ("HOSPITAL", "OXYGEN", "MEDICAL_GAS"),
    ("PDS", "OXYGEN", "MEDICAL_GAS"),
    ("NGO", "OXYGEN", "MEDICAL_GAS"),
)
"""(sector, category, vendor_type) rows seeded into ``vendor_authorization``: NFSA grains
from depots only, medical oxygen from licensed suppliers only; everything else is open."""

AUTHORIZATION_SCHEMA = pa.schema(
    [
        ("sector", pa.string()),
        ("category", pa.string()),
        ("vendor_type", pa.string()),
        ("authorized", pa.bool_()),
    ]
)


def authorization_table(rows: Any = DEFAULT_AUTHORIZATION) -> pa.Table:
    """An authorization table from (sector, category, vendor_type[, authorized]) tuples.

    >>> authorization_table().num_rows
    5
    """
    full = [(*r, True) if len(r) == 3 else tuple(r) for r in rows]
    return pa.Table.from_pylist(
        [dict(zip(AUTHORIZATION_SCHEMA.names, r, strict=True)) for r in full],
        schema=AUTHORIZATION_SCHEMA,
    )


_SEP = "\x1f"  # a unit separator: never in a code (validation refuses control characters)


def _pair_keys(*columns: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(*[c.fill_null("") for c in columns], _SEP)


def authorized(
    sector: Any, category: Any, vendor_type: Any, rules: pa.Table | None = None
) -> npt.NDArray[np.bool_]:
    """Per row, whether a vendor of ``vendor_type`` may supply ``category`` to ``sector``
    under ``rules`` (an authorization table; :data:`DEFAULT_AUTHORIZATION` when None).

    A missing vendor type is :data:`DEFAULT_VENDOR_TYPE`; a missing sector or category is
    never restricted. Columnar: the rules are a set lookup, no per-row Python.

    >>> authorized(["PDS", "PDS", "NGO"], ["RICE", "RICE", "RICE"],
    ...            ["QUICK_COMMERCE", "DEPOT", "QUICK_COMMERCE"]).tolist()
    [False, True, True]
    """
    rules = authorization_table() if rules is None else rules
    sec = as_arrow(sector, type=pa.string())
    n = len(sec)
    cat = as_arrow(category, n, pa.string())
    kind = as_arrow(vendor_type, n, pa.string()).fill_null(DEFAULT_VENDOR_TYPE)
    r_sec = as_arrow(rules["sector"], type=pa.string())
    r_cat = as_arrow(rules["category"], type=pa.string())
    r_kind = as_arrow(rules["vendor_type"], type=pa.string())
    allowed = (
        to_bool(rules["authorized"].fill_null(True))
        if "authorized" in rules.column_names
        else np.ones(len(r_sec), dtype=bool)
    )
    restricted = pc.unique(_pair_keys(r_sec, r_cat))
    allowed_keys = pc.unique(_pair_keys(r_sec, r_cat, r_kind).filter(pa.array(allowed)))
    is_restricted = pc.is_in(_pair_keys(sec, cat), value_set=restricted)
    ok = pc.is_in(_pair_keys(sec, cat, kind), value_set=allowed_keys)
    known = pc.and_(pc.is_valid(sec), pc.is_valid(cat))
    out = pc.or_(pc.invert(pc.and_(is_restricted, known)), ok)
    return np.asarray(out.to_numpy(zero_copy_only=False), dtype=bool)
