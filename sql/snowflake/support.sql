-- Tables the Snowflake deployment adds to sql/schema.sql. Idempotent (IF NOT EXISTS).

-- Who may see which organization's rows: the row access policy RESQ_TENANT_POLICY reads
-- this table, keyed on CURRENT_USER(). Streamlit in Snowflake runs with its owner's rights,
-- so CURRENT_ROLE() is the app's role for every viewer; CURRENT_USER() is the viewer.
-- org_id '*' grants every organization (analysts, administrators).
CREATE TABLE IF NOT EXISTS resq_entitlements (
    user_name VARCHAR NOT NULL,
    org_id VARCHAR NOT NULL,
    granted_by VARCHAR,
    granted_at TIMESTAMP_NTZ,
    PRIMARY KEY (user_name, org_id)
);

-- One row per time the heal task found changes on the stream over stock_analysis; the
-- INSERT that reads the stream is what advances its offset.
CREATE TABLE IF NOT EXISTS resq_heal_triggers (
    triggered_at TIMESTAMP_NTZ NOT NULL,
    changed_rows INTEGER NOT NULL
);

-- One row each time an alerting procedure found nothing left to do and consumed the stream
-- that wakes its task (resq_alert_changes, resq_outbox_changes): the INSERT that reads the
-- stream is what advances its offset, so the task's WHEN stays false until the next change.
CREATE TABLE IF NOT EXISTS resq_task_wakeups (
    stream VARCHAR NOT NULL,
    changes INTEGER NOT NULL,
    settled_at TIMESTAMP_NTZ NOT NULL
);

-- The heal lock: every heal commit on Snowflake starts its transaction by updating this one
-- row, so a second, concurrent heal blocks on the row's lock until the first commits (or
-- rolls back) and then MERGEs against the orders the first committed. Snowflake enforces
-- no UNIQUE constraint and runs READ COMMITTED: the keyed MERGE re-checks every key, and the
-- lock keeps two cycles from interleaving their writes (resq.backends.snowflake.backend).
CREATE TABLE IF NOT EXISTS resq_heal_lock (
    id INTEGER NOT NULL,
    holder VARCHAR,
    locked_at TIMESTAMP_NTZ
);

INSERT INTO resq_heal_lock (id) SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM resq_heal_lock);
