-- Who approved or rejected what, and how fast: per person, since a date.  Answers come from
-- action_events (the trigger-written history), so a direct SQL update is counted under the
-- database user that made it.
--
--   psql -v since=2026-11-01 -f sql/queries/approvals_by_approver.sql
WITH answers AS (
    SELECT e.actor,
           e.to_status,
           e.occurred_at - a.created_at AS waited
      FROM autoscaler.action_events e
      JOIN autoscaler.scaling_actions a USING (action_id)
     WHERE e.from_status = 'pending_approval'
       AND e.to_status IN ('approved', 'rejected')
       AND e.occurred_at >= CAST(:'since' AS date)
)
SELECT actor,
       count(*) FILTER (WHERE to_status = 'approved')                AS approved,
       count(*) FILTER (WHERE to_status = 'rejected')                AS rejected,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY waited)           AS median_time_to_answer,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY waited)           AS p90_time_to_answer,
       max(waited)                                                   AS slowest
  FROM answers
 GROUP BY actor
 ORDER BY count(*) DESC, actor;
