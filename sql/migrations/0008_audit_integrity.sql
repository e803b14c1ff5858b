-- 0008: an audit trail the application role cannot forge (issue 17, items 1-4).
--
--   * The histories (action_events, control_events, scaling_rule_revisions) are written only
--     by the database: the triggers that fill them run with their owner's rights (SECURITY
--     DEFINER, fixed search_path), sql/roles.sql no longer grants INSERT on them, and a guard
--     refuses any row not inserted by one of those triggers, whoever tries it.
--   * A scaling action's row changes only with its status: who decided, when and why can be
--     written only as it is approved or rejected, the outcome only as it is executed, fails or
--     drifts, and the approval deadline only at creation.  The database, not the caller, says
--     when a decision and an execution happened.  An action that needs approval cannot be
--     created already approved.
--   * TRUNCATE of an audit table is refused (row triggers do not see it).
--   * Every change of a control is an event: re-locking by someone else, changing a lock's or
--     a switch's reason, releasing a switch that was not engaged.
--
-- What the owner of the schema can still do is in docs/database.md ("What the database
-- guarantees, and to whom").

-- ---------------------------------------------------------------------------------------
-- Histories are written by triggers only
-- ---------------------------------------------------------------------------------------

CREATE FUNCTION autoscaler.refuse_direct_history() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- Depth 1 is this trigger on a statement someone ran; the audit triggers that write a
    -- history row fire it at depth 2 or more.
    IF pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION '%.% is written by the database only', TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Change the row it records (an action''s status, a control, a rule) instead.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER action_events_written_by_trigger
    BEFORE INSERT ON autoscaler.action_events
    FOR EACH ROW EXECUTE FUNCTION autoscaler.refuse_direct_history();
CREATE TRIGGER control_events_written_by_trigger
    BEFORE INSERT ON autoscaler.control_events
    FOR EACH ROW EXECUTE FUNCTION autoscaler.refuse_direct_history();
CREATE TRIGGER scaling_rule_revisions_written_by_trigger
    BEFORE INSERT ON autoscaler.scaling_rule_revisions
    FOR EACH ROW EXECUTE FUNCTION autoscaler.refuse_direct_history();

-- The writers run as the owner, so the application role needs no INSERT on the histories.
-- session_user (the login) is unaffected by SECURITY DEFINER, so actors stay who they were.
ALTER FUNCTION autoscaler.scaling_actions_record_event() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION autoscaler.record_pause_switch() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION autoscaler.record_entity_lock() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION autoscaler.scaling_rules_record_revision() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION
    autoscaler.scaling_actions_record_event(),
    autoscaler.record_pause_switch(),
    autoscaler.record_entity_lock(),
    autoscaler.scaling_rules_record_revision()
FROM PUBLIC;

-- ---------------------------------------------------------------------------------------
-- Scaling actions: every column is guarded
-- ---------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION autoscaler.scaling_actions_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('rejected', 'expired', 'executed', 'failed', 'drifted', 'simulated') THEN
        RAISE EXCEPTION 'scaling_actions: action % is % and can no longer be changed', OLD.action_id, OLD.status
            USING HINT = 'Terminal actions are part of the audit trail; create a compensating action instead.';
    END IF;
    IF (NEW.action_id, NEW.account_id, NEW.entity_id, NEW.entity_level, NEW.run_hour, NEW.rule_id,
        NEW.rule_revision, NEW.origin, NEW.action_type, NEW.mode, NEW.currency, NEW.budget_before,
        NEW.budget_after, NEW.status_before, NEW.status_after, NEW.window_start, NEW.window_end,
        NEW.window_spend, NEW.window_revenue, NEW.window_impressions, NEW.window_clicks,
        NEW.window_conversions, NEW.roas, NEW.ctr, NEW.reasoning, NEW.requires_approval,
        NEW.compensates_action_id, NEW.created_at, NEW.base_before, NEW.base_after, NEW.approval_deadline)
       IS DISTINCT FROM
       (OLD.action_id, OLD.account_id, OLD.entity_id, OLD.entity_level, OLD.run_hour, OLD.rule_id,
        OLD.rule_revision, OLD.origin, OLD.action_type, OLD.mode, OLD.currency, OLD.budget_before,
        OLD.budget_after, OLD.status_before, OLD.status_after, OLD.window_start, OLD.window_end,
        OLD.window_spend, OLD.window_revenue, OLD.window_impressions, OLD.window_clicks,
        OLD.window_conversions, OLD.roas, OLD.ctr, OLD.reasoning, OLD.requires_approval,
        OLD.compensates_action_id, OLD.created_at, OLD.base_before, OLD.base_after, OLD.approval_deadline) THEN
        RAISE EXCEPTION 'scaling_actions: action % records a decision; only its status and outcome may change',
            OLD.action_id
            USING HINT = 'The approval deadline is set when the action is created and never moves.';
    END IF;
    IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
        -- Who decided, and what Meta answered, are written with the status change they belong
        -- to and never rewritten afterwards.
        IF (NEW.decided_by, NEW.decided_at, NEW.decision_reason, NEW.executed_at, NEW.meta_response,
            NEW.error_message, NEW.status_changed_at)
           IS DISTINCT FROM
           (OLD.decided_by, OLD.decided_at, OLD.decision_reason, OLD.executed_at, OLD.meta_response,
            OLD.error_message, OLD.status_changed_at) THEN
            RAISE EXCEPTION 'scaling_actions: action % is %; its decision and outcome change only with its status',
                OLD.action_id, OLD.status;
        END IF;
        RETURN NEW;
    END IF;
    IF NOT ((OLD.status = 'pending_approval' AND NEW.status IN ('approved', 'rejected', 'expired'))
            OR (OLD.status = 'approved' AND NEW.status IN ('executed', 'failed', 'drifted'))) THEN
        RAISE EXCEPTION 'scaling_actions: action % cannot go from % to %', OLD.action_id, OLD.status, NEW.status;
    END IF;
    IF OLD.status = 'pending_approval' THEN
        IF (NEW.executed_at, NEW.meta_response, NEW.error_message)
           IS DISTINCT FROM (OLD.executed_at, OLD.meta_response, OLD.error_message) THEN
            RAISE EXCEPTION 'scaling_actions: action % has not been executed; it has no outcome yet', OLD.action_id;
        END IF;
        IF NEW.status = 'expired' THEN
            IF (NEW.decided_by, NEW.decided_at, NEW.decision_reason)
               IS DISTINCT FROM (OLD.decided_by, OLD.decided_at, OLD.decision_reason) THEN
                RAISE EXCEPTION 'scaling_actions: action % expired: nobody decided it', OLD.action_id;
            END IF;
        ELSE
            IF NEW.decided_by IS NULL OR length(btrim(NEW.decided_by)) = 0 THEN
                RAISE EXCEPTION 'scaling_actions: action % is % by nobody: decided_by is required',
                    OLD.action_id, NEW.status;
            END IF;
            NEW.decided_at := now();  -- the database's clock, not the caller's
        END IF;
    ELSE
        IF (NEW.decided_by, NEW.decided_at, NEW.decision_reason)
           IS DISTINCT FROM (OLD.decided_by, OLD.decided_at, OLD.decision_reason) THEN
            RAISE EXCEPTION 'scaling_actions: action % was decided by %; that is not rewritten',
                OLD.action_id, OLD.decided_by;
        END IF;
        NEW.executed_at := CASE WHEN NEW.status = 'executed' THEN now() END;
    END IF;
    NEW.status_changed_at := clock_timestamp();
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION autoscaler.scaling_actions_check_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Unknown statuses are left to the CHECK scaling_actions_status_known.
    IF NEW.status IN ('rejected', 'expired', 'executed', 'failed', 'drifted') THEN
        RAISE EXCEPTION 'scaling_actions: a new action starts as pending_approval, approved or simulated, not %',
            NEW.status;
    END IF;
    -- A person's approval is a status change, recorded as one; it cannot come with the row.
    IF NEW.status = 'approved' AND NEW.requires_approval THEN
        RAISE EXCEPTION 'scaling_actions: an action that requires approval starts as pending_approval';
    END IF;
    IF NEW.status <> 'pending_approval' AND NEW.approval_deadline IS NOT NULL THEN
        RAISE EXCEPTION 'scaling_actions: only a pending action has an approval deadline';
    END IF;
    IF NEW.executed_at IS NOT NULL OR NEW.meta_response IS NOT NULL OR NEW.error_message IS NOT NULL THEN
        RAISE EXCEPTION 'scaling_actions: a new action has no outcome yet';
    END IF;
    NEW.status_changed_at := clock_timestamp();
    NEW.created_at := clock_timestamp();
    RETURN NEW;
END $$;

-- ---------------------------------------------------------------------------------------
-- TRUNCATE is refused on the audit tables (row-level DELETE triggers never see it)
-- ---------------------------------------------------------------------------------------

CREATE FUNCTION autoscaler.refuse_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is an audit table: it is never truncated', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER ad_accounts_refuse_truncate BEFORE TRUNCATE ON autoscaler.ad_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION autoscaler.refuse_truncate();
CREATE TRIGGER budget_holders_refuse_truncate BEFORE TRUNCATE ON autoscaler.budget_holders
    FOR EACH STATEMENT EXECUTE FUNCTION autoscaler.refuse_truncate();
CREATE TRIGGER scaling_rules_refuse_truncate BEFORE TRUNCATE ON autoscaler.scaling_rules
    FOR EACH STATEMENT EXECUTE FUNCTION autoscaler.refuse_truncate();
CREATE TRIGGER scaling_rule_revisions_refuse_truncate BEFORE TRUNCATE ON autoscaler.scaling_rule_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION autoscaler.refuse_truncate();
CREATE TRIGGER scaling_runs_refuse_truncate BEFORE TRUNCATE ON autoscaler.scaling_runs
    FOR EACH STATEMENT EXECUTE FUNCTION autoscaler.refuse_truncate();
CREATE TRIGGER scaling_evaluations_refuse_truncate BEFORE TRUNCATE ON autoscaler.scaling_evaluations
    FOR EACH STATEMENT EXECUTE FUNCTION autoscaler.refuse_truncate();
CREATE TRIGGER scaling_actions_refuse_truncate BEFORE TRUNCATE ON autoscaler.scaling_actions
    FOR EACH STATEMENT EXECUTE FUNCTION autoscaler.refuse_truncate();
CREATE TRIGGER action_events_refuse_truncate BEFORE TRUNCATE ON autoscaler.action_events
    FOR EACH STATEMENT EXECUTE FUNCTION autoscaler.refuse_truncate();
CREATE TRIGGER pause_switches_refuse_truncate BEFORE TRUNCATE ON autoscaler.pause_switches
    FOR EACH STATEMENT EXECUTE FUNCTION autoscaler.refuse_truncate();
CREATE TRIGGER control_events_refuse_truncate BEFORE TRUNCATE ON autoscaler.control_events
    FOR EACH STATEMENT EXECUTE FUNCTION autoscaler.refuse_truncate();

-- ---------------------------------------------------------------------------------------
-- Every change of a control is an event
-- ---------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION autoscaler.record_pause_switch() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- Not only flips: a new reason, or a release of a switch that was not engaged (which
    -- wipes its reason), is a change someone made and is recorded with who made it.
    IF TG_OP = 'INSERT'
       OR (NEW.paused, NEW.reason, NEW.changed_by) IS DISTINCT FROM (OLD.paused, OLD.reason, OLD.changed_by) THEN
        INSERT INTO autoscaler.control_events (control, scope, engaged, actor, reason)
        VALUES ('pause_switch', NEW.scope, NEW.paused,
                -- changed_by names the actor only when the change set it; else whoever ran the SQL.
                coalesce(nullif(current_setting('autoscaler.actor', true), ''),
                         CASE WHEN TG_OP = 'INSERT' OR NEW.changed_by IS DISTINCT FROM OLD.changed_by
                              THEN NEW.changed_by END,
                         session_user),
                coalesce(nullif(current_setting('autoscaler.detail', true), ''), NEW.reason));
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION autoscaler.record_entity_lock() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (NEW.locked, NEW.locked_by, NEW.locked_at, NEW.lock_reason)
       IS DISTINCT FROM (OLD.locked, OLD.locked_by, OLD.locked_at, OLD.lock_reason) THEN
        INSERT INTO autoscaler.control_events (control, scope, engaged, actor, reason)
        VALUES ('entity_lock', NEW.entity_id, NEW.locked,
                coalesce(nullif(current_setting('autoscaler.actor', true), ''),
                         CASE WHEN NEW.locked_by IS DISTINCT FROM OLD.locked_by THEN NEW.locked_by END,
                         session_user),
                coalesce(nullif(current_setting('autoscaler.detail', true), ''), NEW.lock_reason));
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER budget_holders_record_lock ON autoscaler.budget_holders;
CREATE TRIGGER budget_holders_record_lock
    AFTER UPDATE OF locked, locked_by, locked_at, lock_reason ON autoscaler.budget_holders
    FOR EACH ROW EXECUTE FUNCTION autoscaler.record_entity_lock();

COMMENT ON TABLE autoscaler.action_events IS
    'Append-only history of every status change of every action, written only by the trigger on scaling_actions (nobody may insert, update, delete or truncate); actor and detail come from the transaction settings autoscaler.actor and autoscaler.detail (else the database user).';
COMMENT ON TABLE autoscaler.control_events IS
    'Append-only history of the emergency controls: every change of a kill switch (pause_switches) and of an entity lock (budget_holders.locked, locked_by, lock_reason), written only by trigger.';
