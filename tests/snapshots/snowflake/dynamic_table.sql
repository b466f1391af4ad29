-- resq deploy plan for Snowflake: ordered, idempotent steps (resq deploy snowflake).
-- Guarded statements run only when their guard query returns 0.

-- step 1: analysis: stock_analysis, the dynamic table (replaced only when its definition changed; the stream over it is recreated with it)
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
