-- resq deploy plan for Snowflake: ordered, idempotent steps (resq deploy snowflake).
-- Guarded statements run only when their guard query returns 0.

-- step 1: trigger: the stream on stock_analysis and the task that calls RESQ_HEAL when it has data
CREATE STREAM IF NOT EXISTS STOCK_ANALYSIS_CHANGES ON DYNAMIC TABLE STOCK_ANALYSIS;
ALTER TASK IF EXISTS RESQ_HEAL_ON_CHANGE SUSPEND;
CREATE OR REPLACE TASK RESQ_HEAL_ON_CHANGE
    WAREHOUSE = RESQ_WH
    SCHEDULE = '1 MINUTE'
    WHEN SYSTEM$STREAM_HAS_DATA('STOCK_ANALYSIS_CHANGES')
AS
    CALL RESQ_HEAL(FALSE, 'STREAM');
ALTER TASK RESQ_HEAL_ON_CHANGE RESUME;
