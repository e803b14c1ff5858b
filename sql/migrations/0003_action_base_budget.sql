-- 0003: the base budget on actions, for time-of-day adjustments that never compound.
--
-- An entity under time optimisation has a base daily budget (budget_holders.base_daily_budget):
-- performance scaling changes the base, and the budget written to Meta for the hour now running
-- is the base times that hour's multiplier.  Each action records the base it found and the base
-- it leaves, so executing it can move the base, and so the audit trail shows both.

ALTER TABLE autoscaler.scaling_actions
    ADD COLUMN base_before bigint,
    ADD COLUMN base_after bigint,
    ADD CONSTRAINT scaling_actions_base_positive CHECK (
        (base_before IS NULL OR base_before > 0) AND (base_after IS NULL OR base_after > 0)),
    ADD CONSTRAINT scaling_actions_base_both_or_neither CHECK ((base_before IS NULL) = (base_after IS NULL));

COMMENT ON COLUMN autoscaler.scaling_actions.base_before IS
    'Base daily budget (minor units) of a time-optimised entity when decided; NULL when the entity is not under time optimisation.';
COMMENT ON COLUMN autoscaler.scaling_actions.base_after IS
    'Base daily budget the action leaves once executed (performance scaling changes it; time_adjust and time_restore keep it).';

-- The base is part of the decision: immutable like the rest of it.
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
        NEW.compensates_action_id, NEW.created_at, NEW.base_before, NEW.base_after)
       IS DISTINCT FROM
       (OLD.action_id, OLD.account_id, OLD.entity_id, OLD.entity_level, OLD.run_hour, OLD.rule_id,
        OLD.rule_revision, OLD.origin, OLD.action_type, OLD.mode, OLD.currency, OLD.budget_before,
        OLD.budget_after, OLD.status_before, OLD.status_after, OLD.window_start, OLD.window_end,
        OLD.window_spend, OLD.window_revenue, OLD.window_impressions, OLD.window_clicks,
        OLD.window_conversions, OLD.roas, OLD.ctr, OLD.reasoning, OLD.requires_approval,
        OLD.compensates_action_id, OLD.created_at, OLD.base_before, OLD.base_after) THEN
        RAISE EXCEPTION 'scaling_actions: action % records a decision; only its status and outcome may change',
            OLD.action_id;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF NOT ((OLD.status = 'pending_approval' AND NEW.status IN ('approved', 'rejected', 'expired'))
                OR (OLD.status = 'approved' AND NEW.status IN ('executed', 'failed', 'drifted'))) THEN
            RAISE EXCEPTION 'scaling_actions: action % cannot go from % to %', OLD.action_id, OLD.status, NEW.status;
        END IF;
        NEW.status_changed_at := clock_timestamp();
    END IF;
    RETURN NEW;
END $$;
