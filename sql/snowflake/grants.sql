-- What the app role needs (the Streamlit in Snowflake dashboard, and people who use resq
-- with RESQ_APP): read the resq tables (org-scoped rows through the row access policy) and
-- call the functions and the write procedures. It writes no table directly: overrides,
-- acknowledgements, chaos and heal are owner's-rights procedures that check the caller's
-- entitlement (a row access policy filters reads, not writes). Granting again is a no-op.
-- RESQ_APP must never be granted RESQ_ENGINE: the engine role is exempt from the row access
-- policy. Nobody but administrators gets RESQ_ENTITLEMENTS.
--
-- The deploy plan runs each grant right after the step that creates its object (a grant on
-- an org-scoped table after the table's row access policy is attached). USAGE on the
-- warehouse is the account set-up's: the engine role does not own the warehouse.

GRANT USAGE ON DATABASE RESQ TO ROLE RESQ_APP;

GRANT USAGE ON SCHEMA RESQ.CORE TO ROLE RESQ_APP;

-- organizations, inventory_master and demand_forecast are the dynamic table's inputs:
-- engine-only, read by the app through secure views that carry the row access policy
-- (app_views.sql).
GRANT SELECT ON VIEW app_organizations TO ROLE RESQ_APP;

GRANT SELECT ON TABLE sector_config TO ROLE RESQ_APP;

GRANT SELECT ON VIEW app_inventory_master TO ROLE RESQ_APP;

GRANT SELECT ON TABLE vendors TO ROLE RESQ_APP;

GRANT SELECT ON TABLE vendor_catalog TO ROLE RESQ_APP;

GRANT SELECT ON TABLE vendor_authorization TO ROLE RESQ_APP;

GRANT SELECT ON TABLE city_weather TO ROLE RESQ_APP;

GRANT SELECT ON TABLE vendor_status TO ROLE RESQ_APP;

GRANT SELECT ON TABLE vendor_status_log TO ROLE RESQ_APP;

GRANT SELECT ON TABLE purchase_orders TO ROLE RESQ_APP;

GRANT SELECT ON TABLE audit_log TO ROLE RESQ_APP;

GRANT SELECT ON TABLE audit_head TO ROLE RESQ_APP;

GRANT SELECT ON TABLE alerts TO ROLE RESQ_APP;

GRANT SELECT ON TABLE notifications TO ROLE RESQ_APP;

GRANT SELECT ON TABLE heal_cycles TO ROLE RESQ_APP;

GRANT SELECT ON TABLE stock_history TO ROLE RESQ_APP;

GRANT SELECT ON VIEW app_demand_forecast TO ROLE RESQ_APP;

GRANT SELECT ON TABLE resq_schema_version TO ROLE RESQ_APP;

GRANT SELECT ON DYNAMIC TABLE STOCK_ANALYSIS TO ROLE RESQ_APP;

GRANT USAGE ON FUNCTION GET_WEATHER_DATA(VARCHAR) TO ROLE RESQ_APP;

GRANT USAGE ON FUNCTION GET_VENDOR_STATUS(VARCHAR) TO ROLE RESQ_APP;

GRANT USAGE ON FUNCTION GENERATE_REALISTIC_SIMULATION(VARCHAR, VARCHAR, NUMBER, NUMBER)
    TO ROLE RESQ_APP;

-- The app's writes: each procedure checks the caller's entitlement (procedure.sql).
-- RESQ_HEAL itself is the engine's (the task calls it): the app heals through RESQ_HEAL_ORG.
GRANT USAGE ON PROCEDURE RESQ_OVERRIDE_ORDER(VARCHAR, VARCHAR, FLOAT, VARCHAR) TO ROLE RESQ_APP;

GRANT USAGE ON PROCEDURE RESQ_ACK_ALERT(VARCHAR, VARCHAR) TO ROLE RESQ_APP;

GRANT USAGE ON PROCEDURE RESQ_CHAOS(VARCHAR) TO ROLE RESQ_APP;

GRANT USAGE ON PROCEDURE RESQ_HEAL_ORG(VARCHAR, BOOLEAN) TO ROLE RESQ_APP;

GRANT USAGE ON PROCEDURE RESQ_VERIFY_AUDIT(VARCHAR) TO ROLE RESQ_APP;
