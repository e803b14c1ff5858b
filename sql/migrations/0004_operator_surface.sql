-- 0004: what the operator surface (REST API, UI page, SQL users) needs.
--
--   * operator actions (rollbacks) are not limited to one per entity: the idempotency key of
--     decisions keeps its meaning for rule and time-of-day actions, whose run hour and rule
--     are never NULL, and stops treating NULLs as equal;
--   * control_events: every flip of a kill switch and every entity lock or unlock, with who
--     and why, append-only like action_events;
--   * views that give the dashboard's numbers, so the API and a BI tool read the same sums.

ALTER TABLE autoscaler.scaling_actions DROP CONSTRAINT scaling_actions_one_per_entity_hour_rule;
ALTER TABLE autoscaler.scaling_actions ADD CONSTRAINT scaling_actions_one_per_entity_hour_rule
    UNIQUE (entity_id, run_hour, rule_id, origin, mode);
CREATE INDEX scaling_actions_compensates_idx ON autoscaler.scaling_actions (compensates_action_id)
    WHERE compensates_action_id IS NOT NULL;
-- The last executed change of an entity (the cooldown, read for every holder every hour) and
-- what a rollback of an entity's window undoes.  Keyed by entity: an index by account would
-- tempt the planner into scanning every executed action of every account per holder.
CREATE INDEX scaling_actions_executed_idx ON autoscaler.scaling_actions (entity_id, executed_at)
    WHERE status = 'executed';

-- ---------------------------------------------------------------------------------------
-- Emergency controls: their history
-- ---------------------------------------------------------------------------------------

CREATE TABLE autoscaler.control_events (
    event_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    control      text        NOT NULL,
    scope        text        NOT NULL,
    engaged      boolean     NOT NULL,
    actor        text        NOT NULL,
    reason       text,
    occurred_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT control_events_control_known CHECK (control IN ('pause_switch', 'entity_lock'))
);
CREATE INDEX control_events_scope_idx ON autoscaler.control_events (scope, event_id);
COMMENT ON TABLE autoscaler.control_events IS
    'Append-only history of the emergency controls: every kill-switch flip (pause_switches) and every entity lock or unlock (budget_holders.locked), written by trigger.';
COMMENT ON COLUMN autoscaler.control_events.event_id IS 'Event identifier, increasing.';
COMMENT ON COLUMN autoscaler.control_events.control IS 'pause_switch or entity_lock.';
COMMENT ON COLUMN autoscaler.control_events.scope IS 'all or act_<digits> for a pause switch; the entity id for a lock.';
COMMENT ON COLUMN autoscaler.control_events.engaged IS 'true: paused or locked; false: resumed or unlocked.';
COMMENT ON COLUMN autoscaler.control_events.actor IS 'Who: the authenticated user, autoscaler, or the database user for direct SQL.';
COMMENT ON COLUMN autoscaler.control_events.reason IS 'Why, as given.';
COMMENT ON COLUMN autoscaler.control_events.occurred_at IS 'When.';

CREATE TRIGGER control_events_append_only
    BEFORE UPDATE OR DELETE ON autoscaler.control_events
    FOR EACH ROW EXECUTE FUNCTION autoscaler.refuse_update();

CREATE FUNCTION autoscaler.record_pause_switch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.paused IS DISTINCT FROM OLD.paused THEN
        INSERT INTO autoscaler.control_events (control, scope, engaged, actor, reason)
        VALUES ('pause_switch', NEW.scope, NEW.paused,
                coalesce(nullif(current_setting('autoscaler.actor', true), ''), NEW.changed_by, session_user),
                coalesce(nullif(current_setting('autoscaler.detail', true), ''), NEW.reason));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER pause_switches_record_event
    AFTER INSERT OR UPDATE ON autoscaler.pause_switches
    FOR EACH ROW EXECUTE FUNCTION autoscaler.record_pause_switch();
CREATE TRIGGER pause_switches_refuse_delete
    BEFORE DELETE ON autoscaler.pause_switches
    FOR EACH ROW EXECUTE FUNCTION autoscaler.refuse_delete();

CREATE FUNCTION autoscaler.record_entity_lock() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.locked IS DISTINCT FROM OLD.locked THEN
        INSERT INTO autoscaler.control_events (control, scope, engaged, actor, reason)
        VALUES ('entity_lock', NEW.entity_id, NEW.locked,
                coalesce(nullif(current_setting('autoscaler.actor', true), ''), NEW.locked_by, session_user),
                coalesce(nullif(current_setting('autoscaler.detail', true), ''), NEW.lock_reason));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER budget_holders_record_lock
    AFTER UPDATE OF locked ON autoscaler.budget_holders
    FOR EACH ROW EXECUTE FUNCTION autoscaler.record_entity_lock();

-- ---------------------------------------------------------------------------------------
-- The dashboard's numbers
-- ---------------------------------------------------------------------------------------

CREATE VIEW autoscaler.action_facts AS
SELECT a.action_id,
       a.account_id,
       a.entity_id,
       a.currency,
       a.mode,
       a.origin,
       a.action_type,
       a.status,
       a.created_at,
       (a.created_at AT TIME ZONE 'UTC')::date AS created_date,
       a.executed_at,
       CASE WHEN a.status = 'executed' AND a.budget_after IS NOT NULL
            THEN a.budget_after - a.budget_before ELSE 0 END AS budget_change
  FROM autoscaler.scaling_actions AS a;
COMMENT ON VIEW autoscaler.action_facts IS
    'One row per action with the facts the dashboard counts: budget_change is the executed change of the daily budget in minor units (0 unless executed, and for status-only changes such as pauses).';

CREATE VIEW autoscaler.dashboard_daily AS
SELECT account_id,
       currency,
       mode,
       created_date AS day,
       action_type,
       count(*) AS actions,
       count(*) FILTER (WHERE status = 'executed') AS executed,
       count(*) FILTER (WHERE status = 'pending_approval') AS pending,
       count(*) FILTER (WHERE status = 'approved') AS approved_waiting,
       count(*) FILTER (WHERE status = 'rejected') AS rejected,
       count(*) FILTER (WHERE status = 'expired') AS expired,
       count(*) FILTER (WHERE status IN ('failed', 'drifted')) AS failed_or_drifted,
       coalesce(sum(budget_change) FILTER (WHERE budget_change > 0), 0)::bigint AS budget_increase,
       coalesce(-sum(budget_change) FILTER (WHERE budget_change < 0), 0)::bigint AS budget_decrease
  FROM autoscaler.action_facts
 GROUP BY account_id, currency, mode, created_date, action_type;
COMMENT ON VIEW autoscaler.dashboard_daily IS
    'Actions per account, currency, mode, UTC day of creation and action type, with executed daily-budget increases and decreases in minor units. GET dashboard sums these rows over its period; sql/queries/dashboard.sql does the same.';

CREATE VIEW autoscaler.performance_daily AS
SELECT s.account_id,
       acc.currency,
       (s.hour_start AT TIME ZONE 'UTC')::date AS day,
       sum(s.spend)::bigint AS spend,
       sum(s.revenue)::bigint AS revenue,
       sum(s.conversions)::bigint AS conversions,
       sum(s.impressions)::bigint AS impressions,
       sum(s.clicks)::bigint AS clicks,
       count(DISTINCT s.entity_id) AS entities
  FROM autoscaler.campaign_performance_snapshots AS s
  JOIN autoscaler.ad_accounts AS acc USING (account_id)
 GROUP BY s.account_id, acc.currency, (s.hour_start AT TIME ZONE 'UTC')::date;
COMMENT ON VIEW autoscaler.performance_daily IS
    'Measured delivery per account and UTC day from the hourly snapshots (minor units). Portfolio ROAS over a period is sum(revenue) / sum(spend) of its rows, never an average of daily ratios.';
