-- One-time account set-up, run by an administrator in this order (ACCOUNTADMIN, or
-- SYSADMIN and SECURITYADMIN for their parts). Not part of `resq deploy`: it creates the
-- roles, the warehouse and the database, and grants what only an administrator can grant
-- (account-level privileges, the SNOWFLAKE database role, the warehouse, the notification
-- integrations). `resq deploy snowflake --account-setup` prints it with your names; pass the
-- same names to `resq deploy snowflake` (--warehouse, --engine-role, --app-role, ...).

-- 1. Roles. The engine role owns every resq object, runs the tasks and the alert, owns the
-- owner's-rights procedures and is exempt from the row access policy. The app role owns
-- the Streamlit app and reads through entitlements; it writes only through procedures.
CREATE ROLE IF NOT EXISTS RESQ_ENGINE;

CREATE ROLE IF NOT EXISTS RESQ_APP;

GRANT ROLE RESQ_ENGINE TO ROLE SYSADMIN;

GRANT ROLE RESQ_APP TO ROLE SYSADMIN;

-- 2. The warehouse. XSMALL is plenty: a refresh of stock_analysis and a heal cycle touch
-- thousands of rows, not millions, and it suspends itself after a minute of idleness.
CREATE WAREHOUSE IF NOT EXISTS RESQ_WH
    WAREHOUSE_SIZE = XSMALL
    AUTO_SUSPEND = 60
    AUTO_RESUME = TRUE
    INITIALLY_SUSPENDED = TRUE;

GRANT USAGE, OPERATE ON WAREHOUSE RESQ_WH TO ROLE RESQ_ENGINE;

GRANT USAGE ON WAREHOUSE RESQ_WH TO ROLE RESQ_APP;

-- 3. The database and schema, owned by the engine role (which then grants the app role
-- what it needs on the objects inside, as `resq deploy` creates them).
CREATE DATABASE IF NOT EXISTS RESQ;

CREATE SCHEMA IF NOT EXISTS RESQ.CORE;

GRANT OWNERSHIP ON DATABASE RESQ TO ROLE RESQ_ENGINE COPY CURRENT GRANTS;

GRANT OWNERSHIP ON SCHEMA RESQ.CORE TO ROLE RESQ_ENGINE COPY CURRENT GRANTS;

-- 4. Account-level privileges of the engine role: tasks and alerts run on a schedule only
-- if their owner may execute them (EXECUTE TASK, EXECUTE ALERT), and the alert's condition
-- calls SNOWFLAKE.ALERT.LAST_SUCCESSFUL_SCHEDULED_TIME(), which needs the SNOWFLAKE
-- database role ALERT_VIEWER.
GRANT EXECUTE TASK ON ACCOUNT TO ROLE RESQ_ENGINE;

GRANT EXECUTE ALERT ON ACCOUNT TO ROLE RESQ_ENGINE;

GRANT DATABASE ROLE SNOWFLAKE.ALERT_VIEWER TO ROLE RESQ_ENGINE;

-- 5. The app role owns the Streamlit app: without READ SESSION, CURRENT_USER() is NULL in
-- Streamlit in Snowflake and the row access policy shows a viewer nothing. It publishes
-- the app with `snow streamlit deploy`.
GRANT READ SESSION ON ACCOUNT TO ROLE RESQ_APP;

GRANT CREATE STREAMLIT ON SCHEMA RESQ.CORE TO ROLE RESQ_APP;

GRANT CREATE STAGE ON SCHEMA RESQ.CORE TO ROLE RESQ_APP;

-- 6. Delivery through Snowflake notifications (skip this part if resq delivers alerts
-- itself). Edit the recipients and the webhook secret first: they are examples. The role
-- that sends (the engine role: the delivery procedure and the alert run with its rights)
-- needs USAGE on each integration and READ on the webhook's secret.
CREATE NOTIFICATION INTEGRATION IF NOT EXISTS resq_email
    TYPE = EMAIL
    ENABLED = TRUE
    ALLOWED_RECIPIENTS = ('stores@example.org', 'ms@example.org', 'admin@example.org')
    -- who the failed-delivery alert writes to (stakeholders are addressed per message)
    DEFAULT_RECIPIENTS = ('admin@example.org');

CREATE SECRET IF NOT EXISTS RESQ.CORE.resq_slack_secret
    TYPE = GENERIC_STRING
    SECRET_STRING = 'T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX';

CREATE NOTIFICATION INTEGRATION IF NOT EXISTS resq_slack
    TYPE = WEBHOOK
    ENABLED = TRUE
    WEBHOOK_URL = 'https://hooks.slack.com/services/SNOWFLAKE_WEBHOOK_SECRET'
    WEBHOOK_SECRET = RESQ.CORE.resq_slack_secret
    WEBHOOK_BODY_TEMPLATE = '{"text": "SNOWFLAKE_WEBHOOK_MESSAGE"}'
    WEBHOOK_HEADERS = ('Content-Type' = 'application/json');

GRANT USAGE ON INTEGRATION resq_email TO ROLE RESQ_ENGINE;

GRANT USAGE ON INTEGRATION resq_slack TO ROLE RESQ_ENGINE;

GRANT READ ON SECRET RESQ.CORE.resq_slack_secret TO ROLE RESQ_ENGINE;

-- 7. Python functions and procedures use Anaconda packages: accept the Anaconda terms once
-- (Admin > Billing & Terms in Snowsight).
