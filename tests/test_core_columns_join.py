"""The numpy join and group count that replace Acero on the heal path, against Acero
itself (``pyarrow.Table.join`` / ``group_by``) as the oracle, over hostile key columns:
NULLs, duplicates on both sides, empty sides, keys only one side has, many columns."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resq.core._columns import (
    group_counts,
    inner_join_indices,
    key_codes,
    lookup_codes,
    sorted_codes,
)

# few distinct values, so that keys collide and repeat; None is NULL
values = st.one_of(st.none(), st.sampled_from(["a", "b", "", "a\x1fb", "é", "b a"]))


def columns(n: int, width: int) -> st.SearchStrategy[list[list[str | None]]]:
    return st.lists(st.lists(values, min_size=n, max_size=n), min_size=width, max_size=width)


@st.composite
def join_sides(draw: st.DrawFn) -> tuple[list[list[str | None]], list[list[str | None]]]:
    width = draw(st.integers(1, 3))
    left = draw(columns(draw(st.integers(0, 25)), width))
    right = draw(columns(draw(st.integers(0, 25)), width))
    return left, right


def _acero_pairs(left: list[list[str | None]], right: list[list[str | None]]) -> Counter:
    names = [f"k{i}" for i in range(len(left))]
    lt = pa.table(
        {
            **{n: pa.array(c, pa.string()) for n, c in zip(names, left, strict=True)},
            "l": pa.array(range(len(left[0])), pa.int64()),
        }
    )
    rt = pa.table(
        {
            **{n: pa.array(c, pa.string()) for n, c in zip(names, right, strict=True)},
            "r": pa.array(range(len(right[0])), pa.int64()),
        }
    )
    joined = lt.join(rt, names, join_type="inner")
    return Counter(zip(joined["l"].to_pylist(), joined["r"].to_pylist(), strict=True))


@settings(max_examples=300, deadline=None)
@given(join_sides())
def test_the_join_pairs_equal_aceros(sides: tuple[list, list]) -> None:
    left, right = sides
    li, ri = inner_join_indices(
        [pa.array(c, pa.string()) for c in left], [pa.array(c, pa.string()) for c in right]
    )
    got = Counter(zip(li.tolist(), ri.tolist(), strict=True))
    assert got == _acero_pairs(left, right)
    # every pair once, left rows ascending, each left row's matches in right-row order
    assert max(got.values(), default=1) == 1
    pairs = list(zip(li.tolist(), ri.tolist(), strict=True))
    assert pairs == sorted(pairs)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3).flatmap(lambda w: st.integers(0, 30).flatmap(lambda n: columns(n, w))))
def test_the_group_counts_equal_aceros(cols: list[list[str | None]]) -> None:
    arrays = [pa.array(c, pa.string()) for c in cols]
    first, counts = group_counts(*arrays)
    got = {
        tuple(c[i] for c in cols): int(n)
        for i, n in zip(first.tolist(), counts.tolist(), strict=True)
    }
    names = [f"k{i}" for i in range(len(cols))]
    table = pa.table(dict(zip(names, arrays, strict=True)))
    if table.num_rows:
        counted = table.group_by(names).aggregate([([], "count_all")]).to_pylist()
        expected = {tuple(r[n] for n in names): r["count_all"] for r in counted}
    else:
        expected = {}
    assert got == expected
    # each group named by its first row, in first-row order
    assert first.tolist() == sorted(first.tolist())
    for i, key in zip(first.tolist(), got, strict=True):
        assert all(tuple(c[j] for c in cols) != key for j in range(i))


def test_dictionary_and_chunked_keys_code_like_plain_text() -> None:
    plain = pa.array(["x", None, "y", "x"], pa.string())
    chunked = pa.chunked_array([["x", None], ["y", "x"]], pa.string())
    as_dict = plain.dictionary_encode()
    codes = [key_codes(c)[0].tolist() for c in (plain, chunked, as_dict)]
    nulls = [key_codes(c)[1].tolist() for c in (plain, chunked, as_dict)]
    assert codes[0] == codes[1] == codes[2]
    assert nulls == [[False, True, False, False]] * 3
    li, ri = inner_join_indices([chunked], [as_dict])
    assert list(zip(li.tolist(), ri.tolist(), strict=True)) == [
        (0, 0),
        (0, 3),
        (2, 2),
        (3, 0),
        (3, 3),
    ]


@pytest.mark.parametrize("width", [1, 5])
def test_wide_keys_of_many_distinct_values_do_not_collide(width: int) -> None:
    # 5 columns of 40,000 distinct values: a product of sizes past 2**62 re-densifies
    n = 40_000
    cols = [pa.array([f"{c}-{i}" for i in range(n)]) for c in range(width)]
    code, null = key_codes(*cols)
    assert len(set(code.tolist())) == n and not null.any()
    li, ri = inner_join_indices(cols, [c.slice(n // 2) for c in cols])
    assert li.tolist() == list(range(n // 2, n)) and ri.tolist() == list(range(n - n // 2))


def test_a_narrow_dictionary_index_with_many_values_codes_and_groups() -> None:
    # int8 indices over 128+ values: the NULL code (one past the last) does not fit int8
    values = pa.array([str(i) for i in range(200)])
    narrow = pa.DictionaryArray.from_arrays(pa.array([0, 127, None, 127], pa.int8()), values)
    code, null = key_codes(narrow)
    assert null.tolist() == [False, False, True, False]
    assert code[1] == code[3] != code[0] and code[2] not in (code[0], code[1])
    first, counts = group_counts(narrow)
    assert first.tolist() == [0, 1, 2] and counts.tolist() == [1, 2, 1]
    ranks = sorted_codes(narrow).tolist()
    assert ranks[1] == ranks[3] and ranks[0] < ranks[1] < ranks[2]  # "0" < "127" < NULL
    assert lookup_codes(narrow, {"127": 5}).tolist() == [-1, 5, -1, 5]


def test_group_counts_by_table_and_by_sort_agree() -> None:
    # the small-code-space table and the np.unique path give the same groups
    rng = np.random.default_rng(3)
    few = pa.array([f"v{i}" for i in rng.integers(0, 50, 5_000)])
    wide = [pa.array([f"{c}-{i}" for i in rng.integers(0, 3_000, 5_000)]) for c in range(3)]
    for cols in ([few], wide):
        first, counts = group_counts(*cols)
        code, _ = key_codes(*cols)
        _, ufirst, ucounts = np.unique(code, return_index=True, return_counts=True)
        order = np.argsort(ufirst)
        assert first.tolist() == ufirst[order].tolist()
        assert counts.tolist() == ucounts[order].tolist()
        assert counts.sum() == 5_000
