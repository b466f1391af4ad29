-- How many rows need a decision (CRITICAL, or WARNING and running below the critical
-- threshold before an order could arrive), of organizations that exist: the rows
-- sql/candidates.sql reads in the same snapshot, covered by an open order or not. The heal
-- cycle's `covered` (reported, not re-ordered) is this count minus the candidates (the
-- rows no open order covers), so no statement joins the analysis with every open order.
-- Parameters: 1 and 2 org_id (NULL for every organization).
SELECT COUNT(*) AS need_decision
FROM stock_analysis AS a
JOIN organizations AS o ON o.org_id = a.org_id
WHERE (
        a.status = 'CRITICAL'
        OR (
            a.status = 'WARNING'
            AND a.days_remaining - (a.lead_time_days + a.weather_delay_days) <= a.critical_days
        )
    )
    AND (CAST(? AS VARCHAR) IS NULL OR a.org_id = ?);
