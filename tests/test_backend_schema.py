"""Connecting and the schema: URLs, the registry, idempotent init and the upgrade path."""

from __future__ import annotations

from pathlib import Path

import pytest

import resq
from resq.backends import available, backend_class
from resq.backends.base import Capability
from resq.backends.duckdb import DuckDBBackend
from resq.backends.warehouse import SCHEMA_VERSION, WarehouseBackend
from resq.errors import UnknownBackendError

TABLES = (
    "organizations",
    "sector_config",
    "inventory_master",
    "vendors",
    "vendor_catalog",
    "purchase_orders",
    "audit_log",
    "alerts",
    "notifications",
    "stock_analysis",
)

# --- connect ---------------------------------------------------------------------------


def test_backend_is_registered_under_its_scheme(backend: WarehouseBackend) -> None:
    assert backend.name in available()
    assert backend_class(backend.name) is type(backend)
    assert all(isinstance(c, Capability) for c in backend.capabilities)


def test_the_built_in_backends_are_the_entry_points_resq_declares() -> None:
    """resq finds its own backends without reading entry points: the two must agree, in
    pyproject.toml and in what is installed."""
    import tomllib
    from importlib.metadata import entry_points

    from resq.backends import BUILT_IN, GROUP

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"][GROUP] == BUILT_IN
    installed = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    assert {k: installed.get(k) for k in BUILT_IN} == BUILT_IN


def test_connecting_to_duckdb_reads_no_entry_points() -> None:
    import subprocess
    import sys

    probe = (
        "import importlib.metadata as m, resq\n"
        "def scan(**kw): raise SystemExit('entry points were read')\n"
        "m.entry_points = scan\n"
        "resq.connect('duckdb://').close(); print('connected')"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "connected"


def test_duckdb_url_in_memory() -> None:
    with resq.connect("duckdb://") as b:
        assert isinstance(b, DuckDBBackend)
        assert b.path == ":memory:"
        assert b.init()["schema_version"] == SCHEMA_VERSION
    assert resq.connect().path == ":memory:"  # the default URL


def test_duckdb_url_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with resq.connect("duckdb:///rel.duckdb") as b:
        b.init()
    assert (tmp_path / "rel.duckdb").is_file()


def test_duckdb_url_absolute_path_keeps_data(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path}/abs.duckdb"
    assert url.startswith("duckdb:////")
    with resq.connect(url) as b:
        b.init()
        b.load("organizations", [_org("H1")])
    assert (tmp_path / "abs.duckdb").is_file()
    with resq.connect(url) as b:
        assert b.read("organizations").column("org_id").to_pylist() == ["H1"]


@pytest.mark.parametrize(
    "url",
    ["foo://x", "postgres://localhost/db", "snowflak://acct", "://nothing", "DUCK://"],
)
def test_unknown_scheme_lists_installed_backends(url: str) -> None:
    with pytest.raises(UnknownBackendError) as info:
        resq.connect(url)
    message = str(info.value)
    assert "installed backends" in message
    for name in available():
        assert name in message


@pytest.mark.parametrize("url", ["", "duckdb", "duckdb:/x.db", "resq.duckdb", None, 42])
def test_malformed_url_lists_installed_backends(url: object) -> None:
    with pytest.raises(UnknownBackendError) as info:
        resq.connect(url)  # type: ignore[arg-type]
    message = str(info.value)
    assert "scheme://" in message
    for name in available():
        assert name in message


def test_duckdb_url_with_a_host_is_rejected() -> None:
    with pytest.raises(UnknownBackendError, match="duckdb:///"):
        resq.connect("duckdb://somehost/x.db")


@pytest.mark.parametrize(
    "query", ["foo=1", "target_lag=60&colour=red", "readonly=true", "target_lag=soon"]
)
def test_unknown_or_bad_url_option_is_rejected(query: str) -> None:
    with pytest.raises(UnknownBackendError) as info:
        resq.connect(f"duckdb://?{query}")
    assert any(word in str(info.value) for word in ("option", "target_lag"))


def test_url_options_are_applied() -> None:
    with resq.connect("duckdb://?target_lag=5") as b:
        assert b.target_lag_s == 5.0


# --- init --------------------------------------------------------------------------------


def test_init_creates_every_table(backend: WarehouseBackend) -> None:
    for table in TABLES:
        assert backend.sql(f"SELECT COUNT(*) FROM {table}").scalar() >= 0
    sectors = backend.read("sector_config", order_by=("sector",)).column("sector").to_pylist()
    assert sectors == ["HOSPITAL", "NGO", "PDS"]


def test_init_reports_versions(make_backend) -> None:
    fresh = make_backend(init=False)
    assert fresh.schema_version() == 0
    first = fresh.init()
    assert first == {"schema_version": SCHEMA_VERSION, "previous_version": 0, "upgraded": True}
    again = fresh.init()
    assert again == {
        "schema_version": SCHEMA_VERSION,
        "previous_version": SCHEMA_VERSION,
        "upgraded": False,
    }


def test_init_twice_keeps_data_and_version(seeded: WarehouseBackend) -> None:
    before = _counts(seeded)
    seeded.load(
        "sector_config",
        [{**_sector("NGO"), "critical_days": 2.0, "warning_days": 9.0}],
    )
    audit = seeded.sql("SELECT COUNT(*) FROM audit_log").scalar()

    result = seeded.init()

    assert result["upgraded"] is False
    assert _counts(seeded) == before
    assert seeded.sql("SELECT COUNT(*) FROM audit_log").scalar() == audit
    ngo = seeded.read("sector_config", where={"sector": "NGO"}).to_pylist()[0]
    assert (ngo["critical_days"], ngo["warning_days"]) == (2.0, 9.0)  # user edits survive
    versions = seeded.sql("SELECT version FROM resq_schema_version").to_pylist()
    assert versions == [{"version": SCHEMA_VERSION}]
    assert seeded.verify_audit().ok


def test_schema_version_table_has_the_current_version(backend: WarehouseBackend) -> None:
    rows = backend.sql("SELECT version, applied_at, description FROM resq_schema_version")
    assert len(rows) == 1
    row = rows.to_pylist()[0]
    assert row["version"] == SCHEMA_VERSION == 6
    assert row["applied_at"] is not None
    assert row["description"] == "initial schema"
    assert backend.schema_version() == 6


def test_upgrade_from_version_1_adds_stock_history_and_keeps_rows(
    seeded: WarehouseBackend,
) -> None:
    """A version-1 database (no stock_history table) upgrades to the current version in
    place."""
    seeded.sql("DROP TABLE stock_history")
    seeded.sql("DELETE FROM resq_schema_version")
    seeded.sql("INSERT INTO resq_schema_version VALUES (1, CURRENT_TIMESTAMP(), 'initial schema')")
    before = {t: n for t, n in _counts(seeded).items() if t != "stock_history"}
    assert seeded.schema_version() == 1

    result = seeded.init()

    assert result == {"schema_version": SCHEMA_VERSION, "previous_version": 1, "upgraded": True}
    assert {t: n for t, n in _counts(seeded).items() if t != "stock_history"} == before
    assert seeded.sql("SELECT COUNT(*) FROM stock_history").scalar() == 0
    described = seeded.sql("SELECT description FROM resq_schema_version WHERE version = 6")
    assert described.scalar() == "upgrade from 1"


def test_upgrade_from_version_2_adds_demand_forecast_and_keeps_rows(
    seeded: WarehouseBackend,
) -> None:
    """A version-2 database (no demand_forecast table) upgrades to the current version in place, and
    its stock analysis still reads every item's typed daily_consumption."""
    seeded.sql("DROP TABLE demand_forecast")
    seeded.sql("DELETE FROM resq_schema_version")
    seeded.sql("INSERT INTO resq_schema_version VALUES (2, CURRENT_TIMESTAMP(), 'initial schema')")
    before = {t: n for t, n in _counts(seeded).items() if t != "demand_forecast"}

    result = seeded.init()

    assert result == {"schema_version": SCHEMA_VERSION, "previous_version": 2, "upgraded": True}
    assert {t: n for t, n in _counts(seeded).items() if t != "demand_forecast"} == before
    assert seeded.sql("SELECT COUNT(*) FROM demand_forecast").scalar() == 0
    seeded.refresh_analysis(force=True)
    bases = {r["demand_basis"] for r in seeded.read("stock_analysis").to_pylist()}
    assert bases == {"DAILY_CONSUMPTION"}


def test_upgrade_from_version_3_adds_the_provenance_parts_and_keeps_rows(
    seeded: WarehouseBackend,
) -> None:
    """A version-3 database (orders and alerts without provenance parts) gains the part
    columns in place; its existing orders keep NULL parts and are labelled by data_source."""
    from resq.core import provenance

    resq.SelfHealingEngine(seeded).drop_stock("HOSP-BLR-001", "OXY-CYL")
    resq.SelfHealingEngine(seeded).heal()
    for table in ("purchase_orders", "alerts"):
        for column in provenance.COLUMNS.values():
            seeded.sql(f"ALTER TABLE {table} DROP COLUMN {column}")
    seeded.sql("DELETE FROM resq_schema_version")
    seeded.sql("INSERT INTO resq_schema_version VALUES (3, CURRENT_TIMESTAMP(), 'v3')")
    before = _counts(seeded)

    result = seeded.init()

    assert result == {"schema_version": SCHEMA_VERSION, "previous_version": 3, "upgraded": True}
    assert _counts(seeded) == before
    orders = seeded.read("purchase_orders").to_pylist()
    assert orders and all(o["stock_source"] is None for o in orders)
    assert all(provenance.row_label(o) == o["data_source"] for o in orders)
    assert seeded.init()["upgraded"] is False  # re-running adds nothing twice


@pytest.mark.parametrize("version", [3, 4])
def test_upgrade_to_version_5_adds_the_sourcing_columns_and_heal_works(
    seeded: WarehouseBackend, version: int
) -> None:
    """A database made before sourcing (version 3, or 4 when it was upgraded from 3: its
    vendors and catalog without vendor_type, reliability, min_order_qty, pack_size, and no
    vendor_authorization) gains them in place with their defaults; the seeded
    authorization arrives, heal reads vendor_options again, and a second init changes
    nothing."""
    from resq.core.sourcing import DEFAULT_AUTHORIZATION

    seeded.sql("ALTER TABLE vendors DROP COLUMN vendor_type")
    seeded.sql("ALTER TABLE vendors DROP COLUMN reliability")
    seeded.sql("ALTER TABLE vendor_catalog DROP COLUMN min_order_qty")
    seeded.sql("ALTER TABLE vendor_catalog DROP COLUMN pack_size")
    seeded.sql("DROP TABLE vendor_authorization")
    seeded.sql("DELETE FROM resq_schema_version")
    seeded.sql(f"INSERT INTO resq_schema_version VALUES ({version}, CURRENT_TIMESTAMP(), 'old')")
    before = _counts(seeded)

    result = seeded.init()

    assert result == {
        "schema_version": SCHEMA_VERSION,
        "previous_version": version,
        "upgraded": True,
    }
    assert _counts(seeded) == before
    vendors = seeded.read("vendors").to_pylist()
    assert vendors and all(
        (v["vendor_type"], v["reliability"]) == ("GENERAL", None) for v in vendors
    )
    catalog = seeded.read("vendor_catalog").to_pylist()
    assert catalog and all((c["min_order_qty"], c["pack_size"]) == (0.0, None) for c in catalog)
    authorization = seeded.read("vendor_authorization").to_pylist()
    assert {(a["sector"], a["category"], a["vendor_type"]) for a in authorization} == set(
        DEFAULT_AUTHORIZATION
    )
    assert all(a["authorized"] for a in authorization)

    engine = resq.SelfHealingEngine(seeded)
    engine.drop_stock("HOSP-BLR-001", "OXY-CYL")
    engine.heal()  # reads sql/vendor_options.sql, which names the new columns
    # An edit after the upgrade survives the next init, which upgrades nothing.
    seeded.sql("UPDATE vendors SET vendor_type = 'MEDICAL', reliability = 0.5")
    seeded.sql("UPDATE vendor_authorization SET authorized = FALSE")
    after = {t: _rows(seeded, t) for t in ("vendors", "vendor_catalog", "vendor_authorization")}
    counts = _counts(seeded)
    again = seeded.init()
    assert again == {
        "schema_version": SCHEMA_VERSION,
        "previous_version": SCHEMA_VERSION,
        "upgraded": False,
    }
    assert _counts(seeded) == counts
    assert {t: _rows(seeded, t) for t in after} == after
    versions = seeded.sql("SELECT version FROM resq_schema_version ORDER BY version")
    assert versions.to_pylist() == [{"version": version}, {"version": SCHEMA_VERSION}]


def test_upgrade_from_previous_version_keeps_rows(seeded: WarehouseBackend) -> None:
    """A database made by the previous version (tables and data, no version row) upgrades
    in place: the version is recorded and no row is lost."""
    before = _counts(seeded)
    seeded.sql("DELETE FROM resq_schema_version")
    assert seeded.schema_version() == 0

    result = seeded.init()

    assert result == {"schema_version": SCHEMA_VERSION, "previous_version": 0, "upgraded": True}
    assert _counts(seeded) == before
    assert len(seeded.sql("SELECT * FROM resq_schema_version")) == 1
    assert seeded.verify_audit().ok


def test_upgrade_when_version_table_is_missing(make_backend) -> None:
    """Oldest layout: not even the version table. init creates it and keeps the data."""
    old = make_backend()
    resq.SelfHealingEngine(old).seed()
    before = _counts(old)
    old.sql("DROP TABLE resq_schema_version")
    assert old.schema_version() == 0

    result = old.init()

    assert result["previous_version"] == 0 and result["upgraded"] is True
    assert old.schema_version() == SCHEMA_VERSION
    assert _counts(old) == before


def test_init_survives_reopening_the_database(make_backend) -> None:
    b = make_backend()
    resq.SelfHealingEngine(b).seed()
    before = _counts(b)

    reopened = make_backend.reopen(b)

    assert reopened.schema_version() == SCHEMA_VERSION
    assert _counts(reopened) == before
    assert reopened.init()["upgraded"] is False
    assert _counts(reopened) == before
    assert reopened.verify_audit().ok


# --- helpers -----------------------------------------------------------------------------


def _counts(b: WarehouseBackend) -> dict[str, int]:
    return {
        t: b.sql(f"SELECT COUNT(*) FROM {t}").scalar()
        for t in TABLES
        if t not in {"audit_log", "stock_analysis"}
    }


def _rows(b: WarehouseBackend, table: str) -> list[dict[str, object]]:
    return sorted(b.read(table).to_pylist(), key=repr)


def _org(org_id: str, sector: str = "HOSPITAL") -> dict[str, object]:
    return {"org_id": org_id, "org_name": org_id, "sector": sector, "city": "Bangalore"}


def _sector(sector: str) -> dict[str, object]:
    from resq.core.sectors import DEFAULT_SECTOR_CONFIG

    return DEFAULT_SECTOR_CONFIG[sector].as_row()


def test_duckdb_memory_limit_url_option(tmp_path: Path) -> None:
    b = resq.connect(f"duckdb:///{tmp_path}/m.duckdb?memory_limit=512MB")
    try:
        assert "MiB" in b.sql("SELECT current_setting('memory_limit')").scalar()
    finally:
        b.close()
    with pytest.raises(UnknownBackendError, match="memory_limit must be a size"):
        resq.connect(f"duckdb:///{tmp_path}/n.duckdb?memory_limit=lots")


def _orders_with_every_kind_of_reason(backend: WarehouseBackend) -> None:
    """Heal-cycle orders and re-sourced ones: every vendor offline, a shortfall ordered
    PENDING_VENDOR, then the vendors back and the next cycle re-sources them."""
    engine = resq.SelfHealingEngine(backend)
    vendors = [r["vendor_id"] for r in backend.read("vendors").to_pylist()]
    for vendor in vendors:
        engine.vendor_offline(vendor)
    for org, sku in (
        ("HOSP-BLR-001", "OXY-CYL"),
        ("NGO-DEL-001", "KIT-EMR"),
        ("PDS-DEL-001", "RICE"),
    ):
        engine.drop_stock(org, sku)
    engine.heal()
    for vendor in vendors:
        engine.vendor_online(vendor)
    for org, sku in (
        ("PDS-BLR-001", "RICE"),
        ("NGO-BLR-001", "KIT-EMR"),
        ("HOSP-BLR-001", "AMOX-500"),
        ("HOSP-DEL-001", "OXY-CYL"),
        ("HOSP-DEL-001", "AMOX-500"),
        ("NGO-DEL-001", "KIT-HYG"),
        ("NGO-BLR-001", "KIT-HYG"),
    ):
        engine.drop_stock(org, sku)
    assert engine.heal().resourced


#: Version-5 texts no cycle writes today: an edited order, one from before sourcing (fewer
#: keys), an integer where a number was a float, not an object, not JSON.
_LEGACY_TEXTS = (
    "{}",
    '{"status": "CRITICAL", "days_remaining": 0.0, "threshold_days": 3.0, "vendor": "Blinkit"}',
    '{"status": "CRITICAL", "days_remaining": 0}',
    '["not", "an", "object"]',
    "not JSON",
)


def _make_version_5(backend: WarehouseBackend) -> dict[str, str]:
    """Turn ``backend`` into the version-5 schema in place: the reason as one JSON text
    column (the objects its orders read as now, and :data:`_LEGACY_TEXTS` on some), the
    typed columns dropped; the po_id -> stored text."""
    from resq.core import reasons

    orders = backend.read("purchase_orders", order_by=("po_id",)).to_pylist()
    stored = {o["po_id"]: o["reason"] for o in orders}
    fresh = [o for o in orders if "resourced" not in o["reason"]]  # re-sourced stay typed
    assert len(fresh) >= len(_LEGACY_TEXTS) and len(fresh) < len(orders)
    for o, text in zip(fresh, _LEGACY_TEXTS, strict=False):
        stored[o["po_id"]] = text
    backend.sql("ALTER TABLE purchase_orders ADD COLUMN reason VARCHAR")
    for po, text in stored.items():
        backend.sql("UPDATE purchase_orders SET reason = ? WHERE po_id = ?", [text, po])
    for column in reasons.COLUMNS:
        backend.sql(f"ALTER TABLE purchase_orders DROP COLUMN {column}")
    backend.sql("DELETE FROM resq_schema_version")
    backend.sql("INSERT INTO resq_schema_version VALUES (5, CURRENT_TIMESTAMP(), 'v5')")
    return stored


def test_upgrade_from_version_5_converts_json_reasons_to_typed_columns_without_loss(
    seeded: WarehouseBackend,
) -> None:
    """A version-5 database's JSON reasons become typed columns: every order reads back the
    object its text held (an edited or older text, verbatim), the text column is gone,
    the audit still verifies, and the next heal cycle writes and re-sources as usual."""
    import json

    from resq.core import reasons

    _orders_with_every_kind_of_reason(seeded)
    stored = _make_version_5(seeded)
    assert seeded.verify_audit().ok
    before = _counts(seeded)

    result = seeded.init()

    assert result == {"schema_version": SCHEMA_VERSION, "previous_version": 5, "upgraded": True}
    assert _counts(seeded) == before
    after = {o["po_id"]: o["reason"] for o in seeded.read("purchase_orders").to_pylist()}
    assert after.keys() == stored.keys()
    legacy = set(_LEGACY_TEXTS)
    for po, text in stored.items():
        if text in legacy:
            assert after[po] == text, po
        else:
            assert json.loads(after[po]) == json.loads(text), po
            assert list(json.loads(after[po])) == list(json.loads(text)), po
    kept = seeded.sql("SELECT reason_legacy FROM purchase_orders WHERE reason_legacy IS NOT NULL")
    assert sorted(r["reason_legacy"] for r in kept.to_pylist()) == sorted(_LEGACY_TEXTS)
    resourced = seeded.sql(
        "SELECT COUNT(*) FROM purchase_orders WHERE reason_resourced_from IS NOT NULL"
    )
    assert resourced.scalar() > 0  # re-sourced reasons are typed too, not legacy
    text_column = seeded.sql(
        "SELECT COUNT(*) FROM information_schema.columns WHERE LOWER(table_name) = "
        "'purchase_orders' AND LOWER(column_name) = 'reason'"
    )
    assert text_column.scalar() == 0  # the JSON text column is gone
    shown = set(seeded.sql("SELECT * FROM purchase_orders LIMIT 0").columns)
    assert "reason" in shown and not set(reasons.COLUMNS) & shown  # folded for readers
    assert seeded.verify_audit().ok
    assert seeded.init()["upgraded"] is False
    engine = resq.SelfHealingEngine(seeded)
    engine.drop_stock("HOSP-DEL-001", "PARA-500")
    assert engine.heal().created


def test_upgrade_from_version_5_keeps_what_orders_json_shows(tmp_path: Path) -> None:
    """``resq orders --json`` (and the human listing) of an upgraded version-5 file show
    each reason as the version-5 reader did: the JSON text parsed, key for key."""
    import json

    from typer.testing import CliRunner

    from resq.cli import app
    from resq.cli._text import jsonable, parse_json_text

    url = f"duckdb:///{tmp_path}/v5.duckdb"
    with resq.connect(url) as b:
        b.init()
        resq.SelfHealingEngine(b).seed()
        _orders_with_every_kind_of_reason(b)
        stored = _make_version_5(b)
    runner = CliRunner()
    assert runner.invoke(app, ["--db", url, "init"]).exit_code == 0

    out = runner.invoke(app, ["--db", url, "--json", "orders", "--all"])

    assert out.exit_code == 0, out.output
    shown = {o["po_id"]: o["reason"] for o in json.loads(out.stdout)["orders"]}
    assert shown == {po: jsonable(parse_json_text(t)) for po, t in stored.items()}
    assert all(
        list(shown[po]) == list(json.loads(t))
        for po, t in stored.items()
        if isinstance(shown[po], dict)
    )
    human = runner.invoke(app, ["--db", url, "orders", "--all"])
    assert human.exit_code == 0, human.output
