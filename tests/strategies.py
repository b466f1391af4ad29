"""Shared hypothesis strategies for the resq test suite."""

from __future__ import annotations

from hypothesis import strategies as st

# --- simulation ----------------------------------------------------------------------

HOSTILE_NAMES = (
    "x'); DROP TABLE inventory_master;--",
    "Robert'); DROP TABLE organizations;--",
    '" OR 1=1 --',
    "\x00",
    "",
    "   ",
    "\n\t",
    "Bangalore\u200b",
    "ＢＡＮＧＡＬＯＲＥ",
    "İstanbul",
    "straße",
    "😀🔥",
    "%s %d {0} ${x}",
)

#: Names a user or an attacker might pass as a city or vendor: any unicode text (no lone
#: surrogates, which Arrow cannot hold), known names in odd case and padding, and hostile
#: strings (SQL injection, control characters, look-alikes).
names = st.one_of(
    st.text(max_size=40),
    st.sampled_from(HOSTILE_NAMES),
    st.sampled_from(["Bangalore", "Delhi", "Blinkit", "Dunzo", "Zepto", "Mumbai"]).flatmap(
        lambda n: st.tuples(
            st.sampled_from([n, n.lower(), n.upper(), n.swapcase()]),
            st.sampled_from(["", " ", "\t", "\n  "]),
            st.sampled_from(["", " ", "  \n"]),
        ).map(lambda t: t[1] + t[0] + t[2])
    ),
)

#: Columns of names with some nulls, as a UDF receives them.
name_columns = st.lists(st.one_of(names, st.none()), max_size=30)

#: Seeds of any sign and size (they are reduced modulo 2**64).
seeds = st.integers(min_value=-(2**70), max_value=2**70)

#: Finite floats that chaos must reject as a stock level (negative).
negative_stock = st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False)

#: Values chaos must reject as a demand factor (<= 0 or not finite).
bad_factors = st.one_of(
    st.floats(max_value=0.0, allow_nan=False),
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
)
