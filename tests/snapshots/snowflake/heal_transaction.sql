BEGIN
UPDATE resq_heal_lock SET holder = ?, locked_at = ? WHERE id = 1
DELETE FROM resq_stage_orders
MERGE INTO purchase_orders AS t
USING (
    SELECT
        d.idempotency_key, d.org_id, d.sku, d.vendor, d.quantity, d.unit_price,
        d.order_status, d.priority, d.rank, d.reason, d.data_source, d.stock_source,
        d.weather_source, d.vendor_status_source, d.demand_source, d.cycle_id, d.created_at
    FROM resq_stage_orders AS d
    JOIN inventory_master AS i ON i.org_id = d.org_id AND i.sku = d.sku
    LEFT JOIN (
        SELECT
            p.org_id,
            p.sku,
            COUNT_IF(p.status IN ('PLACED', 'PENDING_APPROVAL', 'PENDING_VENDOR')) AS open_orders,
            COUNT_IF(p.status IN ('RECEIVED', 'CANCELLED')) AS closed_orders
        FROM purchase_orders AS p
        JOIN (SELECT DISTINCT s.org_id, s.sku FROM resq_stage_orders AS s) AS k
            ON k.org_id = p.org_id AND k.sku = p.sku
        GROUP BY p.org_id, p.sku
    ) AS h ON h.org_id = d.org_id AND h.sku = d.sku
    WHERE i.current_stock = d.current_stock
        AND i.daily_consumption = d.daily_consumption
        AND COALESCE(h.open_orders, 0) = 0
        AND COALESCE(h.closed_orders, 0) = d.episode
    QUALIFY ROW_NUMBER() OVER (
        PARTITION BY d.idempotency_key ORDER BY d.rank, d.quantity DESC, d.vendor
    ) = 1
) AS s
ON t.idempotency_key = s.idempotency_key
WHEN NOT MATCHED THEN INSERT (
    po_id, idempotency_key, org_id, sku, vendor, quantity, unit_price, status, priority, rank,
    reason, data_source, stock_source, weather_source, vendor_status_source, demand_source,
    cycle_id, created_at, updated_at
) VALUES (
    'PO-' || UPPER(SUBSTR(SHA2(s.idempotency_key, 256), 1, 20)), s.idempotency_key, s.org_id, s.sku, s.vendor, s.quantity, s.unit_price,
    s.order_status, s.priority, s.rank, TO_JSON(s.reason), s.data_source, s.stock_source,
    s.weather_source, s.vendor_status_source, s.demand_source, s.cycle_id,
    s.created_at, s.created_at
)
COMMIT
