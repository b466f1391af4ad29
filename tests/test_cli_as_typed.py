"""The command line as people type it (issue 14, item 9): global options after the
command, flags shown as flags, every filter validated the same way, no empty database
from a mistyped path, times with their zone, and a quiet exit when the reader goes away.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from resq.cli import alerts as cli_alerts
from resq.cli import app, docgen
from resq.cli._runtime import GLOBAL_FLAGS, GLOBAL_VALUED, hoist_global_options
from resq.core import alerts as core_alerts

runner = CliRunner()
ENV = {"RESQ_DB": None, "RESQ_ORG": None, "RESQ_ACTOR": None, "NO_COLOR": "1", "COLUMNS": "250"}
ORG = "HOSP-BLR-001"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"duckdb:///{tmp_path_factory.mktemp('typed') / 'demo.duckdb'}"
    result = runner.invoke(app, ["--db", url, "demo"], env=ENV)
    assert result.exit_code == 0, result.output
    return url


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=ENV)
    return result.exit_code, result.stdout, result.stderr


# ------------------------------------------------------------------ global options


COMMANDS = ["status", "orders", "alerts", "audit"]


@pytest.mark.parametrize("command", COMMANDS)
def test_global_options_after_the_command_mean_the_same(db: str, command: str) -> None:
    before = invoke("--db", db, "--org", ORG, "--json", command)
    after = invoke(command, "--org", ORG, "--json", "--db", db)
    mixed = invoke("--json", command, f"--db={db}", f"--org={ORG}")
    assert before[0] == after[0] == mixed[0] == 0, (before, after, mixed)
    assert json.loads(before[1]) == json.loads(after[1]) == json.loads(mixed[1])


def test_global_options_after_a_subcommand_of_a_group(db: str, tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    code, stdout, err = invoke("deploy", "snowflake", "--dry-run", "--out", str(out), "--json")
    assert code == 0, err
    assert json.loads(stdout)["dry_run"] is True


_token = st.sampled_from(["x", "PO-1", "--limit", "5", "--actor", "me", "-h", "--state"])
_global = st.one_of(
    st.sampled_from(sorted(GLOBAL_FLAGS)).map(lambda f: [f]),
    st.tuples(st.sampled_from(sorted(GLOBAL_VALUED)), st.sampled_from(["a", "b://c"])).map(list),
    st.tuples(st.sampled_from(sorted(GLOBAL_VALUED)), st.sampled_from(["a", "b://c"])).map(
        lambda t: [f"{t[0]}={t[1]}"]
    ),
)


@settings(max_examples=100, deadline=None)
@given(
    head=st.lists(_global, max_size=2),
    pieces=st.lists(st.one_of(_token.map(lambda t: [t]), _global), max_size=6),
    after_dashes=st.lists(st.sampled_from(["--json", "--db", "v"]), max_size=3),
)
def test_hoisting_moves_exactly_the_global_options(
    head: list[list[str]], pieces: list[list[str]], after_dashes: list[str]
) -> None:
    args = [t for p in head for t in p] + ["orders"] + [t for p in pieces for t in p]
    args += ["--", *after_dashes] if after_dashes else []
    hoisted = hoist_global_options(args, {"orders", "status"})
    command_at = hoisted.index("orders")
    before, after = hoisted[:command_at], hoisted[command_at + 1 :]
    # Nothing is lost or invented, and the order within each kind is kept.
    assert sorted(hoisted) == sorted(args)
    globals_in = [
        t
        for p in head + [p for p in pieces if p[0].split("=")[0] in GLOBAL_VALUED | GLOBAL_FLAGS]
        for t in p
    ]
    assert before == globals_in
    others = [
        t for p in pieces if p[0].split("=")[0] not in GLOBAL_VALUED | GLOBAL_FLAGS for t in p
    ]
    tail = ["--", *after_dashes] if after_dashes else []
    assert after == others + tail


# ------------------------------------------------------------------ help


def test_no_help_shows_a_flag_as_taking_a_bool() -> None:
    for _command, ctx in docgen.commands(app):
        path = ctx.command_path.split()[1:]
        result = runner.invoke(app, [*path, "--help"], env={**ENV, "COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, (path, result.output)


def test_a_flag_given_a_value_is_refused_not_taken(db: str) -> None:
    code, _, err = invoke("--db", db, "audit", "--verify", "true")
    assert code == 2, err


# ------------------------------------------------------------------ filters


@pytest.mark.parametrize(
    ("args", "valid"),
    [
        (["orders", "--status"], "PLACED, PENDING_APPROVAL, PENDING_VENDOR, RECEIVED, CANCELLED"),
        (["alerts", "--state"], "OPEN, ACKED, RESOLVED"),
        (["alerts", "--severity"], "SEV1, SEV2, SEV3, SEV4"),
        (["status", "--sector"], "HOSPITAL, PDS, NGO"),
    ],
)
@pytest.mark.parametrize("bad", ["BOGUS", "open ", "", "SEV 1"])
def test_every_filter_refuses_an_unknown_value_the_same_way(
    db: str, args: list[str], valid: str, bad: str
) -> None:
    code, out, err = invoke("--db", db, *args, bad)
    if bad.strip().upper() in valid.split(", "):
        assert code == 0
        return
    assert code == 2, (out, err)
    assert valid in " ".join(err.split()), err  # the values as the help shows them
    assert out == ""


@pytest.mark.parametrize(
    ("args", "column", "value"),
    [
        (["alerts", "--state", "open"], "state", "OPEN"),
        (["alerts", "--severity", "sev1"], "severity", "SEV1"),
        (["orders", "--status", "placed"], "status", "PLACED"),
    ],
)
def test_filters_accept_any_letter_case(db: str, args: list[str], column: str, value: str) -> None:
    code, out, _ = invoke("--db", db, "--json", *args)
    assert code == 0
    doc = json.loads(out)
    rows = doc.get("alerts", doc.get("orders"))
    assert rows, doc
    assert {r[column] for r in rows} == {value}


def test_the_cli_copies_of_alert_codes_equal_the_core() -> None:
    assert tuple(core_alerts.AlertState) == cli_alerts.ALERT_STATES
    assert tuple(core_alerts.Severity) == cli_alerts.SEVERITIES


# ------------------------------------------------------------------ database paths


@pytest.mark.parametrize("command", [["status"], ["orders"], ["alerts"], ["heal"], ["audit"]])
def test_a_mistyped_database_path_creates_nothing(tmp_path: Path, command: list[str]) -> None:
    target = tmp_path / "typo.duckdb"
    code, _, err = invoke("--db", f"duckdb:///{target}", *command)
    assert code == 2, err
    assert "no DuckDB database" in err
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["init"], ["status"], ["demo"]])
def test_a_missing_folder_is_a_usage_error(tmp_path: Path, command: list[str]) -> None:
    target = tmp_path / "no" / "such" / "x.duckdb"
    code, _, err = invoke("--db", f"duckdb:///{target}", *command)
    assert code == 2, err
    assert "does not exist" in err
    assert not (tmp_path / "no").exists()


def test_init_still_creates_a_new_file(tmp_path: Path) -> None:
    target = tmp_path / "new.duckdb"
    code, _, err = invoke("--db", f"duckdb:///{target}", "init")
    assert code == 0, err
    assert target.exists()


# ------------------------------------------------------------------ times


def test_times_say_their_zone(db: str) -> None:
    code, out, _ = invoke("--db", db, "alerts")
    assert code == 0
    assert " UTC" in out
    code, out, _ = invoke("--db", db, "--json", "alerts")
    stamps = [a["created_at"] for a in json.loads(out)["alerts"]]
    assert stamps and all(s.endswith("+00:00") for s in stamps), stamps


# ------------------------------------------------------------------ pipes


def test_a_closed_pipe_ends_quietly(db: str) -> None:
    script = (
        "import sys; from resq.cli import main; "
        f"sys.argv = ['resq', '--db', {db!r}, 'audit', '--limit', '0']; main()"
    )
    proc = subprocess.run(
        f'{sys.executable} -c "{script}" | head -c 10 >/dev/null',
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Broken pipe" not in proc.stderr
    assert "Traceback" not in proc.stderr
