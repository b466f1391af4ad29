-- The rows a heal cycle must decide on: CRITICAL items, and WARNING items whose stock runs
-- below the critical threshold before an order could arrive (days remaining minus lead
-- time and weather delay), that no open order covers yet. Everything else stays in the
-- warehouse. Mirrors resq.core.ordering.needs_decision.
-- city_weather_source is the source of the weather behind the delivery delay (an order's
-- weather part: resq.core.ordering).
-- Parameters: 1 month_start (TIMESTAMP_NTZ, for the PDS monthly allotment),
--             2 and 3 org_id (NULL for every organization).
SELECT
    a.org_id, a.org_name, a.sector, a.city, a.sku, a.item_name, a.category, a.unit,
    a.pack_size, a.lead_time_days, a.preferred_vendor, a.current_stock, a.daily_consumption,
    a.effective_consumption, a.days_remaining, a.critical_days, a.warning_days, a.target_days,
    a.status, a.priority, a.weather, a.weather_delay_days, a.disaster_zone, a.phh_persons,
    a.aay_households, a.monthly_allotment_cap, a.data_source, a.stock_source, a.weather_source,
    a.demand_source, COALESCE(w.data_source, 'REAL') AS city_weather_source,
    o.budget_cap,
    0 AS open_orders,
    0.0 AS open_order_qty,
    COALESCE(h.closed_orders, 0) AS episode,
    COALESCE(h.month_qty, 0.0) AS allotment_used
FROM stock_analysis AS a
JOIN organizations AS o ON o.org_id = a.org_id
LEFT JOIN city_weather AS w ON w.city = a.city
LEFT JOIN (
    SELECT
        org_id,
        sku,
        COUNT_IF(status IN ('PLACED', 'PENDING_APPROVAL', 'PENDING_VENDOR')) AS open_orders,
        COUNT_IF(status IN ('RECEIVED', 'CANCELLED')) AS closed_orders,
        SUM(IFF(status <> 'CANCELLED' AND created_at >= ?, quantity, 0.0)) AS month_qty
    FROM purchase_orders
    GROUP BY org_id, sku
) AS h ON h.org_id = a.org_id AND h.sku = a.sku
WHERE (
        a.status = 'CRITICAL'
        OR (
            a.status = 'WARNING'
            AND a.days_remaining - (a.lead_time_days + a.weather_delay_days) <= a.critical_days
        )
    )
    AND COALESCE(h.open_orders, 0) = 0
    AND (CAST(? AS VARCHAR) IS NULL OR a.org_id = ?)
ORDER BY a.priority, a.days_remaining, a.org_id, a.sku;
