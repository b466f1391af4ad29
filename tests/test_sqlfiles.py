"""resq.sqlfiles: the warehouse SQL in sql/ loads, parses as Snowflake, and hands out copies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlglot import exp

from resq import sqlfiles
from resq.errors import ResqError

REPO = Path(__file__).resolve().parents[1]
CHECKOUT_SQL = sorted(p.name for p in (REPO / "sql").glob("*.sql"))


def test_available_lists_every_sql_file_of_the_checkout() -> None:
    assert sqlfiles.available() == CHECKOUT_SQL
    assert {"schema.sql", "stock_analysis.sql"} <= set(sqlfiles.available())


@pytest.mark.parametrize("name", CHECKOUT_SQL)
def test_every_file_parses_as_snowflake(name: str) -> None:
    text = sqlfiles.sql_text(name)
    assert text == (REPO / "sql" / name).read_text(encoding="utf-8")
    parsed = sqlfiles.statements(name)
    assert parsed, f"{name} has no statement"
    # Nothing swallowed: one parsed statement per `;`-terminated statement in the file.
    code = re.sub(r"--[^\n]*", "", text)
    assert len(parsed) == len([s for s in code.split(";") if s.strip()])
    assert all(isinstance(s, exp.Expression) for s in parsed)


def test_schema_creates_every_table_it_names() -> None:
    text = sqlfiles.sql_text("schema")
    named = set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", text))
    created = {
        table.name
        for s in sqlfiles.statements("schema")
        if isinstance(s, exp.Create) and s.kind == "TABLE" and (table := s.find(exp.Table))
    }
    assert {"organizations", "inventory_master", "purchase_orders", "audit_log"} <= created
    assert created == named


def test_name_with_or_without_suffix() -> None:
    assert sqlfiles.sql_text("schema") == sqlfiles.sql_text("schema.sql")
    assert [s.sql() for s in sqlfiles.statements("schema")] == [
        s.sql() for s in sqlfiles.statements("schema.sql")
    ]


def test_comments_are_kept() -> None:
    first = sqlfiles.statements("stock_analysis")[0]
    assert first.comments and "stock_analysis" in first.comments[0]


@pytest.mark.parametrize("name", ["nope", "nope.sql", "../pyproject.toml", "sql/schema.sql", ""])
def test_unknown_name_is_a_clear_error(name: str) -> None:
    with pytest.raises(sqlfiles.UnknownSQLFileError) as raised:
        sqlfiles.sql_text(name)
    assert isinstance(raised.value, ResqError)
    assert isinstance(raised.value, FileNotFoundError)
    message = str(raised.value)
    assert repr(name) in message
    assert "schema.sql" in message and "stock_analysis.sql" in message
    with pytest.raises(sqlfiles.UnknownSQLFileError):
        sqlfiles.statements(name)


def test_statements_returns_independent_copies() -> None:
    first = sqlfiles.statements("schema")
    original = [s.sql(dialect="snowflake") for s in first]
    first[0].this.this.set("this", exp.to_identifier("changed"))
    first.pop()
    again = sqlfiles.statements("schema")
    assert [s.sql(dialect="snowflake") for s in again] == original
    assert all(a is not b for a, b in zip(first, again, strict=False))


@pytest.fixture
def sql_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the loader at a temporary folder; the parse cache is cleared around it."""
    monkeypatch.setattr(sqlfiles, "_sql_dir", lambda: tmp_path)
    sqlfiles._parsed.cache_clear()
    yield tmp_path
    sqlfiles._parsed.cache_clear()


def test_invalid_sql_names_the_file(sql_dir: Path) -> None:
    (sql_dir / "broken.sql").write_text("SELECT 1;\nSELECT FROM WHERE (;\n", encoding="utf-8")
    (sql_dir / "notes.txt").write_text("not sql", encoding="utf-8")
    assert sqlfiles.available() == ["broken.sql"]
    with pytest.raises(sqlfiles.SQLFileError, match=r"sql/broken\.sql is not valid Snowflake SQL"):
        sqlfiles.statements("broken")


def test_blank_and_comment_only_statements_are_skipped(sql_dir: Path) -> None:
    (sql_dir / "two.sql").write_text(
        "-- two\nSELECT 1;\n;\nSELECT ?; /* after */\n-- trailing comment\n", encoding="utf-8"
    )
    parsed = sqlfiles.statements("two")
    assert [s.sql(dialect="snowflake") for s in parsed] == ["/* two */ SELECT 1", "SELECT ?"]
