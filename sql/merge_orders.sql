-- The heal cycle's keyed MERGE: one purchase order per idempotency key, never updated by a
-- later cycle (a re-run, an overlapping or a concurrent cycle inserts nothing for a key that
-- exists). Snowflake does not enforce UNIQUE, so this MERGE is the guarantee there; DuckDB
-- also enforces the primary key on po_id (derived from the key), which turns a concurrent
-- race into a retryable conflict.
-- Source: the staged proposals of the cycle (resq_stage_orders), one row per key: MERGE
-- inserts every unmatched source row, so two staged rows with one key would be two orders
-- where UNIQUE is not enforced (Snowflake). The most urgent row of a key is kept. The order
-- id is derived from the key here, in the warehouse: resq.core.ordering.po_id computes the
-- same.
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
);
