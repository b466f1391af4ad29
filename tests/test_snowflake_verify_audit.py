"""Issue 12, defect 9: on Snowflake a tenant's view of audit_log holds only its own
organization's events, so walking that view reports the gaps as tampering. The app
verifies through RESQ_VERIFY_AUDIT, an owner's-rights procedure that walks every row and
returns only the verdict. The handler runs on the real backends (DuckDB and the fakesnow
peer); the app's call is checked over a recording Snowpark session."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

import resq
from resq.backends.snowflake import plan, sqltext
from resq.backends.warehouse import WarehouseBackend
from resq.core import audit as audit_chain
from resq.errors import TenantScopeError
from resq.inside import OBJECTS, procedures

CONFIG = plan.DeployConfig()


def _entitlements(backend: WarehouseBackend) -> None:
    support = sqltext.split(sqltext.snowflake_file("support"))
    backend.execute(backend.render(next(s for s in support if "resq_entitlements" in s)))


def _entitle(backend: WarehouseBackend, user: str, org: str) -> None:
    backend.execute(
        backend.render("INSERT INTO resq_entitlements (user_name, org_id) VALUES (?, ?)"),
        [user, org],
    )


@pytest.mark.slow
def test_a_tenant_is_given_the_whole_chains_verdict(seeded: WarehouseBackend) -> None:
    resq.SelfHealingEngine(seeded).drop_stock("HOSP-BLR-001", "OXY-CYL")
    resq.SelfHealingEngine(seeded).heal()
    every = seeded.read("audit_log", order_by=("seq",)).to_pylist()
    own = [e for e in every if e["org_id"] == "HOSP-BLR-001"]
    # What the tenant sees (the row access policy's view) looks tampered with ...
    assert not audit_chain.verify_chain(own).ok
    # ... while the procedure's verdict covers every row.
    _entitlements(seeded)
    with pytest.raises(TenantScopeError, match="not entitled"):
        procedures.verify_audit_as(seeded, "NOBODY")
    _entitle(seeded, "ASHA", "HOSP-BLR-001")
    verdict = procedures.verify_audit_as(seeded, "ASHA")
    assert verdict == {
        **audit_chain.ChainCheck(True, len(every)).as_dict(),
        **{k: verdict[k] for k in ("keyed_from", "repairs", "anchored", "content_checked")},
    }
    assert verdict["ok"] is True and verdict["checked"] == len(every)
    # the heal cycles' order and alert digests are recomputed from the tables there too
    assert verdict["content_checked"] >= 1
    json.dumps(verdict)  # a VARIANT
    # An anchor kept outside the database is checked there too.
    last = every[-1]
    anchored = procedures.verify_audit_as(seeded, "ASHA", f"{last['seq']}:{last['hash']}")
    assert anchored["ok"] is True and anchored["anchored"] == last["seq"]
    # An order edited after its cycle is found by the procedure, naming cycle and org.
    order = seeded.sql(
        "SELECT po_id, cycle_id, quantity FROM purchase_orders WHERE org_id = ? AND sku = ?",
        ["HOSP-BLR-001", "OXY-CYL"],
    ).to_pylist()[0]
    update = "UPDATE purchase_orders SET quantity = ? WHERE po_id = ?"
    seeded.execute(seeded.render(update), [order["quantity"] + 1, order["po_id"]])
    edited = procedures.verify_audit_as(seeded, "ASHA")
    assert edited["ok"] is False
    assert order["cycle_id"] in edited["problem"] and "HOSP-BLR-001" in edited["problem"]
    seeded.execute(seeded.render(update), [order["quantity"], order["po_id"]])
    # Tampering is still found, and only the verdict leaves the procedure.
    seeded.execute(
        seeded.render("UPDATE audit_log SET details = ? WHERE seq = ?"),
        ['{"x": 1}', every[2]["seq"]],
    )
    tampered = procedures.verify_audit_as(seeded, "ASHA")
    assert tampered["ok"] is False and tampered["broken_seq"] == every[2]["seq"]
    assert set(tampered) == set(audit_chain.ChainCheck(True, 0).as_dict())  # the verdict only


class RecordingSession:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def sql(self, query: str, params: list[Any] | None = None) -> Any:
        self.sent.append(query)

        class _Result:
            def collect(self) -> list[Any]:
                return []

            def to_arrow(self) -> pa.Table:
                verdict = {"ok": True, "checked": 42, "broken_seq": None, "problem": None}
                return pa.table({"v": [json.dumps(verdict)]})

        return _Result()


def test_the_app_verifies_through_the_procedure() -> None:
    from resq.backends.snowflake import from_session

    session = RecordingSession()
    check = from_session(session, writes="procedures").verify_audit()
    assert session.sent == ["CALL RESQ_VERIFY_AUDIT(?)"]
    assert check == audit_chain.ChainCheck(True, 42, None, None)


def test_the_plan_creates_it_as_owner_and_lets_the_app_call_it() -> None:
    statements = [s.sql for _, s in plan.statements(plan.build(CONFIG))]
    (created,) = [
        s
        for s in statements
        if "PROCEDURE RESQ_VERIFY_AUDIT(ANCHOR VARCHAR)" in s and "CREATE" in s
    ]
    assert "EXECUTE AS OWNER" in created and "COPY GRANTS" in created
    assert "resq.inside.procedures.verify_audit_procedure" in created
    assert OBJECTS["RESQ_VERIFY_AUDIT"].handler == "resq.inside.procedures.verify_audit_procedure"
    assert any(
        s.upper().startswith("GRANT USAGE ON PROCEDURE RESQ_VERIFY_AUDIT(VARCHAR)")
        and s.upper().rstrip(";").endswith("TO ROLE RESQ_APP")
        for s in statements
    )
