-- Did scaling work?  For each executed budget or status change since a date, ROAS over the
-- 24 snapshot hours before the hour it was executed in and the 24 after it (that hour itself
-- belongs to neither); a change executed less than a day ago has a partial "after" window
-- (hours_after says how many hours it has).
-- Read it with care: Meta attributes purchases late, and the hours after a scale-up are not
-- the hours before it (time of day, learning phase).  It is evidence, not proof.
--
--   psql -v since=2026-11-01 -f sql/queries/roas_before_after.sql
SELECT a.action_id,
       a.account_id,
       a.entity_id,
       a.action_type,
       a.executed_at,
       a.budget_before,
       a.budget_after,
       b.spend                                          AS spend_before,
       round(b.revenue::numeric / nullif(b.spend, 0), 2) AS roas_before,
       f.spend                                          AS spend_after,
       round(f.revenue::numeric / nullif(f.spend, 0), 2) AS roas_after,
       f.hours                                          AS hours_after
  FROM autoscaler.scaling_actions a
  CROSS JOIN LATERAL (
      SELECT sum(s.spend) AS spend, sum(s.revenue) AS revenue
        FROM autoscaler.campaign_performance_snapshots s
       WHERE s.entity_id = a.entity_id
         AND s.hour_start >= date_trunc('hour', a.executed_at) - interval '24 hours'
         AND s.hour_start < date_trunc('hour', a.executed_at)
  ) b
  CROSS JOIN LATERAL (
      SELECT sum(s.spend) AS spend, sum(s.revenue) AS revenue, count(*) AS hours
        FROM autoscaler.campaign_performance_snapshots s
       WHERE s.entity_id = a.entity_id
         AND s.hour_start >= date_trunc('hour', a.executed_at) + interval '1 hour'
         AND s.hour_start < date_trunc('hour', a.executed_at) + interval '25 hours'
  ) f
 WHERE a.status = 'executed'
   AND a.mode = 'live'
   AND a.executed_at >= CAST(:'since' AS date)
 ORDER BY a.executed_at, a.action_id;
