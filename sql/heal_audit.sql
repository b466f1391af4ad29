-- One audit event per organization a heal cycle acted for: how many orders it created and
-- alerts it raised there. The event also holds a SHA-256 over the canonical content of
-- those orders and alerts (resq.core.audit.content_digests, over the rows the cycle wrote),
-- and the audit chain hashes the event, so an automated action cannot be added, removed or
-- changed afterwards without detection (`resq audit --verify` recomputes the digests from
-- the tables), while a cycle over a million items writes one small event per organization.
-- Parameters: 1 cycle_id (orders), 2 cycle_id (alerts).
SELECT
    COALESCE(o.org_id, a.org_id) AS org_id,
    COALESCE(o.n, 0) AS orders,
    COALESCE(a.n, 0) AS alerts
FROM (
    SELECT org_id, COUNT(*) AS n
    FROM purchase_orders
    WHERE cycle_id = ?
    GROUP BY org_id
) AS o
FULL OUTER JOIN (
    SELECT org_id, COUNT(*) AS n
    FROM alerts
    WHERE cycle_id = ?
    GROUP BY org_id
) AS a ON a.org_id = o.org_id
ORDER BY 1;
