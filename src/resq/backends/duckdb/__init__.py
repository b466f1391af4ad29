"""The embedded DuckDB backend (the default, and the offline test bed)."""

from resq.backends.duckdb.backend import DuckDBBackend

__all__ = ["DuckDBBackend"]
