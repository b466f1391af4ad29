-- resq deploy plan for Snowflake: ordered, idempotent steps (resq deploy snowflake).
-- Guarded statements run only when their guard query returns 0.

-- step 1: schema: the tables of sql/schema.sql (IF NOT EXISTS: existing data is kept)
CREATE TABLE IF NOT EXISTS resq_schema_version (
    version INTEGER NOT NULL,
    applied_at TIMESTAMP_NTZ NOT NULL,
    description VARCHAR
);
CREATE TABLE IF NOT EXISTS organizations (
    org_id VARCHAR NOT NULL PRIMARY KEY,
    org_name VARCHAR NOT NULL,
    sector VARCHAR NOT NULL,
    city VARCHAR NOT NULL,
    disaster_zone BOOLEAN NOT NULL DEFAULT FALSE,
    phh_persons INTEGER,
    aay_households INTEGER,
    budget_cap FLOAT,
    data_source VARCHAR NOT NULL DEFAULT 'REAL',
    updated_at TIMESTAMP_NTZ
);
CREATE TABLE IF NOT EXISTS sector_config (
    sector VARCHAR NOT NULL PRIMARY KEY,
    critical_days FLOAT NOT NULL,
    warning_days FLOAT NOT NULL,
    target_days FLOAT NOT NULL,
    priority INTEGER NOT NULL,
    adverse_critical_days FLOAT,
    adverse_demand_multiplier FLOAT NOT NULL DEFAULT 1.0,
    haze_demand_multiplier FLOAT NOT NULL DEFAULT 1.0,
    disaster_priority INTEGER,
    monthly_allotment_cap BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMP_NTZ
);
CREATE TABLE IF NOT EXISTS inventory_master (
    org_id VARCHAR NOT NULL,
    sku VARCHAR NOT NULL,
    item_name VARCHAR NOT NULL,
    category VARCHAR NOT NULL DEFAULT 'OTHER',
    current_stock FLOAT NOT NULL,
    daily_consumption FLOAT NOT NULL,
    demand_factor FLOAT NOT NULL DEFAULT 1.0,
    unit VARCHAR NOT NULL DEFAULT 'unit',
    pack_size FLOAT NOT NULL DEFAULT 1.0,
    lead_time_days FLOAT NOT NULL DEFAULT 1.0,
    preferred_vendor VARCHAR,
    data_source VARCHAR NOT NULL DEFAULT 'REAL',
    updated_at TIMESTAMP_NTZ,
    PRIMARY KEY (org_id, sku)
);
CREATE TABLE IF NOT EXISTS vendors (
    vendor_id VARCHAR NOT NULL PRIMARY KEY,
    vendor_name VARCHAR,
    vendor_type VARCHAR NOT NULL DEFAULT 'GENERAL',
    reliability FLOAT,
    data_source VARCHAR NOT NULL DEFAULT 'REAL',
    updated_at TIMESTAMP_NTZ
);
CREATE TABLE IF NOT EXISTS vendor_catalog (
    vendor_id VARCHAR NOT NULL,
    sku VARCHAR NOT NULL,
    city VARCHAR NOT NULL,
    price FLOAT NOT NULL,
    lead_time_days FLOAT NOT NULL DEFAULT 1.0,
    min_order_qty FLOAT NOT NULL DEFAULT 0.0,
    pack_size FLOAT,
    data_source VARCHAR NOT NULL DEFAULT 'REAL',
    updated_at TIMESTAMP_NTZ,
    PRIMARY KEY (vendor_id, sku, city)
);
CREATE TABLE IF NOT EXISTS vendor_authorization (
    sector VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    vendor_type VARCHAR NOT NULL,
    authorized BOOLEAN NOT NULL DEFAULT TRUE,
    data_source VARCHAR NOT NULL DEFAULT 'REAL',
    updated_at TIMESTAMP_NTZ,
    PRIMARY KEY (sector, category, vendor_type)
);
CREATE TABLE IF NOT EXISTS city_weather (
    city VARCHAR NOT NULL PRIMARY KEY,
    condition VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    data_source VARCHAR NOT NULL,
    updated_at TIMESTAMP_NTZ
);
CREATE TABLE IF NOT EXISTS vendor_status (
    vendor_id VARCHAR NOT NULL PRIMARY KEY,
    status VARCHAR NOT NULL,
    latency_ms INTEGER,
    source VARCHAR NOT NULL,
    data_source VARCHAR NOT NULL,
    checked_at TIMESTAMP_NTZ
);
CREATE TABLE IF NOT EXISTS vendor_status_log (
    checked_at TIMESTAMP_NTZ NOT NULL,
    vendor_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    latency_ms INTEGER,
    data_source VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS purchase_orders (
    po_id VARCHAR NOT NULL PRIMARY KEY NOT ENFORCED,
    idempotency_key VARCHAR NOT NULL,
    org_id VARCHAR NOT NULL,
    sku VARCHAR NOT NULL,
    vendor VARCHAR,
    quantity FLOAT NOT NULL,
    unit_price FLOAT,
    status VARCHAR NOT NULL,
    priority INTEGER NOT NULL,
    rank INTEGER,
    -- the reason, one typed column per key (see the version 6 note at the end)
    reason_rule VARCHAR,
    reason_status VARCHAR,
    reason_days_remaining FLOAT,
    reason_threshold_days FLOAT,
    reason_target_days FLOAT,
    reason_daily_demand FLOAT,
    reason_lead_time_days FLOAT,
    reason_weather_delay_days FLOAT,
    reason_weather VARCHAR,
    reason_quantity_needed FLOAT,
    reason_open_order_qty FLOAT,
    reason_vendor VARCHAR,
    reason_vendor_latency_ms FLOAT,
    reason_rejected_vendors ARRAY(VARCHAR),
    reason_rejected_whys ARRAY(VARCHAR),
    reason_caps_applied ARRAY(VARCHAR),
    reason_action VARCHAR,
    reason_vendor_lead_time_days FLOAT,
    reason_vendor_price FLOAT,
    reason_vendor_reliability FLOAT,
    reason_pack_size FLOAT,
    reason_min_order_qty FLOAT,
    reason_min_order_qty_raised BOOLEAN,
    reason_resourced_from VARCHAR,
    reason_resourced_to VARCHAR,
    reason_resourced_cycle_id VARCHAR,
    reason_resourced_at VARCHAR,
    reason_resourced_waited_s FLOAT,
    reason_legacy VARCHAR,
    data_source VARCHAR NOT NULL,
    stock_source VARCHAR,
    weather_source VARCHAR,
    vendor_status_source VARCHAR,
    demand_source VARCHAR,
    cycle_id VARCHAR,
    created_at TIMESTAMP_NTZ NOT NULL,
    updated_at TIMESTAMP_NTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER NOT NULL PRIMARY KEY,
    event_id VARCHAR NOT NULL UNIQUE,
    event_ts TIMESTAMP_NTZ NOT NULL,
    actor VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    org_id VARCHAR,
    entity_id VARCHAR,
    details VARCHAR NOT NULL,
    prev_hash VARCHAR NOT NULL,
    hash VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    alert_id VARCHAR NOT NULL PRIMARY KEY NOT ENFORCED,
    dedup_key VARCHAR NOT NULL, -- alert_id is derived from it: the primary key covers it
    org_id VARCHAR NOT NULL,
    sku VARCHAR,
    po_id VARCHAR,
    kind VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    tier INTEGER NOT NULL DEFAULT 0,
    data_source VARCHAR NOT NULL,
    stock_source VARCHAR,
    weather_source VARCHAR,
    vendor_status_source VARCHAR,
    demand_source VARCHAR,
    cycle_id VARCHAR,
    created_at TIMESTAMP_NTZ NOT NULL,
    escalated_at TIMESTAMP_NTZ,
    acked_at TIMESTAMP_NTZ,
    acked_by VARCHAR,
    resolved_at TIMESTAMP_NTZ
);
CREATE TABLE IF NOT EXISTS notifications (
    notification_id VARCHAR NOT NULL PRIMARY KEY NOT ENFORCED,
    delivery_key VARCHAR NOT NULL, -- notification_id is derived from it: the key covers it
    alert_id VARCHAR NOT NULL,
    org_id VARCHAR NOT NULL,
    stakeholder VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    tier INTEGER NOT NULL DEFAULT 0,
    payload VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error VARCHAR,
    created_at TIMESTAMP_NTZ NOT NULL,
    next_attempt_at TIMESTAMP_NTZ,
    delivered_at TIMESTAMP_NTZ
);
CREATE TABLE IF NOT EXISTS heal_cycles (
    cycle_id VARCHAR NOT NULL PRIMARY KEY,
    started_at TIMESTAMP_NTZ NOT NULL,
    finished_at TIMESTAMP_NTZ,
    actor VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    candidates INTEGER,
    created INTEGER,
    covered INTEGER,
    pending_vendor INTEGER,
    held_for_approval INTEGER,
    alerts_raised INTEGER,
    error VARCHAR
);
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER NOT NULL PRIMARY KEY,
    seq INTEGER NOT NULL,
    hash VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS stock_history (
    org_id VARCHAR NOT NULL,
    sku VARCHAR NOT NULL,
    day DATE NOT NULL,
    consumption FLOAT NOT NULL,
    stock FLOAT NOT NULL,
    stockout BOOLEAN NOT NULL DEFAULT FALSE,
    data_source VARCHAR NOT NULL DEFAULT 'REAL',
    updated_at TIMESTAMP_NTZ
);
CREATE TABLE IF NOT EXISTS alert_routes (
    route_id INTEGER NOT NULL PRIMARY KEY,
    tier INTEGER NOT NULL,
    stakeholder VARCHAR NOT NULL,
    channels VARCHAR NOT NULL,
    sector VARCHAR,
    org_id VARCHAR,
    severities VARCHAR,
    config_hash VARCHAR NOT NULL,
    updated_at TIMESTAMP_NTZ
);
CREATE TABLE IF NOT EXISTS alert_timeouts (
    severity VARCHAR NOT NULL PRIMARY KEY,
    timeout_s FLOAT,
    config_hash VARCHAR NOT NULL,
    updated_at TIMESTAMP_NTZ
);
CREATE TABLE IF NOT EXISTS alert_channels (
    channel VARCHAR NOT NULL PRIMARY KEY,
    channel_type VARCHAR NOT NULL,
    snowflake_integration VARCHAR,
    config_hash VARCHAR NOT NULL,
    updated_at TIMESTAMP_NTZ
);
CREATE TABLE IF NOT EXISTS alert_recipients (
    stakeholder VARCHAR NOT NULL PRIMARY KEY,
    emails VARCHAR NOT NULL,
    config_hash VARCHAR NOT NULL,
    updated_at TIMESTAMP_NTZ
);
CREATE TABLE IF NOT EXISTS watch_lease (
    lease VARCHAR NOT NULL PRIMARY KEY,
    holder VARCHAR NOT NULL,
    acquired_at TIMESTAMP_NTZ NOT NULL,
    heartbeat_at TIMESTAMP_NTZ NOT NULL,
    expires_at TIMESTAMP_NTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS demand_forecast (
    org_id VARCHAR NOT NULL,
    sku VARCHAR NOT NULL,
    method VARCHAR,
    forecast_daily_demand FLOAT,
    demand_std FLOAT,
    demand_class VARCHAR,
    adi FLOAT,
    cv2 FLOAT,
    mase FLOAT,
    history_days INTEGER NOT NULL,
    stockout_days INTEGER NOT NULL,
    consumed FLOAT NOT NULL,
    adjusted_consumption FLOAT,
    reason VARCHAR,
    data_source VARCHAR NOT NULL,
    computed_at TIMESTAMP_NTZ NOT NULL,
    PRIMARY KEY (org_id, sku)
);
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS stock_source VARCHAR;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS weather_source VARCHAR;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS vendor_status_source VARCHAR;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS demand_source VARCHAR;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS stock_source VARCHAR;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS weather_source VARCHAR;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS vendor_status_source VARCHAR;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS demand_source VARCHAR;
ALTER TABLE vendors ADD COLUMN IF NOT EXISTS vendor_type VARCHAR DEFAULT 'GENERAL';
ALTER TABLE vendors ADD COLUMN IF NOT EXISTS reliability FLOAT;
ALTER TABLE vendor_catalog ADD COLUMN IF NOT EXISTS min_order_qty FLOAT DEFAULT 0.0;
ALTER TABLE vendor_catalog ADD COLUMN IF NOT EXISTS pack_size FLOAT;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_rule VARCHAR;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_status VARCHAR;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_days_remaining FLOAT;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_threshold_days FLOAT;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_target_days FLOAT;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_daily_demand FLOAT;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_lead_time_days FLOAT;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_weather_delay_days FLOAT;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_weather VARCHAR;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_quantity_needed FLOAT;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_open_order_qty FLOAT;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_vendor VARCHAR;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_vendor_latency_ms FLOAT;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_rejected_vendors ARRAY(VARCHAR);
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_rejected_whys ARRAY(VARCHAR);
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_caps_applied ARRAY(VARCHAR);
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_action VARCHAR;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_vendor_lead_time_days FLOAT;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_vendor_price FLOAT;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_vendor_reliability FLOAT;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_pack_size FLOAT;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_min_order_qty FLOAT;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_min_order_qty_raised BOOLEAN;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_resourced_from VARCHAR;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_resourced_to VARCHAR;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_resourced_cycle_id VARCHAR;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_resourced_at VARCHAR;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_resourced_waited_s FLOAT;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS reason_legacy VARCHAR;

-- step 2: schema.grants: what the app role may read and call of what schema installed
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

-- step 3: support: the entitlement mapping the row access policy reads, and the trigger log
CREATE TABLE IF NOT EXISTS resq_entitlements (
    user_name VARCHAR NOT NULL,
    org_id VARCHAR NOT NULL,
    granted_by VARCHAR,
    granted_at TIMESTAMP_NTZ,
    PRIMARY KEY (user_name, org_id)
);
CREATE TABLE IF NOT EXISTS resq_heal_triggers (
    triggered_at TIMESTAMP_NTZ NOT NULL,
    changed_rows INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS resq_task_wakeups (
    stream VARCHAR NOT NULL,
    changes INTEGER NOT NULL,
    settled_at TIMESTAMP_NTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS resq_heal_lock (
    id INTEGER NOT NULL,
    holder VARCHAR,
    locked_at TIMESTAMP_NTZ
);
INSERT INTO resq_heal_lock (id) SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM resq_heal_lock);

-- step 4: policy: the row access policy (created once, its body kept up to date)
EXECUTE IMMEDIATE $$
CREATE ROW ACCESS POLICY IF NOT EXISTS RESQ_TENANT_POLICY
AS (ROW_ORG_ID VARCHAR) RETURNS BOOLEAN -> FALSE
$$;
ALTER ROW ACCESS POLICY RESQ_TENANT_POLICY SET BODY ->
    IS_ROLE_IN_SESSION('RESQ_ENGINE')
    OR EXISTS (
        SELECT 1
        FROM RESQ_ENTITLEMENTS AS e
        WHERE e.user_name = CURRENT_USER()
            AND (e.org_id = '*' OR e.org_id = ROW_ORG_ID)
    );

-- step 5: code: the stage holding the resq package, and the package itself
CREATE STAGE IF NOT EXISTS RESQ_CODE;
PUT 'file:///opt/resq-deploy/resq.zip' @RESQ_CODE AUTO_COMPRESS = FALSE OVERWRITE = TRUE;

-- step 6: functions: GET_WEATHER_DATA, GET_VENDOR_STATUS and GENERATE_REALISTIC_SIMULATION
CREATE OR REPLACE FUNCTION GET_WEATHER_DATA(CITY VARCHAR)
COPY GRANTS
RETURNS VARCHAR
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('numpy==2.*', 'pandas==2.*', 'pyarrow')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.functions.weather_batch';
CREATE OR REPLACE FUNCTION GET_VENDOR_STATUS(VENDOR VARCHAR)
COPY GRANTS
RETURNS OBJECT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('numpy==2.*', 'pandas==2.*', 'pyarrow')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.functions.vendor_status_batch';
CREATE OR REPLACE FUNCTION GENERATE_REALISTIC_SIMULATION(
    ORG_ID VARCHAR, SKU VARCHAR, DAYS NUMBER, SEED NUMBER
)
COPY GRANTS
RETURNS TABLE (
    ORG_ID VARCHAR, SKU VARCHAR, DAY DATE, CONSUMPTION FLOAT, STOCK FLOAT, STOCKOUT BOOLEAN,
    DATA_SOURCE VARCHAR
)
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('numpy==2.*', 'pyarrow')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.series.SimulationSeries';

-- step 7: functions.grants: what the app role may read and call of what functions installed
GRANT USAGE ON FUNCTION GET_WEATHER_DATA(VARCHAR) TO ROLE RESQ_APP;
GRANT USAGE ON FUNCTION GET_VENDOR_STATUS(VARCHAR) TO ROLE RESQ_APP;
GRANT USAGE ON FUNCTION GENERATE_REALISTIC_SIMULATION(VARCHAR, VARCHAR, NUMBER, NUMBER)
    TO ROLE RESQ_APP;

-- step 8: procedure: RESQ_HEAL, the heal cycle, and the write procedures the app role calls
CREATE OR REPLACE PROCEDURE RESQ_HEAL(DRY_RUN BOOLEAN, TRIGGERED_BY VARCHAR)
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'numpy==2.*', 'pandas==2.*', 'pyarrow', 'sqlglot==30.*', 'tenacity==9.*')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.heal.heal_procedure'
EXECUTE AS OWNER;
CREATE OR REPLACE PROCEDURE RESQ_OVERRIDE_ORDER(
    PO_ID VARCHAR, ACTION VARCHAR, QUANTITY FLOAT, ORG_ID VARCHAR
)
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'numpy==2.*', 'pandas==2.*', 'pyarrow', 'sqlglot==30.*', 'tenacity==9.*')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.procedures.override_order_procedure'
EXECUTE AS OWNER;
CREATE OR REPLACE PROCEDURE RESQ_ACK_ALERT(ALERT_ID VARCHAR, ORG_ID VARCHAR)
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'numpy==2.*', 'pandas==2.*', 'pyarrow', 'sqlglot==30.*', 'tenacity==9.*')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.procedures.ack_alert_procedure'
EXECUTE AS OWNER;
CREATE OR REPLACE PROCEDURE RESQ_CHAOS(EVENT VARCHAR)
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'numpy==2.*', 'pandas==2.*', 'pyarrow', 'sqlglot==30.*', 'tenacity==9.*')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.procedures.chaos_procedure'
EXECUTE AS OWNER;
CREATE OR REPLACE PROCEDURE RESQ_HEAL_ORG(ORG_ID VARCHAR, DRY_RUN BOOLEAN)
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'numpy==2.*', 'pandas==2.*', 'pyarrow', 'sqlglot==30.*', 'tenacity==9.*')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.procedures.heal_org_procedure'
EXECUTE AS OWNER;
CREATE OR REPLACE PROCEDURE RESQ_VERIFY_AUDIT(ANCHOR VARCHAR)
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'numpy==2.*', 'pandas==2.*', 'pyarrow', 'sqlglot==30.*', 'tenacity==9.*')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.procedures.verify_audit_procedure'
EXECUTE AS OWNER;

-- step 9: procedure.grants: what the app role may read and call of what procedure installed
GRANT USAGE ON PROCEDURE RESQ_OVERRIDE_ORDER(VARCHAR, VARCHAR, FLOAT, VARCHAR) TO ROLE RESQ_APP;
GRANT USAGE ON PROCEDURE RESQ_ACK_ALERT(VARCHAR, VARCHAR) TO ROLE RESQ_APP;
GRANT USAGE ON PROCEDURE RESQ_CHAOS(VARCHAR) TO ROLE RESQ_APP;
GRANT USAGE ON PROCEDURE RESQ_HEAL_ORG(VARCHAR, BOOLEAN) TO ROLE RESQ_APP;
GRANT USAGE ON PROCEDURE RESQ_VERIFY_AUDIT(VARCHAR) TO ROLE RESQ_APP;

-- step 10: analysis: stock_analysis, the dynamic table (replaced only when its definition changed; the stream over it is recreated with it)
-- skipped when this returns more than 0: SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'CORE' AND TABLE_NAME = 'STOCK_ANALYSIS' AND COMMENT = 'resq stock_analysis definition 64c16e1efcd8e8a7'
CREATE OR REPLACE DYNAMIC TABLE stock_analysis
    TARGET_LAG = '1 minute'
    WAREHOUSE = RESQ_WH
    REFRESH_MODE = INCREMENTAL
    COMMENT = 'resq stock_analysis definition 64c16e1efcd8e8a7'
    COPY GRANTS
    WITH ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id)
AS
SELECT
    org_id,
    org_name,
    sector,
    city,
    sku,
    item_name,
    category,
    unit,
    pack_size,
    lead_time_days,
    preferred_vendor,
    current_stock,
    daily_consumption,
    forecast_daily_demand,
    demand_std,
    demand_basis,
    effective_consumption,
    IFF(effective_consumption > 0, current_stock / NULLIF(effective_consumption, 0), NULL)
        AS days_remaining,
    critical_days,
    warning_days,
    target_days,
    CASE
        WHEN effective_consumption > 0
            AND current_stock / NULLIF(effective_consumption, 0) <= critical_days
            THEN 'CRITICAL'
        WHEN effective_consumption > 0
            AND current_stock / NULLIF(effective_consumption, 0) <= warning_days
            THEN 'WARNING'
        ELSE 'OK'
    END AS status,
    priority,
    weather,
    weather_delay_days,
    disaster_zone,
    phh_persons,
    aay_households,
    monthly_allotment_cap,
    -- provenance by part (provenance.analysis_parts in the core): the stock basis, the
    -- weather where it changed the row, and where the consumption figure came from
    IFF(inventory_source = 'REAL' AND org_source = 'REAL', 'REAL', 'SIMULATED') AS stock_source,
    IFF(city_weather_source <> 'REAL' AND weather_applied, 'SIMULATED', 'REAL')
        AS weather_source,
    IFF(demand_input_source = 'REAL', 'REAL', 'SIMULATED') AS demand_source,
    -- the overall flag: SIMULATED when any part is
    IFF(
        inventory_source = 'REAL' AND org_source = 'REAL'
        AND (city_weather_source = 'REAL' OR NOT weather_applied)
        AND demand_input_source = 'REAL',
        'REAL',
        'SIMULATED'
    ) AS data_source
FROM (
    SELECT
        base.*,
        base.consumption * (adverse_multiplier * haze_multiplier) AS effective_consumption,
        IFF(adverse AND adverse_critical_days IS NOT NULL, adverse_critical_days, base_critical_days)
            AS critical_days,
        GREATEST(
            base_warning_days,
            IFF(adverse AND adverse_critical_days IS NOT NULL, adverse_critical_days, base_critical_days)
        ) AS warning_days,
        (adverse_multiplier * haze_multiplier) <> 1.0
            OR (adverse AND adverse_critical_days IS NOT NULL) AS weather_applied
    FROM (
        SELECT
            i.org_id,
            o.org_name,
            o.sector,
            o.city,
            i.sku,
            i.item_name,
            i.category,
            i.unit,
            i.pack_size,
            i.lead_time_days,
            i.preferred_vendor,
            i.current_stock,
            i.daily_consumption,
            f.forecast_daily_demand,
            IFF(f.forecast_daily_demand IS NOT NULL, f.demand_std, NULL) AS demand_std,
            IFF(f.forecast_daily_demand IS NOT NULL, 'FORECAST', 'DAILY_CONSUMPTION')
                AS demand_basis,
            COALESCE(f.forecast_daily_demand, i.daily_consumption) * i.demand_factor
                AS consumption,
            COALESCE(w.condition, 'Clear') AS weather,
            COALESCE(w.condition, 'Clear') IN ('Rain', 'Storm', 'Flood') AS adverse,
            IFF(COALESCE(w.condition, 'Clear') IN ('Rain', 'Storm', 'Flood'),
                c.adverse_demand_multiplier, 1.0) AS adverse_multiplier,
            IFF(COALESCE(w.condition, 'Clear') = 'Haze' AND i.category = 'OXYGEN',
                c.haze_demand_multiplier, 1.0) AS haze_multiplier,
            c.critical_days AS base_critical_days,
            c.warning_days AS base_warning_days,
            c.adverse_critical_days,
            c.target_days,
            IFF(o.disaster_zone AND c.disaster_priority IS NOT NULL, c.disaster_priority, c.priority)
                AS priority,
            CASE COALESCE(w.condition, 'Clear')
                WHEN 'Rain' THEN 1.0
                WHEN 'Storm' THEN 2.0
                WHEN 'Flood' THEN 3.0
                ELSE 0.0
            END AS weather_delay_days,
            o.disaster_zone,
            o.phh_persons,
            o.aay_households,
            c.monthly_allotment_cap,
            i.data_source AS inventory_source,
            o.data_source AS org_source,
            COALESCE(w.data_source, 'REAL') AS city_weather_source,
            -- the source of the consumption figure: the forecast's, when demand comes from one
            IFF(f.forecast_daily_demand IS NOT NULL, f.data_source, i.data_source)
                AS demand_input_source
        FROM inventory_master AS i
        JOIN organizations AS o ON o.org_id = i.org_id
        JOIN sector_config AS c ON c.sector = o.sector
        LEFT JOIN city_weather AS w ON w.city = o.city
        LEFT JOIN demand_forecast AS f ON f.org_id = i.org_id AND f.sku = i.sku
    ) AS base
) AS analysed;
-- skipped when this returns more than 0: SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'CORE' AND TABLE_NAME = 'STOCK_ANALYSIS' AND COMMENT = 'resq stock_analysis definition 64c16e1efcd8e8a7'
CREATE OR REPLACE STREAM STOCK_ANALYSIS_CHANGES ON DYNAMIC TABLE stock_analysis;

-- step 11: analysis.grants: what the app role may read and call of what analysis installed
GRANT SELECT ON DYNAMIC TABLE STOCK_ANALYSIS TO ROLE RESQ_APP;

-- step 12: isolation: the row access policy on every org-scoped table (stock_analysis has it inline)
-- skipped when this returns more than 0: SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.POLICY_REFERENCES(REF_ENTITY_NAME => 'RESQ.CORE.PURCHASE_ORDERS', REF_ENTITY_DOMAIN => 'table')) WHERE POLICY_KIND = 'ROW_ACCESS_POLICY'
ALTER TABLE purchase_orders ADD ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id);
-- skipped when this returns more than 0: SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.POLICY_REFERENCES(REF_ENTITY_NAME => 'RESQ.CORE.AUDIT_LOG', REF_ENTITY_DOMAIN => 'table')) WHERE POLICY_KIND = 'ROW_ACCESS_POLICY'
ALTER TABLE audit_log ADD ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id);
-- skipped when this returns more than 0: SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.POLICY_REFERENCES(REF_ENTITY_NAME => 'RESQ.CORE.ALERTS', REF_ENTITY_DOMAIN => 'table')) WHERE POLICY_KIND = 'ROW_ACCESS_POLICY'
ALTER TABLE alerts ADD ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id);
-- skipped when this returns more than 0: SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.POLICY_REFERENCES(REF_ENTITY_NAME => 'RESQ.CORE.NOTIFICATIONS', REF_ENTITY_DOMAIN => 'table')) WHERE POLICY_KIND = 'ROW_ACCESS_POLICY'
ALTER TABLE notifications ADD ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id);
-- skipped when this returns more than 0: SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.POLICY_REFERENCES(REF_ENTITY_NAME => 'RESQ.CORE.STOCK_HISTORY', REF_ENTITY_DOMAIN => 'table')) WHERE POLICY_KIND = 'ROW_ACCESS_POLICY'
ALTER TABLE stock_history ADD ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id);

-- step 13: isolation.grants: what the app role may read and call of what isolation installed
GRANT SELECT ON TABLE purchase_orders TO ROLE RESQ_APP;
GRANT SELECT ON TABLE audit_log TO ROLE RESQ_APP;
GRANT SELECT ON TABLE alerts TO ROLE RESQ_APP;
GRANT SELECT ON TABLE notifications TO ROLE RESQ_APP;
GRANT SELECT ON TABLE stock_history TO ROLE RESQ_APP;

-- step 14: app_views: secure views with the row access policy over the dynamic table's inputs, which stay engine-only so stock_analysis refreshes incrementally
-- skipped when this returns more than 0: SELECT COUNT(*) = 0 FROM TABLE(INFORMATION_SCHEMA.POLICY_REFERENCES(REF_ENTITY_NAME => 'RESQ.CORE.ORGANIZATIONS', REF_ENTITY_DOMAIN => 'table')) WHERE POLICY_KIND = 'ROW_ACCESS_POLICY'
ALTER TABLE organizations DROP ROW ACCESS POLICY RESQ_TENANT_POLICY;
-- skipped when this returns more than 0: SELECT COUNT(*) = 0 FROM TABLE(INFORMATION_SCHEMA.POLICY_REFERENCES(REF_ENTITY_NAME => 'RESQ.CORE.INVENTORY_MASTER', REF_ENTITY_DOMAIN => 'table')) WHERE POLICY_KIND = 'ROW_ACCESS_POLICY'
ALTER TABLE inventory_master DROP ROW ACCESS POLICY RESQ_TENANT_POLICY;
-- skipped when this returns more than 0: SELECT COUNT(*) = 0 FROM TABLE(INFORMATION_SCHEMA.POLICY_REFERENCES(REF_ENTITY_NAME => 'RESQ.CORE.DEMAND_FORECAST', REF_ENTITY_DOMAIN => 'table')) WHERE POLICY_KIND = 'ROW_ACCESS_POLICY'
ALTER TABLE demand_forecast DROP ROW ACCESS POLICY RESQ_TENANT_POLICY;
CREATE OR REPLACE SECURE VIEW app_organizations
    COPY GRANTS
    WITH ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id)
AS SELECT * FROM organizations;
CREATE OR REPLACE SECURE VIEW app_inventory_master
    COPY GRANTS
    WITH ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id)
AS SELECT * FROM inventory_master;
CREATE OR REPLACE SECURE VIEW app_demand_forecast
    COPY GRANTS
    WITH ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id)
AS SELECT * FROM demand_forecast;

-- step 15: app_views.grants: what the app role may read and call of what app_views installed
GRANT SELECT ON VIEW app_organizations TO ROLE RESQ_APP;
GRANT SELECT ON VIEW app_inventory_master TO ROLE RESQ_APP;
GRANT SELECT ON VIEW app_demand_forecast TO ROLE RESQ_APP;

-- step 16: trigger: the stream on stock_analysis and the task that calls RESQ_HEAL when it has data
CREATE STREAM IF NOT EXISTS STOCK_ANALYSIS_CHANGES ON DYNAMIC TABLE STOCK_ANALYSIS;
ALTER TASK IF EXISTS RESQ_HEAL_ON_CHANGE SUSPEND;
CREATE OR REPLACE TASK RESQ_HEAL_ON_CHANGE
    WAREHOUSE = RESQ_WH
    SCHEDULE = '1 MINUTE'
    WHEN SYSTEM$STREAM_HAS_DATA('STOCK_ANALYSIS_CHANGES')
AS
    CALL RESQ_HEAL(FALSE, 'STREAM');
ALTER TASK RESQ_HEAL_ON_CHANGE RESUME;

-- step 17: notifications: alert delivery and escalation (sql/snowflake/notifications.sql)
CREATE OR REPLACE PROCEDURE resq_deliver_notifications(max_attempts INTEGER)
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'pyarrow', 'numpy==2.*', 'sqlglot==30.*', 'tenacity==9.*')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'run'
EXECUTE AS OWNER
AS $$
from resq.alerting.snowflake import deliver


def run(session, max_attempts):
    return deliver(session, max_attempts, settle=True)
$$;
CREATE OR REPLACE PROCEDURE resq_escalate_alerts()
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'pyarrow', 'numpy==2.*', 'sqlglot==30.*', 'tenacity==9.*')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'run'
EXECUTE AS OWNER
AS $$
from resq.alerting.snowflake import escalate


def run(session):
    return escalate(session, settle=True)
$$;
CREATE STREAM IF NOT EXISTS resq_alert_changes ON TABLE alerts;
CREATE STREAM IF NOT EXISTS resq_outbox_changes ON TABLE notifications;
ALTER TASK IF EXISTS resq_escalation_task SUSPEND;
ALTER ALERT IF EXISTS resq_failed_delivery_alert SUSPEND;
CREATE OR REPLACE TASK resq_escalation_task
    WAREHOUSE = RESQ_WH
    SCHEDULE = '1 MINUTE'
    WHEN SYSTEM$STREAM_HAS_DATA('RESQ_ALERT_CHANGES')
        OR SYSTEM$STREAM_HAS_DATA('RESQ_OUTBOX_CHANGES')
    AS CALL resq_escalate_alerts();
CREATE OR REPLACE TASK resq_delivery_task
    WAREHOUSE = RESQ_WH
    AFTER resq_escalation_task
    AS CALL resq_deliver_notifications(6);
CREATE OR REPLACE ALERT resq_failed_delivery_alert
    WAREHOUSE = RESQ_WH
    SCHEDULE = '5 MINUTE'
    IF (EXISTS (
        SELECT 1 FROM audit_log
        WHERE action = 'notification.failed'
          AND event_ts > COALESCE(
              CONVERT_TIMEZONE(
                  'UTC', SNOWFLAKE.ALERT.LAST_SUCCESSFUL_SCHEDULED_TIME()
              )::TIMESTAMP_NTZ,
              '1970-01-01'::TIMESTAMP_NTZ
          )
          AND event_ts <= CONVERT_TIMEZONE('UTC', SNOWFLAKE.ALERT.SCHEDULED_TIME())::TIMESTAMP_NTZ
    ))
    THEN CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION(
        SNOWFLAKE.NOTIFICATION.TEXT_PLAIN(
            'resq: a notification failed to deliver; run resq health for the reasons'
        ),
        SNOWFLAKE.NOTIFICATION.INTEGRATION('resq_email')
    );
ALTER TASK resq_delivery_task RESUME;
ALTER TASK resq_escalation_task RESUME;
ALTER ALERT resq_failed_delivery_alert RESUME;
