-- The rows a heal cycle must decide on: CRITICAL items, and WARNING items whose stock runs
-- below the critical threshold before an order could arrive (days remaining minus lead
-- time and weather delay), that no open order covers yet. Everything else stays in the
-- warehouse. Mirrors resq.core.ordering.needs_decision.
-- city_weather_source is the source of the weather behind the delivery delay (an order's
-- weather part: resq.core.ordering).
-- Cheap when little is new: first the rows that need a decision, less the ones an open
-- order covers (an anti-join), then the joins and the order history (the shortfall
-- episode, the month's allotment) for those rows alone. After a first cycle nearly every
-- row that needs a decision is covered, so the history of the covered items is never
-- grouped and the joins see only the few rows left. (Joining the whole analysis with the
-- remaining keys instead lets the planner run the outer joins over every row first.)
-- Parameters: 1 and 2 org_id (NULL for every organization),
--             3 month_start (TIMESTAMP_NTZ, for the PDS monthly allotment).
WITH need AS (
    SELECT a.*
    FROM stock_analysis AS a
    WHERE (
            a.status = 'CRITICAL'
            OR (
                a.status = 'WARNING'
                AND a.days_remaining - (a.lead_time_days + a.weather_delay_days) <= a.critical_days
            )
        )
        AND (CAST(? AS VARCHAR) IS NULL OR a.org_id = ?)
        AND NOT EXISTS (
            SELECT 1
            FROM purchase_orders AS p
            WHERE p.org_id = a.org_id
                AND p.sku = a.sku
                AND p.status IN ('PLACED', 'PENDING_APPROVAL', 'PENDING_VENDOR')
        )
)
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
FROM need AS a
JOIN organizations AS o ON o.org_id = a.org_id
LEFT JOIN city_weather AS w ON w.city = a.city
LEFT JOIN (
    SELECT
        p.org_id,
        p.sku,
        COUNT_IF(p.status IN ('RECEIVED', 'CANCELLED')) AS closed_orders,
        SUM(IFF(p.status <> 'CANCELLED' AND p.created_at >= ?, p.quantity, 0.0)) AS month_qty
    FROM purchase_orders AS p
    JOIN need AS n ON n.org_id = p.org_id AND n.sku = p.sku
    GROUP BY p.org_id, p.sku
) AS h ON h.org_id = a.org_id AND h.sku = a.sku
ORDER BY a.priority, a.days_remaining, a.org_id, a.sku;
