-- Where the allocator is taking each budget holder of an account: its latest recorded curve
-- (elasticity with its standard deviation, marginal ROAS at the budget it decided on, the goal)
-- and the target budget its steps head for, beside the budget the holder has now.  The page's
-- budget holders table shows the same columns (GET /api/auto-scaler/entities/table).
--
--   psql -v account_id=act_123456789 -f sql/queries/allocator_targets.sql
--
-- Money is in minor units (cents; yen for JPY).  Holders the allocator has not decided for yet
-- are not listed.  to_target_pct: how far the current budget still is from the target.
WITH latest AS (
    SELECT DISTINCT ON (entity_id)
           entity_id, created_at, mode, status, curve_elasticity, curve_elasticity_sd, curve_purchases,
           marginal_roas, target_marginal_roas, curve_target_budget
      FROM autoscaler.scaling_actions
     WHERE account_id = :'account_id' AND marginal_roas IS NOT NULL
     ORDER BY entity_id, created_at DESC, action_id DESC
)
SELECT h.entity_id,
       h.name,
       h.daily_budget                                                        AS budget_now,
       l.curve_target_budget                                                 AS target_budget,
       round(100.0 * (l.curve_target_budget - h.daily_budget) / nullif(h.daily_budget, 0), 1)
                                                                             AS to_target_pct,
       l.marginal_roas,
       l.target_marginal_roas                                                AS goal_marginal_roas,
       l.curve_elasticity                                                    AS elasticity,
       l.curve_elasticity_sd                                                 AS elasticity_sd,
       l.curve_purchases                                                     AS purchases,
       l.created_at                                                          AS decided_at,
       l.mode,
       l.status
  FROM latest l
  JOIN autoscaler.budget_holders h USING (entity_id)
 ORDER BY abs(l.curve_target_budget - h.daily_budget) DESC NULLS LAST, h.entity_id;
