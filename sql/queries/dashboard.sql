-- The dashboard's numbers for a period, per currency: the same sums GET /api/auto-scaler/dashboard
-- returns (tests/api/test_api.py checks that they agree).
--
--   psql -v start_date=2026-11-01 -v end_date=2026-11-30 -v account_id= -v mode=live -f sql/queries/dashboard.sql
--
-- account_id empty means every account.  Days are UTC days, end_date included.  Money is in
-- minor units (cents; yen for JPY); divide by 100 for two-decimal currencies.
WITH actions AS (
    SELECT currency,
           sum(actions)         AS actions,
           sum(executed)        AS executed,
           sum(pending)         AS pending,
           sum(budget_increase) AS budget_increase,
           sum(budget_decrease) AS budget_decrease
      FROM autoscaler.dashboard_daily
     WHERE day BETWEEN CAST(:'start_date' AS date) AND CAST(:'end_date' AS date)
       AND mode = :'mode'
       AND (:'account_id' = '' OR account_id = :'account_id')
     GROUP BY currency
), performance AS (
    SELECT currency, sum(spend) AS spend, sum(revenue) AS revenue
      FROM autoscaler.performance_daily
     WHERE day BETWEEN CAST(:'start_date' AS date) AND CAST(:'end_date' AS date)
       AND (:'account_id' = '' OR account_id = :'account_id')
     GROUP BY currency
)
SELECT coalesce(a.currency, p.currency)                         AS currency,
       coalesce(a.actions, 0)                                   AS actions,
       coalesce(a.executed, 0)                                  AS executed,
       coalesce(a.pending, 0)                                   AS pending,
       round(coalesce(a.executed, 0)::numeric / nullif(a.actions, 0), 4) AS execution_rate,
       coalesce(a.budget_increase, 0)                           AS budget_increase,
       coalesce(a.budget_decrease, 0)                           AS budget_decrease,
       coalesce(a.budget_increase, 0) - coalesce(a.budget_decrease, 0) AS budget_net,
       coalesce(p.spend, 0)                                     AS spend,
       coalesce(p.revenue, 0)                                   AS revenue,
       round(p.revenue::numeric / nullif(p.spend, 0), 4)        AS roas
  FROM actions a
  FULL JOIN performance p USING (currency)
 ORDER BY currency;
