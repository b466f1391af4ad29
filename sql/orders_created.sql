-- The orders one cycle created (after its MERGE, inside its transaction), most urgent
-- first: the first 1000 for the report, and how many there were in all (counted apart: a
-- window over every created row would carry all of their columns).
-- Parameters: 1 and 2 cycle_id.
SELECT
    po_id, org_id, sku, vendor, quantity, unit_price, status, priority, rank,
    reason_rule, reason_status, reason_days_remaining, reason_threshold_days,
    reason_target_days, reason_daily_demand, reason_lead_time_days,
    reason_weather_delay_days, reason_weather, reason_quantity_needed,
    reason_open_order_qty, reason_vendor, reason_vendor_latency_ms, reason_rejected_vendors,
    reason_rejected_whys, reason_caps_applied, reason_action, reason_vendor_lead_time_days,
    reason_vendor_price, reason_vendor_reliability, reason_pack_size, reason_min_order_qty,
    reason_min_order_qty_raised, reason_resourced_from, reason_resourced_to,
    reason_resourced_cycle_id, reason_resourced_at, reason_resourced_waited_s, reason_legacy,
    data_source, stock_source, weather_source, vendor_status_source, demand_source,
    (SELECT COUNT(*) FROM purchase_orders WHERE cycle_id = ?) AS created_total
FROM purchase_orders
WHERE cycle_id = ?
ORDER BY rank, po_id
LIMIT 1000;
