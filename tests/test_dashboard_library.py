"""What the library added for the dashboard, on every backend: per-sector figures
(``sector_summary``, also on a tenant view) and the most-urgent-first order."""

from __future__ import annotations

import pyarrow as pa

import resq
from resq.backends.warehouse import WarehouseBackend
from resq.core.ordering import OPEN_STATUSES
from resq.engine import URGENT_FIRST

COLUMNS = [
    "sector",
    "items",
    "critical",
    "warning",
    "ok",
    "open_orders",
    "open_alerts",
    "data_source",
]


def _expected(backend: WarehouseBackend, org_id: str | None = None) -> dict[str, dict[str, int]]:
    """The same figures counted row by row in Python from plain reads."""
    orgs = {r["org_id"]: r["sector"] for r in backend.read("organizations").to_pylist()}
    out: dict[str, dict[str, int]] = {}
    for row in backend.read("stock_analysis", org_id=org_id).to_pylist():
        s = out.setdefault(
            row["sector"],
            dict.fromkeys(("items", "critical", "warning", "ok", "open_orders", "open_alerts"), 0),
        )
        s["items"] += 1
        s[row["status"].lower()] += 1
    for row in backend.read("purchase_orders", org_id=org_id).to_pylist():
        if row["status"] in OPEN_STATUSES:
            out[orgs[row["org_id"]]]["open_orders"] += 1
    for row in backend.read("alerts", org_id=org_id).to_pylist():
        if row["state"] == "OPEN":
            out[orgs[row["org_id"]]]["open_alerts"] += 1
    return out


def _as_dict(summary: pa.Table) -> dict[str, dict[str, int]]:
    return {
        r.pop("sector"): {k: int(v) for k, v in r.items() if k != "data_source"}
        for r in summary.to_pylist()
    }


def test_sector_summary_counts_items_open_orders_and_open_alerts(
    seeded: WarehouseBackend,
) -> None:
    engine = resq.SelfHealingEngine(seeded)
    engine.drop_stock("HOSP-BLR-001", "OXY-CYL", 0, actor="t")
    engine.heal()
    po = seeded.read("purchase_orders", where={"org_id": "PDS-BLR-001"}).to_pylist()[0]
    engine.cancel(po["po_id"], actor="t")  # a closed order is not open
    alert = seeded.read("alerts").to_pylist()[0]
    seeded.ack_alert(alert["alert_id"], actor="t")  # an acknowledged alert is not open

    summary = seeded.sector_summary()
    assert summary.column_names == COLUMNS
    assert summary["sector"].to_pylist() == ["HOSPITAL", "PDS", "NGO"]  # priority order
    assert _as_dict(summary) == _expected(seeded)
    assert set(summary["data_source"].to_pylist()) == {"SIMULATED"}
    assert _as_dict(summary)["HOSPITAL"]["critical"] >= 1
    for column in COLUMNS[1:-1]:
        assert pa.types.is_integer(summary.schema.field(column).type), column


def test_sector_summary_of_a_tenant_counts_only_its_rows(seeded: WarehouseBackend) -> None:
    resq.SelfHealingEngine(seeded).heal()
    mine = seeded.tenant("NGO-DEL-001").sector_summary()
    assert mine["sector"].to_pylist() == ["NGO"]
    assert _as_dict(mine) == _expected(seeded, "NGO-DEL-001")
    assert _as_dict(seeded.sector_summary(org_id="NGO-DEL-001")) == _as_dict(mine)


def test_sector_summary_is_real_when_every_counted_row_is(backend: WarehouseBackend) -> None:
    assert backend.sector_summary().num_rows == 0
    backend.load(
        "organizations",
        [{"org_id": "H1", "org_name": "Real Hospital", "sector": "HOSPITAL", "city": "Pune"}],
    )
    backend.load(
        "inventory_master",
        [
            {
                "org_id": "H1",
                "sku": "OXY-CYL",
                "item_name": "Oxygen",
                "current_stock": 100,
                "daily_consumption": 10,
                "unit": "cylinder",
                "lead_time_days": 1,
            }
        ],
    )
    (row,) = backend.sector_summary().to_pylist()
    assert row == {
        "sector": "HOSPITAL",
        "items": 1,
        "critical": 0,
        "warning": 0,
        "ok": 1,
        "open_orders": 0,
        "open_alerts": 0,
        "data_source": "REAL",
    }


def test_urgent_first_is_the_order_analyse_uses(seeded: WarehouseBackend) -> None:
    engine = resq.SelfHealingEngine(seeded)
    by_engine = engine.analyse().select(["org_id", "sku"]).to_pylist()
    by_read = seeded.read("stock_analysis", order_by=URGENT_FIRST).select(["org_id", "sku"])
    assert by_engine == by_read.to_pylist()
    view = seeded.tenant("HOSP-BLR-001").read("stock_analysis", order_by=URGENT_FIRST)
    assert view.num_rows and set(view["org_id"].to_pylist()) == {"HOSP-BLR-001"}
