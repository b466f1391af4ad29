-- The heal cycle as a stored procedure: the same engine and core as the library, run
-- inside Snowflake through the procedure's Snowpark session, committing orders, alerts,
-- outbox rows and audit events in one transaction through the keyed MERGE (Snowflake does
-- not enforce UNIQUE: the MERGE is the guarantee). A no-op when nothing needs healing,
-- because triggers can fire spuriously. TRIGGERED_BY = 'STREAM' (the task) first consumes
-- the stream on stock_analysis. Runs with its owner's rights (RESQ_ENGINE), which the row
-- access policy exempts.
CREATE OR REPLACE PROCEDURE RESQ_HEAL(DRY_RUN BOOLEAN, TRIGGERED_BY VARCHAR)
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'numpy==2.*', 'pandas==2.*', 'pyarrow', 'sqlglot==30.*', 'tenacity==9.*')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.heal.heal_procedure'
EXECUTE AS OWNER;

-- The app role's only way to write. Row access policies filter reads only, so RESQ_APP
-- holds no INSERT, UPDATE, DELETE or MERGE on any table; what the dashboard changes goes
-- through these owner's-rights procedures, each of which first checks that the calling
-- user (CURRENT_USER()) is entitled in RESQ_ENTITLEMENTS to the organization it acts for
-- ('*' for shared data and for all organizations), then runs the library's own action,
-- audited as that user.
CREATE OR REPLACE PROCEDURE RESQ_OVERRIDE_ORDER(
    PO_ID VARCHAR, ACTION VARCHAR, QUANTITY FLOAT, ORG_ID VARCHAR
)
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'numpy==2.*', 'pandas==2.*', 'pyarrow', 'sqlglot==30.*', 'tenacity==9.*')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.procedures.override_order_procedure'
EXECUTE AS OWNER;

CREATE OR REPLACE PROCEDURE RESQ_ACK_ALERT(ALERT_ID VARCHAR, ORG_ID VARCHAR)
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'numpy==2.*', 'pandas==2.*', 'pyarrow', 'sqlglot==30.*', 'tenacity==9.*')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.procedures.ack_alert_procedure'
EXECUTE AS OWNER;

CREATE OR REPLACE PROCEDURE RESQ_CHAOS(EVENT VARCHAR)
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'numpy==2.*', 'pandas==2.*', 'pyarrow', 'sqlglot==30.*', 'tenacity==9.*')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.procedures.chaos_procedure'
EXECUTE AS OWNER;

CREATE OR REPLACE PROCEDURE RESQ_HEAL_ORG(ORG_ID VARCHAR, DRY_RUN BOOLEAN)
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'numpy==2.*', 'pandas==2.*', 'pyarrow', 'sqlglot==30.*', 'tenacity==9.*')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.procedures.heal_org_procedure'
EXECUTE AS OWNER;

CREATE OR REPLACE PROCEDURE RESQ_VERIFY_AUDIT(ANCHOR VARCHAR)
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'numpy==2.*', 'pandas==2.*', 'pyarrow', 'sqlglot==30.*', 'tenacity==9.*')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.procedures.verify_audit_procedure'
EXECUTE AS OWNER;
