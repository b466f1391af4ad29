-- The orders waiting for a vendor (PENDING_VENDOR): a heal cycle chooses a vendor for them
-- again with the rule of a new order (resq.core.ordering.resource_pending). The item's
-- city, preferred vendor, sector and category come from the current inventory and organization.
-- Parameters: 1 and 2 org_id (NULL for every organization).
SELECT
    p.po_id,
    p.org_id,
    p.sku,
    o.city,
    i.preferred_vendor,
    o.sector,
    i.category,
    p.quantity,
    p.priority,
    a.days_remaining,
    o.budget_cap,
    p.created_at
FROM purchase_orders AS p
JOIN organizations AS o ON o.org_id = p.org_id
JOIN inventory_master AS i ON i.org_id = p.org_id AND i.sku = p.sku
LEFT JOIN stock_analysis AS a ON a.org_id = p.org_id AND a.sku = p.sku
WHERE p.status = 'PENDING_VENDOR'
    AND (CAST(? AS VARCHAR) IS NULL OR p.org_id = ?)
ORDER BY p.priority, p.created_at, p.po_id;

-- Place the re-sourced orders (staged as resq_stage_resourced), only where the order still
-- waits for a vendor: a cancellation committed meanwhile wins. Parameter: 1 updated_at.
UPDATE purchase_orders AS t
SET
    vendor = s.vendor,
    unit_price = s.unit_price,
    status = s.order_status,
    reason_vendor = s.reason_vendor,
    reason_vendor_latency_ms = s.reason_vendor_latency_ms,
    reason_rejected_vendors = CAST(s.reason_rejected_vendors AS ARRAY(VARCHAR)),
    reason_rejected_whys = CAST(s.reason_rejected_whys AS ARRAY(VARCHAR)),
    reason_resourced_from = s.reason_resourced_from,
    reason_resourced_to = s.reason_resourced_to,
    reason_resourced_cycle_id = s.reason_resourced_cycle_id,
    reason_resourced_at = s.reason_resourced_at,
    reason_resourced_waited_s = s.reason_resourced_waited_s,
    updated_at = ?
FROM resq_stage_resourced AS s
WHERE t.po_id = s.po_id AND t.status = 'PENDING_VENDOR';

-- The orders that UPDATE re-sourced (their reason records this cycle's re-sourcing), with the
-- NO_VENDOR alerts still active for them.
SELECT
    p.po_id,
    p.org_id,
    p.sku,
    p.vendor,
    p.unit_price,
    p.status,
    a.alert_id,
    a.state AS alert_state
FROM resq_stage_resourced AS s
JOIN purchase_orders AS p
    ON p.po_id = s.po_id AND p.reason_resourced_cycle_id = s.reason_resourced_cycle_id
LEFT JOIN alerts AS a
    ON a.po_id = p.po_id AND a.kind = 'NO_VENDOR' AND a.state IN ('OPEN', 'ACKED')
ORDER BY p.po_id;

-- Resolve those NO_VENDOR alerts: a vendor was found. Parameter: 1 resolved_at.
UPDATE alerts
SET state = 'RESOLVED', resolved_at = ?
WHERE kind = 'NO_VENDOR'
    AND state IN ('OPEN', 'ACKED')
    AND po_id IN (
        SELECT p.po_id
        FROM resq_stage_resourced AS s
        JOIN purchase_orders AS p
    ON p.po_id = s.po_id AND p.reason_resourced_cycle_id = s.reason_resourced_cycle_id
    );
