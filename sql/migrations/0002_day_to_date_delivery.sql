-- 0002: day-to-date delivery on snapshots; last-seen budget, status and learning on holders.
--
-- The live hourly read takes the local day's cumulative totals once (one insights request
-- for every budget holder) and differences them against the previous snapshot of the same
-- local day.  Purchases already kept their day-to-date values (0001); delivery needs them too.

ALTER TABLE autoscaler.campaign_performance_snapshots
    ADD COLUMN day_spend_to_date bigint,
    ADD COLUMN day_impressions_to_date bigint,
    ADD COLUMN day_clicks_to_date bigint,
    ADD CONSTRAINT snapshots_day_delivery_to_date_non_negative CHECK (
        coalesce(day_spend_to_date, 0) >= 0 AND coalesce(day_impressions_to_date, 0) >= 0
        AND coalesce(day_clicks_to_date, 0) >= 0);

COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.day_spend_to_date IS
    'Cumulative local-day spend (minor units) as read at observed_at; NULL when not read live.';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.day_impressions_to_date IS
    'Cumulative local-day impressions as read at observed_at; NULL when not read live.';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.day_clicks_to_date IS
    'Cumulative local-day clicks as read at observed_at; NULL when not read live.';

-- The budget, status and learning state last read from Meta, so the steps after fetch (and
-- the API) read them from the database instead of asking Meta again.
ALTER TABLE autoscaler.budget_holders
    ADD COLUMN daily_budget bigint,
    ADD COLUMN status text,
    ADD COLUMN effective_status text,
    ADD COLUMN learning boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT budget_holders_daily_budget_positive CHECK (daily_budget IS NULL OR daily_budget > 0);

COMMENT ON COLUMN autoscaler.budget_holders.daily_budget IS 'Daily budget (minor units) Meta held at last_seen_at; NULL for lifetime budgets.';
COMMENT ON COLUMN autoscaler.budget_holders.status IS 'Configured status (ACTIVE, PAUSED, ...) at last_seen_at.';
COMMENT ON COLUMN autoscaler.budget_holders.effective_status IS 'Meta effective_status at last_seen_at.';
COMMENT ON COLUMN autoscaler.budget_holders.learning IS 'true when Meta reported the entity (or, for a CBO campaign, one of its ad sets) in the learning phase at last_seen_at.';
