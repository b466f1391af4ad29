"""Commands on a DuckDB warehouse run as a base install of resq does: without pandas.

pandas is not a dependency of resq (only the dashboard and Snowflake extras bring it), yet
when it is installed pyarrow imports it, whole, the first time it converts Python values
or hands a column to numpy, only to check for pandas objects: about a quarter of a second
of a heal or a demo that never use pandas. The command line hides it from those commands,
so they run exactly as they do where pandas is not installed (a configuration pyarrow
supports fully). ``resq dashboard``, ``resq deploy`` and any command on a Snowflake
warehouse keep it: their libraries use pandas.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from resq.cli._runtime import DEFAULT_DB

# Commands whose libraries use pandas: the dashboard (Streamlit) and deploy (Snowflake).
NEEDS_PANDAS = frozenset({"dashboard", "deploy"})


class _Hidden(importlib.abc.MetaPathFinder):
    """``import pandas`` fails, as where it is not installed."""

    def __init__(self, command: str) -> None:
        self.command = command

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (`resq {self.command}` runs without pandas, "
                "as a base install of resq does)",
                name=fullname,
            )
        return None


def warehouse_url(args: list[str]) -> str:
    """The ``--db`` a command line names (either ``--db URL`` or ``--db=URL``; the last one
    wins, as in the parser), else ``RESQ_DB``, else the default."""
    url: str | None = None
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            break
        if token == "--db" and i + 1 < len(args):
            url = args[i + 1]
            i += 2
            continue
        if token.startswith("--db="):
            url = token.split("=", 1)[1]
        i += 1
    return url or os.environ.get("RESQ_DB") or DEFAULT_DB


def hide_pandas(command: str, args: list[str]) -> bool:
    """Hide pandas from this process when ``command`` on the warehouse ``args`` name needs
    none of it. Returns whether it did."""
    if command in NEEDS_PANDAS or "pandas" in sys.modules:
        return False
    if not warehouse_url(args).lower().startswith("duckdb:"):
        return False
    sys.meta_path.insert(0, _Hidden(command))
    return True
