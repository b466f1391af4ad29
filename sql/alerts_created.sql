-- The alerts one cycle raised (after its MERGE, inside its transaction), counted per
-- organization, sector and severity: what the stakeholder routing needs.
-- Parameter: 1 cycle_id.
SELECT a.org_id, o.sector, a.severity, COUNT(*) AS alerts
FROM alerts AS a
JOIN organizations AS o ON o.org_id = a.org_id
WHERE a.cycle_id = ?
GROUP BY a.org_id, o.sector, a.severity
ORDER BY a.org_id, a.severity;
