-- resq deploy plan for Snowflake: ordered, idempotent steps (resq deploy snowflake).
-- Guarded statements run only when their guard query returns 0.

-- step 1: procedure: RESQ_HEAL, the heal cycle, and the write procedures the app role calls
CREATE OR REPLACE PROCEDURE RESQ_HEAL(DRY_RUN BOOLEAN, TRIGGERED_BY VARCHAR)
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'numpy==2.*', 'pandas==2.*', 'pyarrow', 'sqlglot==30.*', 'tenacity==9.*')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.inside.heal.heal_procedure'
EXECUTE AS OWNER;
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
