-- The outbox rows of escalated alerts: one per alert, stakeholder and channel of the tier it
-- moved to, keyed by delivery_key (alert, stakeholder, channel, tier) so an escalation is
-- queued once. The recipients come from resq.core.alerts (staged as resq_stage_escalations).
-- Parameter: 1 created_at.
MERGE INTO notifications AS t
USING (
    SELECT
        'N-' || a.alert_id || ':' || e.stakeholder || ':' || e.channel || ':'
            || CAST(e.tier AS VARCHAR) AS notification_id,
        a.alert_id || ':' || e.stakeholder || ':' || e.channel || ':'
            || CAST(e.tier AS VARCHAR) AS delivery_key,
        a.alert_id,
        a.org_id,
        e.stakeholder,
        e.channel,
        e.tier,
        TO_JSON(OBJECT_CONSTRUCT(
            'alert_id', a.alert_id, 'org_id', a.org_id, 'sku', a.sku, 'po_id', a.po_id,
            'kind', a.kind, 'severity', a.severity, 'message', a.message,
            'stakeholder', e.stakeholder, 'tier', e.tier, 'data_source', a.data_source
        )) AS payload,
        CAST(? AS TIMESTAMP_NTZ) AS created_at
    FROM alerts AS a
    JOIN resq_stage_escalations AS e ON e.alert_id = a.alert_id
) AS s
ON t.delivery_key = s.delivery_key
WHEN NOT MATCHED THEN INSERT (
    notification_id, delivery_key, alert_id, org_id, stakeholder, channel, tier, payload,
    state, attempts, created_at, next_attempt_at
) VALUES (
    s.notification_id, s.delivery_key, s.alert_id, s.org_id, s.stakeholder, s.channel, s.tier,
    s.payload, 'PENDING', 0, s.created_at, s.created_at
);
