"""Where resq keeps what it may recompute at any time (renderings of its SQL, the help)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def cache_folder() -> Path | None:
    """The user cache folder for resq, or None when ``RESQ_CACHE_DIR`` turns caching off.

    ``RESQ_CACHE_DIR`` names the folder (``off``, ``0``, ``none`` or empty: no cache);
    otherwise ``$XDG_CACHE_HOME/resq`` or ``~/.cache/resq`` (Linux), ``~/Library/Caches/resq``
    (macOS), ``%LOCALAPPDATA%\\resq`` (Windows). Deleting it is always safe.
    """
    configured = os.environ.get("RESQ_CACHE_DIR")
    if configured is not None:
        return None if configured.strip().lower() in {"", "0", "off", "none"} else Path(configured)
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "resq"
