-- The heal cycle's keyed, conditional MERGE: one purchase order per idempotency key, never
-- updated by a later cycle (a re-run, an overlapping or a concurrent cycle inserts nothing
-- for a key that exists). The key is not enforced (schema.sql), so this MERGE is the
-- guarantee, on every backend; the heal lock (heal_transaction) makes two concurrent
-- commits conflict and retry, and the retry finds the key.
-- The stale-decision rule: a staged decision is placed only if the state it was decided on
-- still holds when the MERGE runs, inside the commit's transaction: the item's stock and
-- daily consumption are still the ones the decision read, no order of the item is open, and
-- its count of closed orders (the shortfall episode in the key) has not moved. A receipt,
-- cancellation, load or chaos edit committed after the cycle read its inputs fails one of
-- these, and the row is skipped as stale (re-planned by the next cycle, never ordered twice).
-- Source: the staged decisions of the cycle (resq_stage_orders), one row per key: MERGE
-- inserts every unmatched source row, so two staged rows with one key would be two orders
-- where UNIQUE is not enforced (Snowflake). The most urgent row of a key is kept. The order
-- id is derived from the key here, in the warehouse: resq.core.ordering.po_id computes the
-- same. The reason is written as its typed columns, as staged (resq.core.reasons).
-- Cost: the staged rows are wide (the reason's columns), so only narrow sets are joined to
-- them (semi-joins: the states that still hold, the keys staged more than once), and the
-- window that picks a key's most urgent row runs over the rows of repeated keys alone (a
-- cycle stages each key once; sorting every staged row was a third of this statement).
MERGE INTO purchase_orders AS t
USING (
    WITH fresh AS (
        -- the decided-on states that still hold: one row per distinct state of the staged
        -- rows, so this narrow set, not the staged rows with all their columns, is joined
        SELECT c.org_id, c.sku, c.current_stock, c.daily_consumption, c.episode
        FROM (
            SELECT DISTINCT s.org_id, s.sku, s.current_stock, s.daily_consumption, s.episode
            FROM resq_stage_orders AS s
        ) AS c
        JOIN inventory_master AS i ON i.org_id = c.org_id AND i.sku = c.sku
        LEFT JOIN (
            SELECT
                p.org_id,
                p.sku,
                COUNT_IF(p.status IN ('PLACED', 'PENDING_APPROVAL', 'PENDING_VENDOR')) AS open_orders,
                COUNT_IF(p.status IN ('RECEIVED', 'CANCELLED')) AS closed_orders
            FROM purchase_orders AS p
            JOIN (SELECT DISTINCT s.org_id, s.sku FROM resq_stage_orders AS s) AS k
                ON k.org_id = p.org_id AND k.sku = p.sku
            GROUP BY p.org_id, p.sku
        ) AS h ON h.org_id = c.org_id AND h.sku = c.sku
        WHERE i.current_stock = c.current_stock
            AND i.daily_consumption = c.daily_consumption
            AND COALESCE(h.open_orders, 0) = 0
            AND COALESCE(h.closed_orders, 0) = c.episode
    ),
    repeated AS (
        SELECT r.idempotency_key
        FROM resq_stage_orders AS r
        GROUP BY r.idempotency_key
        HAVING COUNT(*) > 1
    )
    -- a key staged once: its row, if its state still holds
    SELECT
        d.idempotency_key, d.org_id, d.sku, d.vendor, d.quantity, d.unit_price,
        d.order_status, d.priority, d.rank,
        d.reason_rule, d.reason_status, d.reason_days_remaining, d.reason_threshold_days,
        d.reason_target_days, d.reason_daily_demand, d.reason_lead_time_days,
        d.reason_weather_delay_days, d.reason_weather, d.reason_quantity_needed,
        d.reason_open_order_qty, d.reason_vendor, d.reason_vendor_latency_ms,
        d.reason_rejected_vendors, d.reason_rejected_whys, d.reason_caps_applied,
        d.reason_action, d.reason_vendor_lead_time_days, d.reason_vendor_price,
        d.reason_vendor_reliability, d.reason_pack_size, d.reason_min_order_qty,
        d.reason_min_order_qty_raised,
        d.data_source, d.stock_source,
        d.weather_source, d.vendor_status_source, d.demand_source, d.cycle_id, d.created_at
    FROM resq_stage_orders AS d
    WHERE EXISTS (
            SELECT 1 FROM fresh AS f
            WHERE f.org_id = d.org_id AND f.sku = d.sku AND f.current_stock = d.current_stock
                AND f.daily_consumption = d.daily_consumption AND f.episode = d.episode
        )
        AND NOT EXISTS (SELECT 1 FROM repeated AS r WHERE r.idempotency_key = d.idempotency_key)
    UNION ALL
    -- a key staged more than once: the most urgent of its rows whose state still holds
    SELECT
        d.idempotency_key, d.org_id, d.sku, d.vendor, d.quantity, d.unit_price,
        d.order_status, d.priority, d.rank,
        d.reason_rule, d.reason_status, d.reason_days_remaining, d.reason_threshold_days,
        d.reason_target_days, d.reason_daily_demand, d.reason_lead_time_days,
        d.reason_weather_delay_days, d.reason_weather, d.reason_quantity_needed,
        d.reason_open_order_qty, d.reason_vendor, d.reason_vendor_latency_ms,
        d.reason_rejected_vendors, d.reason_rejected_whys, d.reason_caps_applied,
        d.reason_action, d.reason_vendor_lead_time_days, d.reason_vendor_price,
        d.reason_vendor_reliability, d.reason_pack_size, d.reason_min_order_qty,
        d.reason_min_order_qty_raised,
        d.data_source, d.stock_source,
        d.weather_source, d.vendor_status_source, d.demand_source, d.cycle_id, d.created_at
    FROM resq_stage_orders AS d
    WHERE EXISTS (
            SELECT 1 FROM fresh AS f
            WHERE f.org_id = d.org_id AND f.sku = d.sku AND f.current_stock = d.current_stock
                AND f.daily_consumption = d.daily_consumption AND f.episode = d.episode
        )
        AND EXISTS (SELECT 1 FROM repeated AS r WHERE r.idempotency_key = d.idempotency_key)
    QUALIFY ROW_NUMBER() OVER (
        PARTITION BY d.idempotency_key ORDER BY d.rank, d.quantity DESC, d.vendor
    ) = 1
) AS s
ON t.idempotency_key = s.idempotency_key
WHEN NOT MATCHED THEN INSERT (
    po_id, idempotency_key, org_id, sku, vendor, quantity, unit_price, status, priority, rank,
    reason_rule, reason_status, reason_days_remaining, reason_threshold_days,
    reason_target_days, reason_daily_demand, reason_lead_time_days,
    reason_weather_delay_days, reason_weather, reason_quantity_needed,
    reason_open_order_qty, reason_vendor, reason_vendor_latency_ms, reason_rejected_vendors,
    reason_rejected_whys, reason_caps_applied, reason_action, reason_vendor_lead_time_days,
    reason_vendor_price, reason_vendor_reliability, reason_pack_size, reason_min_order_qty,
    reason_min_order_qty_raised,
    data_source, stock_source, weather_source, vendor_status_source, demand_source,
    cycle_id, created_at, updated_at
) VALUES (
    'PO-' || UPPER(SUBSTR(SHA2(s.idempotency_key, 256), 1, 20)), s.idempotency_key, s.org_id, s.sku, s.vendor, s.quantity, s.unit_price,
    s.order_status, s.priority, s.rank,
    s.reason_rule, s.reason_status, s.reason_days_remaining, s.reason_threshold_days,
    s.reason_target_days, s.reason_daily_demand, s.reason_lead_time_days,
    s.reason_weather_delay_days, s.reason_weather, s.reason_quantity_needed,
    s.reason_open_order_qty, s.reason_vendor, s.reason_vendor_latency_ms,
    CAST(s.reason_rejected_vendors AS ARRAY(VARCHAR)),
    CAST(s.reason_rejected_whys AS ARRAY(VARCHAR)),
    CAST(s.reason_caps_applied AS ARRAY(VARCHAR)), s.reason_action,
    s.reason_vendor_lead_time_days, s.reason_vendor_price, s.reason_vendor_reliability,
    s.reason_pack_size, s.reason_min_order_qty, s.reason_min_order_qty_raised,
    s.data_source, s.stock_source,
    s.weather_source, s.vendor_status_source, s.demand_source, s.cycle_id,
    s.created_at, s.created_at
);
