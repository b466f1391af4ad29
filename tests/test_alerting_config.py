"""resq.toml (issue 6, routing): parsing and validation with clear errors, the shipped
example, the routing stored in the warehouse (no secrets), and heal cycles routing new
alerts by the stored routing."""

from __future__ import annotations

import doctest
import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import resq
from receivers import ORG, OXY, copy_db, seeded_template
from resq.alerting import (
    ConfigError,
    apply_config,
    find_config,
    load_config,
    parse_config,
    parse_duration,
    stored_channels,
    stored_policy,
)
from resq.alerting import (
    config as config_module,
)
from resq.cli import app
from resq.core.alerts import DEFAULT_POLICY

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "resq.toml"
ENV = {"RESQ_DB": None, "RESQ_ORG": None, "RESQ_CONFIG": None, "COLUMNS": "200"}

MINIMAL = """
[channels.hook]
type = "webhook"
url = "http://127.0.0.1:9/hooks"

[stakeholders.ops-desk]
[stakeholders.director]
email = "director@example.org"

[channels.mail]
type = "email"
host = "127.0.0.1"
sender = "resq@example.org"

[[routes]]
tier = 0
stakeholder = "ops-desk"
channels = ["console", "hook"]

[[routes]]
tier = 1
stakeholder = "director"
channels = ["mail"]
sector = "HOSPITAL"

[escalation]
SEV1 = "10m"
SEV4 = "never"
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_template(tmp_path_factory.mktemp("alerting-config"))


def write(tmp_path: Path, text: str, name: str = "resq.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- parsing


def test_the_shipped_example_is_valid_and_routes_by_sector_and_tier() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.source == str(EXAMPLE)
    assert cfg.watch_interval_s == 60
    assert cfg.timeouts["SEV1"] == timedelta(minutes=15)
    assert cfg.timeouts["SEV4"] is None
    assert cfg.delivery.max_attempts == 6 and cfg.delivery.backoff_s == 30
    assert {"console", "ops-slack", "control-room", "email"} == set(cfg.channels)
    assert cfg.channels["email"].starttls and cfg.channels["email"].port == 587
    assert cfg.channels["email"].password_env == "RESQ_SMTP_PASSWORD"
    assert cfg.channels["ops-slack"].format == "slack"
    policy = cfg.policy
    at = policy.recipients
    assert [r.stakeholder for r in at("HOSPITAL", "H1", "SEV1", 0)] == ["store-manager"]
    assert [r.stakeholder for r in at("HOSPITAL", "H1", "SEV1", 1)] == ["medical-superintendent"]
    assert [r.stakeholder for r in at("PDS", "P1", "SEV2", 1)] == ["district-supply-officer"]
    assert [r.stakeholder for r in at("NGO", "N1", "SEV1", 2)] == ["state-control-room"]
    assert at("NGO", "N1", "SEV3", 2) == []  # the control room hears only SEV1 and SEV2
    assert cfg.stakeholders["medical-superintendent"].email == (
        "ms@hospital.example.org",
        "deputy-ms@hospital.example.org",
    )


def test_no_file_means_the_defaults(tmp_path: Path) -> None:
    cfg = load_config(cwd=tmp_path)
    assert cfg.source is None
    assert set(cfg.channels) == {"console"}
    assert cfg.policy.routes == DEFAULT_POLICY.routes


def test_resq_toml_in_the_current_folder_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, MINIMAL)
    monkeypatch.chdir(tmp_path)
    assert find_config() == path.resolve()
    assert load_config().source is not None
    assert [r.stakeholder for r in load_config().policy.routes] == ["ops-desk", "director"]
    assert load_config(path).routing_hash() == load_config().routing_hash()


def test_a_named_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")


BAD = [
    ('[channels.mail]\ntype = "email"\nhost = "h"\nsender = "a@b"\npassword = "hunter2"\n',
     "channels.mail.password", "never stored in the config file"),
    ('[channels.hook]\ntype = "webhook"\nurl = "http://x"\nurl_env = "X"\n',
     "channels.hook", "exactly one of url or url_env"),
    ('[channels.hook]\ntype = "webhook"\nurl = "ftp://x"\n', "channels.hook.url", "http://"),
    ('[channels.sms]\ntype = "sms"\n', "channels.sms.type", "must be one of"),
    ('[channels.mail]\ntype = "email"\nhost = "h"\n', "channels.mail.sender", "From address"),
    ('[channels.mail]\ntype = "email"\nhost = "h"\nsender = "a@b"\nusername_env = "U"\n',
     "channels.mail", "both username_env and password_env"),
    ('[channels.mail]\ntype = "email"\nhost = "h"\nsender = "a@b"\nport = 70000\n',
     "channels.mail.port", "from 1 to 65535"),
    ('[stakeholders.ops]\n[[routes]]\nstakeholder = "ops"\nchannels = ["pager"]\n',
     "routes[1].channels", "unknown channel 'pager'"),
    ('[stakeholders.ops]\n[[routes]]\nstakeholder = "opz"\n', "routes[1].stakeholder",
     "unknown stakeholder 'opz'"),
    ('[stakeholders.ops]\n[[routes]]\nstakeholder = "ops"\nsector = "SCHOOL"\n',
     "routes[1].sector", "HOSPITAL, PDS, NGO"),
    ('[stakeholders.ops]\n[[routes]]\nstakeholder = "ops"\nseverities = ["SEV9"]\n',
     "routes[1].severities", "SEV1, SEV2, SEV3, SEV4"),
    ('[stakeholders.ops]\n[[routes]]\nstakeholder = "ops"\ntier = -1\n', "routes[1].tier",
     "from 0 to 20"),
    ('[channels.mail]\ntype = "email"\nhost = "h"\nsender = "a@b"\n[stakeholders.ops]\n'
     '[[routes]]\nstakeholder = "ops"\nchannels = ["mail"]\n', "routes[1].channels",
     "has no email address"),
    ('[escalation]\nSEV1 = "soon"\n', "escalation.SEV1", "duration"),
    ('[escalation]\nSEV5 = "1h"\n', "escalation.SEV5", "unknown key"),
    ('[delivery]\nmax_attempts = 0\n', "delivery.max_attempts", "from 1 to 100"),
    ('[watch]\ninterval = "0s"\n', "watch.interval", "longer than zero"),
    ("[routing]\n", "routing", "unknown key"),
    ('[channels\ntype = "x"', "", "not valid TOML"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "key", "reason"), BAD, ids=[b[1] or "toml" for b in BAD])
def test_a_bad_config_names_the_file_the_key_and_the_reason(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    if key:
        assert f"{key}: " in message
    assert reason in message, message
    assert any(k == key and reason in r for k, r in info.value.problems), info.value.problems


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = '[escalation]\nSEV1 = "x"\nSEV2 = "y"\n[delivery]\nbatch = 0\n'
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert [k for k, _ in info.value.problems] == [
        "escalation.SEV1",
        "escalation.SEV2",
        "delivery.batch",
    ]
    assert "(3 problems)" in str(info.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90.0), ("90s", 90.0), ("15m", 900.0), ("1h30m", 5400.0), ("2d", 172800.0),
     ("500ms", 0.5), (" 1 h ", 3600.0)],
)  # fmt: skip
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "15", "1x", "-5s", True, -1, "m15"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_doctests_of_the_config_module() -> None:
    assert doctest.testmod(config_module).failed == 0


def test_missing_credentials_are_named() -> None:
    cfg = load_config(EXAMPLE)
    env = {"RESQ_SLACK_WEBHOOK_URL": "https://hooks.example/x", "RESQ_SMTP_USER": "u"}
    assert cfg.missing_environment(env) == [
        "channel 'control-room' needs environment variable RESQ_CONTROL_ROOM_TOKEN",
        "channel 'email' needs environment variable RESQ_SMTP_PASSWORD",
    ]


# ---------------------------------------------------------------- stored routing


def test_applied_routing_is_stored_audited_once_and_read_back(
    template: Path, tmp_path: Path
) -> None:
    with resq.connect(copy_db(template, tmp_path / "db.duckdb")) as backend:
        assert stored_policy(backend) is DEFAULT_POLICY
        cfg = load_config(EXAMPLE)
        first = apply_config(backend, cfg, actor="alice")
        again = apply_config(backend, cfg, actor="alice")
        assert first.changed and not again.changed
        assert first.config_hash == again.config_hash == cfg.routing_hash()
        policy = stored_policy(backend)
        assert policy.routes == cfg.policy.routes
        assert policy.timeouts == cfg.policy.timeouts
        channels = stored_channels(backend)
        assert {n: c.type for n, c in channels.items()} == {
            n: c.type for n, c in cfg.channels.items()
        }
        assert channels["email"].snowflake_integration == "RESQ_EMAIL"
        events = backend.sql(
            "SELECT actor, entity_id, details FROM audit_log "
            "WHERE action = 'alerting.config_applied'"
        ).to_pylist()
        assert len(events) == 1 and events[0]["actor"] == "alice"
        assert json.loads(events[0]["details"])["routes"] == 5
        assert backend.verify_audit().ok


def test_no_endpoint_or_secret_is_stored(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "RESQ_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/SECRETVALUE",
        "RESQ_SMTP_PASSWORD": "hunter2-password",
        "RESQ_SMTP_USER": "smtp-user-name",
        "RESQ_CONTROL_ROOM_TOKEN": "Bearer TOKEN-123",
    }
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    with resq.connect(copy_db(template, tmp_path / "db.duckdb")) as backend:
        apply_config(backend, load_config(EXAMPLE), actor="alice")
        stored = json.dumps(
            [
                backend.sql(f"SELECT * FROM {t}").to_pylist()
                for t in ("alert_routes", "alert_timeouts", "alert_channels", "audit_log")
            ],
            default=str,
        )
    assert "medical-superintendent" in stored and "ops-slack" in stored  # the routing is
    for forbidden in [*secrets.values(), "smtp.example.org", "control-room.example.org"]:
        assert forbidden not in stored


def test_heal_routes_new_alerts_by_the_stored_routing(template: Path, tmp_path: Path) -> None:
    with resq.connect(copy_db(template, tmp_path / "db.duckdb")) as backend:
        apply_config(backend, parse_config(_toml(MINIMAL), source="test"), actor="alice")
        engine = resq.SelfHealingEngine(backend)
        engine.drop_stock(ORG, OXY, actor="alice")
        report = engine.heal()
        rows = backend.sql(
            "SELECT stakeholder, channel, tier, delivery_key FROM notifications "
            "WHERE org_id = ? ORDER BY channel",
            [ORG],
        ).to_pylist()
    assert report.alerts_raised == 1 and report.notifications_queued == 2
    assert [(r["stakeholder"], r["channel"], r["tier"]) for r in rows] == [
        ("ops-desk", "console", 0),
        ("ops-desk", "hook", 0),
    ]
    assert rows[1]["delivery_key"].endswith(":ops-desk:hook:0")


def test_an_explicit_policy_still_wins_over_the_stored_one(template: Path, tmp_path: Path) -> None:
    with resq.connect(copy_db(template, tmp_path / "db.duckdb")) as backend:
        apply_config(backend, parse_config(_toml(MINIMAL), source="test"), actor="alice")
        engine = resq.SelfHealingEngine(backend, policy=DEFAULT_POLICY)
        engine.drop_stock(ORG, OXY, actor="alice")
        engine.heal()
        who = backend.sql(
            "SELECT DISTINCT stakeholder FROM notifications WHERE org_id = ?", [ORG]
        ).to_pylist()
    assert who == [{"stakeholder": "store-manager"}]


# ---------------------------------------------------------------- the CLI


def test_init_with_config_stores_the_routing(tmp_path: Path) -> None:
    runner = CliRunner()
    db = f"duckdb:///{tmp_path / 'cli.duckdb'}"
    result = runner.invoke(app, ["--db", db, "--json", "init", "--config", str(EXAMPLE)], env=ENV)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["alerting"]["changed"] is True and doc["alerting"]["routes"] == 5
    with resq.connect(db) as backend:
        assert stored_policy(backend).routes == load_config(EXAMPLE).policy.routes
    human = runner.invoke(app, ["--db", db, "init", "--config", str(EXAMPLE)], env=ENV)
    assert "already up to date" in human.stdout


def test_init_with_a_bad_config_exits_2_and_changes_nothing(tmp_path: Path) -> None:
    bad = write(tmp_path, '[escalation]\nSEV1 = "soon"\n', "bad.toml")
    db_path = tmp_path / "cli.duckdb"
    result = CliRunner().invoke(
        app, ["--db", f"duckdb:///{db_path}", "init", "--config", str(bad)], env=ENV
    )
    assert result.exit_code == 2
    assert f"invalid alerting config {bad}" in result.stderr
    assert "escalation.SEV1" in result.stderr and "Traceback" not in result.stderr
    with resq.connect(f"duckdb:///{db_path}") as backend:
        assert backend.schema_version() == 0  # nothing was created


def _toml(text: str) -> dict[str, object]:
    import tomllib

    return tomllib.loads(text)


# ---------------------------------------------------------------- the guide


def _fences(text: str) -> list[tuple[str, str]]:
    import re

    fence = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
    return [(m["info"].strip(), m["body"]) for m in fence.finditer(text)]


def test_the_guide_shows_a_valid_config_and_valid_python() -> None:
    import tomllib

    blocks = _fences((ROOT / "docs" / "alerting.md").read_text(encoding="utf-8"))
    tomls = [body for info, body in blocks if info == "toml"]
    assert tomls
    for body in tomls:
        cfg = parse_config(tomllib.loads(body), source="docs/alerting.md")
        assert cfg.routes  # the guide's example routes parse and validate
    for i, (info, body) in enumerate(blocks):
        if info == "python":
            compile(body, f"docs/alerting.md block {i}", "exec")
    (unit,) = [body for info, body in blocks if info == "ini"]
    assert "ExecStart=/opt/resq/.venv/bin/resq watch" in unit and "KillSignal=SIGTERM" in unit
