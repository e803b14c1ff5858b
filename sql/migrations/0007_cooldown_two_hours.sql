-- 0007: new rules wait 2 hours after a change, not 6.
--
-- The backtest (bench/backtest.py, 5 scenarios x 5 seeds x 14 days) with the evidence
-- threshold of 0005 in place: a 6 h cooldown kept the default below the seed's rule on the
-- all-winner scenarios; 2 h beats it in every scenario and beats doing nothing in every one.
-- Two hours is the least that lets the next decision see a whole hour at the new budget (a
-- change made after hour H's run applies from H+1; the run after H+2 may act again).
-- Rules that exist keep their cooldown.
ALTER TABLE autoscaler.scaling_rules ALTER COLUMN cooldown_hours SET DEFAULT 2;
COMMENT ON COLUMN autoscaler.scaling_rules.cooldown_hours IS 'An entity whose budget changed less than this many hours ago is not changed again. Default 2 (the seed: none).';
