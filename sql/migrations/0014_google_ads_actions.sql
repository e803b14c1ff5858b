-- 0014: the audit trail and the pause switches take Google Ads accounts (issue 20).
--
-- 0013 let a Google Ads customer (a 10-digit id) and its campaign budgets be recorded; the
-- hourly steps now decide and write for them too, so a scaling action may be on a campaign
-- budget, and a pause switch may name a Google Ads customer.  Meta's values are unchanged.

ALTER TABLE autoscaler.scaling_actions
    DROP CONSTRAINT scaling_actions_entity_level_known,
    ADD CONSTRAINT scaling_actions_entity_level_known
        CHECK (entity_level IN ('campaign', 'adset', 'campaign_budget'));

COMMENT ON COLUMN autoscaler.scaling_actions.entity_level IS
    'campaign or adset (Meta), campaign_budget (Google Ads).';

ALTER TABLE autoscaler.pause_switches
    DROP CONSTRAINT pause_switches_scope_format,
    ADD CONSTRAINT pause_switches_scope_format
        CHECK (scope = 'all' OR scope ~ '^act_[0-9]{1,20}$' OR scope ~ '^[0-9]{10}$');

COMMENT ON COLUMN autoscaler.pause_switches.scope IS
    'all, or one account: act_<digits> (Meta) or a 10-digit customer id (Google Ads).';
COMMENT ON COLUMN autoscaler.control_events.scope IS
    'all or an account id (act_<digits>, or a 10-digit Google Ads customer id) for a pause switch; the entity id for a lock.';
