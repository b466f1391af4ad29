-- The automated trigger: a stream records every change to the stock_analysis dynamic table,
-- and a task checks it every minute. The WHEN condition is evaluated without a warehouse:
-- the task only runs (and resumes RESQ_WH) when the stream has data. The procedure reads
-- the stream in a DML statement, which advances its offset, and does nothing when no row
-- needs a decision.

CREATE STREAM IF NOT EXISTS STOCK_ANALYSIS_CHANGES ON DYNAMIC TABLE STOCK_ANALYSIS;

CREATE OR REPLACE TASK RESQ_HEAL_ON_CHANGE
    WAREHOUSE = RESQ_WH
    SCHEDULE = '1 MINUTE'
    WHEN SYSTEM$STREAM_HAS_DATA('STOCK_ANALYSIS_CHANGES')
AS
    CALL RESQ_HEAL(FALSE, 'STREAM');

-- A task is created suspended.
ALTER TASK RESQ_HEAL_ON_CHANGE RESUME;
