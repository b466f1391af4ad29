-- The older alerts a cycle's new alerts supersede: every alert of the same item that is
-- still active (OPEN or ACKED) and belongs to an earlier shortfall episode (its dedup key,
-- KIND:idempotency key, names another key). After a cancellation or a delivery the item's
-- next shortfall raises new alerts; the old episode's are resolved, so one shortfall never
-- has two alerts escalating side by side.
-- Parameter: 1 cycle_id.
SELECT
    o.alert_id,
    o.org_id,
    o.sku,
    o.kind,
    o.state,
    o.po_id,
    MIN(n.alert_id) AS superseded_by
FROM alerts AS n
JOIN alerts AS o
    ON o.org_id = n.org_id
    AND o.sku = n.sku
    AND o.alert_id <> n.alert_id
WHERE n.cycle_id = ?
    AND o.state IN ('OPEN', 'ACKED')
    AND (o.cycle_id IS NULL OR o.cycle_id <> n.cycle_id)
    AND SUBSTR(o.dedup_key, LENGTH(o.kind) + 2) <> SUBSTR(n.dedup_key, LENGTH(n.kind) + 2)
GROUP BY o.alert_id, o.org_id, o.sku, o.kind, o.state, o.po_id
ORDER BY o.alert_id;

-- Resolve the ones selected above, by id (staged as resq_stage_resolved): the rule is not
-- evaluated twice, so exactly the alerts the audit events name are resolved, on an engine
-- where a second statement could see other rows too (Snowflake reads what was committed
-- when each statement starts). Active ones only: a resolved alert stays as it was.
-- Parameter: 1 resolved_at.
UPDATE alerts
SET state = 'RESOLVED', resolved_at = ?
WHERE alert_id IN (SELECT s.alert_id FROM resq_stage_resolved AS s)
    AND state IN ('OPEN', 'ACKED');
