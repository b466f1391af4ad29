-- resq deploy plan for Snowflake: ordered, idempotent steps (resq deploy snowflake).
-- Guarded statements run only when their guard query returns 0.

-- step 1: schema.grants: what the app role may read and call of what schema installed
GRANT USAGE ON DATABASE RESQ TO ROLE RESQ_APP;
GRANT USAGE ON SCHEMA RESQ.CORE TO ROLE RESQ_APP;
GRANT SELECT ON TABLE sector_config TO ROLE RESQ_APP;
GRANT SELECT ON TABLE vendors TO ROLE RESQ_APP;
GRANT SELECT ON TABLE vendor_catalog TO ROLE RESQ_APP;
GRANT SELECT ON TABLE vendor_authorization TO ROLE RESQ_APP;
GRANT SELECT ON TABLE city_weather TO ROLE RESQ_APP;
GRANT SELECT ON TABLE vendor_status TO ROLE RESQ_APP;
GRANT SELECT ON TABLE vendor_status_log TO ROLE RESQ_APP;
GRANT SELECT ON TABLE audit_head TO ROLE RESQ_APP;
GRANT SELECT ON TABLE heal_cycles TO ROLE RESQ_APP;
GRANT SELECT ON TABLE resq_schema_version TO ROLE RESQ_APP;

-- step 2: functions.grants: what the app role may read and call of what functions installed
GRANT USAGE ON FUNCTION GET_WEATHER_DATA(VARCHAR) TO ROLE RESQ_APP;
GRANT USAGE ON FUNCTION GET_VENDOR_STATUS(VARCHAR) TO ROLE RESQ_APP;
GRANT USAGE ON FUNCTION GENERATE_REALISTIC_SIMULATION(VARCHAR, VARCHAR, NUMBER, NUMBER)
    TO ROLE RESQ_APP;

-- step 3: procedure.grants: what the app role may read and call of what procedure installed
GRANT USAGE ON PROCEDURE RESQ_OVERRIDE_ORDER(VARCHAR, VARCHAR, FLOAT, VARCHAR) TO ROLE RESQ_APP;
GRANT USAGE ON PROCEDURE RESQ_ACK_ALERT(VARCHAR, VARCHAR) TO ROLE RESQ_APP;
GRANT USAGE ON PROCEDURE RESQ_CHAOS(VARCHAR) TO ROLE RESQ_APP;
GRANT USAGE ON PROCEDURE RESQ_HEAL_ORG(VARCHAR, BOOLEAN) TO ROLE RESQ_APP;
GRANT USAGE ON PROCEDURE RESQ_VERIFY_AUDIT(VARCHAR) TO ROLE RESQ_APP;

-- step 4: analysis.grants: what the app role may read and call of what analysis installed
GRANT SELECT ON DYNAMIC TABLE STOCK_ANALYSIS TO ROLE RESQ_APP;

-- step 5: isolation.grants: what the app role may read and call of what isolation installed
GRANT SELECT ON TABLE purchase_orders TO ROLE RESQ_APP;
GRANT SELECT ON TABLE audit_log TO ROLE RESQ_APP;
GRANT SELECT ON TABLE alerts TO ROLE RESQ_APP;
GRANT SELECT ON TABLE notifications TO ROLE RESQ_APP;
GRANT SELECT ON TABLE stock_history TO ROLE RESQ_APP;
