"""The Streamlit dashboard: validation and operations over the library, no rules of its own.

``resq dashboard`` serves :data:`APP` with ``streamlit run``; Streamlit in Snowflake runs
the same file on the active Snowpark session. This module imports no Streamlit, so the
command line can find the app without loading it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"
"""The app's entry point (``streamlit run`` it)."""

DB_ENV = "RESQ_DB"
"""The warehouse URL the app connects to (the command line's ``--db``)."""

ORG_ENV = "RESQ_ORG"
"""When set, the app is locked to this organization (the command line's ``--org``)."""


def streamlit_command(port: int, *, headless: bool = True) -> list[str]:
    """The ``streamlit run`` command line that serves the dashboard on 127.0.0.1:``port``."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true" if headless else "false",
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--theme.base",
        "light",
        "--theme.primaryColor",
        "#0f766e",
    ]


def app_environment(
    db: str, org: str | None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment the app runs in: ``base`` (default: this process's) with the
    warehouse URL, and the organization lock set or cleared."""
    env = dict(os.environ if base is None else base)
    env[DB_ENV] = db
    if org:
        env[ORG_ENV] = org
    else:
        env.pop(ORG_ENV, None)
    return env


__all__ = ["APP", "DB_ENV", "ORG_ENV", "app_environment", "streamlit_command"]
