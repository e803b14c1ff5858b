-- 0005: how much evidence a ROAS must rest on before a rule acts on it, and the defaults the
-- backtest supports.
--
-- The seed's rule pauses or scales on any 24-hour ROAS, however few purchases it rests on;
-- the backtest (bench/backtest.py) shows that losing money on noise.  evidence_z asks the
-- ROAS to clear its threshold by that many standard errors of the purchase count.  Rules
-- that exist keep the seed's behaviour (0) until someone changes them; new rules get 2.

ALTER TABLE autoscaler.scaling_rules
    ADD COLUMN evidence_z numeric(4, 2) NOT NULL DEFAULT 0,
    ADD CONSTRAINT scaling_rules_evidence_z_range CHECK (evidence_z BETWEEN 0 AND 5);
ALTER TABLE autoscaler.scaling_rules ALTER COLUMN evidence_z SET DEFAULT 2;

COMMENT ON COLUMN autoscaler.scaling_rules.evidence_z IS
    'A change needs the window''s ROAS to clear its threshold by this many standard errors of the purchase count (Poisson, at the account''s average order value); 0 acts on any ROAS, as the seed''s rule did. Default 2 for new rules.';

-- New rules' defaults follow the backtest (rules.ScalingRule): a 72 h window, a 6 h cooldown,
-- changes allowed during Meta's learning phase.  Existing rules keep their settings.
ALTER TABLE autoscaler.scaling_rules
    ALTER COLUMN lookback_hours SET DEFAULT 72,
    ALTER COLUMN cooldown_hours SET DEFAULT 6,
    ALTER COLUMN allow_changes_during_learning SET DEFAULT true;
COMMENT ON COLUMN autoscaler.scaling_rules.lookback_hours IS 'Length of the trailing window the metrics are summed over. Default 72 (the seed: 24).';
COMMENT ON COLUMN autoscaler.scaling_rules.cooldown_hours IS 'An entity whose budget changed less than this many hours ago is not changed again. Default 6.';
COMMENT ON COLUMN autoscaler.scaling_rules.allow_changes_during_learning IS 'false: entities in Meta''s learning phase are left alone. Default true: the backtest found the hold cost more than the learning it protects.';
