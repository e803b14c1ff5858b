-- 0012: a rule acts on an entity only once its trailing window holds enough hours of data.
--
-- A new account's first live hour has one hour in its 72 h window; with any ROAS acted on, a
-- rule paused entities on "ROAS 0.00x" while their purchases were still being reported.
-- NULL (the default, for new and existing rules): the whole window.

ALTER TABLE autoscaler.scaling_rules
    ADD COLUMN min_window_hours integer,
    ADD CONSTRAINT scaling_rules_min_window_hours_range
        CHECK (min_window_hours IS NULL OR (min_window_hours >= 1 AND min_window_hours <= lookback_hours));

COMMENT ON COLUMN autoscaler.scaling_rules.min_window_hours IS
    'Hours of data an entity''s trailing window must hold before the rule acts on it (1..lookback_hours); NULL: the whole window. Fill the window first with a backfill or hours in shadow mode.';
