-- resq warehouse schema, Snowflake dialect. The DuckDB backend renders it with sqlglot.
-- Every statement is idempotent (IF NOT EXISTS) so `init` can run again without loss.
-- Snowflake does not enforce PRIMARY KEY or UNIQUE on standard tables: the keyed MERGE in
-- heal_merge.sql is what guarantees one order per idempotency key there.

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

-- Which vendor types may supply a (sector, category): a pair some row names is restricted
-- to the types whose row is authorized; a pair no row names is open to every vendor
-- (resq.core.sourcing). Seeded with the defaults when empty; editable with `resq load`.
CREATE TABLE IF NOT EXISTS vendor_authorization (
    sector VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    vendor_type VARCHAR NOT NULL,
    authorized BOOLEAN NOT NULL DEFAULT TRUE,
    data_source VARCHAR NOT NULL DEFAULT 'REAL',
    updated_at TIMESTAMP_NTZ,
    PRIMARY KEY (sector, category, vendor_type)
);

-- External signals. `source` says where the current value came from: SIMULATION (the
-- GET_WEATHER_DATA / GET_VENDOR_STATUS functions), CHAOS (an audited chaos edit) or FEED
-- (a real feed). data_source is SIMULATED for the first two.
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

-- po_id is derived from idempotency_key (a hash of it, see merge_orders.sql), so the
-- primary key on po_id is also the uniqueness of the key. The keys of purchase_orders,
-- alerts and notifications are NOT ENFORCED (Snowflake's default for standard tables,
-- written out): on every backend one row per key is kept by the keyed MERGE of the heal
-- commit, serialized by the heal lock, not by an index (which on DuckDB cost more than the
-- rows: maintained on every insert and written at every commit). A DuckDB database made
-- before this keeps its enforced keys (DuckDB cannot drop a constraint); both hold.
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

-- The head of the audit chain: updated in the same transaction as every append, so
-- concurrent appends conflict (and retry) instead of forking the chain, and deleting the
-- newest rows is detected.
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER NOT NULL PRIMARY KEY,
    seq INTEGER NOT NULL,
    hash VARCHAR NOT NULL
);

-- Version 2: the daily consumption and stock series behind each item (simulated by
-- `resq seed --days`, or loaded from real records), for trajectories and charts.
-- Its key (org_id, sku, day) is kept by the load path (unique keys validated, rows with
-- an existing key replaced), not by an index: at 30 days x 1M items an index would cost
-- more memory and time than the rows themselves.
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

-- Alert routing, applied from resq.toml by `resq watch`, `resq init --config` or
-- resq.alerting.apply_config: who hears about which alerts at which tier, through which
-- channel, and how long an alert may stay unacknowledged. Routing only: channel endpoints
-- stay in the config file and credentials in environment variables, never here.
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

-- Where each stakeholder's email goes, for delivery inside Snowflake: an email notification
-- integration sends only to the addresses a call names (EMAIL_INTEGRATION_CONFIG), and the
-- procedures there have no config file. emails is a JSON array of addresses.
CREATE TABLE IF NOT EXISTS alert_recipients (
    stakeholder VARCHAR NOT NULL PRIMARY KEY,
    emails VARCHAR NOT NULL,
    config_hash VARCHAR NOT NULL,
    updated_at TIMESTAMP_NTZ
);

-- The lease of the one `resq watch` allowed per database (where no lock file can be used).
CREATE TABLE IF NOT EXISTS watch_lease (
    lease VARCHAR NOT NULL PRIMARY KEY,
    holder VARCHAR NOT NULL,
    acquired_at TIMESTAMP_NTZ NOT NULL,
    heartbeat_at TIMESTAMP_NTZ NOT NULL,
    expires_at TIMESTAMP_NTZ NOT NULL
);

-- Version 3: the demand forecast learned from stock_history (`resq forecast`,
-- SelfHealingEngine.forecast; the rules in resq.core.demand), one row per item. stock_analysis
-- uses forecast_daily_demand where it is not NULL and daily_consumption otherwise. method is
-- NULL (and reason says why) when the history is too short or holds no demand.
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

-- Version 4: provenance by part on orders and alerts (resq.core.provenance): which of the
-- stock basis, weather, vendor status and demand behind each was REAL or SIMULATED
-- (data_source stays the overall flag). Rows written before version 4 keep NULL parts and
-- are labelled by data_source alone. ADD COLUMN IF NOT EXISTS: a no-op on a new database.
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS stock_source VARCHAR;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS weather_source VARCHAR;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS vendor_status_source VARCHAR;
ALTER TABLE purchase_orders ADD COLUMN IF NOT EXISTS demand_source VARCHAR;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS stock_source VARCHAR;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS weather_source VARCHAR;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS vendor_status_source VARCHAR;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS demand_source VARCHAR;

-- Version 5: the sourcing columns (resq.core.sourcing) on databases made before them: the
-- vendor's type and reliability, the catalog's minimum order and pack. vendor_authorization
-- above is created by its IF NOT EXISTS and seeded with the defaults when empty. Existing
-- rows take each column's default (vendor_type GENERAL, min_order_qty 0; reliability and
-- pack_size NULL: unknown, no pack). On an upgraded database the columns stay nullable
-- (an ADD COLUMN IF NOT EXISTS cannot add NOT NULL on DuckDB); every reader COALESCEs them
-- and the loader fills the defaults. A no-op on a new database.
ALTER TABLE vendors ADD COLUMN IF NOT EXISTS vendor_type VARCHAR DEFAULT 'GENERAL';
ALTER TABLE vendors ADD COLUMN IF NOT EXISTS reliability FLOAT;
ALTER TABLE vendor_catalog ADD COLUMN IF NOT EXISTS min_order_qty FLOAT DEFAULT 0.0;
ALTER TABLE vendor_catalog ADD COLUMN IF NOT EXISTS pack_size FLOAT;

-- Version 6: an order's reason as typed columns (resq.core.reasons) instead of JSON text.
-- A no-op on a new database; on an older one the columns are added here and
-- WarehouseBackend._upgrade converts each stored JSON reason into them (keeping, verbatim,
-- any it cannot reproduce exactly in reason_legacy) before dropping the text column.
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
