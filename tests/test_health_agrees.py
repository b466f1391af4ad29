"""One health computation (issue 14, item 5): `resq health`, `engine.health()` and the
dashboard judge the same file the same way, including a heal cycle whose age only
matters against the configured watch interval."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import resq
from resq.backends.warehouse import utcnow
from resq.cli import app


def _timeless(text: str) -> str:
    """The reason without its running clock (seconds go on between the two reads)."""
    return re.sub(r"\d+ s ago", "N s ago", text)


@pytest.fixture
def stale_heal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A healed network whose last heal finished 5 minutes ago: older than 3 watch
    intervals of 60 s, younger than 3 of 300 s."""
    monkeypatch.chdir(tmp_path)  # no resq.toml here: the defaults apply everywhere
    url = f"duckdb:///{tmp_path / 'health.duckdb'}"
    backend = resq.connect(url)
    backend.init()
    engine = resq.SelfHealingEngine(backend)
    engine.seed()
    engine.heal()
    backend.execute("UPDATE heal_cycles SET finished_at = ?", [utcnow() - timedelta(minutes=5)])
    backend.close()
    return url


def test_cli_and_library_agree(stale_heal: str) -> None:
    result = CliRunner().invoke(
        app, ["--db", stale_heal, "--json", "health"], env={"RESQ_DB": None}
    )
    cli = json.loads(result.stdout)
    backend = resq.connect(stale_heal)
    try:
        library = resq.SelfHealingEngine(backend).health()
    finally:
        backend.close()
    assert any("last heal cycle" in r for r in cli["reasons"]), cli
    assert cli["status"] == library.status.value
    assert [_timeless(r) for r in cli["reasons"]] == [_timeless(r) for r in library.reasons]


@pytest.mark.slow
def test_the_dashboard_shows_what_the_cli_says(
    stale_heal: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from resq.dashboard import APP, DB_ENV, ORG_ENV

    result = CliRunner().invoke(
        app, ["--db", stale_heal, "--json", "health"], env={"RESQ_DB": None}
    )
    cli = json.loads(result.stdout)
    monkeypatch.setenv(DB_ENV, stale_heal)
    monkeypatch.delenv(ORG_ENV, raising=False)
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        shown = [m.value for m in (*at.success, *at.warning, *at.error)]
        health = next(h for h in shown if h.startswith(("**GREEN**", "**AMBER**", "**RED**")))
    finally:
        st.cache_resource.clear()
    assert health.startswith(f"**{cli['status']}**"), (health, cli)
    for reason in cli["reasons"]:
        assert _timeless(reason) in _timeless(health.replace("\\", ""))  # Markdown escapes
