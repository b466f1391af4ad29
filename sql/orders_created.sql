-- The orders one cycle created (after its MERGE, inside its transaction), most urgent
-- first: the first 1000 for the report, and how many there were in all.
-- Parameter: 1 cycle_id.
SELECT
    po_id, org_id, sku, vendor, quantity, unit_price, status, priority, rank, reason,
    data_source, stock_source, weather_source, vendor_status_source, demand_source,
    COUNT(*) OVER () AS created_total
FROM purchase_orders
WHERE cycle_id = ?
ORDER BY rank, po_id
LIMIT 1000;
