-- Approvals still waiting, oldest first, with how long they have waited and how long until
-- they expire.  Run it from a monitor: anything near its deadline needs a person now.
--
--   psql -f sql/queries/pending_by_age.sql
SELECT a.action_id,
       a.account_id,
       a.entity_id,
       a.action_type,
       a.currency,
       a.budget_before,                    -- minor units
       a.budget_after,
       a.reasoning,
       now() - a.created_at           AS waiting_for,
       a.approval_deadline - now()    AS expires_in,
       CASE
           WHEN now() - a.created_at < interval '1 hour'  THEN 'under 1 h'
           WHEN now() - a.created_at < interval '6 hours' THEN '1-6 h'
           WHEN now() - a.created_at < interval '1 day'   THEN '6-24 h'
           ELSE 'over a day'
       END AS age_bucket
  FROM autoscaler.scaling_actions a
 WHERE a.status = 'pending_approval'
 ORDER BY a.created_at, a.action_id;
