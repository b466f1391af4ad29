"""DuckDB renderings of resq's Snowflake SQL, remembered across runs so a command need not
import sqlglot or re-render what an earlier run already rendered.

Rendering with sqlglot costs more than most commands' own work, and the rendering of a
text never changes while the renderer does not. So each rendering is stored under the
SHA-256 of its exact Snowflake text (an edited `.sql` file is a new text, rendered afresh)
in a file named by a digest of everything the renderer is: sqlglot's version and the
source of `rewrites.py`, `sqlfiles.py` and this module. A changed renderer reads another
file; nothing stale is ever served. Texts that fail to render are not remembered.

The files live in the user cache folder (`resq._paths.cache_folder`: `~/.cache/resq` on
Linux; `RESQ_CACHE_DIR` names another, `RESQ_CACHE_DIR=off` keeps renderings in memory
only, as happens anyway where the folder cannot be written, such as a read-only home).
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from resq import sqlfiles
from resq._paths import cache_folder

__all__ = [
    "RenderCache",
    "cache",
    "render_file",
    "render_query_of",
    "render_restricted_query_of",
    "render_text",
]

FORMAT = 1
MAX_ENTRIES = 4096
"""Texts kept on disk per renderer (ad-hoc SQL must not grow the file without bound)."""

_HERE = Path(__file__).resolve().parent


def _sqlglot_version() -> str:
    """sqlglot's version, read from its generated version file without importing sqlglot."""
    spec = importlib.util.find_spec("sqlglot")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        version_file = Path(folder) / "_version.py"
        if version_file.is_file():
            return hashlib.sha256(version_file.read_bytes()).hexdigest()
    from importlib.metadata import version  # slower: scans the installed distributions

    return version("sqlglot")


def fingerprint() -> str:
    """A digest of the renderer: sqlglot's version and the source of resq's rendering code."""
    digest = hashlib.sha256(f"format {FORMAT}\nsqlglot {_sqlglot_version()}\n".encode())
    for source in (_HERE / "rewrites.py", Path(sqlfiles.__file__), Path(__file__)):
        digest.update(source.name.encode() + b"\n" + source.read_bytes())
    return digest.hexdigest()[:32]


def default_folder() -> Path | None:
    """Where renderings are stored, or None to keep them in memory only."""
    return cache_folder()


def _key(kind: str, text: str) -> str:
    return kind + ":" + hashlib.sha256(text.encode("utf-8")).hexdigest()


class RenderCache:
    """Renderings by text digest: in memory, backed by one JSON file per renderer."""

    def __init__(self, folder: Path | None, renderer: str) -> None:
        self.path = None if folder is None else folder / f"duckdb-{renderer}.json"
        self._entries: dict[str, Any] | None = None
        self._new: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _load(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries = self._read()
        return self._entries

    def _read(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, kind: str, text: str, compute: Callable[[str], Any]) -> Any:
        """The rendering of ``text`` (``compute(text)`` on a miss, then remembered)."""
        key = _key(kind, text)
        with self._lock:
            entries = self._load()
            if key in entries:
                self.hits += 1
                return entries[key]
        value = compute(text)
        with self._lock:
            self.misses += 1
            entries[key] = value
            if len(entries) <= MAX_ENTRIES:
                self._new[key] = value
        return value

    def flush(self) -> None:
        """Write new renderings to the file, merged with what other processes wrote there.

        Atomic (a temporary file renamed over the old one); a folder that cannot be written
        is not an error: the renderings stay in memory.
        """
        with self._lock:
            if not self._new or self.path is None:
                return
            new, self._new = self._new, {}
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                merged = self._read()
                merged.update(new)
                fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".render-", suffix=".tmp")
                try:
                    with os.fdopen(fd, "w", encoding="utf-8") as out:
                        json.dump(merged, out, separators=(",", ":"))
                    os.replace(tmp, self.path)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
            except OSError:
                pass


_cache: RenderCache | None = None
_cache_lock = threading.Lock()


def cache() -> RenderCache:
    """The process's render cache (created on first use, flushed at exit)."""
    global _cache
    with _cache_lock:
        if _cache is None:
            _cache = RenderCache(default_folder(), fingerprint())
            atexit.register(_cache.flush)
        return _cache


def _fresh_text(sql: str) -> str:
    from resq.backends.duckdb import rewrites

    return rewrites.to_duckdb(sql)


def _fresh_file(file_name: str) -> Callable[[str], list[str]]:
    def render(text: str) -> list[str]:
        from resq.backends.duckdb import rewrites

        return [rewrites.to_duckdb(s) for s in sqlfiles.parse_file(text, file_name)]

    return render


def _fresh_query_of(file_name: str) -> Callable[[str], str]:
    def render(text: str) -> str:
        from resq.backends.duckdb import rewrites

        statements = sqlfiles.parse_file(text, file_name)
        if len(statements) != 1:
            raise sqlfiles.SQLFileError(
                f"sql/{file_name} should hold one statement, not {len(statements)}"
            )
        return rewrites.to_duckdb(rewrites.dynamic_table_parts(statements[0]).query)

    return render


def _fresh_restricted(
    file_name: str, keys: str, tables: tuple[str, ...], columns: tuple[str, ...]
) -> Callable[[str], str]:
    def render(text: str) -> str:
        from resq.backends.duckdb import rewrites

        (statement,) = sqlfiles.parse_file(text, file_name)
        query = rewrites.dynamic_table_parts(statement).query
        return rewrites.to_duckdb(rewrites.restrict_to_keys(query, keys, tables, columns))

    return render


def render_text(sql: str) -> str:
    """One Snowflake statement (text) as DuckDB SQL: `rewrites.to_duckdb`, remembered."""
    rendered: str = cache().get("text", sql, _fresh_text)
    return rendered


def render_file(name: str) -> tuple[str, ...]:
    """Every statement of `sql/<name>.sql` as DuckDB SQL, in order, remembered by content."""
    file_name = sqlfiles.file_name(name)
    return tuple(cache().get("file", sqlfiles.sql_text(file_name), _fresh_file(file_name)))


def render_query_of(name: str) -> str:
    """The defining query of the dynamic table in `sql/<name>.sql`, as DuckDB SQL."""
    file_name = sqlfiles.file_name(name)
    text = sqlfiles.sql_text(file_name)
    rendered: str = cache().get("dynamic-table-query", text, _fresh_query_of(file_name))
    return rendered


def render_restricted_query_of(
    name: str, keys: str, tables: tuple[str, ...], columns: tuple[str, ...]
) -> str:
    """`render_query_of`, reading from ``tables`` only the rows keyed in table ``keys``
    (`rewrites.restrict_to_keys`): an incremental refresh's query."""
    file_name = sqlfiles.file_name(name)
    text = sqlfiles.sql_text(file_name)
    kind = f"restricted-query:{keys}:{','.join(tables)}:{','.join(columns)}"
    rendered: str = cache().get(kind, text, _fresh_restricted(file_name, keys, tables, columns))
    return rendered
