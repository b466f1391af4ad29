"""The built wheel carries sql/ as package data, and resq.sqlfiles finds it there.

Builds the wheel from this checkout, installs it (without dependencies) into a fresh venv,
and runs that venv's interpreter with this environment's site-packages appended after its
own, so sqlglot is importable while `resq` resolves to the installed wheel.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from resq import sqlfiles

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import json, resq, resq.sqlfiles as s
print(json.dumps({
    "file": resq.__file__,
    "available": s.available(),
    "schema_head": s.sql_text("schema.sql")[:40],
    "schema_statements": len(s.statements("schema")),
}))
"""


def _run(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, **kwargs
    )
    assert result.returncode == 0, f"{args[:4]} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_installed_wheel_reads_sql_from_package_data(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, REPO)
    (wheel,) = dist.glob("resq-*.whl")
    checkout_sql = sorted(p.name for p in (REPO / "sql").glob("*.sql"))
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    # sql/*.sql are the files resq.sqlfiles serves; sql/<subfolder>/ (e.g. snowflake/) ships too.
    packaged = sorted(
        Path(n).name
        for n in names
        if n.startswith("resq/sql/") and n.endswith(".sql") and n.count("/") == 2
    )
    assert packaged == checkout_sql
    nested = sorted(p.relative_to(REPO / "sql") for p in (REPO / "sql").glob("*/*.sql"))
    assert all(f"resq/sql/{p.as_posix()}" in names for p in nested)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel)
    site = Path(
        _run(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        ).stdout.strip()
    )
    # A .pth line is appended to sys.path after the venv's own site-packages (PYTHONPATH would
    # come first), and .pth files in the appended folder (our editable install) are not run.
    (site / "_resq_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    probe = json.loads(_run(python, "-c", PROBE, cwd=tmp_path).stdout)

    assert Path(probe["file"]).resolve().is_relative_to(env_dir.resolve())
    assert not Path(probe["file"]).resolve().is_relative_to(REPO / "src")
    assert probe["available"] == checkout_sql
    schema = (REPO / "sql" / "schema.sql").read_text(encoding="utf-8")
    assert probe["schema_head"] == schema[:40]
    assert probe["schema_statements"] == len(sqlfiles.statements("schema"))
