-- How many rows that need a decision an open order already covers (reported, not re-ordered).
-- Parameters: 1 and 2 org_id (NULL for every organization).
SELECT COUNT(*) AS covered
FROM stock_analysis AS a
JOIN (
    SELECT DISTINCT org_id, sku
    FROM purchase_orders
    WHERE status IN ('PLACED', 'PENDING_APPROVAL', 'PENDING_VENDOR')
) AS p ON p.org_id = a.org_id AND p.sku = a.sku
WHERE (
        a.status = 'CRITICAL'
        OR (
            a.status = 'WARNING'
            AND a.days_remaining - (a.lead_time_days + a.weather_delay_days) <= a.critical_days
        )
    )
    AND (CAST(? AS VARCHAR) IS NULL OR a.org_id = ?);
