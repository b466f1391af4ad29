-- Tenant isolation enforced by Snowflake: a row of an org-scoped table (and of the
-- stock_analysis dynamic table) is visible to the engine role, and otherwise only to users
-- entitled to its organization in RESQ_ENTITLEMENTS, keyed on CURRENT_USER(): Streamlit in
-- Snowflake runs with its owner's rights, so CURRENT_ROLE() cannot tell viewers apart.
-- Rows without an organization (system audit events) need the '*' entitlement.
--
-- CREATE ... IF NOT EXISTS, then SET BODY: a policy attached to tables cannot be replaced,
-- but its body can be changed in place. The CREATE is wrapped in EXECUTE IMMEDIATE only so
-- that sqlglot (which cannot parse CREATE ROW ACCESS POLICY) can check the file.

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
