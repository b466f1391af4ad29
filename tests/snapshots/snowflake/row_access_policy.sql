-- resq deploy plan for Snowflake: ordered, idempotent steps (resq deploy snowflake).
-- Guarded statements run only when their guard query returns 0.

-- step 1: support: the entitlement mapping the row access policy reads, and the trigger log
CREATE TABLE IF NOT EXISTS resq_entitlements (
    user_name VARCHAR NOT NULL,
    org_id VARCHAR NOT NULL,
    granted_by VARCHAR,
    granted_at TIMESTAMP_NTZ,
    PRIMARY KEY (user_name, org_id)
);
CREATE TABLE IF NOT EXISTS resq_heal_triggers (
    triggered_at TIMESTAMP_NTZ NOT NULL,
    changed_rows INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS resq_task_wakeups (
    stream VARCHAR NOT NULL,
    changes INTEGER NOT NULL,
    settled_at TIMESTAMP_NTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS resq_heal_lock (
    id INTEGER NOT NULL,
    holder VARCHAR,
    locked_at TIMESTAMP_NTZ
);
INSERT INTO resq_heal_lock (id) SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM resq_heal_lock);

-- step 2: policy: the row access policy (created once, its body kept up to date)
EXECUTE IMMEDIATE $$
CREATE ROW ACCESS POLICY IF NOT EXISTS RESQ_TENANT_POLICY
AS (ROW_ORG_ID VARCHAR) RETURNS BOOLEAN -> FALSE
$$;
ALTER ROW ACCESS POLICY RESQ_TENANT_POLICY SET BODY ->
    IS_ROLE_IN_SESSION('RESQ_ENGINE')
    OR EXISTS (
        SELECT 1
        FROM RESQ_ENTITLEMENTS AS e
        WHERE e.user_name = CURRENT_USER()
            AND (e.org_id = '*' OR e.org_id = ROW_ORG_ID)
    );

-- step 3: isolation: the row access policy on every org-scoped table (stock_analysis has it inline)
-- skipped when this returns more than 0: SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.POLICY_REFERENCES(REF_ENTITY_NAME => 'RESQ.CORE.PURCHASE_ORDERS', REF_ENTITY_DOMAIN => 'table')) WHERE POLICY_KIND = 'ROW_ACCESS_POLICY'
ALTER TABLE purchase_orders ADD ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id);
-- skipped when this returns more than 0: SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.POLICY_REFERENCES(REF_ENTITY_NAME => 'RESQ.CORE.AUDIT_LOG', REF_ENTITY_DOMAIN => 'table')) WHERE POLICY_KIND = 'ROW_ACCESS_POLICY'
ALTER TABLE audit_log ADD ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id);
-- skipped when this returns more than 0: SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.POLICY_REFERENCES(REF_ENTITY_NAME => 'RESQ.CORE.ALERTS', REF_ENTITY_DOMAIN => 'table')) WHERE POLICY_KIND = 'ROW_ACCESS_POLICY'
ALTER TABLE alerts ADD ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id);
-- skipped when this returns more than 0: SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.POLICY_REFERENCES(REF_ENTITY_NAME => 'RESQ.CORE.NOTIFICATIONS', REF_ENTITY_DOMAIN => 'table')) WHERE POLICY_KIND = 'ROW_ACCESS_POLICY'
ALTER TABLE notifications ADD ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id);
-- skipped when this returns more than 0: SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.POLICY_REFERENCES(REF_ENTITY_NAME => 'RESQ.CORE.STOCK_HISTORY', REF_ENTITY_DOMAIN => 'table')) WHERE POLICY_KIND = 'ROW_ACCESS_POLICY'
ALTER TABLE stock_history ADD ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id);
