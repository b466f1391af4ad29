-- The staged decisions of a cycle that its MERGE did not insert (after the MERGE, inside the
-- same transaction): `covered` when an order with the same key exists (a concurrent or
-- earlier cycle placed it), else stale (the state the decision rested on changed before
-- the commit; see sql/merge_orders.sql). Parameter: 1 cycle_id.
SELECT
    d.org_id,
    d.sku,
    d.idempotency_key,
    p.po_id IS NOT NULL AS covered
FROM resq_stage_orders AS d
LEFT JOIN purchase_orders AS p ON p.idempotency_key = d.idempotency_key
WHERE p.po_id IS NULL OR p.cycle_id IS NULL OR p.cycle_id <> ?
ORDER BY d.rank, d.org_id, d.sku;
