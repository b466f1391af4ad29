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

    APP_CONNECTION = os.environ.get("RESQ_SNOWFLAKE_APP_CONNECTION", "").strip()

    def _schema_tables(live: SnowflakeBackend) -> set[str]:
        rows = live.sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = CURRENT_SCHEMA()"
        ).to_pylist()
        return {str(next(iter(r.values()))).lower() for r in rows}

    def test_snowflake_tier4_live_explains_every_statement_of_sql(live: SnowflakeBackend) -> None:
        """Every statement in sql/ that reads or writes installed tables compiles in the
        account (EXPLAIN, binds as NULL). Statements over a cycle's own staging tables
        (resq_stage_*, created inside a cycle) are named, not silently passed."""
        import sqlglot
        from sqlglot import exp

        from resq import sqlfiles

        installed = _schema_tables(live)
        explained, staged = 0, []
        for name in sqlfiles.available():
            for statement in sqlfiles.statements(name):
                if isinstance(statement, exp.Create):
                    continue  # DDL: the deploy itself ran it
                sql = statement.sql(dialect="snowflake")
                tables = {t.name.lower() for t in statement.find_all(exp.Table)}
                ctes = {c.alias_or_name.lower() for c in statement.find_all(exp.CTE)}
                if (tables - ctes) - installed:
                    staged.append((name, sorted((tables - ctes) - installed)))
                    continue
                binds = len(
                    list(sqlglot.parse_one(sql, read="snowflake").find_all(exp.Placeholder))
                )
                live.fetch(f"EXPLAIN USING TEXT {sql}", [None] * binds)
                explained += 1
        assert explained >= 5, (explained, staged)
        assert all(all(t.startswith("resq_stage_") for t in missing) for _, missing in staged), (
            staged
        )

    def test_snowflake_tier4_live_show_dynamic_tables_says_incremental(
        live: SnowflakeBackend,
    ) -> None:
        """After isolation is applied (the policy lives on the app's views, not on the
        dynamic table's inputs), Snowflake still refreshes stock_analysis incrementally."""
        live.execute("SHOW DYNAMIC TABLES LIKE 'STOCK_ANALYSIS'")
        rows = live.sql(
            'SELECT "refresh_mode", "refresh_mode_reason" FROM TABLE(RESULT_SCAN(LAST_QUERY_ID()))'
        ).to_pylist()
        assert rows and str(rows[0]["refresh_mode"]).upper() == "INCREMENTAL", rows

    def test_snowflake_tier4_live_concurrent_heals_order_once(live: SnowflakeBackend) -> None:
        """Two heal cycles at once, each in its own session: no idempotency key twice."""
        import threading

        SelfHealingEngine(live).drop_stock("NGO-DEL-001", "KIT-EMR")
        live.refresh_analysis(force=True)
        names = {
            "database": live.sql("SELECT CURRENT_DATABASE()").scalar(),
            "schema": live.sql("SELECT CURRENT_SCHEMA()").scalar(),
        }
        errors: list[BaseException] = []

        def heal() -> None:
            other = resq.connect(f"snowflake://?connection_name={CONNECTION}", **names)
            try:
                SelfHealingEngine(other).heal()
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                other.close()

        threads = [threading.Thread(target=heal) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        assert not errors, errors
        twice = live.sql(
            "SELECT idempotency_key, COUNT(*) AS n FROM purchase_orders "
            "GROUP BY idempotency_key HAVING COUNT(*) > 1"
        ).to_pylist()
        assert twice == []
        assert live.verify_audit().ok

    def test_snowflake_tier4_live_app_user_sees_and_acts_for_its_organization_only(
        live: SnowflakeBackend,
    ) -> None:
        """Signed in as an app user (RESQ_SNOWFLAKE_APP_CONNECTION: a user with RESQ_APP,
        not '*'), through the app's options: reads only its organization's rows, and a
        write for another organization is refused by the procedure."""
        if not APP_CONNECTION:
            pytest.skip(
                "app-user check did not run: RESQ_SNOWFLAKE_APP_CONNECTION is not set (a "
                "connection of a user granted RESQ_APP, entitled here to HOSP-BLR-001 only)"
            )
        names = {
            "database": live.sql("SELECT CURRENT_DATABASE()").scalar(),
            "schema": live.sql("SELECT CURRENT_SCHEMA()").scalar(),
        }
        app = resq.connect(
            f"snowflake://?connection_name={APP_CONNECTION}&writes=procedures&reads=app", **names
        )
        try:
            user = app.sql("SELECT CURRENT_USER()").scalar()
            live.execute("DELETE FROM resq_entitlements WHERE user_name = ?", [user])
            live.execute(
                "INSERT INTO resq_entitlements (user_name, org_id) VALUES (?, ?)", [user, ORG]
            )
            orgs = {r["org_id"] for r in app.read("inventory_master").to_pylist()}
            assert orgs == {ORG}
            assert {r["org_id"] for r in app.read("purchase_orders").to_pylist()} <= {ORG}
            assert app.verify_audit().ok  # the whole chain, through RESQ_VERIFY_AUDIT
            other = next(o for o in live.read("purchase_orders").to_pylist() if o["org_id"] != ORG)
            with pytest.raises(resq.errors.ResqError):
                app.override_order(other["po_id"], "cancel", actor=str(user))
            with pytest.raises(resq.errors.ResqError):
                app.execute("DELETE FROM purchase_orders")  # no direct writes at all
        finally:
            app.close()
