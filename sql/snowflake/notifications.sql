-- resq alerting inside Snowflake: the outbox is delivered through
-- SYSTEM$SEND_SNOWFLAKE_NOTIFICATION and unacknowledged alerts escalate on a schedule.
-- Snowflake dialect, deployed by `resq deploy` after schema.sql; statements run in order.
--
-- Both procedures run the same Python as `resq watch` (resq.alerting.snowflake, through the
-- Snowpark session), so routing, backoff, deduplication and the hash-chained audit log are
-- the core's. The routing is the one stored in alert_routes, alert_timeouts and
-- alert_channels (apply a resq.toml with `resq init --config` against the Snowflake URL). A
-- channel of type "snowflake" names its notification integration there.
--
-- Names the deploy plan provides or renames: the warehouse RESQ_WH and the stage RESQ_CODE
-- holding resq.zip (the resq package).
--
-- The notification integrations and the webhook's secret carry recipients and secrets, so
-- an administrator creates them once, with USAGE on each integration and READ on the secret
-- for the engine role (the role that sends: these procedures and the alert run with its
-- rights): step 6 of sql/snowflake/account_setup.sql (`resq deploy snowflake
-- --account-setup`). This file never holds them.
-- Stakeholder emails are addressed per call (EMAIL_INTEGRATION_CONFIG with the addresses
-- stored from resq.toml); the failed-delivery alert below goes to the email integration's
-- DEFAULT_RECIPIENTS, the administrators.

-- Deliver the due PENDING outbox rows (at least once, backoff persisted in the table; FAILED
-- after max_attempts). Returns the counts as a VARIANT.
CREATE OR REPLACE PROCEDURE resq_deliver_notifications(max_attempts INTEGER)
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'pyarrow', 'numpy==2.*', 'sqlglot==30.*', 'tenacity==9.*')
IMPORTS = ('@resq_code/resq.zip')
HANDLER = 'run'
EXECUTE AS OWNER
AS $$
from resq.alerting.snowflake import deliver


def run(session, max_attempts):
    return deliver(session, max_attempts, settle=True)
$$;

-- Resolve recovered alerts and move unacknowledged ones past their timeout up one tier,
-- queueing the new tier's notifications. Returns what it did as a VARIANT.
CREATE OR REPLACE PROCEDURE resq_escalate_alerts()
COPY GRANTS
RETURNS VARIANT
LANGUAGE PYTHON
RUNTIME_VERSION = '3.11'
PACKAGES = ('snowflake-snowpark-python', 'pyarrow', 'numpy==2.*', 'sqlglot==30.*', 'tenacity==9.*')
IMPORTS = ('@resq_code/resq.zip')
HANDLER = 'run'
EXECUTE AS OWNER
AS $$
from resq.alerting.snowflake import escalate


def run(session):
    return escalate(session, settle=True)
$$;

-- What wakes the tasks: a stream on alerts and one on the outbox. A task's WHEN is checked
-- by cloud services without the warehouse (SYSTEM$STREAM_HAS_DATA, docs.snowflake.com), so
-- an idle installation never starts RESQ_WH for alerting. The procedures consume a stream
-- (advance its offset) only once nothing is left to do: no OPEN alert can still escalate,
-- no PENDING notification waits, so the task keeps running every minute while there is.
CREATE STREAM IF NOT EXISTS resq_alert_changes ON TABLE alerts;

CREATE STREAM IF NOT EXISTS resq_outbox_changes ON TABLE notifications;

-- Escalation every minute while there is work (the escalation timeouts are minutes or more),
-- delivery right after it, so escalated notifications go out in the same run.
CREATE OR REPLACE TASK resq_escalation_task
    WAREHOUSE = resq_wh
    SCHEDULE = '1 MINUTE'
    WHEN SYSTEM$STREAM_HAS_DATA('RESQ_ALERT_CHANGES')
        OR SYSTEM$STREAM_HAS_DATA('RESQ_OUTBOX_CHANGES')
    AS CALL resq_escalate_alerts();

CREATE OR REPLACE TASK resq_delivery_task
    WAREHOUSE = resq_wh
    AFTER resq_escalation_task
    AS CALL resq_deliver_notifications(6);

-- Someone notices when nobody hears: a Snowflake alert emails the administrators when a
-- notification failed for good since the alert last ran. The alert's times are
-- TIMESTAMP_LTZ and audit_log.event_ts is UTC wall time (NTZ): both are converted to UTC
-- NTZ before comparing. Before a first successful run (NULL) every failure counts.
CREATE OR REPLACE ALERT resq_failed_delivery_alert
    WAREHOUSE = resq_wh
    SCHEDULE = '5 MINUTE'
    IF (EXISTS (
        SELECT 1 FROM audit_log
        WHERE action = 'notification.failed'
          AND event_ts > COALESCE(
              CONVERT_TIMEZONE(
                  'UTC', SNOWFLAKE.ALERT.LAST_SUCCESSFUL_SCHEDULED_TIME()
              )::TIMESTAMP_NTZ,
              '1970-01-01'::TIMESTAMP_NTZ
          )
          AND event_ts <= CONVERT_TIMEZONE('UTC', SNOWFLAKE.ALERT.SCHEDULED_TIME())::TIMESTAMP_NTZ
    ))
    THEN CALL SYSTEM$SEND_SNOWFLAKE_NOTIFICATION(
        SNOWFLAKE.NOTIFICATION.TEXT_PLAIN(
            'resq: a notification failed to deliver; run resq health for the reasons'
        ),
        SNOWFLAKE.NOTIFICATION.INTEGRATION('resq_email')
    );

-- Tasks and alerts are created suspended: resume the child task before its root.
ALTER TASK resq_delivery_task RESUME;

ALTER TASK resq_escalation_task RESUME;

ALTER ALERT resq_failed_delivery_alert RESUME;
