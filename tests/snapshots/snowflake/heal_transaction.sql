BEGIN
UPDATE resq_heal_lock SET holder = ?, locked_at = ? WHERE id = 1
DELETE FROM resq_stage_orders
MERGE INTO purchase_orders AS t
USING (
    SELECT *
    FROM resq_stage_orders AS s
    QUALIFY ROW_NUMBER() OVER (
        PARTITION BY s.idempotency_key ORDER BY s.rank, s.quantity DESC, s.vendor
    ) = 1
) AS s
ON t.idempotency_key = s.idempotency_key
WHEN NOT MATCHED THEN INSERT (
    po_id, idempotency_key, org_id, sku, vendor, quantity, unit_price, status, priority, rank,
    reason, data_source, cycle_id, created_at, updated_at
) VALUES (
    'PO-' || UPPER(SUBSTR(SHA2(s.idempotency_key, 256), 1, 20)), s.idempotency_key, s.org_id, s.sku, s.vendor, s.quantity, s.unit_price,
    s.order_status, s.priority, s.rank, TO_JSON(s.reason), s.data_source, s.cycle_id,
    s.created_at, s.created_at
)
COMMIT
