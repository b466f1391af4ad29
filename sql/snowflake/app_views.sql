-- What the app role reads in place of the dynamic table's inputs. stock_analysis is an
-- INCREMENTAL dynamic table with a stream on it, and a row access policy that calls
-- CURRENT_USER() on a base table can block incremental refresh ("Troubleshoot dynamic table
-- permission issues", docs.snowflake.com): so organizations, inventory_master and
-- demand_forecast carry no policy and are engine-only, and the app reads them through these
-- secure views, which carry RESQ_TENANT_POLICY. The Snowflake backend reads the views when it runs for the app
-- (`reads=app`). The other org-scoped tables are no dynamic table's input and keep the
-- policy on the table. Views hold no data: replaced on every deploy, grants kept.

CREATE OR REPLACE SECURE VIEW app_organizations
    COPY GRANTS
    WITH ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id)
AS SELECT * FROM organizations;

CREATE OR REPLACE SECURE VIEW app_inventory_master
    COPY GRANTS
    WITH ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id)
AS SELECT * FROM inventory_master;

CREATE OR REPLACE SECURE VIEW app_demand_forecast
    COPY GRANTS
    WITH ROW ACCESS POLICY RESQ_TENANT_POLICY ON (org_id)
AS SELECT * FROM demand_forecast;
