-- Wasted spend by account: spend on entity-days whose measured return was below 1x
-- (revenue < spend that day), over a period of the accounts' local days.  Compare it across
-- months to see whether pausing and scaling down the losers is working.
--
--   psql -v start_date=2026-11-01 -v end_date=2026-11-30 -f sql/queries/wasted_spend_by_account.sql
WITH entity_days AS (
    SELECT account_id, entity_id, local_date, sum(spend) AS spend, sum(revenue) AS revenue
      FROM autoscaler.campaign_performance_snapshots
     WHERE local_date BETWEEN CAST(:'start_date' AS date) AND CAST(:'end_date' AS date)
     GROUP BY account_id, entity_id, local_date
)
SELECT d.account_id,
       acc.currency,
       sum(d.spend)                                         AS spend,            -- minor units
       sum(d.spend) FILTER (WHERE d.revenue < d.spend)      AS wasted_spend,
       round(100.0 * coalesce(sum(d.spend) FILTER (WHERE d.revenue < d.spend), 0) / nullif(sum(d.spend), 0), 1)
                                                            AS wasted_pct,
       count(*) FILTER (WHERE d.revenue < d.spend)          AS losing_entity_days,
       count(*)                                             AS entity_days
  FROM entity_days d
  JOIN autoscaler.ad_accounts acc USING (account_id)
 GROUP BY d.account_id, acc.currency
 ORDER BY wasted_spend DESC NULLS LAST;
