"""Tier 4: real Snowflake, only when ``RESQ_SNOWFLAKE_CONNECTION`` names a connection of
connections.toml (``RESQ_SNOWFLAKE_CONNECTION=dev pytest tests/test_snowflake_tier4_live.py``).

It deploys the whole plan into a scratch schema it creates (and drops at the end), then
checks what no local tool can: the Python functions, Snowflake's choice of INCREMENTAL
refresh, the dynamic table refreshing by itself within its target lag, the heal procedure,
and the row access policy. Without the variable, exactly one test runs and reports why the
live tier did not.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

CONNECTION = os.environ.get("RESQ_SNOWFLAKE_CONNECTION", "").strip()

pytestmark = pytest.mark.live


def test_snowflake_tier4_live_is_configured() -> None:
    if not CONNECTION:
        pytest.skip(
            "live tier did not run: RESQ_SNOWFLAKE_CONNECTION is not set (name a connection "
            "of connections.toml whose role can create a schema, e.g. RESQ_ENGINE)"
        )
    import resq

    with resq.connect(f"snowflake://?connection_name={CONNECTION}") as backend:
        assert backend.sql("SELECT 1 AS one").scalar() == 1


if CONNECTION:
    import resq
    from resq.backends.snowflake import SnowflakeBackend
    from resq.engine import SelfHealingEngine

    ORG, OXY = "HOSP-BLR-001", "OXY-CYL"

    @pytest.fixture(scope="module")
    def live() -> Iterator[SnowflakeBackend]:
        schema = f"RESQ_TEST_{uuid.uuid4().hex[:8].upper()}"
        admin = resq.connect(f"snowflake://?connection_name={CONNECTION}")
        admin.execute(f"CREATE SCHEMA {schema}")
        admin.execute(f"USE SCHEMA {schema}")
        database = admin.sql("SELECT CURRENT_DATABASE()").scalar()
        backend = resq.connect(
            f"snowflake://?connection_name={CONNECTION}", database=database, schema=schema
        )
        assert isinstance(backend, SnowflakeBackend)
        try:
            backend.deploy()
            SelfHealingEngine(backend).seed(days=7)
            yield backend
        finally:
            backend.close()
            admin.execute(f"DROP SCHEMA IF EXISTS {schema}")  # test data only
            admin.close()

    def test_snowflake_tier4_live_python_functions(live: SnowflakeBackend) -> None:
        checks = SelfHealingEngine(live).validate()
        assert all(c.passed for c in checks), [c.as_dict() for c in checks]
        rows = live.sql(
            "SELECT * FROM TABLE(GENERATE_REALISTIC_SIMULATION('HOSP-1', 'OXY-CYL', 30, 7))"
        )
        assert len(rows) == 30

    def test_snowflake_tier4_live_dynamic_table_is_incremental(live: SnowflakeBackend) -> None:
        state = live.analysis_state()
        assert state["kind"] == "DYNAMIC TABLE"
        assert str(state["refresh_mode"]).upper() == "INCREMENTAL", state
        assert "1 minute" in str(state["target_lag"]).lower()

    def test_snowflake_tier4_live_refreshes_within_its_target_lag(live: SnowflakeBackend) -> None:
        """Written through another session (so this backend does not ask for a refresh),
        the change shows up by itself within the lag (plus Snowflake's scheduling slack)."""
        other = resq.connect(
            f"snowflake://?connection_name={CONNECTION}",
            database=live.sql("SELECT CURRENT_DATABASE()").scalar(),
            schema=live.sql("SELECT CURRENT_SCHEMA()").scalar(),
        )
        try:
            other.execute(
                "UPDATE inventory_master SET current_stock = 0 WHERE org_id = ? AND sku = ?",
                ["PDS-DEL-001", "WHEAT"],
            )
        finally:
            other.close()
        deadline = time.monotonic() + live.target_lag_s * 2 + 60
        while time.monotonic() < deadline:
            row = live.fetch(
                "SELECT status FROM stock_analysis WHERE org_id = ? AND sku = ?",
                ["PDS-DEL-001", "WHEAT"],
            ).to_pylist()
            if row and row[0]["status"] == "CRITICAL":
                return
            time.sleep(5)
        raise AssertionError("stock_analysis did not refresh within its target lag")

    def test_snowflake_tier4_live_heal_procedure(live: SnowflakeBackend) -> None:
        SelfHealingEngine(live).drop_stock(ORG, OXY)
        live.refresh_analysis(force=True)
        result: Any = live.sql("CALL RESQ_HEAL(FALSE, 'MANUAL')").scalar()
        import json

        report = json.loads(result) if isinstance(result, str) else result
        assert report["noop"] is False and report["created"] >= 1
        again = live.sql("CALL RESQ_HEAL(FALSE, 'MANUAL')").scalar()
        again = json.loads(again) if isinstance(again, str) else again
        assert again.get("created", 0) == 0  # exactly once
        assert live.verify_audit().ok

    def test_snowflake_tier4_live_policy_is_attached_everywhere(live: SnowflakeBackend) -> None:
        from resq.backends.snowflake import plan

        for table in (*plan.POLICY_TABLES, "stock_analysis"):
            refs = live.sql(
                "SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.POLICY_REFERENCES("
                "REF_ENTITY_NAME => CURRENT_DATABASE() || '.' || CURRENT_SCHEMA() || '.' || ?, "
                "REF_ENTITY_DOMAIN => 'table')) WHERE POLICY_KIND = 'ROW_ACCESS_POLICY'",
                [table.upper()],
            ).scalar()
            assert refs == 1, table

    def test_snowflake_tier4_live_redeploy_changes_nothing(live: SnowflakeBackend) -> None:
        done = live.deploy()
        skipped = {d.step for d in done if not d.ran}
        assert {"analysis", "isolation"} <= skipped

    def test_snowflake_tier4_live_pinned_packages_are_served(live: SnowflakeBackend) -> None:
        """Every PACKAGES pin and environment.yml entry matches a version the account's
        Anaconda channel serves (INFORMATION_SCHEMA.PACKAGES)."""
        from resq import inside

        wanted = inside.pinned()
        rows = live.sql(
            "SELECT package_name, version FROM information_schema.packages "
            "WHERE language = 'python' AND package_name IN ("
            + ", ".join("?" for _ in wanted)
            + ")",
            sorted(wanted),
        ).to_pylist()
        versions: dict[str, list[str]] = {}
        for name, version in (list(r.values()) for r in rows):
            versions.setdefault(str(name).lower(), []).append(str(version))
        missing = [
            spec
            for name, specs in sorted(wanted.items())
            for spec in sorted(specs)
            if not inside.served(spec, versions.get(name, []))
        ]
        assert not missing, f"not served by this account's Anaconda channel: {missing}"
