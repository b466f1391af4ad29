"""The ``resq`` console script. ``resq --help`` is printed from a copy of its last
rendering when nothing it depends on has changed, without importing typer or Rich.

The copy is keyed by the state of everything the help is made of: the size and mtime of
every module of resq, typer and Rich, the Python version, whether stdout is a terminal,
its encoding and size, and the environment variables that typer and Rich read (colour,
width, terminal). Any change is a miss: the help is rendered as usual and the copy
replaced. Copies live beside the render cache (`RESQ_CACHE_DIR`, `off` disables them).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from resq._paths import cache_folder

HELP_ARGS = (["--help"], ["-h"])
_ENV_PREFIXES = (
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "FORCE_COLOR",
    "CLICOLOR",
    "TTY_",
    "TYPER",
    "_TYPER",
    "PY_COLORS",
    "GITHUB_ACTIONS",
    "JUPYTER",
    "COLUMNS",
    "LINES",
    "LANG",
    "LC_",
    "PYTHONIOENCODING",
    "RESQ_",
    "VSCODE",
    "TERMINAL_WIDTH",
)


def _tree_state(package: str, *, every_file: bool) -> str:
    """Size and mtime of every module file of a package (resq: edited in place), or of its
    ``__init__.py`` (an installed dependency: an upgrade rewrites it)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return f"{package}: missing"
    if not every_file:
        stat = os.stat(spec.origin)
        return f"{spec.origin} {stat.st_size} {stat.st_mtime_ns}"
    folders = list(spec.submodule_search_locations or [])
    lines = [package]
    for folder in folders:
        for root, dirs, names in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(names):
                if name.endswith((".py", ".pyi")):
                    stat = os.stat(os.path.join(root, name))
                    lines.append(f"{root}/{name} {stat.st_size} {stat.st_mtime_ns}")
    return "\n".join(lines)


def help_key(args: list[str]) -> str:
    """A digest of everything `resq <args>` (a help request) prints depends on."""
    try:
        tty = sys.stdout.isatty()
    except (AttributeError, ValueError):
        tty = False
    size = shutil.get_terminal_size()
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES))
    parts = [
        repr(args),
        sys.version,
        sys.platform,
        f"tty={tty} encoding={getattr(sys.stdout, 'encoding', None)} size={tuple(size)}",
        repr(env),
        _tree_state("resq", every_file=True),
        *(_tree_state(p, every_file=False) for p in ("typer", "rich", "markdown_it", "pygments")),
    ]
    return hashlib.sha256("\n\0".join(parts).encode("utf-8", "replace")).hexdigest()[:32]


class _Tee:
    """stdout as it is, also copying what is written (for the help's copy)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.copied: list[str] = []

    def write(self, text: str) -> int:
        self.copied.append(text)
        written: int = self._stream.write(text)
        return written

    def text(self) -> str | None:
        """What was written, or None when some of it was not text (it is not copied)."""
        written = [t for t in self.copied if t != b""]  # click writes b"" to flush
        if not all(isinstance(t, str) for t in written):
            return None
        return "".join(written)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _serve(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    sys.stdout.write(text)
    sys.stdout.flush()
    return True


def _store(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".help-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except OSError:
        pass


def main() -> None:
    """Run ``resq`` with the command line's arguments."""
    args = sys.argv[1:]
    folder = cache_folder() if args in HELP_ARGS else None
    if folder is None:
        from resq.cli import main as cli_main

        cli_main()
        return
    path = folder / f"help-{help_key(args)}.txt"
    if _serve(path):
        raise SystemExit(0)
    from resq.cli import main as cli_main

    tee = _Tee(sys.stdout)
    sys.stdout = tee
    try:
        cli_main()
    except SystemExit as exc:
        text = tee.text()
        if exc.code in (0, None) and text:
            _store(path, text)
        raise
    finally:
        sys.stdout = tee._stream
