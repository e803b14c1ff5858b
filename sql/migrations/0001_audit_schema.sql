-- 0001: the audit schema of the ad-budget autoscaler.
--
-- Applied by `autoscaler db upgrade` (Alembic revision 0001, which executes this file).
-- Everything lives in the schema `autoscaler`, so the tables can share a database with
-- Airflow's metadata without colliding.  Requires PostgreSQL 15 or newer
-- (UNIQUE ... NULLS NOT DISTINCT).
--
-- Conventions
--   * Money is bigint in the account currency's minor units (cents for USD, yen for JPY),
--     exactly as Meta's Graph API expresses budgets.  It becomes a decimal only at the edges
--     people see.
--   * Hours are stored in UTC (`hour_start`, `run_hour`) with the account's local date, hour
--     and weekday beside them.
--   * CTR is a ratio (0.035), never a percent, inside the database.
--   * Constraints are named so that a violation says which rule was broken.

CREATE SCHEMA IF NOT EXISTS autoscaler;
COMMENT ON SCHEMA autoscaler IS
    'Ad-budget autoscaler: rules, snapshots, decisions and their audit trail.';

-- ---------------------------------------------------------------------------------------
-- Ad accounts and the budget holders inside them
-- ---------------------------------------------------------------------------------------

CREATE TABLE autoscaler.ad_accounts (
    account_id      text        PRIMARY KEY,
    name            text,
    currency        char(3)     NOT NULL,
    timezone_name   text        NOT NULL,
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ad_accounts_account_id_format CHECK (account_id ~ '^act_[0-9]{1,20}$'),
    CONSTRAINT ad_accounts_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT ad_accounts_timezone_not_blank CHECK (length(btrim(timezone_name)) > 0)
);
COMMENT ON TABLE autoscaler.ad_accounts IS
    'Meta ad accounts the autoscaler knows, with the currency its money columns are in and the time zone its local hours are in.';
COMMENT ON COLUMN autoscaler.ad_accounts.account_id IS 'Meta ad account id, act_<digits>.';
COMMENT ON COLUMN autoscaler.ad_accounts.name IS 'Account name as Meta reports it.';
COMMENT ON COLUMN autoscaler.ad_accounts.currency IS 'ISO 4217 code; every money column for this account is in its minor units (offset 1 for JPY, KRW, ...; 100 otherwise).';
COMMENT ON COLUMN autoscaler.ad_accounts.timezone_name IS 'IANA time zone of the account (Meta timezone_name); local hours and days are in this zone.';
COMMENT ON COLUMN autoscaler.ad_accounts.first_seen_at IS 'When the autoscaler first recorded the account.';
COMMENT ON COLUMN autoscaler.ad_accounts.updated_at IS 'When name, currency or time zone were last refreshed from Meta.';

CREATE TABLE autoscaler.budget_holders (
    entity_id           text        PRIMARY KEY,
    account_id          text        NOT NULL REFERENCES autoscaler.ad_accounts (account_id),
    level               text        NOT NULL,
    campaign_id         text        NOT NULL,
    name                text,
    base_daily_budget   bigint,
    base_budget_set_at  timestamptz,
    locked              boolean     NOT NULL DEFAULT false,
    locked_by           text,
    locked_at           timestamptz,
    lock_reason         text,
    first_seen_at       timestamptz NOT NULL DEFAULT now(),
    last_seen_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT budget_holders_entity_id_format CHECK (entity_id ~ '^[0-9]{1,20}$'),
    CONSTRAINT budget_holders_campaign_id_format CHECK (campaign_id ~ '^[0-9]{1,20}$'),
    CONSTRAINT budget_holders_level_known CHECK (level IN ('campaign', 'adset')),
    CONSTRAINT budget_holders_campaign_is_itself CHECK (level <> 'campaign' OR campaign_id = entity_id),
    CONSTRAINT budget_holders_base_budget_positive CHECK (base_daily_budget IS NULL OR base_daily_budget > 0),
    CONSTRAINT budget_holders_lock_has_actor CHECK (NOT locked OR (locked_by IS NOT NULL AND locked_at IS NOT NULL))
);
CREATE INDEX budget_holders_account_idx ON autoscaler.budget_holders (account_id);
COMMENT ON TABLE autoscaler.budget_holders IS
    'Campaigns (campaign budget optimization) and ad sets (ad set budgets) that hold a budget: the entities the autoscaler changes.';
COMMENT ON COLUMN autoscaler.budget_holders.entity_id IS 'Meta id of the campaign or ad set that holds the budget.';
COMMENT ON COLUMN autoscaler.budget_holders.account_id IS 'Ad account the entity belongs to.';
COMMENT ON COLUMN autoscaler.budget_holders.level IS 'campaign (CBO: the campaign holds the budget) or adset (the ad set holds it).';
COMMENT ON COLUMN autoscaler.budget_holders.campaign_id IS 'The campaign the entity is or belongs to; campaign-scoped rules match on it.';
COMMENT ON COLUMN autoscaler.budget_holders.name IS 'Name as Meta reports it.';
COMMENT ON COLUMN autoscaler.budget_holders.base_daily_budget IS 'Daily budget (minor units) before any time-of-day adjustment; performance scaling changes it, hourly adjustments multiply it and never compound.';
COMMENT ON COLUMN autoscaler.budget_holders.base_budget_set_at IS 'When base_daily_budget last changed.';
COMMENT ON COLUMN autoscaler.budget_holders.locked IS 'true: the autoscaler leaves this entity alone (operator lock).';
COMMENT ON COLUMN autoscaler.budget_holders.locked_by IS 'Who set the lock.';
COMMENT ON COLUMN autoscaler.budget_holders.locked_at IS 'When the lock was set.';
COMMENT ON COLUMN autoscaler.budget_holders.lock_reason IS 'Why the lock was set.';
COMMENT ON COLUMN autoscaler.budget_holders.first_seen_at IS 'When the autoscaler first saw the entity.';
COMMENT ON COLUMN autoscaler.budget_holders.last_seen_at IS 'When the entity was last seen in a fetch.';

-- ---------------------------------------------------------------------------------------
-- Scaling rules
-- ---------------------------------------------------------------------------------------

CREATE TABLE autoscaler.scaling_rules (
    rule_id                         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_name                       text          NOT NULL,
    account_id                      text          NOT NULL REFERENCES autoscaler.ad_accounts (account_id),
    scope_level                     text          NOT NULL DEFAULT 'account',
    scope_entity_id                 text,
    enabled                         boolean       NOT NULL DEFAULT true,
    roas_scale_up_aggressive        numeric(8, 4) NOT NULL DEFAULT 4.0,
    roas_scale_up                   numeric(8, 4) NOT NULL DEFAULT 3.0,
    roas_scale_down                 numeric(8, 4) NOT NULL DEFAULT 1.5,
    roas_pause                      numeric(8, 4) NOT NULL DEFAULT 1.0,
    ctr_scale_up_aggressive         numeric(6, 5) NOT NULL DEFAULT 0.03,
    multiplier_aggressive_up        numeric(6, 4) NOT NULL DEFAULT 1.5,
    multiplier_up                   numeric(6, 4) NOT NULL DEFAULT 1.2,
    multiplier_down                 numeric(6, 4) NOT NULL DEFAULT 0.7,
    min_daily_budget                bigint        NOT NULL,
    max_daily_budget                bigint        NOT NULL,
    require_approval_threshold      bigint,
    pause_requires_approval         boolean       NOT NULL DEFAULT false,
    min_impressions                 integer       NOT NULL DEFAULT 1000,
    min_conversions                 integer       NOT NULL DEFAULT 0,
    lookback_hours                  integer       NOT NULL DEFAULT 24,
    cooldown_hours                  integer       NOT NULL DEFAULT 24,
    allow_changes_during_learning   boolean       NOT NULL DEFAULT false,
    account_daily_budget_cap        bigint,
    time_optimization_enabled       boolean       NOT NULL DEFAULT false,
    time_min_confidence             numeric(4, 3) NOT NULL DEFAULT 0.7,
    time_multiplier_min             numeric(4, 3) NOT NULL DEFAULT 0.5,
    time_multiplier_max             numeric(4, 3) NOT NULL DEFAULT 1.5,
    revision                        integer       NOT NULL DEFAULT 1,
    created_at                      timestamptz   NOT NULL DEFAULT now(),
    created_by                      text          NOT NULL DEFAULT session_user,
    updated_at                      timestamptz   NOT NULL DEFAULT now(),
    updated_by                      text          NOT NULL DEFAULT session_user,
    deleted_at                      timestamptz,
    CONSTRAINT scaling_rules_rule_name_not_blank CHECK (length(btrim(rule_name)) > 0),
    CONSTRAINT scaling_rules_scope_level_known CHECK (scope_level IN ('account', 'campaign', 'adset')),
    CONSTRAINT scaling_rules_scope_entity_matches_level
        CHECK ((scope_level = 'account') = (scope_entity_id IS NULL)),
    CONSTRAINT scaling_rules_scope_entity_id_format
        CHECK (scope_entity_id IS NULL OR scope_entity_id ~ '^[0-9]{1,20}$'),
    CONSTRAINT scaling_rules_roas_thresholds_positive CHECK (roas_pause > 0),
    CONSTRAINT scaling_rules_roas_thresholds_ordered CHECK (
        roas_pause <= roas_scale_down
        AND roas_scale_down <= roas_scale_up
        AND roas_scale_up <= roas_scale_up_aggressive),
    CONSTRAINT scaling_rules_ctr_is_ratio CHECK (ctr_scale_up_aggressive >= 0 AND ctr_scale_up_aggressive <= 1),
    CONSTRAINT scaling_rules_multiplier_up_increases CHECK (multiplier_up > 1 AND multiplier_up <= 3),
    CONSTRAINT scaling_rules_multiplier_aggressive_at_least_up
        CHECK (multiplier_aggressive_up >= multiplier_up AND multiplier_aggressive_up <= 3),
    CONSTRAINT scaling_rules_multiplier_down_decreases CHECK (multiplier_down >= 0.1 AND multiplier_down < 1),
    CONSTRAINT scaling_rules_min_budget_positive CHECK (min_daily_budget > 0),
    CONSTRAINT scaling_rules_min_budget_le_max CHECK (min_daily_budget <= max_daily_budget),
    CONSTRAINT scaling_rules_approval_threshold_non_negative
        CHECK (require_approval_threshold IS NULL OR require_approval_threshold >= 0),
    CONSTRAINT scaling_rules_min_impressions_non_negative CHECK (min_impressions >= 0),
    CONSTRAINT scaling_rules_min_conversions_non_negative CHECK (min_conversions >= 0),
    CONSTRAINT scaling_rules_lookback_hours_range CHECK (lookback_hours BETWEEN 1 AND 168),
    CONSTRAINT scaling_rules_cooldown_hours_range CHECK (cooldown_hours BETWEEN 0 AND 720),
    CONSTRAINT scaling_rules_account_cap_on_account_rules
        CHECK (account_daily_budget_cap IS NULL OR (scope_level = 'account' AND account_daily_budget_cap > 0)),
    CONSTRAINT scaling_rules_time_confidence_range CHECK (time_min_confidence BETWEEN 0 AND 1),
    CONSTRAINT scaling_rules_time_multipliers_bracket_one CHECK (
        time_multiplier_min > 0 AND time_multiplier_min <= 1
        AND time_multiplier_max >= 1 AND time_multiplier_max <= 3),
    CONSTRAINT scaling_rules_deleted_rules_disabled CHECK (deleted_at IS NULL OR NOT enabled)
);
-- One enabled rule per scope: two would make "which rule decided" ambiguous.
CREATE UNIQUE INDEX scaling_rules_one_enabled_per_scope
    ON autoscaler.scaling_rules (account_id, scope_level, coalesce(scope_entity_id, ''))
    WHERE enabled;
CREATE INDEX scaling_rules_account_idx ON autoscaler.scaling_rules (account_id) WHERE deleted_at IS NULL;

COMMENT ON TABLE autoscaler.scaling_rules IS
    'Scaling rules: one per account, optionally overridden for one campaign or ad set. Money in the account currency''s minor units; CTR as a ratio.';
COMMENT ON COLUMN autoscaler.scaling_rules.rule_id IS 'Rule identifier.';
COMMENT ON COLUMN autoscaler.scaling_rules.rule_name IS 'Human name of the rule.';
COMMENT ON COLUMN autoscaler.scaling_rules.account_id IS 'Ad account the rule applies to.';
COMMENT ON COLUMN autoscaler.scaling_rules.scope_level IS 'account (applies to every budget holder of the account), campaign or adset (overrides the account rule for that entity).';
COMMENT ON COLUMN autoscaler.scaling_rules.scope_entity_id IS 'The campaign or ad set a campaign- or adset-scoped rule applies to; NULL for account rules.';
COMMENT ON COLUMN autoscaler.scaling_rules.enabled IS 'Only enabled rules are evaluated; at most one enabled rule per scope.';
COMMENT ON COLUMN autoscaler.scaling_rules.roas_scale_up_aggressive IS 'ROAS above which (with CTR above ctr_scale_up_aggressive) the budget scales up aggressively. Default 4.0.';
COMMENT ON COLUMN autoscaler.scaling_rules.roas_scale_up IS 'ROAS above which the budget scales up. Default 3.0.';
COMMENT ON COLUMN autoscaler.scaling_rules.roas_scale_down IS 'ROAS below which (and at or above roas_pause) the budget scales down. Default 1.5.';
COMMENT ON COLUMN autoscaler.scaling_rules.roas_pause IS 'ROAS below which the entity is paused. Default 1.0.';
COMMENT ON COLUMN autoscaler.scaling_rules.ctr_scale_up_aggressive IS 'CTR (a ratio: 0.03 = 3%) above which, with ROAS above roas_scale_up_aggressive, scaling is aggressive.';
COMMENT ON COLUMN autoscaler.scaling_rules.multiplier_aggressive_up IS 'Budget multiplier for scale_up_aggressive. Default 1.5 (+50%).';
COMMENT ON COLUMN autoscaler.scaling_rules.multiplier_up IS 'Budget multiplier for scale_up. Default 1.2 (+20%).';
COMMENT ON COLUMN autoscaler.scaling_rules.multiplier_down IS 'Budget multiplier for scale_down. Default 0.7 (-30%).';
COMMENT ON COLUMN autoscaler.scaling_rules.min_daily_budget IS 'Lowest daily budget the rule may set (minor units).';
COMMENT ON COLUMN autoscaler.scaling_rules.max_daily_budget IS 'Highest daily budget the rule may set (minor units).';
COMMENT ON COLUMN autoscaler.scaling_rules.require_approval_threshold IS 'A change whose new daily budget exceeds this (minor units) waits for human approval; NULL: never.';
COMMENT ON COLUMN autoscaler.scaling_rules.pause_requires_approval IS 'true: pauses wait for human approval.';
COMMENT ON COLUMN autoscaler.scaling_rules.min_impressions IS 'Fewer impressions than this in the lookback window: no change. Default 1000.';
COMMENT ON COLUMN autoscaler.scaling_rules.min_conversions IS 'Fewer conversions than this in the lookback window: no change. Default 0 (the seed''s rule has no such floor).';
COMMENT ON COLUMN autoscaler.scaling_rules.lookback_hours IS 'Length of the trailing window the metrics are summed over. Default 24.';
COMMENT ON COLUMN autoscaler.scaling_rules.cooldown_hours IS 'An entity whose budget changed less than this many hours ago is not changed again. Default 24.';
COMMENT ON COLUMN autoscaler.scaling_rules.allow_changes_during_learning IS 'false: entities in Meta''s learning phase are left alone.';
COMMENT ON COLUMN autoscaler.scaling_rules.account_daily_budget_cap IS 'Account rules only: total daily budget the account''s scale-ups may reach (minor units); the room goes to the highest ROAS first. NULL: no cap.';
COMMENT ON COLUMN autoscaler.scaling_rules.time_optimization_enabled IS 'true: hourly budgets follow the entity''s optimal-hour profile when its confidence is high enough.';
COMMENT ON COLUMN autoscaler.scaling_rules.time_min_confidence IS 'Profile confidence (0..1) needed before time-of-day adjustments apply.';
COMMENT ON COLUMN autoscaler.scaling_rules.time_multiplier_min IS 'Lowest hourly multiplier of the base budget (0 < min <= 1).';
COMMENT ON COLUMN autoscaler.scaling_rules.time_multiplier_max IS 'Highest hourly multiplier of the base budget (1 <= max <= 3).';
COMMENT ON COLUMN autoscaler.scaling_rules.revision IS 'Incremented on every update; decisions record the revision they used (see scaling_rule_revisions).';
COMMENT ON COLUMN autoscaler.scaling_rules.created_at IS 'When the rule was created.';
COMMENT ON COLUMN autoscaler.scaling_rules.created_by IS 'Who created the rule.';
COMMENT ON COLUMN autoscaler.scaling_rules.updated_at IS 'When the rule last changed.';
COMMENT ON COLUMN autoscaler.scaling_rules.updated_by IS 'Who last changed the rule.';
COMMENT ON COLUMN autoscaler.scaling_rules.deleted_at IS 'Set when the rule is deleted: rules are never removed, because actions refer to them.';

CREATE TABLE autoscaler.scaling_rule_revisions (
    rule_id     bigint      NOT NULL REFERENCES autoscaler.scaling_rules (rule_id),
    revision    integer     NOT NULL,
    settings    jsonb       NOT NULL,
    changed_at  timestamptz NOT NULL,
    changed_by  text        NOT NULL,
    PRIMARY KEY (rule_id, revision)
);
COMMENT ON TABLE autoscaler.scaling_rule_revisions IS
    'Every version of every rule, written by trigger, so a decision can be explained by the exact settings it used.';
COMMENT ON COLUMN autoscaler.scaling_rule_revisions.rule_id IS 'The rule.';
COMMENT ON COLUMN autoscaler.scaling_rule_revisions.revision IS 'scaling_rules.revision at the time.';
COMMENT ON COLUMN autoscaler.scaling_rule_revisions.settings IS 'The whole rule row as JSON.';
COMMENT ON COLUMN autoscaler.scaling_rule_revisions.changed_at IS 'When this revision was written.';
COMMENT ON COLUMN autoscaler.scaling_rule_revisions.changed_by IS 'Who wrote it (scaling_rules.updated_by).';

CREATE FUNCTION autoscaler.scaling_rules_bump_revision() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.revision := OLD.revision + 1;
    NEW.updated_at := now();
    NEW.created_at := OLD.created_at;
    NEW.created_by := OLD.created_by;
    RETURN NEW;
END $$;
CREATE TRIGGER scaling_rules_bump_revision
    BEFORE UPDATE ON autoscaler.scaling_rules
    FOR EACH ROW EXECUTE FUNCTION autoscaler.scaling_rules_bump_revision();

CREATE FUNCTION autoscaler.scaling_rules_record_revision() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO autoscaler.scaling_rule_revisions (rule_id, revision, settings, changed_at, changed_by)
    VALUES (NEW.rule_id, NEW.revision, to_jsonb(NEW), NEW.updated_at, NEW.updated_by);
    RETURN NULL;
END $$;
CREATE TRIGGER scaling_rules_record_revision
    AFTER INSERT OR UPDATE ON autoscaler.scaling_rules
    FOR EACH ROW EXECUTE FUNCTION autoscaler.scaling_rules_record_revision();

CREATE FUNCTION autoscaler.refuse_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is an audit table: rows are never deleted', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING HINT = 'Rules are deleted by setting deleted_at; actions end in a terminal status.';
END $$;
CREATE TRIGGER scaling_rules_refuse_delete
    BEFORE DELETE ON autoscaler.scaling_rules
    FOR EACH ROW EXECUTE FUNCTION autoscaler.refuse_delete();
CREATE TRIGGER scaling_rule_revisions_refuse_delete
    BEFORE DELETE ON autoscaler.scaling_rule_revisions
    FOR EACH ROW EXECUTE FUNCTION autoscaler.refuse_delete();

-- ---------------------------------------------------------------------------------------
-- Hourly performance snapshots (partitioned by month of hour_start)
-- ---------------------------------------------------------------------------------------

CREATE TABLE autoscaler.campaign_performance_snapshots (
    entity_id               text        NOT NULL,
    hour_start              timestamptz NOT NULL,
    account_id              text        NOT NULL,
    local_date              date        NOT NULL,
    local_hour              smallint    NOT NULL,
    local_weekday           smallint    NOT NULL,
    spend                   bigint      NOT NULL,
    impressions             bigint      NOT NULL,
    clicks                  bigint      NOT NULL,
    conversions             bigint      NOT NULL,
    revenue                 bigint      NOT NULL,
    revenue_source          text        NOT NULL,
    day_conversions_to_date bigint,
    day_revenue_to_date     bigint,
    daily_budget            bigint,
    status                  text,
    effective_status        text,
    observed_at             timestamptz NOT NULL,
    PRIMARY KEY (entity_id, hour_start),
    CONSTRAINT snapshots_hour_aligned CHECK (extract(epoch FROM hour_start)::bigint % 3600 = 0),
    CONSTRAINT snapshots_local_hour_range CHECK (local_hour BETWEEN 0 AND 23),
    CONSTRAINT snapshots_local_weekday_range CHECK (local_weekday BETWEEN 0 AND 6),
    CONSTRAINT snapshots_metrics_non_negative CHECK (
        spend >= 0 AND impressions >= 0 AND clicks >= 0 AND conversions >= 0 AND revenue >= 0),
    CONSTRAINT snapshots_day_to_date_non_negative CHECK (
        coalesce(day_conversions_to_date, 0) >= 0 AND coalesce(day_revenue_to_date, 0) >= 0),
    CONSTRAINT snapshots_budget_positive CHECK (daily_budget IS NULL OR daily_budget > 0),
    CONSTRAINT snapshots_revenue_source_known CHECK (revenue_source IN ('observed', 'settled', 'allocated')),
    CONSTRAINT snapshots_observed_after_hour CHECK (observed_at >= hour_start)
) PARTITION BY RANGE (hour_start);
CREATE INDEX snapshots_account_hour_idx
    ON autoscaler.campaign_performance_snapshots (account_id, hour_start);

COMMENT ON TABLE autoscaler.campaign_performance_snapshots IS
    'One row per budget holder per UTC hour: what the entity spent and earned in that hour, and what was observed when. Partitioned by month; written by idempotent upsert keyed on (entity_id, hour_start). See docs/metrics.md.';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.entity_id IS 'Budget holder (budget_holders.entity_id).';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.hour_start IS 'Start of the UTC hour the row describes.';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.account_id IS 'Ad account of the entity (denormalised for per-account windows).';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.local_date IS 'The account-local calendar date of hour_start.';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.local_hour IS 'The account-local hour of day (0-23) of hour_start.';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.local_weekday IS 'The account-local day of week of hour_start, 0 = Monday ... 6 = Sunday.';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.spend IS 'Spend in the hour (minor units), from Meta''s hourly breakdown.';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.impressions IS 'Impressions in the hour.';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.clicks IS 'Clicks in the hour.';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.conversions IS 'Purchases attributed in the hour (see revenue_source for how).';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.revenue IS 'Purchase value attributed to the hour (minor units); see revenue_source.';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.revenue_source IS 'observed: difference of cumulative day-to-date reads; settled: corrected after the local day was re-read; allocated: a backfilled hour''s share of its day''s total.';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.day_conversions_to_date IS 'Cumulative local-day purchases as read at observed_at (NULL when not read live).';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.day_revenue_to_date IS 'Cumulative local-day purchase value (minor units) as read at observed_at.';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.daily_budget IS 'Daily budget (minor units) Meta held when observed; NULL for lifetime budgets.';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.status IS 'Configured status (ACTIVE, PAUSED, ...) when observed.';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.effective_status IS 'Meta effective_status when observed.';
COMMENT ON COLUMN autoscaler.campaign_performance_snapshots.observed_at IS 'When these values were read from Meta; a re-read replaces the row and moves this forward.';

-- Partitions are created on demand by the store (one per calendar month, UTC) under an
-- advisory lock; this function is the one place that knows their naming and bounds.
CREATE FUNCTION autoscaler.ensure_snapshot_partition(month_start date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    first_day date := date_trunc('month', month_start)::date;
    part_name text := format('campaign_performance_snapshots_%s', to_char(first_day, 'YYYY_MM'));
BEGIN
    IF to_regclass(format('autoscaler.%I', part_name)) IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('autoscaler.snapshot_partitions'));
        IF to_regclass(format('autoscaler.%I', part_name)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE autoscaler.%I PARTITION OF autoscaler.campaign_performance_snapshots '
                'FOR VALUES FROM (%L) TO (%L)',
                part_name,
                (first_day::timestamp AT TIME ZONE 'UTC'),
                ((first_day + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
            EXECUTE format('COMMENT ON TABLE autoscaler.%I IS %L', part_name,
                format('Snapshots whose hour_start falls in %s (UTC).', to_char(first_day, 'YYYY-MM')));
        END IF;
    END IF;
    RETURN part_name;
END $$;
COMMENT ON FUNCTION autoscaler.ensure_snapshot_partition(date) IS
    'Creates the monthly partition of campaign_performance_snapshots containing month_start, if missing; returns its name.';

-- ---------------------------------------------------------------------------------------
-- Hourly runs
-- ---------------------------------------------------------------------------------------

CREATE TABLE autoscaler.scaling_runs (
    run_id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    airflow_run_id      text        NOT NULL,
    dag_id              text        NOT NULL,
    account_id          text        NOT NULL REFERENCES autoscaler.ad_accounts (account_id),
    run_hour            timestamptz NOT NULL,
    run_type            text        NOT NULL,
    mode                text        NOT NULL,
    shadow_reason       text,
    status              text        NOT NULL DEFAULT 'running',
    started_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    entities_fetched    integer     NOT NULL DEFAULT 0,
    graph_requests      integer     NOT NULL DEFAULT 0,
    snapshots_written   integer     NOT NULL DEFAULT 0,
    evaluated           integer     NOT NULL DEFAULT 0,
    actions_proposed    integer     NOT NULL DEFAULT 0,
    awaiting_approval   integer     NOT NULL DEFAULT 0,
    executed            integer     NOT NULL DEFAULT 0,
    failed              integer     NOT NULL DEFAULT 0,
    drifted             integer     NOT NULL DEFAULT 0,
    expired             integer     NOT NULL DEFAULT 0,
    step_seconds        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    summary             text,
    error               text,
    CONSTRAINT scaling_runs_one_row_per_account_run UNIQUE (airflow_run_id, account_id),
    CONSTRAINT scaling_runs_run_hour_aligned CHECK (extract(epoch FROM run_hour)::bigint % 3600 = 0),
    CONSTRAINT scaling_runs_mode_known CHECK (mode IN ('live', 'shadow')),
    CONSTRAINT scaling_runs_shadow_has_reason CHECK ((mode = 'shadow') = (shadow_reason IS NOT NULL)),
    CONSTRAINT scaling_runs_run_type_known
        CHECK (run_type IN ('scheduled', 'manual', 'backfill', 'asset_triggered', 'cli')),
    CONSTRAINT scaling_runs_status_known CHECK (status IN ('running', 'success', 'failed')),
    CONSTRAINT scaling_runs_finished_when_done CHECK ((status = 'running') = (finished_at IS NULL)),
    CONSTRAINT scaling_runs_counts_non_negative CHECK (
        entities_fetched >= 0 AND graph_requests >= 0 AND snapshots_written >= 0 AND evaluated >= 0
        AND actions_proposed >= 0 AND awaiting_approval >= 0 AND executed >= 0 AND failed >= 0
        AND drifted >= 0 AND expired >= 0)
);
CREATE INDEX scaling_runs_account_hour_idx ON autoscaler.scaling_runs (account_id, run_hour DESC);
COMMENT ON TABLE autoscaler.scaling_runs IS
    'One row per ad account per hourly DAG run: what was fetched, decided and executed, how long each step took, and whether the run was live or shadow.';
COMMENT ON COLUMN autoscaler.scaling_runs.run_id IS 'Row identifier.';
COMMENT ON COLUMN autoscaler.scaling_runs.airflow_run_id IS 'Airflow dag_run.run_id (or cli__... for command-line runs); a retried task updates the same row.';
COMMENT ON COLUMN autoscaler.scaling_runs.dag_id IS 'The DAG that ran (autoscaler_hourly).';
COMMENT ON COLUMN autoscaler.scaling_runs.account_id IS 'The ad account.';
COMMENT ON COLUMN autoscaler.scaling_runs.run_hour IS 'Start of the UTC hour whose data the run decided on (the data interval start).';
COMMENT ON COLUMN autoscaler.scaling_runs.run_type IS 'scheduled, manual, backfill, asset_triggered or cli.';
COMMENT ON COLUMN autoscaler.scaling_runs.mode IS 'live: changes are written to Meta; shadow: decisions are recorded as simulated and nothing is written.';
COMMENT ON COLUMN autoscaler.scaling_runs.shadow_reason IS 'Why the run was shadow: backfill, dry_run or kill_switch.';
COMMENT ON COLUMN autoscaler.scaling_runs.status IS 'running, success or failed.';
COMMENT ON COLUMN autoscaler.scaling_runs.started_at IS 'When the account''s run started.';
COMMENT ON COLUMN autoscaler.scaling_runs.finished_at IS 'When it finished (NULL while running).';
COMMENT ON COLUMN autoscaler.scaling_runs.entities_fetched IS 'Budget holders read from Meta.';
COMMENT ON COLUMN autoscaler.scaling_runs.graph_requests IS 'Graph API requests made for the account in this run.';
COMMENT ON COLUMN autoscaler.scaling_runs.snapshots_written IS 'Snapshot rows upserted.';
COMMENT ON COLUMN autoscaler.scaling_runs.evaluated IS 'Entities the rule was evaluated for.';
COMMENT ON COLUMN autoscaler.scaling_runs.actions_proposed IS 'Evaluations that proposed a change.';
COMMENT ON COLUMN autoscaler.scaling_runs.awaiting_approval IS 'Actions that waited for approval.';
COMMENT ON COLUMN autoscaler.scaling_runs.executed IS 'Actions written to Meta (or found already applied).';
COMMENT ON COLUMN autoscaler.scaling_runs.failed IS 'Actions Meta refused or that could not be written.';
COMMENT ON COLUMN autoscaler.scaling_runs.drifted IS 'Actions not written because the budget had been changed by someone else meanwhile.';
COMMENT ON COLUMN autoscaler.scaling_runs.expired IS 'Actions whose approval deadline passed.';
COMMENT ON COLUMN autoscaler.scaling_runs.step_seconds IS 'Wall-clock seconds per step, e.g. {"fetch": 1.2, "decide": 0.1}.';
COMMENT ON COLUMN autoscaler.scaling_runs.summary IS 'The one-line summary the task log ends with.';
COMMENT ON COLUMN autoscaler.scaling_runs.error IS 'Error message if the run failed (never contains credentials).';

-- ---------------------------------------------------------------------------------------
-- Evaluations: every decision, compactly (one row per account, run hour and rule)
-- ---------------------------------------------------------------------------------------

CREATE TABLE autoscaler.scaling_evaluations (
    run_hour        timestamptz NOT NULL,
    account_id      text        NOT NULL REFERENCES autoscaler.ad_accounts (account_id),
    rule_id         bigint      NOT NULL REFERENCES autoscaler.scaling_rules (rule_id),
    rule_revision   integer     NOT NULL,
    mode            text        NOT NULL,
    window_start    timestamptz NOT NULL,
    window_end      timestamptz NOT NULL,
    evaluated_at    timestamptz NOT NULL DEFAULT now(),
    entity_ids      text[]      NOT NULL,
    decisions       text[]      NOT NULL,
    reasons         text[]      NOT NULL,
    spend           bigint[]    NOT NULL,
    revenue         bigint[]    NOT NULL,
    impressions     bigint[]    NOT NULL,
    clicks          bigint[]    NOT NULL,
    conversions     bigint[]    NOT NULL,
    daily_budget    bigint[]    NOT NULL,
    new_daily_budget bigint[]   NOT NULL,
    PRIMARY KEY (run_hour, account_id, rule_id, mode),
    CONSTRAINT evaluations_mode_known CHECK (mode IN ('live', 'shadow')),
    CONSTRAINT evaluations_window_ordered CHECK (window_start < window_end),
    CONSTRAINT evaluations_arrays_aligned CHECK (
        cardinality(decisions) = cardinality(entity_ids)
        AND cardinality(reasons) = cardinality(entity_ids)
        AND cardinality(spend) = cardinality(entity_ids)
        AND cardinality(revenue) = cardinality(entity_ids)
        AND cardinality(impressions) = cardinality(entity_ids)
        AND cardinality(clicks) = cardinality(entity_ids)
        AND cardinality(conversions) = cardinality(entity_ids)
        AND cardinality(daily_budget) = cardinality(entity_ids)
        AND cardinality(new_daily_budget) = cardinality(entity_ids)),
    FOREIGN KEY (rule_id, rule_revision) REFERENCES autoscaler.scaling_rule_revisions (rule_id, revision)
);
COMMENT ON TABLE autoscaler.scaling_evaluations IS
    'Every evaluation of every entity, stored compactly: one row per account, run hour, rule and mode with parallel arrays (element i describes entity_ids[i]). Query it through the view entity_evaluations.';
COMMENT ON COLUMN autoscaler.scaling_evaluations.run_hour IS 'The run''s data-interval start (UTC).';
COMMENT ON COLUMN autoscaler.scaling_evaluations.account_id IS 'The ad account.';
COMMENT ON COLUMN autoscaler.scaling_evaluations.rule_id IS 'The rule that decided for these entities.';
COMMENT ON COLUMN autoscaler.scaling_evaluations.rule_revision IS 'The revision of the rule used (scaling_rule_revisions).';
COMMENT ON COLUMN autoscaler.scaling_evaluations.mode IS 'live or shadow (backfill, dry run, kill switch).';
COMMENT ON COLUMN autoscaler.scaling_evaluations.window_start IS 'Start of the trailing window the metrics cover (inclusive).';
COMMENT ON COLUMN autoscaler.scaling_evaluations.window_end IS 'End of the trailing window (exclusive).';
COMMENT ON COLUMN autoscaler.scaling_evaluations.evaluated_at IS 'When the evaluation was (last) written.';
COMMENT ON COLUMN autoscaler.scaling_evaluations.entity_ids IS 'The budget holders evaluated.';
COMMENT ON COLUMN autoscaler.scaling_evaluations.decisions IS 'Per entity: scale_up_aggressive, scale_up, scale_down, pause, maintain or no_change.';
COMMENT ON COLUMN autoscaler.scaling_evaluations.reasons IS 'Per entity: the reason code (e.g. roas_in_band, low_impressions, cooldown, clamped).';
COMMENT ON COLUMN autoscaler.scaling_evaluations.spend IS 'Per entity: spend in the window (minor units).';
COMMENT ON COLUMN autoscaler.scaling_evaluations.revenue IS 'Per entity: purchase value in the window (minor units).';
COMMENT ON COLUMN autoscaler.scaling_evaluations.impressions IS 'Per entity: impressions in the window.';
COMMENT ON COLUMN autoscaler.scaling_evaluations.clicks IS 'Per entity: clicks in the window.';
COMMENT ON COLUMN autoscaler.scaling_evaluations.conversions IS 'Per entity: purchases in the window.';
COMMENT ON COLUMN autoscaler.scaling_evaluations.daily_budget IS 'Per entity: daily budget when decided (minor units).';
COMMENT ON COLUMN autoscaler.scaling_evaluations.new_daily_budget IS 'Per entity: daily budget the decision leads to (equal to daily_budget when nothing changes).';

-- ---------------------------------------------------------------------------------------
-- Actions and their status history
-- ---------------------------------------------------------------------------------------

CREATE TABLE autoscaler.scaling_actions (
    action_id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id              text          NOT NULL REFERENCES autoscaler.ad_accounts (account_id),
    entity_id               text          NOT NULL REFERENCES autoscaler.budget_holders (entity_id),
    entity_level            text          NOT NULL,
    run_hour                timestamptz,
    rule_id                 bigint,
    rule_revision           integer,
    origin                  text          NOT NULL,
    action_type             text          NOT NULL,
    mode                    text          NOT NULL,
    currency                char(3)       NOT NULL,
    budget_before           bigint,
    budget_after            bigint,
    status_before           text,
    status_after            text,
    window_start            timestamptz,
    window_end              timestamptz,
    window_spend            bigint,
    window_revenue          bigint,
    window_impressions      bigint,
    window_clicks           bigint,
    window_conversions      bigint,
    roas                    numeric(12, 4),
    ctr                     numeric(8, 6),
    reasoning               text          NOT NULL,
    requires_approval       boolean       NOT NULL,
    status                  text          NOT NULL,
    status_changed_at       timestamptz   NOT NULL DEFAULT clock_timestamp(),
    approval_deadline       timestamptz,
    decided_by              text,
    decided_at              timestamptz,
    decision_reason         text,
    executed_at             timestamptz,
    meta_response           jsonb,
    error_message           text,
    compensates_action_id   bigint        REFERENCES autoscaler.scaling_actions (action_id),
    created_at              timestamptz   NOT NULL DEFAULT clock_timestamp(),
    -- One decision per entity, run hour, rule and origin (a shadow re-run of a live hour
    -- is kept apart by mode).  Operator actions have no run hour and are not limited.
    CONSTRAINT scaling_actions_one_per_entity_hour_rule
        UNIQUE NULLS NOT DISTINCT (entity_id, run_hour, rule_id, origin, mode),
    FOREIGN KEY (rule_id, rule_revision) REFERENCES autoscaler.scaling_rule_revisions (rule_id, revision),
    CONSTRAINT scaling_actions_entity_level_known CHECK (entity_level IN ('campaign', 'adset')),
    CONSTRAINT scaling_actions_origin_known CHECK (origin IN ('rule', 'time_optimization', 'operator')),
    CONSTRAINT scaling_actions_rule_origins_have_rule_and_hour CHECK (
        origin = 'operator' OR (rule_id IS NOT NULL AND rule_revision IS NOT NULL AND run_hour IS NOT NULL)),
    CONSTRAINT scaling_actions_run_hour_aligned
        CHECK (run_hour IS NULL OR extract(epoch FROM run_hour)::bigint % 3600 = 0),
    CONSTRAINT scaling_actions_action_type_known CHECK (action_type IN (
        'scale_up_aggressive', 'scale_up', 'scale_down', 'pause', 'resume',
        'time_adjust', 'time_restore', 'rollback')),
    CONSTRAINT scaling_actions_mode_known CHECK (mode IN ('live', 'shadow')),
    CONSTRAINT scaling_actions_status_known CHECK (status IN (
        'pending_approval', 'approved', 'rejected', 'expired',
        'executed', 'failed', 'drifted', 'simulated')),
    CONSTRAINT scaling_actions_shadow_is_simulated CHECK ((mode = 'shadow') = (status = 'simulated')),
    CONSTRAINT scaling_actions_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT scaling_actions_budgets_positive CHECK (
        coalesce(budget_before, 1) > 0 AND coalesce(budget_after, 1) > 0),
    CONSTRAINT scaling_actions_changes_something CHECK (
        budget_after IS DISTINCT FROM budget_before OR status_after IS DISTINCT FROM status_before),
    CONSTRAINT scaling_actions_statuses_known CHECK (
        coalesce(status_before, 'ACTIVE') IN ('ACTIVE', 'PAUSED', 'ARCHIVED', 'DELETED')
        AND coalesce(status_after, 'ACTIVE') IN ('ACTIVE', 'PAUSED')),
    CONSTRAINT scaling_actions_window_metrics_non_negative CHECK (
        coalesce(window_spend, 0) >= 0 AND coalesce(window_revenue, 0) >= 0
        AND coalesce(window_impressions, 0) >= 0 AND coalesce(window_clicks, 0) >= 0
        AND coalesce(window_conversions, 0) >= 0),
    CONSTRAINT scaling_actions_window_ordered CHECK (window_start IS NULL OR window_start < window_end),
    CONSTRAINT scaling_actions_pending_needs_approval
        CHECK (status <> 'pending_approval' OR requires_approval),
    CONSTRAINT scaling_actions_decision_recorded CHECK (
        status NOT IN ('approved', 'rejected', 'executed', 'failed', 'drifted')
        OR (decided_by IS NOT NULL AND decided_at IS NOT NULL)),
    CONSTRAINT scaling_actions_executed_has_time CHECK (status <> 'executed' OR executed_at IS NOT NULL),
    CONSTRAINT scaling_actions_reasoning_not_blank CHECK (length(btrim(reasoning)) > 0)
);
CREATE INDEX scaling_actions_account_created_idx ON autoscaler.scaling_actions (account_id, created_at DESC);
CREATE INDEX scaling_actions_entity_created_idx ON autoscaler.scaling_actions (entity_id, created_at DESC);
CREATE INDEX scaling_actions_open_idx ON autoscaler.scaling_actions (status, approval_deadline)
    WHERE status IN ('pending_approval', 'approved');
CREATE INDEX scaling_actions_run_hour_idx ON autoscaler.scaling_actions (run_hour, account_id);

COMMENT ON TABLE autoscaler.scaling_actions IS
    'Every proposed change of a budget or status, with the metrics and reasoning behind it, its approval, and what Meta answered. Rows are never deleted; terminal rows are never edited.';
COMMENT ON COLUMN autoscaler.scaling_actions.action_id IS 'Action identifier.';
COMMENT ON COLUMN autoscaler.scaling_actions.account_id IS 'Ad account.';
COMMENT ON COLUMN autoscaler.scaling_actions.entity_id IS 'Campaign or ad set whose budget or status changes.';
COMMENT ON COLUMN autoscaler.scaling_actions.entity_level IS 'campaign or adset.';
COMMENT ON COLUMN autoscaler.scaling_actions.run_hour IS 'Data-interval start (UTC) of the hourly run that decided it; NULL for operator actions.';
COMMENT ON COLUMN autoscaler.scaling_actions.rule_id IS 'The rule that decided it (NULL for operator actions).';
COMMENT ON COLUMN autoscaler.scaling_actions.rule_revision IS 'The rule revision used.';
COMMENT ON COLUMN autoscaler.scaling_actions.origin IS 'rule (performance scaling), time_optimization (hour-of-day adjustment) or operator (rollback, manual).';
COMMENT ON COLUMN autoscaler.scaling_actions.action_type IS 'scale_up_aggressive, scale_up, scale_down, pause, resume, time_adjust, time_restore or rollback.';
COMMENT ON COLUMN autoscaler.scaling_actions.mode IS 'live (written to Meta) or shadow (recorded as simulated, never written).';
COMMENT ON COLUMN autoscaler.scaling_actions.currency IS 'Currency of the budget columns.';
COMMENT ON COLUMN autoscaler.scaling_actions.budget_before IS 'Daily budget Meta held when decided (minor units); execute refuses to write if Meta holds something else (drifted).';
COMMENT ON COLUMN autoscaler.scaling_actions.budget_after IS 'Absolute daily budget to write (minor units).';
COMMENT ON COLUMN autoscaler.scaling_actions.status_before IS 'Entity status when decided.';
COMMENT ON COLUMN autoscaler.scaling_actions.status_after IS 'Entity status to write (PAUSED for a pause).';
COMMENT ON COLUMN autoscaler.scaling_actions.window_start IS 'Start of the metrics window (inclusive, UTC).';
COMMENT ON COLUMN autoscaler.scaling_actions.window_end IS 'End of the metrics window (exclusive, UTC).';
COMMENT ON COLUMN autoscaler.scaling_actions.window_spend IS 'Spend in the window (minor units).';
COMMENT ON COLUMN autoscaler.scaling_actions.window_revenue IS 'Purchase value in the window (minor units).';
COMMENT ON COLUMN autoscaler.scaling_actions.window_impressions IS 'Impressions in the window.';
COMMENT ON COLUMN autoscaler.scaling_actions.window_clicks IS 'Clicks in the window.';
COMMENT ON COLUMN autoscaler.scaling_actions.window_conversions IS 'Purchases in the window.';
COMMENT ON COLUMN autoscaler.scaling_actions.roas IS 'window_revenue / window_spend.';
COMMENT ON COLUMN autoscaler.scaling_actions.ctr IS 'window_clicks / window_impressions, a ratio (0.035 = 3.5%).';
COMMENT ON COLUMN autoscaler.scaling_actions.reasoning IS 'Why, in words, e.g. "Exceptional performance: ROAS 4.20x (>4.0x) and CTR 3.50% (>3%)".';
COMMENT ON COLUMN autoscaler.scaling_actions.requires_approval IS 'true when the rule required a human decision before execution.';
COMMENT ON COLUMN autoscaler.scaling_actions.status IS 'pending_approval -> approved | rejected | expired; approved -> executed | failed | drifted; simulated for shadow runs. Every change is in action_events.';
COMMENT ON COLUMN autoscaler.scaling_actions.status_changed_at IS 'When status last changed.';
COMMENT ON COLUMN autoscaler.scaling_actions.approval_deadline IS 'When a pending approval expires.';
COMMENT ON COLUMN autoscaler.scaling_actions.decided_by IS 'Who approved or rejected (autoscaler for automatic approval under the threshold).';
COMMENT ON COLUMN autoscaler.scaling_actions.decided_at IS 'When it was approved or rejected.';
COMMENT ON COLUMN autoscaler.scaling_actions.decision_reason IS 'The approver''s reason.';
COMMENT ON COLUMN autoscaler.scaling_actions.executed_at IS 'When the write was confirmed.';
COMMENT ON COLUMN autoscaler.scaling_actions.meta_response IS 'What Meta answered to the write (never contains credentials).';
COMMENT ON COLUMN autoscaler.scaling_actions.error_message IS 'Why the action failed or drifted.';
COMMENT ON COLUMN autoscaler.scaling_actions.compensates_action_id IS 'For rollbacks: the executed action this one undoes.';
COMMENT ON COLUMN autoscaler.scaling_actions.created_at IS 'When the action was recorded.';

CREATE TABLE autoscaler.action_events (
    event_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action_id       bigint      NOT NULL REFERENCES autoscaler.scaling_actions (action_id),
    from_status     text,
    to_status       text        NOT NULL,
    actor           text        NOT NULL,
    occurred_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    detail          text
);
CREATE INDEX action_events_action_idx ON autoscaler.action_events (action_id, event_id);
CREATE INDEX action_events_occurred_idx ON autoscaler.action_events (occurred_at);
COMMENT ON TABLE autoscaler.action_events IS
    'Append-only history of every status change of every action, written by trigger so that no change escapes it; actor and detail come from the transaction settings autoscaler.actor and autoscaler.detail (else the database user).';
COMMENT ON COLUMN autoscaler.action_events.event_id IS 'Event identifier, increasing.';
COMMENT ON COLUMN autoscaler.action_events.action_id IS 'The action.';
COMMENT ON COLUMN autoscaler.action_events.from_status IS 'Status before (NULL when the action was created).';
COMMENT ON COLUMN autoscaler.action_events.to_status IS 'Status after.';
COMMENT ON COLUMN autoscaler.action_events.actor IS 'Who made the change: a person, autoscaler, or the database user for direct SQL.';
COMMENT ON COLUMN autoscaler.action_events.occurred_at IS 'When.';
COMMENT ON COLUMN autoscaler.action_events.detail IS 'Why, or what Meta answered.';

-- Legal status changes; anything else, and any edit of a terminal action or of the facts a
-- decision rests on, is refused whoever tries it.
CREATE FUNCTION autoscaler.scaling_actions_guard() RETURNS trigger
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
        NEW.compensates_action_id, NEW.created_at)
       IS DISTINCT FROM
       (OLD.action_id, OLD.account_id, OLD.entity_id, OLD.entity_level, OLD.run_hour, OLD.rule_id,
        OLD.rule_revision, OLD.origin, OLD.action_type, OLD.mode, OLD.currency, OLD.budget_before,
        OLD.budget_after, OLD.status_before, OLD.status_after, OLD.window_start, OLD.window_end,
        OLD.window_spend, OLD.window_revenue, OLD.window_impressions, OLD.window_clicks,
        OLD.window_conversions, OLD.roas, OLD.ctr, OLD.reasoning, OLD.requires_approval,
        OLD.compensates_action_id, OLD.created_at) THEN
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
CREATE TRIGGER scaling_actions_guard
    BEFORE UPDATE ON autoscaler.scaling_actions
    FOR EACH ROW EXECUTE FUNCTION autoscaler.scaling_actions_guard();

CREATE FUNCTION autoscaler.scaling_actions_check_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Unknown statuses are left to the CHECK scaling_actions_status_known.
    IF NEW.status IN ('rejected', 'expired', 'executed', 'failed', 'drifted') THEN
        RAISE EXCEPTION 'scaling_actions: a new action starts as pending_approval, approved or simulated, not %',
            NEW.status;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER scaling_actions_check_insert
    BEFORE INSERT ON autoscaler.scaling_actions
    FOR EACH ROW EXECUTE FUNCTION autoscaler.scaling_actions_check_insert();

CREATE FUNCTION autoscaler.scaling_actions_record_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO autoscaler.action_events (action_id, from_status, to_status, actor, detail)
        VALUES (
            NEW.action_id,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END,
            NEW.status,
            coalesce(nullif(current_setting('autoscaler.actor', true), ''), session_user),
            nullif(current_setting('autoscaler.detail', true), ''));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER scaling_actions_record_event
    AFTER INSERT OR UPDATE ON autoscaler.scaling_actions
    FOR EACH ROW EXECUTE FUNCTION autoscaler.scaling_actions_record_event();

CREATE TRIGGER scaling_actions_refuse_delete
    BEFORE DELETE ON autoscaler.scaling_actions
    FOR EACH ROW EXECUTE FUNCTION autoscaler.refuse_delete();

CREATE FUNCTION autoscaler.refuse_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only', TG_TABLE_SCHEMA, TG_TABLE_NAME;
END $$;
CREATE TRIGGER action_events_append_only
    BEFORE UPDATE OR DELETE ON autoscaler.action_events
    FOR EACH ROW EXECUTE FUNCTION autoscaler.refuse_update();

-- ---------------------------------------------------------------------------------------
-- Optimal-hour profiles
-- ---------------------------------------------------------------------------------------

CREATE TABLE autoscaler.optimal_hour_profiles (
    entity_id           text          PRIMARY KEY REFERENCES autoscaler.budget_holders (entity_id),
    account_id          text          NOT NULL REFERENCES autoscaler.ad_accounts (account_id),
    window_start        timestamptz   NOT NULL,
    window_end          timestamptz   NOT NULL,
    computed_at         timestamptz   NOT NULL DEFAULT now(),
    days_observed       integer       NOT NULL,
    total_spend         bigint        NOT NULL,
    total_revenue       bigint        NOT NULL,
    total_conversions   bigint        NOT NULL,
    hour_spend          bigint[]      NOT NULL,
    hour_revenue        bigint[]      NOT NULL,
    hour_conversions    bigint[]      NOT NULL,
    hour_roas           double precision[] NOT NULL,
    hour_index          double precision[] NOT NULL,
    hour_multiplier     double precision[] NOT NULL,
    peak_hours          smallint[]    NOT NULL,
    valley_hours        smallint[]    NOT NULL,
    confidence          double precision NOT NULL,
    method              text          NOT NULL,
    CONSTRAINT profiles_window_ordered CHECK (window_start < window_end),
    CONSTRAINT profiles_days_observed_non_negative CHECK (days_observed >= 0),
    CONSTRAINT profiles_totals_non_negative CHECK (
        total_spend >= 0 AND total_revenue >= 0 AND total_conversions >= 0),
    CONSTRAINT profiles_24_hours CHECK (
        cardinality(hour_spend) = 24 AND cardinality(hour_revenue) = 24
        AND cardinality(hour_conversions) = 24 AND cardinality(hour_roas) = 24
        AND cardinality(hour_index) = 24 AND cardinality(hour_multiplier) = 24),
    CONSTRAINT profiles_peak_valley_hours_range CHECK (
        peak_hours <@ ARRAY[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23]::smallint[]
        AND valley_hours <@ ARRAY[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23]::smallint[]
        AND NOT (peak_hours && valley_hours)),
    CONSTRAINT profiles_confidence_range CHECK (confidence >= 0 AND confidence <= 1)
);
CREATE INDEX optimal_hour_profiles_account_idx ON autoscaler.optimal_hour_profiles (account_id);
COMMENT ON TABLE autoscaler.optimal_hour_profiles IS
    'Each budget holder''s current time-of-day profile over its account''s local hours, recomputed daily and replaced whole. Element i of each hour_* array is local hour i. See docs/time-optimization.md.';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.entity_id IS 'Budget holder.';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.account_id IS 'Ad account.';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.window_start IS 'Start of the snapshot window the profile was learned from (UTC, inclusive).';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.window_end IS 'End of the window (UTC, exclusive).';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.computed_at IS 'When the profile was computed.';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.days_observed IS 'Local days with any spend in the window.';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.total_spend IS 'Spend in the window (minor units).';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.total_revenue IS 'Purchase value in the window (minor units).';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.total_conversions IS 'Purchases in the window.';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.hour_spend IS 'Spend per local hour 0..23 (minor units).';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.hour_revenue IS 'Purchase value per local hour (minor units).';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.hour_conversions IS 'Purchases per local hour.';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.hour_roas IS 'Raw ROAS per local hour (NaN where nothing was spent).';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.hour_index IS 'Shrunk ROAS index per local hour relative to the entity''s own average (1 = average).';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.hour_multiplier IS 'Recommended multiplier of the base budget per local hour, before the rule''s bounds.';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.peak_hours IS 'Local hours statistically better than the entity''s average.';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.valley_hours IS 'Local hours statistically worse than the entity''s average.';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.confidence IS 'Evidence score 0..1 (docs/time-optimization.md gives the formula).';
COMMENT ON COLUMN autoscaler.optimal_hour_profiles.method IS 'Name and version of the estimator that produced the profile.';

-- ---------------------------------------------------------------------------------------
-- Emergency controls
-- ---------------------------------------------------------------------------------------

CREATE TABLE autoscaler.pause_switches (
    scope       text        PRIMARY KEY,
    paused      boolean     NOT NULL,
    reason      text,
    changed_by  text        NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pause_switches_scope_format CHECK (scope = 'all' OR scope ~ '^act_[0-9]{1,20}$'),
    CONSTRAINT pause_switches_paused_has_reason CHECK (NOT paused OR reason IS NOT NULL)
);
COMMENT ON TABLE autoscaler.pause_switches IS
    'Kill switches: while paused, hourly runs for the scope still fetch and decide but record their decisions as simulated and write nothing to Meta.';
COMMENT ON COLUMN autoscaler.pause_switches.scope IS 'all, or one act_<digits> account.';
COMMENT ON COLUMN autoscaler.pause_switches.paused IS 'true: shadow mode for the scope.';
COMMENT ON COLUMN autoscaler.pause_switches.reason IS 'Why it was paused.';
COMMENT ON COLUMN autoscaler.pause_switches.changed_by IS 'Who last flipped it.';
COMMENT ON COLUMN autoscaler.pause_switches.changed_at IS 'When.';
