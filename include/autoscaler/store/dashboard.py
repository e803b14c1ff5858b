"""Reads for the operator surface: the page's overview, entity table, entity history, actions
list and approvals queue, and the seed routes' dashboard, accounts, holders and locks.  The
API's handlers run no SQL of their own: it is here.

Everything is aggregated, sorted and paginated here, in SQL, so the API returns one page of
rows however many budget holders and hours an account has (bench/page_api.py measures it).
Money stays in integer minor units; the API turns it into major units with the currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Connection, RowMapping, text

# ---- the account ---------------------------------------------------------------------------


def account_row(conn: Connection, account_id: str) -> dict[str, Any] | None:
    """The account's row as a dict of all its columns (so a column added later, such as a
    platform, reaches the page without a change here), or None."""
    row = conn.execute(
        text("SELECT to_jsonb(a) AS account FROM autoscaler.ad_accounts a WHERE a.account_id = :a"),
        {"a": account_id},
    ).scalar()
    return None if row is None else dict(row)


def switches_for(conn: Connection, account_id: str) -> list[RowMapping]:
    """The kill switches that govern the account ('all' and its own), with who flipped them."""
    return list(
        conn.execute(
            text(
                "SELECT scope, paused, reason, changed_by, changed_at FROM autoscaler.pause_switches "
                "WHERE scope IN ('all', :a) ORDER BY scope = 'all' DESC"
            ),
            {"a": account_id},
        ).mappings()
    )


# ---- the overview --------------------------------------------------------------------------

# When an action belongs on a time line: a run decides for the hour after its data interval
# (a backfill, recorded today, for a past hour); an operator's change when it was executed, or
# asked for.  The entity timeline (GET /entities/{id}/timeline) places actions the same way.
EFFECTIVE_AT = "coalesce(run_hour + interval '1 hour', executed_at, created_at)"

# Actions per mode (and, for shadow, why: backfill, dry run, kill switch; 'shadow' when the
# run that decided it recorded no reason, as with the CLI's own runs) and type.
_OVERVIEW_ACTIONS = """
SELECT a.mode,
       CASE WHEN a.mode = 'live' THEN 'live' ELSE coalesce(r.shadow_reason, 'shadow') END AS kind,
       a.action_type,
       count(*) AS actions,
       count(*) FILTER (WHERE a.status = 'executed') AS executed,
       count(*) FILTER (WHERE a.status = 'pending_approval') AS pending,
       -- Live: what was written.  Shadow: what would have been ('simulated' rows).
       coalesce(sum(a.budget_after - a.budget_before)
                FILTER (WHERE a.status IN ('executed', 'simulated') AND a.budget_after > a.budget_before), 0)
           AS increase,
       coalesce(sum(a.budget_before - a.budget_after)
                FILTER (WHERE a.status IN ('executed', 'simulated') AND a.budget_after < a.budget_before), 0)
           AS decrease
  FROM autoscaler.scaling_actions a
  LEFT JOIN LATERAL (
       SELECT shadow_reason FROM autoscaler.scaling_runs r
        WHERE r.account_id = a.account_id AND r.run_hour = a.run_hour AND r.mode = 'shadow'
        ORDER BY r.run_id DESC LIMIT 1) r ON a.mode = 'shadow'
 WHERE a.account_id = :account
   AND coalesce(a.run_hour + interval '1 hour', a.executed_at, a.created_at) >= :start
   AND coalesce(a.run_hour + interval '1 hour', a.executed_at, a.created_at) < :end
 GROUP BY 1, 2, 3
"""

# Delivery by UTC day with the day's actions (live, by type; shadow as one count).
_OVERVIEW_DAYS = """
WITH delivery AS (
    SELECT (hour_start AT TIME ZONE 'UTC')::date AS day, sum(spend) AS spend, sum(revenue) AS revenue
      FROM autoscaler.campaign_performance_snapshots
     WHERE account_id = :account AND hour_start >= :start AND hour_start < :end
     GROUP BY 1
), counted AS (
    SELECT day, jsonb_object_agg(action_type, n) FILTER (WHERE mode = 'live') AS live,
           coalesce(sum(n) FILTER (WHERE mode = 'shadow'), 0) AS shadow
      FROM (SELECT (at AT TIME ZONE 'UTC')::date AS day, action_type, mode, count(*) AS n
              FROM (SELECT coalesce(run_hour + interval '1 hour', executed_at, created_at) AS at,
                           action_type, mode
                      FROM autoscaler.scaling_actions WHERE account_id = :account) a
             WHERE at >= :start AND at < :end
             GROUP BY 1, 2, 3) y
     GROUP BY day
)
SELECT coalesce(d.day, c.day) AS day, coalesce(d.spend, 0) AS spend, coalesce(d.revenue, 0) AS revenue,
       coalesce(c.live, '{}'::jsonb) AS live, coalesce(c.shadow, 0) AS shadow
  FROM delivery d FULL JOIN counted c USING (day)
 ORDER BY 1
"""


@dataclass(frozen=True)
class Overview:
    actions: list[RowMapping]
    days: list[RowMapping]


def overview(conn: Connection, account_id: str, start: datetime, end: datetime) -> Overview:
    """The account's actions (by mode, shadow reason and type) and delivery by day in [start, end)."""
    params = {"account": account_id, "start": start, "end": end}
    actions = list(conn.execute(text(_OVERVIEW_ACTIONS), params).mappings())
    days = list(conn.execute(text(_OVERVIEW_DAYS), params).mappings())
    return Overview(actions, days)


# ---- the entity table ----------------------------------------------------------------------

SortKey = Literal["name", "budget", "spend", "roas", "marginal_roas", "last_action_at", "status"]

# Sort expressions by key: a whitelist, never the client's text in the statement.
_SORT: dict[str, str] = {
    "name": "lower(coalesce(h.campaign_name, c.name, '') || ' ' || coalesce(h.name, h.entity_id))",
    "budget": "h.daily_budget",
    "spend": "coalesce(w.spend, 0)",
    "roas": "w.revenue::numeric / nullif(w.spend, 0)",
    "marginal_roas": "k.marginal_roas",
    "last_action_at": "l.effective_at",
    "status": "coalesce(h.effective_status, h.status)",
}

# One page of the account's budget holders with their window sums, the allocator's latest
# recorded curve (marginal ROAS and target) and their last action.  The window sums come
# from one pass over the account's snapshots in the window (snapshots_account_hour_idx); the
# latest curve and action from the account's actions (scaling_actions_account_created_idx).
_TABLE = """
WITH w AS (
    SELECT entity_id, sum(spend) AS spend, sum(revenue) AS revenue, sum(conversions) AS purchases
      FROM autoscaler.campaign_performance_snapshots
     WHERE account_id = :account AND hour_start >= :start AND hour_start < :end
     GROUP BY entity_id
), k AS (
    SELECT DISTINCT ON (entity_id) entity_id, marginal_roas, target_marginal_roas, curve_target_budget,
           curve_elasticity, created_at AS curve_at
      FROM autoscaler.scaling_actions
     WHERE account_id = :account AND marginal_roas IS NOT NULL
     ORDER BY entity_id, created_at DESC, action_id DESC
), l AS (
    SELECT DISTINCT ON (entity_id) entity_id, action_id, action_type, status AS action_status, mode,
           {effective} AS effective_at
      FROM autoscaler.scaling_actions
     WHERE account_id = :account
     ORDER BY entity_id, {effective} DESC, action_id DESC
)
SELECT h.entity_id, h.level, h.campaign_id, h.name, coalesce(h.campaign_name, c.name) AS campaign_name, h.daily_budget,
       coalesce(h.effective_status, h.status) AS status, h.locked,
       coalesce(w.spend, 0) AS spend, coalesce(w.revenue, 0) AS revenue, coalesce(w.purchases, 0) AS purchases,
       k.marginal_roas, k.target_marginal_roas, k.curve_target_budget, k.curve_elasticity, k.curve_at,
       l.action_id AS last_action_id, l.action_type AS last_action_type, l.action_status AS last_action_status,
       l.mode AS last_action_mode, l.effective_at AS last_action_at,
       count(*) OVER () AS total
  FROM autoscaler.budget_holders h
  LEFT JOIN autoscaler.budget_holders c ON c.entity_id = h.campaign_id AND h.level = 'adset'
  LEFT JOIN w ON w.entity_id = h.entity_id
  LEFT JOIN k ON k.entity_id = h.entity_id
  LEFT JOIN l ON l.entity_id = h.entity_id
 WHERE h.account_id = :account
   AND (CAST(:q AS text) IS NULL OR h.entity_id = :q OR h.campaign_id = :q
        OR h.name ILIKE '%' || :q || '%' OR coalesce(h.campaign_name, c.name) ILIKE '%' || :q || '%')
   AND (CAST(:status AS text) IS NULL OR coalesce(h.effective_status, h.status) = :status)
 ORDER BY {sort} {direction} NULLS LAST, h.entity_id
 LIMIT :limit OFFSET :offset
"""

# Daily points for the sparklines of one page of holders: the budget the day ended with (the
# last hour that recorded one) and the day's ROAS.
_SPARKS = """
SELECT entity_id, (hour_start AT TIME ZONE 'UTC')::date AS day,
       (array_agg(daily_budget ORDER BY hour_start DESC) FILTER (WHERE daily_budget IS NOT NULL))[1] AS budget,
       sum(spend) AS spend, sum(revenue) AS revenue
  FROM autoscaler.campaign_performance_snapshots
 WHERE entity_id = ANY(:ids) AND hour_start >= :start AND hour_start < :end
 GROUP BY 1, 2
 ORDER BY 1, 2
"""


@dataclass(frozen=True)
class EntityPage:
    total: int
    rows: list[RowMapping]
    sparks: dict[str, list[RowMapping]]


def entity_table(
    conn: Connection,
    account_id: str,
    start: datetime,
    end: datetime,
    *,
    q: str | None = None,
    status: str | None = None,
    sort: SortKey = "spend",
    descending: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> EntityPage:
    """One page of the account's budget holders, sorted and filtered in SQL, with sparklines."""
    statement = _TABLE.format(
        effective=EFFECTIVE_AT, sort=_SORT[sort], direction="DESC" if descending else "ASC"
    )
    rows = list(
        conn.execute(
            text(statement),
            {
                "account": account_id,
                "start": start,
                "end": end,
                "q": q,
                "status": status,
                "limit": limit,
                "offset": offset,
            },
        ).mappings()
    )
    sparks: dict[str, list[RowMapping]] = {str(r["entity_id"]): [] for r in rows}
    if rows:
        for point in conn.execute(
            text(_SPARKS), {"ids": list(sparks), "start": start, "end": end}
        ).mappings():
            sparks[str(point["entity_id"])].append(point)
    total = int(rows[0]["total"]) if rows else _count(conn, account_id, q, status)
    return EntityPage(total, rows, sparks)


def _count(conn: Connection, account_id: str, q: str | None, status: str | None) -> int:
    """The match count when the page asked for lies past the last row (the window count is
    then not there to read)."""
    return int(
        conn.execute(
            text(
                """
                SELECT count(*) FROM autoscaler.budget_holders h
                  LEFT JOIN autoscaler.budget_holders c ON c.entity_id = h.campaign_id AND h.level = 'adset'
                 WHERE h.account_id = :account
                   AND (CAST(:q AS text) IS NULL OR h.entity_id = :q OR h.campaign_id = :q
                        OR h.name ILIKE '%' || :q || '%' OR coalesce(h.campaign_name, c.name) ILIKE '%' || :q || '%')
                   AND (CAST(:status AS text) IS NULL OR coalesce(h.effective_status, h.status) = :status)
                """
            ),
            {"account": account_id, "q": q, "status": status},
        ).scalar_one()
    )


def latest_hour(conn: Connection, account_id: str) -> datetime | None:
    """The end of the account's latest snapshot hour: where its windows end by default (a
    backfilled or stopped account still shows its last days, not an empty now)."""
    value = conn.execute(
        text(
            "SELECT max(hour_start) + interval '1 hour' FROM autoscaler.campaign_performance_snapshots "
            "WHERE account_id = :a"
        ),
        {"a": account_id},
    ).scalar()
    return value if isinstance(value, datetime) else None


# ---- one entity's history ------------------------------------------------------------------

# Every hour of the entity in [start, end): the budget it was read with, or -- for a
# backfilled hour, whose snapshot cannot know it -- the budget the run for that hour decided
# with (scaling_evaluations, the same for live and shadow runs), with where it came from.
_HOURS = """
SELECT s.hour_start, s.spend, s.revenue, s.conversions AS purchases, coalesce(s.effective_status, s.status) AS status,
       coalesce(s.daily_budget, e.budget) AS daily_budget,
       CASE WHEN s.daily_budget IS NOT NULL THEN 'snapshot'
            WHEN e.budget IS NOT NULL THEN 'evaluation' END AS budget_source
  FROM autoscaler.campaign_performance_snapshots s
  LEFT JOIN LATERAL (
       SELECT ev.daily_budget[array_position(ev.entity_ids, s.entity_id)] AS budget
         FROM autoscaler.scaling_evaluations ev
        WHERE ev.account_id = s.account_id AND ev.run_hour = s.hour_start
          AND s.daily_budget IS NULL AND array_position(ev.entity_ids, s.entity_id) IS NOT NULL
        ORDER BY ev.mode = 'live' DESC
        LIMIT 1) e ON true
 WHERE s.entity_id = :entity AND s.hour_start >= :start AND s.hour_start < :end
 ORDER BY s.hour_start
"""

_ACTIONS_OF_ENTITY = """
SELECT action_id, action_type, status, mode, origin, currency, budget_before, budget_after, status_after,
       reasoning, decided_by, decided_at, decision_reason, created_at, executed_at, run_hour,
       marginal_roas, curve_target_budget, {effective} AS effective_at
  FROM autoscaler.scaling_actions
 WHERE entity_id = :entity AND {effective} >= :start AND {effective} < :end
 ORDER BY effective_at, action_id
"""


@dataclass(frozen=True)
class EntityHistory:
    holder: RowMapping
    hours: list[RowMapping]
    actions: list[RowMapping]


def entity_holder(conn: Connection, entity_id: str) -> RowMapping | None:
    """The holder with its account's currency and time zone, and its campaign's name."""
    return (
        conn.execute(
            text(
                """
                SELECT h.entity_id, h.account_id, h.level, h.campaign_id, h.name, coalesce(h.campaign_name, c.name) AS campaign_name,
                       h.daily_budget, coalesce(h.effective_status, h.status) AS status, h.locked,
                       h.lock_reason, a.currency, a.timezone_name,
                       (SELECT p.computed_at FROM autoscaler.optimal_hour_profiles p
                         WHERE p.entity_id = h.entity_id) AS profile_computed_at
                  FROM autoscaler.budget_holders h
                  JOIN autoscaler.ad_accounts a USING (account_id)
                  LEFT JOIN autoscaler.budget_holders c ON c.entity_id = h.campaign_id AND h.level = 'adset'
                 WHERE h.entity_id = :e
                """
            ),
            {"e": entity_id},
        )
        .mappings()
        .one_or_none()
    )


def entity_history(conn: Connection, holder: RowMapping, start: datetime, end: datetime) -> EntityHistory:
    """The entity's hours (budget, spend, revenue) and actions in [start, end)."""
    params = {"entity": holder["entity_id"], "start": start, "end": end}
    hours = list(conn.execute(text(_HOURS), params).mappings())
    actions = list(conn.execute(text(_ACTIONS_OF_ENTITY.format(effective=EFFECTIVE_AT)), params).mappings())
    return EntityHistory(holder, hours, actions)


def entity_latest_hour(conn: Connection, entity_id: str) -> datetime | None:
    value = conn.execute(
        text(
            "SELECT max(hour_start) + interval '1 hour' FROM autoscaler.campaign_performance_snapshots "
            "WHERE entity_id = :e"
        ),
        {"e": entity_id},
    ).scalar()
    return value if isinstance(value, datetime) else None


# ---- the actions list ----------------------------------------------------------------------


@dataclass(frozen=True)
class ActionFilter:
    """What the actions list is narrowed to; None means any."""

    account_id: str | None = None
    entity_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    action_type: str | None = None
    status: str | None = None
    mode: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "account": self.account_id,
            "entity": self.entity_id,
            "start": self.start,
            "end": self.end,
            "action_type": self.action_type,
            "status": self.status,
            "mode": self.mode,
        }


_ACTIONS_WHERE = """
 WHERE (CAST(:account AS text) IS NULL OR a.account_id = :account)
   AND (CAST(:entity AS text) IS NULL OR a.entity_id = :entity)
   AND (CAST(:start AS timestamptz) IS NULL OR a.created_at >= :start)
   AND (CAST(:end AS timestamptz) IS NULL OR a.created_at < :end)
   AND (CAST(:action_type AS text) IS NULL OR a.action_type = :action_type)
   AND (CAST(:status AS text) IS NULL OR a.status = :status)
   AND (CAST(:mode AS text) IS NULL OR a.mode = :mode)
"""


def count_actions(conn: Connection, where: ActionFilter) -> int:
    return int(
        conn.execute(
            text(f"SELECT count(*) FROM autoscaler.scaling_actions a {_ACTIONS_WHERE}"), where.params()
        ).scalar_one()
    )


def list_actions(
    conn: Connection, where: ActionFilter, *, order: Literal["created", "changed"], limit: int, offset: int
) -> list[RowMapping]:
    """One page of actions, newest first, with the entity's and its campaign's names."""
    column = "status_changed_at" if order == "changed" else "created_at"
    return list(
        conn.execute(
            text(
                f"""
                SELECT a.*, h.name AS entity_name, coalesce(h.campaign_name, c.name) AS campaign_name, h.campaign_id
                  FROM autoscaler.scaling_actions a
                  JOIN autoscaler.budget_holders h ON h.entity_id = a.entity_id
                  LEFT JOIN autoscaler.budget_holders c ON c.entity_id = h.campaign_id AND h.level = 'adset'
                  {_ACTIONS_WHERE}
                 ORDER BY a.{column} DESC, a.action_id DESC
                 LIMIT :limit OFFSET :offset
                """
            ),
            {**where.params(), "limit": limit, "offset": offset},
        ).mappings()
    )


# ---- approvals -----------------------------------------------------------------------------


def pending_approvals(
    conn: Connection, account_id: str | None, entity_id: str | None, action_type: str | None = None
) -> list[RowMapping]:
    """Actions waiting for an answer, soonest deadline first, with names."""
    return list(
        conn.execute(
            text(
                """
                SELECT a.action_id, a.account_id, a.entity_id, a.entity_level, a.action_type, a.currency,
                       a.budget_before, a.budget_after, a.base_before, a.base_after,
                       a.status_before, a.status_after, a.reasoning,
                       a.approval_deadline, a.created_at, a.run_hour, a.roas,
                       h.name AS entity_name, h.campaign_id, coalesce(h.campaign_name, c.name) AS campaign_name
                  FROM autoscaler.scaling_actions a
                  JOIN autoscaler.budget_holders h ON h.entity_id = a.entity_id
                  LEFT JOIN autoscaler.budget_holders c ON c.entity_id = h.campaign_id AND h.level = 'adset'
                 WHERE a.status = 'pending_approval'
                   AND (CAST(:account AS text) IS NULL OR a.account_id = :account)
                   AND (CAST(:entity AS text) IS NULL OR a.entity_id = :entity)
                   AND (CAST(:action_type AS text) IS NULL OR a.action_type = :action_type)
                 ORDER BY a.approval_deadline NULLS LAST, a.action_id
                 LIMIT 1000
                """
            ),
            {"account": account_id, "entity": entity_id, "action_type": action_type},
        ).mappings()
    )


# ---- the seed's routes (dashboard, accounts, entities, emergency) ---------------------------


def holder_account(conn: Connection, entity_id: str) -> str | None:
    """The account a budget holder belongs to, or None for an unknown holder."""
    value = conn.execute(
        text("SELECT account_id FROM autoscaler.budget_holders WHERE entity_id = :e"), {"e": entity_id}
    ).scalar()
    return None if value is None else str(value)


def seed_dashboard(
    conn: Connection, start: date, end: date, account_id: str | None, mode: str
) -> tuple[list[Any], list[Any]]:
    """The seed dashboard's sums over UTC days start..end: actions by type and currency (from
    the view dashboard_daily), and delivery by currency (performance_daily)."""
    params = {"start": start, "end": end, "account": account_id, "mode": mode}
    actions = conn.execute(
        text(
            """
            SELECT action_type, currency, sum(actions) AS actions, sum(executed) AS executed,
                   sum(pending) AS pending, sum(budget_increase) AS inc, sum(budget_decrease) AS dec
              FROM autoscaler.dashboard_daily
             WHERE day BETWEEN :start AND :end AND mode = :mode
               AND (CAST(:account AS text) IS NULL OR account_id = :account)
             GROUP BY action_type, currency
            """
        ),
        params,
    ).all()
    performance = conn.execute(
        text(
            """
            SELECT currency, sum(spend) AS spend, sum(revenue) AS revenue
              FROM autoscaler.performance_daily
             WHERE day BETWEEN :start AND :end
               AND (CAST(:account AS text) IS NULL OR account_id = :account)
             GROUP BY currency ORDER BY currency
            """
        ),
        params,
    ).all()
    return list(actions), list(performance)


def accounts_with_switches(conn: Connection) -> list[RowMapping]:
    """Every account with whether a kill switch governs it and how many holders it has."""
    return list(
        conn.execute(
            text(
                """
                SELECT a.account_id, a.name, a.currency, a.timezone_name,
                       coalesce(bool_or(p.paused), false) AS paused,
                       (SELECT count(*) FROM autoscaler.budget_holders h WHERE h.account_id = a.account_id) AS holders
                  FROM autoscaler.ad_accounts a
                  LEFT JOIN autoscaler.pause_switches p ON p.scope IN ('all', a.account_id)
                 GROUP BY a.account_id ORDER BY a.account_id
                """
            )
        ).mappings()
    )


def holders_of(conn: Connection, account_id: str, limit: int) -> list[RowMapping]:
    """The account's budget holders by id, with the account's currency."""
    return list(
        conn.execute(
            text(
                """
                SELECT h.entity_id, h.level, h.campaign_id, h.name, h.daily_budget, h.status, h.locked,
                       h.lock_reason, a.currency
                  FROM autoscaler.budget_holders h JOIN autoscaler.ad_accounts a USING (account_id)
                 WHERE h.account_id = :a ORDER BY h.entity_id LIMIT :limit
                """
            ),
            {"a": account_id, "limit": limit},
        ).mappings()
    )


def locked_holders(conn: Connection, limit: int = 1000) -> list[RowMapping]:
    """Locked holders, most recently locked first."""
    return list(
        conn.execute(
            text(
                "SELECT entity_id, account_id, locked_by, locked_at, lock_reason FROM autoscaler.budget_holders "
                "WHERE locked ORDER BY locked_at DESC LIMIT :limit"
            ),
            {"limit": limit},
        ).mappings()
    )


def statuses_of(conn: Connection, action_ids: list[int]) -> dict[int, str]:
    """The current status of each of these actions."""
    rows = conn.execute(
        text("SELECT action_id, status FROM autoscaler.scaling_actions WHERE action_id = ANY(:ids)"),
        {"ids": action_ids},
    ).all()
    return {int(r[0]): str(r[1]) for r in rows}
