"""The warehouse SQL in `sql/*.sql`, written once in Snowflake dialect, as text or parsed.

An installed wheel carries the files as package data at `resq/sql/`; a checkout or an
editable install reads them from the repository's top-level `sql/` folder.
"""

from __future__ import annotations

from functools import cache, lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from resq.errors import ResqError

if TYPE_CHECKING:  # sqlglot loads on first parse: reading a file's text does not need it
    from sqlglot import exp

__all__ = [
    "SQLFileError",
    "UnknownSQLFileError",
    "available",
    "file_name",
    "parse_file",
    "sql_text",
    "statements",
]

_SUFFIX = ".sql"


class SQLFileError(ResqError):
    """A warehouse SQL file could not be read or parsed."""


class UnknownSQLFileError(SQLFileError, FileNotFoundError):
    """No SQL file of that name ships with resq; the message lists the ones that do."""


@lru_cache(maxsize=1)
def _sql_dir() -> Traversable:
    packaged = files("resq") / "sql"
    if packaged.is_dir():
        return packaged
    # Checkout / editable install: src/resq/sqlfiles.py -> <repo>/sql
    return Path(__file__).resolve().parents[2] / "sql"


def available() -> list[str]:
    """The names of the SQL files that ship with resq, sorted (e.g. `schema.sql`)."""
    folder = _sql_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(_SUFFIX) and p.is_file())


def file_name(name: str) -> str:
    """The file name of a SQL file named with or without `.sql` (an unknown name is an error)."""
    full = name if name.endswith(_SUFFIX) else name + _SUFFIX
    if full not in available():
        shown = ", ".join(available()) or "none"
        raise UnknownSQLFileError(f"no SQL file named {name!r}; available: {shown}")
    return full


def sql_text(name: str) -> str:
    """The text of one SQL file, by name with or without `.sql` (`"schema"`, `"schema.sql"`)."""
    return (_sql_dir() / file_name(name)).read_text(encoding="utf-8")


@cache
def _parsed(name: str) -> tuple[exp.Expression, ...]:
    return parse_file(sql_text(name), name)


def parse_file(text: str, name: str = "<text>") -> tuple[exp.Expression, ...]:
    """The statements of a SQL file's text parsed as Snowflake, comments kept (not copied:
    callers that change them copy first)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ErrorLevel, ParseError

    try:
        parsed = sqlglot.parse(text, read="snowflake", error_level=ErrorLevel.RAISE)
    except ParseError as e:
        raise SQLFileError(f"sql/{name} is not valid Snowflake SQL: {e}") from e
    # A comment after the last `;` parses as a bare Semicolon "statement": not a statement.
    return tuple(
        cast(exp.Expression, s)
        for s in parsed
        if s is not None and not isinstance(s, exp.Semicolon)
    )


def statements(name: str) -> list[exp.Expression]:
    """The statements of one SQL file parsed as Snowflake, comments kept.

    Parsing is cached; each call returns fresh copies the caller may change.
    """
    return [s.copy() for s in _parsed(file_name(name))]


class SQLTranslationError(ResqError, ValueError):
    """Snowflake SQL that does not parse, or cannot run on DuckDB with the same meaning."""


def parse_snowflake(sql: str) -> list[exp.Expr]:
    """The statements of Snowflake SQL text (empty and comment-only ones skipped), comments kept.

    A parse error is a `SQLTranslationError` naming the line and column.

    >>> [s.sql(dialect="snowflake") for s in parse_snowflake("SELECT 1; SELECT ?; -- done")]
    ['SELECT 1', 'SELECT ?']
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, SqlglotError

    try:
        parsed = sqlglot.parse(sql, read="snowflake")
    except ParseError as e:
        where = "; ".join(
            f"{err['description']} at line {err['line']}, column {err['col']}" for err in e.errors
        )
        raise SQLTranslationError(f"not valid Snowflake SQL: {where or e}") from e
    except SqlglotError as e:
        raise SQLTranslationError(f"not valid Snowflake SQL: {e}") from e
    # A comment after the last `;` parses as a bare Semicolon "statement".
    return [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
