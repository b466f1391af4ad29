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
PACKAGES = ('snowflake-snowpark-python', 'numpy', 'pandas', 'pyarrow', 'sqlglot')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.backends.snowflake.handlers.heal_procedure'
EXECUTE AS OWNER;
