-- The alerts one cycle raised (after its MERGE, inside its transaction), with the sector
-- for routing and the audit details. Parameter: 1 cycle_id.
SELECT
    a.alert_id, a.org_id, o.sector, a.sku, a.po_id, a.kind, a.severity, a.message,
    a.data_source, a.cycle_id,
    TO_JSON(OBJECT_CONSTRUCT(
        'kind', a.kind, 'severity', a.severity, 'sku', a.sku, 'po_id', a.po_id,
        'message', a.message, 'data_source', a.data_source
    )) AS details
FROM alerts AS a
JOIN organizations AS o ON o.org_id = a.org_id
WHERE a.cycle_id = ?
ORDER BY a.alert_id;
