"""`resq --help` from its copy (resq._console) prints exactly what rendering it prints, and
never a copy made under other conditions: another width, colour setting or edited module
is a miss. Served from the copy, it imports neither typer nor Rich."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from resq import _console

RUN = """
import json, sys
sys.argv = ["resq", *{args!r}]
from resq._console import main
try:
    main()
except SystemExit as exc:
    code = exc.code
sys.stderr.write(json.dumps({{"exit": code, "typer": "typer" in sys.modules}}) + "\\n")
"""


def resq(args: list[str], **env: str) -> tuple[str, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", RUN.format(args=args)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )
    return done.stdout, json.loads(done.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("columns", ["80", "132"])
def test_help_from_its_copy_is_the_rendered_help(tmp_path: Path, columns: str) -> None:
    cache = str(tmp_path)
    fresh, first = resq(["--help"], RESQ_CACHE_DIR="off", COLUMNS=columns)
    assert first == {"exit": 0, "typer": True}
    assert "Usage: resq" in fresh
    made, _ = resq(["--help"], RESQ_CACHE_DIR=cache, COLUMNS=columns)
    served, second = resq(["--help"], RESQ_CACHE_DIR=cache, COLUMNS=columns)
    assert made == served == fresh
    assert second == {"exit": 0, "typer": False}  # from the copy
    short, _ = resq(["-h"], RESQ_CACHE_DIR=cache, COLUMNS=columns)
    assert short == fresh


def test_another_width_or_colour_setting_is_rendered_afresh(tmp_path: Path) -> None:
    cache = str(tmp_path)
    resq(["--help"], RESQ_CACHE_DIR=cache, COLUMNS="80")
    narrow, how = resq(["--help"], RESQ_CACHE_DIR=cache, COLUMNS="60")
    assert how["typer"] is True  # a miss
    assert narrow == resq(["--help"], RESQ_CACHE_DIR="off", COLUMNS="60")[0]
    assert max(len(line) for line in narrow.splitlines()) <= 60
    _, coloured = resq(["--help"], RESQ_CACHE_DIR=cache, COLUMNS="60", FORCE_COLOR="1")
    assert coloured["typer"] is True
    assert len(list(tmp_path.glob("help-*.txt"))) == 3


def test_only_help_is_served_from_a_copy(tmp_path: Path) -> None:
    out, how = resq(["--version"], RESQ_CACHE_DIR=str(tmp_path))
    assert how == {"exit": 0, "typer": True}
    assert out.startswith("resq ")
    assert not list(tmp_path.glob("help-*.txt"))


def test_the_key_follows_every_module_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "helpkeypkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    module = package / "sub" / "mod.py"
    module.write_text("HELP = 'a'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = _console._tree_state("helpkeypkg", every_file=True)
    module.write_text("HELP = 'bb'\n")  # another size
    assert _console._tree_state("helpkeypkg", every_file=True) != before
    changed = _console._tree_state("helpkeypkg", every_file=True)
    stat = module.stat()
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))  # same size
    assert _console._tree_state("helpkeypkg", every_file=True) != changed


def test_the_key_follows_the_environment_and_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    base = _console.help_key(["--help"])
    assert _console.help_key(["-h"]) != base
    monkeypatch.setenv("NO_COLOR", "1")
    assert _console.help_key(["--help"]) != base
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("PATH_UNRELATED_TO_HELP", "x")
    assert _console.help_key(["--help"]) == base
