-- One-time account set-up, run by an administrator (ACCOUNTADMIN, or SYSADMIN and
-- SECURITYADMIN for their parts). Not part of `resq deploy`: it creates roles, the
-- warehouse and the database, and grants account-level privileges. Rename freely; pass the
-- names to `resq deploy snowflake` (--warehouse, --engine-role, --app-role).

-- The engine role owns every resq object, runs the heal task and is exempt from the row
-- access policy. The app role runs the dashboard and sees rows through entitlements.
CREATE ROLE IF NOT EXISTS RESQ_ENGINE;

CREATE ROLE IF NOT EXISTS RESQ_APP;

GRANT ROLE RESQ_ENGINE TO ROLE SYSADMIN;

GRANT ROLE RESQ_APP TO ROLE SYSADMIN;

-- XSMALL is plenty: a refresh of stock_analysis and a heal cycle touch thousands of rows,
-- not millions, and the warehouse suspends itself after a minute of idleness.
CREATE WAREHOUSE IF NOT EXISTS RESQ_WH
    WAREHOUSE_SIZE = XSMALL
    AUTO_SUSPEND = 60
    AUTO_RESUME = TRUE
    INITIALLY_SUSPENDED = TRUE;

GRANT USAGE, OPERATE ON WAREHOUSE RESQ_WH TO ROLE RESQ_ENGINE;

CREATE DATABASE IF NOT EXISTS RESQ;

CREATE SCHEMA IF NOT EXISTS RESQ.CORE;

GRANT OWNERSHIP ON DATABASE RESQ TO ROLE RESQ_ENGINE COPY CURRENT GRANTS;

GRANT OWNERSHIP ON SCHEMA RESQ.CORE TO ROLE RESQ_ENGINE COPY CURRENT GRANTS;

-- Tasks run on a schedule only if their owner may execute tasks.
GRANT EXECUTE TASK ON ACCOUNT TO ROLE RESQ_ENGINE;

-- Python functions and procedures use Anaconda packages: accept the Anaconda terms once
-- (Admin > Billing & Terms in Snowsight).

-- The app role publishes the dashboard with `snow streamlit deploy`.
GRANT CREATE STREAMLIT ON SCHEMA RESQ.CORE TO ROLE RESQ_APP;

GRANT CREATE STAGE ON SCHEMA RESQ.CORE TO ROLE RESQ_APP;
