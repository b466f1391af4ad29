-- One audit event per organization a heal cycle acted for: the orders it created and the
-- alerts it raised there, as JSON arrays. The audit chain hashes these rows, so an
-- automated action cannot be added, removed or changed afterwards without detection,
-- while a cycle over a million items still writes one event per organization. Keys are
-- listed in sorted order and NULLs kept, so every engine renders the same JSON text.
-- Parameters: 1 cycle_id (orders), 2 cycle_id (alerts).
SELECT
    COALESCE(o.org_id, a.org_id) AS org_id,
    COALESCE(o.n, 0) AS orders,
    COALESCE(a.n, 0) AS alerts,
    COALESCE(o.items, '[]') AS order_items,
    COALESCE(a.items, '[]') AS alert_items
FROM (
    SELECT
        org_id,
        COUNT(*) AS n,
        TO_JSON(ARRAY_AGG(OBJECT_CONSTRUCT_KEEP_NULL(
            'po_id', po_id, 'quantity', quantity, 'rank', rank, 'sku', sku, 'status', status,
            'vendor', vendor
        )) WITHIN GROUP (ORDER BY rank)) AS items
    FROM purchase_orders
    WHERE cycle_id = ?
    GROUP BY org_id
) AS o
FULL OUTER JOIN (
    SELECT
        org_id,
        COUNT(*) AS n,
        TO_JSON(ARRAY_AGG(OBJECT_CONSTRUCT_KEEP_NULL(
            'alert_id', alert_id, 'kind', kind, 'severity', severity, 'sku', sku
        )) WITHIN GROUP (ORDER BY alert_id)) AS items
    FROM alerts
    WHERE cycle_id = ?
    GROUP BY org_id
) AS a ON a.org_id = o.org_id
ORDER BY 1;
