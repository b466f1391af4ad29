"""The ``project`` check (issue 12, item 8): the Streamlit in Snowflake project that
``resq deploy snowflake --out`` writes follows the rules of the Snowflake CLI's project
model, and holds the app's code and SQL. Each rule is broken on a copy of a good project
and must come back as a problem naming what broke it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from resq.backends.snowflake import checks, plan
from resq.backends.snowflake.checks import project


@pytest.fixture
def good(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    plan.write_project(plan.DeployConfig(), folder)
    return folder


def _edit_yml(folder: Path, change: Callable[[dict], None]) -> None:
    path = folder / "snowflake.yml"
    doc = yaml.safe_load(path.read_text())
    change(doc["entities"]["resq_dashboard"] if "entities" in doc else doc)
    path.write_text(yaml.safe_dump(doc))


def test_the_default_project_passes(good: Path) -> None:
    assert project.problems(good) == []
    assert project.code_problems(good) == []
    assert checks.run(only=[project.NAME]) == []


def test_the_layout_of_earlier_versions_is_refused(good: Path, tmp_path: Path) -> None:
    """Earlier versions pointed the package artifact at the installed resq, outside the
    project (the Snowflake CLI says "Source is not in the project root")."""
    installed = Path(plan.__file__).resolve().parents[2]
    relative = os.path.relpath(installed, good).replace(os.sep, "/")

    def old(app: dict) -> None:
        app["artifacts"] = [
            "streamlit_app.py",
            "environment.yml",
            {"src": f"{relative}/", "dest": "resq/"},
        ]

    _edit_yml(good, old)
    found = project.problems(good)
    assert found and all(obj == "entity resq_dashboard" for obj, _ in found)
    assert any(f"{relative}/ uses '..'" in p for _, p in found)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda a: a.update(artifacts=["/etc/passwd"]), "is absolute"),
        (lambda a: a.update(artifacts=["missing.py"]), "matches no file"),
        (lambda a: a.update(artifacts=[]), "no artifacts"),
        (lambda a: a.update(main_file="nowhere.py"), "does not exist in the project root"),
        (lambda a: a.pop("main_file"), "no main_file"),
        (lambda a: a.update(identifier={}), "identifier has no name"),
        (lambda a: a.update(artifacts=[{"src": "resq/", "dest": "../up/"}]), "uses '..'"),
        (lambda a: a.update(artifacts=[{"dest": "x/"}]), "neither a path nor"),
    ],
)
def test_each_broken_rule_is_a_problem(good: Path, change: Callable, expected: str) -> None:
    _edit_yml(good, change)
    found = project.problems(good)
    assert any(expected in p for _, p in found), found


def test_definition_version_1_is_refused(good: Path) -> None:
    path = good / "snowflake.yml"
    path.write_text(path.read_text().replace("definition_version: 2", "definition_version: 1"))
    assert ("snowflake.yml", "definition_version is 1, not 2") in project.problems(good)


def test_a_symlink_out_of_the_project_is_refused(good: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.py").write_text("")
    (good / "linked").symlink_to(outside, target_is_directory=True)
    _edit_yml(good, lambda a: a["artifacts"].append("linked/"))
    assert any("resolves outside the project root" in p for _, p in project.problems(good))


def test_environment_and_code_must_be_there(good: Path) -> None:
    (good / "environment.yml").write_text("name: x\nchannels:\n  - conda-forge\n")
    found = project.problems(good)
    assert any("snowflake channel" in p for _, p in found)
    (good / "environment.yml").unlink()
    assert ("environment.yml", "missing from the project root") in project.problems(good)
    (good / "resq" / "sql" / "schema.sql").unlink()
    assert project.code_problems(good) == [
        ("resq/", "the project lacks sql/schema.sql (not self-contained)")
    ]


def test_no_snowflake_yml(tmp_path: Path) -> None:
    assert project.problems(tmp_path) == [("snowflake.yml", f"no snowflake.yml in {tmp_path}")]


SEGMENT = st.sampled_from(["..", ".", "resq", "a", "b", "sql"])


@settings(max_examples=60, deadline=None)
@given(st.lists(SEGMENT, min_size=1, max_size=6))
def test_a_relative_artifact_is_accepted_only_inside_the_root(parts: list[str]) -> None:
    """A grammar of relative paths: refused exactly when it has a '..' (which may climb out
    of the root; a path inside needs none)."""
    root = Path(plan.__file__).resolve().parent  # any existing folder
    problems = project._path_problems(root, "/".join(parts), "artifact src")
    assert bool(problems) == (".." in parts)
