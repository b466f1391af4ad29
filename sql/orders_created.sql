-- The orders one cycle created (after its MERGE, inside its transaction), with the audit
-- details of each. Parameter: 1 cycle_id.
SELECT
    po_id, org_id, sku, vendor, quantity, unit_price, status, priority, rank, reason,
    data_source,
    TO_JSON(OBJECT_CONSTRUCT(
        'sku', sku, 'vendor', vendor, 'quantity', quantity, 'status', status,
        'priority', priority, 'rank', rank, 'data_source', data_source
    )) AS details
FROM purchase_orders
WHERE cycle_id = ?
ORDER BY rank, po_id;
