"""`resq dashboard`: it starts `streamlit run` on the app, on 127.0.0.1, with the global
`--db` and `--org` handed to the app; it refuses what it cannot do, in one sentence."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner, Result

import resq
from resq.cli import app
from resq.cli import dashboard as command
from resq.dashboard import APP, DB_ENV, ORG_ENV, app_environment, streamlit_command

ENV = {"RESQ_DB": None, "RESQ_ORG": None, "RESQ_ACTOR": None, "NO_COLOR": None}
runner = CliRunner()


class FakeStreamlit:
    """Stands in for the `streamlit run` process: records how it was started."""

    started: ClassVar[list[FakeStreamlit]] = []
    exit_code: ClassVar[int] = 0

    def __init__(self, cmd: list[str], env: dict[str, str], start_new_session: bool) -> None:
        self.cmd, self.env, self.own_session = cmd, env, start_new_session
        self.signals: list[int] = []
        FakeStreamlit.started.append(self)

    def wait(self) -> int:
        return self.exit_code

    def send_signal(self, signum: int) -> None:
        self.signals.append(signum)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeStreamlit]:
    FakeStreamlit.started = []
    FakeStreamlit.exit_code = 0
    monkeypatch.setattr(command.subprocess, "Popen", FakeStreamlit)
    return FakeStreamlit


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"duckdb:///{tmp_path_factory.mktemp('dash')}/cli.duckdb"
    backend = resq.connect(url)
    backend.init()
    resq.SelfHealingEngine(backend).seed()
    backend.close()
    return url


def run(*args: str) -> Result:
    return runner.invoke(app, list(args), env=ENV)


def test_it_serves_the_app_on_loopback_with_the_configured_warehouse(
    db: str, fake: type[FakeStreamlit]
) -> None:
    result = run("--db", db, "dashboard", "--port", "8765", "--headless")
    assert result.exit_code == 0, result.stderr
    (started,) = fake.started
    cmd = started.cmd
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(APP)]
    options = dict(zip(cmd[5::2], cmd[6::2], strict=True))
    assert options["--server.address"] == "127.0.0.1"
    assert options["--server.port"] == "8765"
    assert options["--server.headless"] == "true"
    assert started.env[DB_ENV] == db
    assert ORG_ENV not in started.env
    assert "http://127.0.0.1:8765" in result.stderr


def test_a_stop_signal_is_passed_on_to_streamlit_and_waited_for(
    db: str, fake: type[FakeStreamlit], monkeypatch: pytest.MonkeyPatch
) -> None:
    def wait(self: FakeStreamlit) -> int:
        os.kill(os.getpid(), signal.SIGTERM)  # as a process manager stopping `resq dashboard`
        return 0

    monkeypatch.setattr(FakeStreamlit, "wait", wait)
    before = signal.getsignal(signal.SIGTERM)
    assert run("--db", db, "dashboard").exit_code == 0
    (started,) = fake.started
    assert started.own_session and started.signals == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored


def test_org_locks_the_app_to_that_organization(db: str, fake: type[FakeStreamlit]) -> None:
    result = run("--db", db, "--org", "HOSP-BLR-001", "dashboard")
    assert result.exit_code == 0, result.stderr
    (started,) = fake.started
    assert started.env[ORG_ENV] == "HOSP-BLR-001"
    assert dict(zip(started.cmd[5::2], started.cmd[6::2], strict=True))["--server.port"] == "8501"
    assert "locked to HOSP-BLR-001" in result.stderr


def test_an_unknown_organization_is_refused_before_starting(
    db: str, fake: type[FakeStreamlit]
) -> None:
    result = run("--db", db, "--org", "NOPE", "dashboard")
    assert result.exit_code == 2
    assert "no organization 'NOPE'" in result.stderr
    assert not fake.started


def test_json_is_refused(db: str, fake: type[FakeStreamlit]) -> None:
    result = run("--db", db, "--json", "dashboard")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["message"].startswith("`resq dashboard` serves")
    assert not fake.started


def test_without_streamlit_it_says_what_to_install(
    db: str, fake: type[FakeStreamlit], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "streamlit" else real(name, *args)

    monkeypatch.setattr(command.importlib.util, "find_spec", find_spec)
    result = run("--db", db, "dashboard")
    assert result.exit_code == 2
    assert "pip install 'resq[dashboard]'" in result.stderr
    assert not fake.started


def test_a_failing_streamlit_is_a_failing_command(db: str, fake: type[FakeStreamlit]) -> None:
    fake.exit_code = 3
    assert run("--db", db, "dashboard").exit_code == 3


def test_bad_ports_are_usage_errors(db: str, fake: type[FakeStreamlit]) -> None:
    for port in ("0", "70000", "web"):
        assert run("--db", db, "dashboard", "--port", port).exit_code == 2
    assert not fake.started


def test_dashboard_is_a_real_command_now() -> None:
    help_text = run("--help").stdout
    assert "dashboard" in help_text
    assert "Not available yet" not in run("dashboard", "--help").stdout


def test_app_environment_sets_and_clears_the_lock() -> None:
    env = app_environment("duckdb:///x.db", None, {"RESQ_ORG": "OLD", "PATH": "/bin"})
    assert env == {"RESQ_DB": "duckdb:///x.db", "PATH": "/bin"}
    env = app_environment("duckdb:///x.db", "NGO-DEL-001", {})
    assert env == {"RESQ_DB": "duckdb:///x.db", "RESQ_ORG": "NGO-DEL-001"}
    assert "--server.headless" in streamlit_command(1234)


def test_importing_the_dashboard_package_does_not_import_streamlit() -> None:
    code = (
        "import json, sys\n"
        "import resq.dashboard, resq.cli.dashboard\n"
        "print(json.dumps([m for m in ('streamlit', 'pandas') if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_app_and_its_views_ship_inside_the_package() -> None:
    assert APP.is_file() and APP.parent == Path(resq.__file__).parent / "dashboard"
    assert sorted(p.name for p in (APP.parent / "views").glob("*.py")) == [
        "operations.py",
        "validation.py",
        "whatif.py",
    ]
