-- Every vendor that lists an item in a city, with its current (possibly simulated) status,
-- its type (which resq.core.sourcing authorizes per sector and category), reliability,
-- minimum order quantity and pack (NULL: the item's own). resq.core.ordering.choose_vendors
-- picks among them.
SELECT
    c.vendor_id,
    c.sku,
    c.city,
    c.price,
    c.lead_time_days,
    COALESCE(s.status, 'UNKNOWN') AS status,
    s.latency_ms,
    COALESCE(s.data_source, 'SIMULATED') AS data_source,
    COALESCE(v.vendor_type, 'GENERAL') AS vendor_type,
    v.reliability,
    c.min_order_qty,
    c.pack_size
FROM vendor_catalog AS c
LEFT JOIN vendors AS v ON v.vendor_id = c.vendor_id
LEFT JOIN vendor_status AS s ON s.vendor_id = c.vendor_id;
