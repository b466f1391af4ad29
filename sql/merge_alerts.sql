-- Alerts of a cycle, keyed by dedup_key (kind and shortfall episode): raised once.
MERGE INTO alerts AS t
USING resq_stage_alerts AS s
ON t.dedup_key = s.dedup_key
WHEN NOT MATCHED THEN INSERT (
    alert_id, dedup_key, org_id, sku, po_id, kind, severity, message, state, tier,
    data_source, cycle_id, created_at
) VALUES (
    s.alert_id, s.dedup_key, s.org_id, s.sku, s.po_id, s.kind, s.severity, s.message, 'OPEN',
    0, s.data_source, s.cycle_id, s.created_at
);
