-- The active alerts whose shortfall is gone: the item they are about is OK now (an order
-- was received, stock was loaded or counted). Resolved by every heal cycle and after every
-- receipt, each with an audit event naming it. A DATA_ERROR alert stays: more stock does
-- not fix bad data.
-- Parameters: 1 and 2 org_id (NULL for every organization).
SELECT
    l.alert_id,
    l.org_id,
    l.sku,
    l.kind,
    l.state,
    l.po_id,
    a.status,
    a.days_remaining
FROM alerts AS l
JOIN stock_analysis AS a ON a.org_id = l.org_id AND a.sku = l.sku
WHERE l.state IN ('OPEN', 'ACKED')
    AND l.kind IN ('CRITICAL_STOCK', 'NO_VENDOR', 'BUDGET_HOLD', 'ALLOTMENT_EXHAUSTED')
    AND a.status = 'OK'
    AND (CAST(? AS VARCHAR) IS NULL OR l.org_id = ?)
ORDER BY l.alert_id;

-- Resolve the ones selected above, by id (staged as resq_stage_resolved): the rule is not
-- evaluated twice, so exactly the alerts the audit events name are resolved, on an engine
-- where a second statement could see other rows too (Snowflake reads what was committed
-- when each statement starts). Active ones only: a resolved alert stays as it was.
-- Parameter: 1 resolved_at.
UPDATE alerts
SET state = 'RESOLVED', resolved_at = ?
WHERE alert_id IN (SELECT s.alert_id FROM resq_stage_resolved AS s)
    AND state IN ('OPEN', 'ACKED');
