-- The outbox: one row per new alert of the cycle, stakeholder and channel (tier 0), keyed
-- by delivery_key so a receiver never gets the same notification twice. The routes come
-- from resq.core.alerts (staged as resq_stage_routes).
-- Parameters: 1 created_at, 2 cycle_id.
MERGE INTO notifications AS t
USING (
    SELECT
        'N-' || a.alert_id || ':' || r.stakeholder || ':' || r.channel || ':0' AS notification_id,
        a.alert_id || ':' || r.stakeholder || ':' || r.channel || ':0' AS delivery_key,
        a.alert_id,
        a.org_id,
        r.stakeholder,
        r.channel,
        -- keys in sorted order, NULLs kept: the same JSON text on every engine
        TO_JSON(OBJECT_CONSTRUCT_KEEP_NULL(
            'alert_id', a.alert_id, 'data_source', a.data_source, 'kind', a.kind,
            'message', a.message, 'org_id', a.org_id, 'po_id', a.po_id,
            'severity', a.severity, 'sku', a.sku, 'stakeholder', r.stakeholder, 'tier', 0
        )) AS payload,
        CAST(? AS TIMESTAMP_NTZ) AS created_at
    FROM alerts AS a
    JOIN resq_stage_routes AS r ON r.org_id = a.org_id AND r.severity = a.severity
    WHERE a.cycle_id = ?
) AS s
ON t.delivery_key = s.delivery_key
WHEN NOT MATCHED THEN INSERT (
    notification_id, delivery_key, alert_id, org_id, stakeholder, channel, tier, payload,
    state, attempts, created_at, next_attempt_at
) VALUES (
    s.notification_id, s.delivery_key, s.alert_id, s.org_id, s.stakeholder, s.channel, 0,
    s.payload, 'PENDING', 0, s.created_at, s.created_at
);
