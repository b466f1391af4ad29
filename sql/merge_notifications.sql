-- The outbox: one row per alert, stakeholder, channel and tier, keyed by delivery_key so a
-- receiver never gets the same notification twice.
MERGE INTO notifications AS t
USING resq_stage_notifications AS s
ON t.delivery_key = s.delivery_key
WHEN NOT MATCHED THEN INSERT (
    notification_id, delivery_key, alert_id, org_id, stakeholder, channel, tier, payload,
    state, attempts, created_at, next_attempt_at
) VALUES (
    s.notification_id, s.delivery_key, s.alert_id, s.org_id, s.stakeholder, s.channel,
    s.tier, s.payload, 'PENDING', 0, s.created_at, s.created_at
);
