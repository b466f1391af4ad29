-- The outbox: one digest per organization, stakeholder, channel and cycle (tier 0), listing
-- every new alert of the cycle routed to that stakeholder and channel, most urgent first
-- (resq.core.urgency.DIGEST: severity, then fewest days left, then item, then alert id).
-- Keyed by delivery_key (cycle, organization, stakeholder, channel, tier) so a receiver
-- never gets the same digest twice. The routes come from resq.core.alerts (staged as
-- resq_stage_routes). The row's alert_id is the digest's first (most urgent) alert.
-- Two statements: the digests are selected (the only place alerts are grouped), then
-- merged from their stage (resq_stage_digests), which keeps the aggregation a plain query
-- on every engine and tool. Parameters: 1 cycle_id; then 1, 2 created_at.
SELECT
    'N-' || d.delivery_key AS notification_id,
    d.delivery_key,
    d.alert_id,
    d.org_id,
    d.stakeholder,
    d.channel,
    -- keys in sorted order, NULLs kept: the same JSON text on every engine; serialized once
    -- (the alerts are an array here, not a JSON text to parse again)
    TO_JSON(OBJECT_CONSTRUCT_KEEP_NULL(
        'alerts', d.alerts, 'count', d.n, 'cycle_id', d.cycle_id, 'kind', 'DIGEST',
        'org_id', d.org_id, 'severity', d.severity, 'stakeholder', d.stakeholder, 'tier', 0
    )) AS payload
FROM (
    SELECT
        x.cycle_id || ':' || x.org_id || ':' || x.stakeholder || ':' || x.channel || ':0'
            AS delivery_key,
        x.cycle_id,
        x.org_id,
        x.stakeholder,
        x.channel,
        MAX(CASE WHEN x.pos = 1 THEN x.alert_id END) AS alert_id,
        MAX(CASE WHEN x.pos = 1 THEN x.severity END) AS severity,
        COUNT(*) AS n,
        ARRAY_AGG(OBJECT_CONSTRUCT_KEEP_NULL(
            'alert_id', x.alert_id, 'data_source', x.data_source,
            'days_remaining', x.days_remaining, 'item_name', x.item_name, 'kind', x.kind,
            'message', x.message, 'org_id', x.org_id, 'po_id', x.po_id,
            'severity', x.severity, 'sku', x.sku
        )) WITHIN GROUP (ORDER BY x.pos) AS alerts
    FROM (
        SELECT
            a.alert_id,
            a.cycle_id,
            a.org_id,
            a.sku,
            a.po_id,
            a.kind,
            a.severity,
            a.message,
            a.data_source,
            s.item_name,
            ROUND(s.days_remaining, 1) AS days_remaining,
            r.stakeholder,
            r.channel,
            ROW_NUMBER() OVER (
                PARTITION BY a.org_id, r.stakeholder, r.channel
                ORDER BY
                    CASE a.severity
                        WHEN 'SEV1' THEN 0 WHEN 'SEV2' THEN 1 WHEN 'SEV3' THEN 2
                        WHEN 'SEV4' THEN 3 ELSE 4
                    END,
                    s.days_remaining NULLS LAST,
                    a.sku NULLS LAST,
                    a.alert_id
            ) AS pos
        FROM alerts AS a
        JOIN resq_stage_routes AS r ON r.org_id = a.org_id AND r.severity = a.severity
        LEFT JOIN stock_analysis AS s ON s.org_id = a.org_id AND s.sku = a.sku
        WHERE a.cycle_id = ?
    ) AS x
    GROUP BY x.cycle_id, x.org_id, x.stakeholder, x.channel
) AS d;

MERGE INTO notifications AS t
USING resq_stage_digests AS s
ON t.delivery_key = s.delivery_key
WHEN NOT MATCHED THEN INSERT (
    notification_id, delivery_key, alert_id, org_id, stakeholder, channel, tier, payload,
    state, attempts, created_at, next_attempt_at
) VALUES (
    s.notification_id, s.delivery_key, s.alert_id, s.org_id, s.stakeholder, s.channel, 0,
    s.payload, 'PENDING', 0, CAST(? AS TIMESTAMP_NTZ), CAST(? AS TIMESTAMP_NTZ)
);
