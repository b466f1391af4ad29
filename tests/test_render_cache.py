"""The DuckDB render cache (resq.backends.duckdb.rendered) never serves what a fresh
rendering would not give: every SQL file, from a cold and a warm cache, equals a fresh
rendering; an edited file, another sqlglot or changed rendering code is a miss; a folder
that cannot be written, a corrupt file and concurrent writers are harmless. And the
text form of `read` queries renders exactly as the sqlglot-built form."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resq import sqlfiles
from resq.backends import warehouse
from resq.backends.duckdb import rendered, rewrites
from resq.core import urgency

SQL_FILES = sqlfiles.available()


def fresh_file(name: str) -> list[str]:
    return [rewrites.to_duckdb(s) for s in sqlfiles.statements(name)]


def fresh_analysis_query() -> str:
    statement = sqlfiles.statements("stock_analysis")[0]
    return rewrites.to_duckdb(rewrites.dynamic_table_parts(statement).query)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A process cache that starts empty, stored under tmp_path."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("RESQ_CACHE_DIR", str(folder))
    monkeypatch.setattr(rendered, "_cache", None)
    return folder


def restart(monkeypatch: pytest.MonkeyPatch) -> rendered.RenderCache:
    """What the next process sees: the cache as the previous one flushed it."""
    rendered.cache().flush()
    monkeypatch.setattr(rendered, "_cache", None)
    return rendered.cache()


@pytest.mark.parametrize("name", SQL_FILES)
def test_every_sql_file_renders_from_the_cache_as_fresh(
    name: str, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = fresh_file(name)
    cold = rendered.render_file(name)
    assert list(cold) == expected
    assert rendered.cache().misses == 1
    warm_cache = restart(monkeypatch)
    assert list(rendered.render_file(name)) == expected
    assert (warm_cache.hits, warm_cache.misses) == (1, 0)  # served from the file


def test_the_analysis_query_renders_from_the_cache_as_fresh(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert rendered.render_query_of("stock_analysis") == fresh_analysis_query()
    warm = restart(monkeypatch)
    assert rendered.render_query_of("stock_analysis") == fresh_analysis_query()
    assert warm.hits == 1


STATEMENTS = st.sampled_from(
    [
        "SELECT IFF(a > 0, a, NULL) FROM t WHERE b = ?",
        "SELECT COUNT_IF(x > 1), DIV0(a, b) FROM t",
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET t.v = s.v",
        "SELECT OBJECT_CONSTRUCT('k', v) FROM t",
        "SELECT reason:vendor::string FROM purchase_orders",
        "CREATE TABLE IF NOT EXISTS x (a FLOAT4, b VARCHAR)",
    ]
)


@settings(max_examples=25, deadline=None)
@given(statement=STATEMENTS, suffix=st.integers(0, 10**6))
def test_texts_render_from_the_cache_as_fresh(statement: str, suffix: int) -> None:
    text = f"{statement} /* {suffix} */" if suffix % 2 else statement
    cache = rendered.RenderCache(None, "memory-only")
    first = cache.get("text", text, rendered._fresh_text)
    again = cache.get("text", text, rendered._fresh_text)
    assert first == again == rewrites.to_duckdb(text)


@pytest.fixture
def sql_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of sql/ that the test may edit, used as the shipped SQL."""
    folder = tmp_path / "sql"
    shutil.copytree(Path(str(sqlfiles._sql_dir())), folder)
    monkeypatch.setattr(sqlfiles, "_sql_dir", lambda: folder)
    return folder


@pytest.mark.parametrize("name", ["covered.sql", "stock_analysis.sql", "schema.sql"])
def test_an_edited_sql_file_is_rendered_afresh(
    name: str, sql_copy: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = list(rendered.render_file(name))
    analysis_before = rendered.render_query_of("stock_analysis")
    path = sql_copy / name
    text = path.read_text()
    # an edit that changes the meaning: one more column selected, or one more statement
    if "SELECT" in text:
        edited = text.replace("SELECT", "SELECT 4242 AS edited_marker,", 1)
    else:
        edited = text + "\nCREATE TABLE IF NOT EXISTS edited_marker (n NUMBER DEFAULT 4242);\n"
    assert edited != text
    path.write_text(edited)
    cache = restart(monkeypatch)
    after = list(rendered.render_file(name))
    assert after != before
    assert "4242" in after[0] or "4242" in " ".join(after)
    assert cache.misses == 1
    expected = [rewrites.to_duckdb(s) for s in sqlfiles.parse_file(edited, name)]
    assert after == expected
    if name == "stock_analysis.sql":
        assert rendered.render_query_of("stock_analysis") != analysis_before
    # and putting the old text back serves the old rendering again (both are kept)
    path.write_text(text)
    assert list(rendered.render_file(name)) == before


def test_another_sqlglot_or_changed_rendering_code_reads_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = rendered.fingerprint()
    monkeypatch.setattr(rendered, "_sqlglot_version", lambda: "30.99.0")
    other_sqlglot = rendered.fingerprint()
    assert other_sqlglot != base
    monkeypatch.undo()
    # the rendering code is part of the key: a copy of rewrites.py with one change
    fake = tmp_path / "duckdb"
    fake.mkdir()
    for source in ("rewrites.py", "rendered.py"):
        shutil.copy(Path(rendered.__file__).parent / source, fake / source)
    (fake / "rewrites.py").write_text((fake / "rewrites.py").read_text() + "\n# changed\n")
    monkeypatch.setattr(rendered, "_HERE", fake)
    assert rendered.fingerprint() not in {base, other_sqlglot}
    a = rendered.RenderCache(tmp_path, base)
    b = rendered.RenderCache(tmp_path, rendered.fingerprint())
    assert a.path != b.path


def test_the_sqlglot_version_is_the_installed_one() -> None:
    import sqlglot

    version_file = Path(sqlglot.__file__).parent / "_version.py"
    assert sqlglot.__version__ in version_file.read_text()


def test_a_folder_that_cannot_be_written_keeps_renderings_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("RESQ_CACHE_DIR", str(blocker / "resq"))
    monkeypatch.setattr(rendered, "_cache", None)
    assert list(rendered.render_file("covered")) == fresh_file("covered")
    rendered.cache().flush()  # no error
    assert list(rendered.render_file("covered")) == fresh_file("covered")
    assert rendered.cache().hits == 1


def test_off_keeps_renderings_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESQ_CACHE_DIR", "off")
    assert rendered.default_folder() is None
    monkeypatch.delenv("RESQ_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    if sys.platform not in {"win32", "darwin"}:
        assert rendered.default_folder() == tmp_path / "resq"


def test_a_corrupt_cache_file_is_ignored_and_replaced(tmp_path: Path) -> None:
    cache = rendered.RenderCache(tmp_path, "abc")
    assert cache.path is not None
    cache.path.write_text("{not json")
    assert cache.get("text", "SELECT 1", rendered._fresh_text) == "SELECT 1"
    cache.flush()
    assert json.loads(cache.path.read_text())  # valid again


def test_concurrent_writers_keep_each_others_renderings(tmp_path: Path) -> None:
    one = rendered.RenderCache(tmp_path, "same")
    two = rendered.RenderCache(tmp_path, "same")
    one.get("text", "SELECT 1", rendered._fresh_text)
    two.get("text", "SELECT 2", rendered._fresh_text)
    one.flush()
    two.flush()
    third = rendered.RenderCache(tmp_path, "same")
    for text in ("SELECT 1", "SELECT 2"):
        assert third.get("text", text, lambda _: pytest.fail("a miss")) == text
    assert not list(tmp_path.glob(".render-*"))  # no temporary file left behind


def test_a_text_that_fails_to_render_is_not_remembered(tmp_path: Path) -> None:
    cache = rendered.RenderCache(tmp_path, "errors")
    for _ in range(2):
        with pytest.raises(rewrites.SQLTranslationError):
            cache.get("text", "SELECT HASH(a) FROM t", rendered._fresh_text)
    assert cache.misses == 0


# --- read(): the text form renders exactly as the sqlglot-built query ------------------


def _columns() -> dict[str, list[str]]:
    from sqlglot import exp

    tables: dict[str, list[str]] = {}
    for statement in sqlfiles.statements("schema"):
        if isinstance(statement, exp.Create) and isinstance(statement.this, exp.Schema):
            name = statement.this.this.name
            tables[name] = [c.name for c in statement.this.expressions if c.name]
    return tables


TABLES = _columns()
ORDER_SUFFIXES = ["", " ASC", " DESC", " NULLS LAST", " DESC NULLS FIRST", " asc nulls last"]


@st.composite
def read_queries(draw: st.DrawFn) -> tuple[str, str | None, list[str], list[str], int | None]:
    table = draw(st.sampled_from(sorted(TABLES)))
    columns = TABLES[table]
    scope = draw(st.sampled_from([None, *columns]))
    where = draw(st.lists(st.sampled_from(columns), max_size=3, unique=True))
    order_by = draw(
        st.lists(
            st.tuples(st.sampled_from(columns), st.sampled_from(ORDER_SUFFIXES)).map("".join)
            | st.sampled_from(sorted(urgency.TERMS)),
            max_size=3,
        )
    )
    limit = draw(st.none() | st.integers(0, 10_000))
    return table, scope, where, order_by, limit


def test_the_schema_was_read() -> None:
    assert {"purchase_orders", "alerts", "inventory_master"} <= set(TABLES)
    assert "po_id" in TABLES["purchase_orders"]


@settings(max_examples=100, deadline=None)
@given(query=read_queries())
def test_read_text_renders_as_the_built_query(
    query: tuple[str, str | None, list[str], list[str], int | None],
) -> None:
    text = warehouse.select_text(*query)
    assert text is not None  # every column of the schema is a plain name
    assert rewrites.to_duckdb(text) == rewrites.to_duckdb(warehouse.select_query(*query))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_count_text_renders_as_the_built_query(data: st.DataObject) -> None:
    table = data.draw(st.sampled_from(sorted(TABLES)))
    columns = TABLES[table]
    scope = data.draw(st.sampled_from([None, *columns]))
    where = data.draw(st.lists(st.sampled_from(columns), max_size=3, unique=True))
    by = data.draw(st.lists(st.sampled_from(columns), max_size=2, unique=True))
    text = warehouse.count_text(table, scope, where, by)
    assert text is not None
    built = warehouse.count_query(table, scope, where, by)
    assert rewrites.to_duckdb(text) == rewrites.to_duckdb(built)


def test_count_text_refuses_what_is_not_a_plain_name() -> None:
    assert warehouse.count_text("alerts", None, ["a;b"], []) is None
    assert warehouse.count_text("alerts", None, [], ["Status"]) is None


@pytest.mark.parametrize(
    ("where", "order_by"),
    [
        (["Org_Id"], []),  # not plain lower case
        (["org id"], []),
        (["a;b"], []),
        ([], ["sku; DROP TABLE x"]),
        ([], ["(SELECT 1)"]),
        ([], ["sku LIMIT 1"]),
        ([], ["desc"]),
        ([], ["CASE status WHEN 'X' THEN 0 ELSE 1 END"]),  # not one of resq's own terms
    ],
)
def test_read_text_refuses_what_is_not_a_plain_name(where: list[str], order_by: list[str]) -> None:
    assert warehouse.select_text("purchase_orders", None, where, order_by, None) is None


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_write_rows_text_renders_as_the_built_statements(data: st.DataObject) -> None:
    table = data.draw(st.sampled_from(sorted(TABLES)))
    columns = TABLES[table]
    key = data.draw(st.lists(st.sampled_from(columns), min_size=1, max_size=3, unique=True))
    cols = data.draw(st.lists(st.sampled_from(columns), min_size=1, unique=True))
    stage = f"resq_stage_{table}"
    text = warehouse.upsert_text(table, stage, key, cols)
    assert text is not None
    built = warehouse.upsert_query(table, stage, key, cols)
    assert [rewrites.to_duckdb(t) for t in text] == [rewrites.to_duckdb(b) for b in built]
    seed = warehouse.insert_if_absent_text(table, cols, key[0])
    assert seed is not None
    assert rewrites.to_duckdb(seed) == rewrites.to_duckdb(
        warehouse.insert_if_absent_query(table, cols, key[0])
    )


def test_write_rows_text_refuses_names_that_are_not_plain() -> None:
    assert warehouse.upsert_text("inventory_master", "s", ["sku"], ["a b"]) is None
    assert warehouse.upsert_text("inventory_master", "s", ["Sku"], ["a"]) is None
    assert warehouse.insert_if_absent_text("sector_config", ["a;"], "sector") is None
