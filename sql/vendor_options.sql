-- Every vendor that lists an item in a city, with its current (possibly simulated) status.
SELECT
    c.vendor_id,
    c.sku,
    c.city,
    c.price,
    c.lead_time_days,
    COALESCE(s.status, 'UNKNOWN') AS status,
    s.latency_ms,
    COALESCE(s.data_source, 'SIMULATED') AS data_source
FROM vendor_catalog AS c
LEFT JOIN vendor_status AS s ON s.vendor_id = c.vendor_id;
