-- Every action on a campaign and on its ad sets, newest first, with who decided it and what
-- Meta answered.
--
--   psql -v campaign_id=120200100100000010 -f sql/queries/actions_for_campaign.sql
SELECT a.action_id,
       a.created_at,
       a.entity_id,
       a.entity_level,
       a.action_type,
       a.status,
       a.mode,
       a.currency,
       a.budget_before,                    -- minor units
       a.budget_after,
       a.status_after,
       a.roas,
       round(a.ctr * 100, 2) AS ctr_pct,
       a.reasoning,
       a.decided_by,
       a.decision_reason,
       a.executed_at,
       a.error_message
  FROM autoscaler.scaling_actions a
  JOIN autoscaler.budget_holders h USING (entity_id)
 WHERE h.campaign_id = :'campaign_id'
 ORDER BY a.created_at DESC, a.action_id DESC;
