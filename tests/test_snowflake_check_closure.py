"""The ``import-closure`` check (issue 12, item 1): every Python object of the deploy plan,
and the Streamlit app, runs with the built resq.zip and nothing but its declared packages.

Each defect the check exists for is re-introduced into a copy of the built zip (or of the
app's environment) and must come back as a finding naming the object.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from resq import inside
from resq.backends.snowflake import checks, plan
from resq.backends.snowflake.checks import closure


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return plan.build_code_zip(tmp_path_factory.mktemp("zip") / plan.CODE_ZIP)


def _edited(source: Path, target: Path, edits: dict[str, Callable[[str], str]]) -> Path:
    """A copy of the zip with some of its files rewritten."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = old.read(info.filename)
            if info.filename in edits:
                data = edits[info.filename](data.decode("utf-8")).encode("utf-8")
            new.writestr(info, data)
    return target


def _planned(name: str) -> closure.PlannedObject:
    objects = {o.name: o for o in closure.planned_objects(_subject())}
    return objects[name]


def _subject() -> checks.PlanUnderCheck:
    config = plan.DeployConfig()
    return checks.PlanUnderCheck(steps=plan.build(config), config=config)


def test_every_python_object_of_the_plan_is_declared() -> None:
    planned = closure.planned_objects(_subject())
    assert {o.name for o in planned} == set(inside.OBJECTS)
    for obj in planned:
        want = inside.OBJECTS[obj.name]
        assert obj.handler == want.handler and sorted(obj.packages) == sorted(want.packages)
        assert all("==" in p or p.replace("-", "").isalnum() for p in obj.packages), obj


@pytest.mark.slow
def test_the_default_plan_and_app_are_clean() -> None:
    assert checks.run(only=[closure.NAME]) == []


def test_a_handler_that_imports_sqlglot_is_a_finding(built_zip: Path, tmp_path: Path) -> None:
    """The old layout: a function handler whose package imports the Snowflake backend."""
    broken = _edited(
        built_zip,
        tmp_path / "resq.zip",
        {
            "resq/inside/functions.py": lambda s: s.replace(
                "from resq import simulation",
                "from resq import simulation\nfrom resq.backends.snowflake import backend",
            )
        },
    )
    findings = closure.check_objects([_planned("GET_WEATHER_DATA")], broken, inside.OBJECTS)
    assert [f.object for f in findings] == ["GET_WEATHER_DATA"]
    assert "sqlglot" in findings[0].problem
    assert "sqlglot (imported by resq.backends." in findings[0].problem
    assert "running it failed" in findings[0].problem  # the subprocess could not import it


@pytest.mark.slow
def test_heal_without_tenacity_is_a_finding(built_zip: Path, tmp_path: Path) -> None:
    """The old layout: the engine read routing through resq.alerting, whose __init__
    imported delivery (tenacity), which RESQ_HEAL does not declare."""
    broken = _edited(
        built_zip,
        tmp_path / "resq.zip",
        {
            "resq/engine.py": lambda s: s.replace(
                "return self.backend.stored_routing()",
                "from resq.alerting.routing import stored_policy\n\n"
                "        return stored_policy(self.backend)",
            ),
            "resq/alerting/__init__.py": lambda s: s.replace(
                "import importlib\n",
                "import importlib\n\nfrom resq.alerting.delivery import Deliverer\n",
            ),
        },
    )
    heal = _planned("RESQ_HEAL")
    undeclared = replace(heal, packages=tuple(p for p in heal.packages if "tenacity" not in p))
    findings = closure.check_objects([undeclared], broken, inside.OBJECTS)
    assert {f.object for f in findings} == {"RESQ_HEAL"}
    assert any("tenacity (imported by resq." in f.problem for f in findings), findings


def test_a_lazy_import_on_a_path_not_taken_is_still_found(built_zip: Path, tmp_path: Path) -> None:
    """An import inside a function the sample call never reaches: the static look sees it."""
    broken = _edited(
        built_zip,
        tmp_path / "resq.zip",
        {
            "resq/inside/series.py": lambda s: s + "\n\ndef _unused():\n    import duckdb\n",
        },
    )
    findings = closure.check_objects(
        [_planned("GENERATE_REALISTIC_SIMULATION")], broken, inside.OBJECTS
    )
    assert [f.object for f in findings] == ["GENERATE_REALISTIC_SIMULATION"]
    assert "duckdb (imported by resq.inside.series" in findings[0].problem
    assert "running it failed" not in findings[0].problem  # the call itself was fine


def test_a_package_dropped_from_packages_is_a_finding(built_zip: Path) -> None:
    obj = _planned("GET_VENDOR_STATUS")
    without_pandas = closure.PlannedObject(
        obj.name, obj.kind, obj.handler, tuple(p for p in obj.packages if "pandas" not in p), None
    )
    findings = closure.check_objects([without_pandas], built_zip, inside.OBJECTS)
    assert [f.object for f in findings] == ["GET_VENDOR_STATUS", "GET_VENDOR_STATUS"]
    assert "resq.inside.OBJECTS says" in findings[0].problem  # drift from the declaration
    assert "pandas (imported by resq.inside.functions" in findings[1].problem


def test_an_undeclared_python_object_is_a_finding(built_zip: Path) -> None:
    stray = closure.PlannedObject(
        "RESQ_STRAY", "procedure", "run", ("snowflake-snowpark-python",), "def run(s):\n  pass\n"
    )
    findings = closure.check_objects([stray], built_zip, inside.OBJECTS)
    assert [(f.object, f.problem) for f in findings] == [
        ("RESQ_STRAY", "a Python object not declared in resq.inside.OBJECTS")
    ]


def test_an_inline_procedure_body_is_checked(built_zip: Path) -> None:
    body = "import tenacity\nfrom resq.alerting.snowflake import deliver\n\ndef run(s):\n  pass\n"
    stray = closure.PlannedObject(
        "RESQ_DELIVER_NOTIFICATIONS", "procedure", "run", ("snowflake-snowpark-python",), body
    )
    findings = closure.check_objects([stray], built_zip, {})
    problems = " ".join(f.problem for f in findings)
    assert "tenacity (imported by __resq_inline__" in problems
    assert "sqlglot" in problems


@pytest.mark.slow
@pytest.mark.parametrize("dropped", ["altair", "sqlglot", "streamlit"])
def test_environment_without_a_package_the_app_imports_is_a_finding(
    built_zip: Path, dropped: str
) -> None:
    env = (
        "\n".join(
            line
            for line in plan.environment_yml().splitlines()
            if not line.endswith(f"- {dropped}")
        )
        + "\n"
    )
    env = "\n".join(line for line in env.splitlines() if not line.startswith(f"  - {dropped}="))
    assert dropped not in closure.environment_packages(env)
    findings = closure.check_app(env, built_zip, inside.APP_ENTRY)
    assert [f.object for f in findings] == [closure.APP_OBJECT]
    assert f"{dropped} (imported by resq." in findings[0].problem


@pytest.mark.slow
def test_the_app_without_tenacity_declared_is_a_finding(built_zip: Path) -> None:
    """The app retries overrides (resq.retrying, tenacity): an environment.yml without
    tenacity is a finding naming where it is imported."""
    env = plan.environment_yml()
    assert any(p.startswith("tenacity") for p in closure.environment_packages(env))
    without = "\n".join(line for line in env.splitlines() if "tenacity" not in line) + "\n"
    findings = closure.check_app(without, built_zip, inside.APP_ENTRY)
    assert [f.object for f in findings] == [closure.APP_OBJECT]
    assert "tenacity (imported by resq." in findings[0].problem


def test_environment_packages_reads_conda_specs() -> None:
    text = "name: x\nchannels:\n  - snowflake\ndependencies:\n  - numpy=2.*\n  - pyarrow # c\n"
    assert closure.environment_packages(text) == ("numpy==2.*", "pyarrow")
    assert inside.import_names(["snowflake-snowpark-python==1.*", "PyYAML"]) == {
        "snowflake.snowpark",
        "snowflake.connector",
        "yaml",
    }


def test_permitted_is_the_gate_rule() -> None:
    allowed = {"snowflake.snowpark", "numpy"}
    assert closure.permitted("json", allowed) and closure.permitted("_snowflake", allowed)
    assert closure.permitted("snowflake", allowed)  # the namespace above an allowed module
    assert closure.permitted("numpy.typing", allowed)
    assert not closure.permitted("numpyx", allowed)
    assert not closure.permitted("snowflake.connector", allowed)
    assert not closure.permitted("sqlglot", allowed)


def test_the_probe_refuses_resq_from_anywhere_but_the_zip(tmp_path: Path) -> None:
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    result = closure.probe({"zip": str(empty), "allowed": [], "modules": ["resq"]})
    assert result["ok"] is False


def test_the_zip_copy_helper_keeps_every_file(built_zip: Path, tmp_path: Path) -> None:
    copy = _edited(built_zip, tmp_path / "copy.zip", {})
    assert zipfile.ZipFile(copy).namelist() == zipfile.ZipFile(built_zip).namelist()
    shutil.copy(copy, tmp_path / "again.zip")


def test_function_handlers_load_neither_sqlglot_nor_the_backends() -> None:
    """The functions' modules, imported as Snowflake imports them, stay in their surface."""
    import subprocess
    import sys

    code = (  # a bare `snowflake` namespace is there at start-up (a .pth of the connector)
        "import sys, resq.inside.functions, resq.inside.series\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'sqlglot', 'pandas', 'tenacity'} or m.startswith(('resq.backends', 'snowflake.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
