-- resq deploy plan for Snowflake: ordered, idempotent steps (resq deploy snowflake).
-- Guarded statements run only when their guard query returns 0.

-- step 1: procedure: RESQ_HEAL, the heal cycle
CREATE OR REPLACE PROCEDURE RESQ_HEAL(DRY_RUN BOOLEAN, TRIGGERED_BY VARCHAR)
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'numpy', 'pandas', 'pyarrow', 'sqlglot')
IMPORTS = ('@RESQ_CODE/resq.zip')
HANDLER = 'resq.backends.snowflake.handlers.heal_procedure'
EXECUTE AS OWNER;
