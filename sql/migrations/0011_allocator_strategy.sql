-- 0011: how a rule decides -- the seed's thresholds, or the allocator (docs/allocator.md) --
-- and what the allocator's decisions rest on, in columns SQL users can read.
--
-- Rules that exist keep the thresholds they were written for (strategy 'thresholds'); new
-- rules get the allocator, which the backtest supports (docs/benchmarks.md), and its settings
-- the defaults the backtest was run with.

ALTER TABLE autoscaler.scaling_rules
    ADD COLUMN strategy text NOT NULL DEFAULT 'thresholds',
    ADD COLUMN target_marginal_roas numeric(8, 4) NOT NULL DEFAULT 1.0,
    ADD COLUMN allocator_daily_budget bigint,
    ADD COLUMN max_step numeric(5, 4) NOT NULL DEFAULT 0.15,
    ADD COLUMN pause_probability numeric(6, 5) NOT NULL DEFAULT 0.95,
    ADD CONSTRAINT scaling_rules_strategy_known CHECK (strategy IN ('allocator', 'thresholds')),
    ADD CONSTRAINT scaling_rules_target_marginal_roas_range CHECK (target_marginal_roas > 0 AND target_marginal_roas <= 100),
    ADD CONSTRAINT scaling_rules_allocator_budget_on_account_rules
        CHECK (allocator_daily_budget IS NULL
               OR (scope_level = 'account' AND allocator_daily_budget > 0 AND allocator_daily_budget <= 1000000000000000)),
    ADD CONSTRAINT scaling_rules_max_step_range CHECK (max_step > 0 AND max_step <= 0.5),
    ADD CONSTRAINT scaling_rules_pause_probability_range CHECK (pause_probability >= 0.5 AND pause_probability < 1);
ALTER TABLE autoscaler.scaling_rules ALTER COLUMN strategy SET DEFAULT 'allocator';

COMMENT ON COLUMN autoscaler.scaling_rules.strategy IS
    'How the rule decides: thresholds (the seed''s ROAS thresholds and multipliers, with evidence_z) or allocator (each holder''s response curve; budgets toward where marginal ROAS meets target_marginal_roas). Default allocator; rules that existed before 0011 keep thresholds.';
COMMENT ON COLUMN autoscaler.scaling_rules.target_marginal_roas IS
    'Allocator: the marginal ROAS (return on the next unit of budget) each holder is taken to; 1.0 is the most profit.';
COMMENT ON COLUMN autoscaler.scaling_rules.allocator_daily_budget IS
    'Allocator, account rules only: a total daily budget (minor units) spread so every holder''s marginal ROAS is equal; NULL: each holder toward target_marginal_roas.';
COMMENT ON COLUMN autoscaler.scaling_rules.max_step IS
    'Allocator: the largest relative budget change in one step (0.15: 15%, under Meta''s 20% learning reset).';
COMMENT ON COLUMN autoscaler.scaling_rules.pause_probability IS
    'Allocator: pause a holder only when the posterior probability that even min_daily_budget loses money is at least this.';

-- What each allocator decision rested on (NULL for threshold decisions).
ALTER TABLE autoscaler.scaling_actions
    ADD COLUMN curve_elasticity numeric(6, 4),
    ADD COLUMN curve_elasticity_sd numeric(6, 4),
    ADD COLUMN curve_roas numeric(12, 4),
    ADD COLUMN curve_purchases numeric(14, 2),
    ADD COLUMN marginal_roas numeric(12, 4),
    ADD COLUMN marginal_roas_new numeric(12, 4),
    ADD COLUMN target_marginal_roas numeric(12, 4),
    ADD COLUMN curve_target_budget bigint;
COMMENT ON COLUMN autoscaler.scaling_actions.curve_elasticity IS 'Allocator: the posterior mean elasticity e of the holder''s curve, revenue = A * budget^e.';
COMMENT ON COLUMN autoscaler.scaling_actions.curve_elasticity_sd IS 'Allocator: its posterior standard deviation (the interval is mean +- 2 sd).';
COMMENT ON COLUMN autoscaler.scaling_actions.curve_roas IS 'Allocator: posterior mean ROAS at the budget before the change.';
COMMENT ON COLUMN autoscaler.scaling_actions.curve_purchases IS 'Allocator: the (recency-weighted) purchases the curve rests on.';
COMMENT ON COLUMN autoscaler.scaling_actions.marginal_roas IS 'Allocator: marginal ROAS (e x ROAS) at the budget before the change.';
COMMENT ON COLUMN autoscaler.scaling_actions.marginal_roas_new IS 'Allocator: marginal ROAS the curve predicts at the new budget.';
COMMENT ON COLUMN autoscaler.scaling_actions.target_marginal_roas IS 'Allocator: the marginal ROAS the holder is taken to (the rule''s, or the one a total budget sets).';
COMMENT ON COLUMN autoscaler.scaling_actions.curve_target_budget IS 'Allocator: the budget (minor units) where the marginal ROAS meets the goal; steps head there.';

-- The curve is part of the decision: like every other decision column (0008), never rewritten.
CREATE FUNCTION autoscaler.scaling_actions_guard_curve() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.curve_elasticity, NEW.curve_elasticity_sd, NEW.curve_roas, NEW.curve_purchases,
        NEW.marginal_roas, NEW.marginal_roas_new, NEW.target_marginal_roas, NEW.curve_target_budget)
       IS DISTINCT FROM
       (OLD.curve_elasticity, OLD.curve_elasticity_sd, OLD.curve_roas, OLD.curve_purchases,
        OLD.marginal_roas, OLD.marginal_roas_new, OLD.target_marginal_roas, OLD.curve_target_budget) THEN
        RAISE EXCEPTION 'scaling_actions: action % records a decision; its curve is not rewritten', OLD.action_id;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER scaling_actions_guard_curve BEFORE UPDATE ON autoscaler.scaling_actions
    FOR EACH ROW EXECUTE FUNCTION autoscaler.scaling_actions_guard_curve();
