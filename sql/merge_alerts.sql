-- Alerts of a cycle, keyed by dedup_key (kind and shortfall episode): raised once. The
-- alert id is derived from the key here (resq.core.alerts.alert_id computes the same), and
-- an alert about an order points at the order the same cycle merged for that key (or the
-- order a concurrent cycle merged for it first).
MERGE INTO alerts AS t
USING (
    SELECT
        'AL-' || UPPER(SUBSTR(SHA2(a.dedup_key, 256), 1, 20)) AS alert_id,
        a.dedup_key,
        a.org_id,
        a.sku,
        p.po_id,
        a.kind,
        a.severity,
        a.message,
        a.data_source,
        a.stock_source,
        a.weather_source,
        a.vendor_status_source,
        a.demand_source,
        a.cycle_id,
        a.created_at
    FROM resq_stage_alerts AS a
    LEFT JOIN purchase_orders AS p
        ON a.has_order AND p.idempotency_key = a.idempotency_key
    -- an alert about an order the MERGE skipped as stale is not raised: the next cycle
    -- re-plans the item and raises what is true then
    WHERE NOT a.has_order OR p.po_id IS NOT NULL
) AS s
ON t.dedup_key = s.dedup_key
WHEN NOT MATCHED THEN INSERT (
    alert_id, dedup_key, org_id, sku, po_id, kind, severity, message, state, tier,
    data_source, stock_source, weather_source, vendor_status_source, demand_source, cycle_id,
    created_at
) VALUES (
    s.alert_id, s.dedup_key, s.org_id, s.sku, s.po_id, s.kind, s.severity, s.message, 'OPEN',
    0, s.data_source, s.stock_source, s.weather_source, s.vendor_status_source,
    s.demand_source, s.cycle_id, s.created_at
);
