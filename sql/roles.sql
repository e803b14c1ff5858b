-- Least privilege for the autoscaler's application role: what the DAGs, the API and the CLI
-- need, and nothing that could rewrite the audit trail.
--
-- Run as the owner of the schema `autoscaler` (the role that runs `autoscaler db upgrade`),
-- after every upgrade (it is idempotent; new tables need their grants):
--
--   psql "$OWNER_URL" -f sql/roles.sql
--   psql "$OWNER_URL" -c "CREATE ROLE autoscaler_svc LOGIN PASSWORD '…' IN ROLE autoscaler_app"
--
-- and point the Airflow connection `autoscaler_db` at autoscaler_svc.  The application role:
--   * reads everything in the schema (tables and views);
--   * inserts and updates what the hourly and daily runs, approvals and emergency controls
--     write; it cannot write the append-only histories (action_events, control_events,
--     scaling_rule_revisions) at all: triggers that run with the owner's rights fill them
--     (0008), so every row there follows from a change the guards allowed;
--   * never deletes or truncates anything, and never runs DDL: new snapshot partitions come
--     from autoscaler.ensure_snapshot_partition(), which runs with the owner's rights (0006);
--   * may create temporary tables (the snapshot upsert stages rows in one).
-- Whatever the grants, triggers also refuse deleting or truncating audit rows, editing finished
-- actions, and history rows that no audit trigger wrote.  The owner is not the application:
-- docs/database.md says what the owner can still do and how to keep it away from the app.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'autoscaler_app') THEN
        CREATE ROLE autoscaler_app NOLOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO autoscaler_app', current_database());
END $$;

REVOKE ALL ON ALL TABLES IN SCHEMA autoscaler FROM autoscaler_app;
GRANT USAGE ON SCHEMA autoscaler TO autoscaler_app;
GRANT SELECT ON ALL TABLES IN SCHEMA autoscaler TO autoscaler_app;

-- Rows the runs, the API and the CLI create and change.
GRANT INSERT, UPDATE ON
    autoscaler.ad_accounts,
    autoscaler.budget_holders,
    autoscaler.scaling_rules,
    autoscaler.campaign_performance_snapshots,
    autoscaler.scaling_runs,
    autoscaler.scaling_evaluations,
    autoscaler.scaling_actions,
    autoscaler.optimal_hour_profiles,
    autoscaler.pause_switches
TO autoscaler_app;

-- No INSERT on the histories (action_events, control_events, scaling_rule_revisions): the
-- REVOKE above also takes back the grant older versions of this file gave.

GRANT USAGE ON ALL SEQUENCES IN SCHEMA autoscaler TO autoscaler_app;
GRANT EXECUTE ON FUNCTION autoscaler.ensure_snapshot_partition(date) TO autoscaler_app;
