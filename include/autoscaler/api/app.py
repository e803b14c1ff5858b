"""The autoscaler's REST API: the seed's endpoints, served by Airflow's API server.

plugins/autoscaler_plugin.py mounts ``create_app()`` under ``/api/auto-scaler`` and the page
(``create_page_app()``) under ``/auto-scaler``.  Every route needs an authenticated Airflow
user (autoscaler.api.auth); reads need read access to the hourly DAG, changes need edit
access.  Routes are thin: the work is in the package's functions that the DAGs and the CLI
use too, so the API previews exactly what the hourly run would decide.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy import Connection, Engine, text

from autoscaler.api import schemas as s
from autoscaler.api.auth import Operator, Reader, actor
from autoscaler.meta import MetaClient
from autoscaler.rules import RuleError
from autoscaler.store import actions as store_actions

PREFIX = "/api/auto-scaler"
PAGE_PREFIX = "/auto-scaler"
EntityIdPath = Annotated[str, PathParam(pattern=r"^[0-9]{1,20}$", description="Campaign or ad set id.")]
AccountQuery = Annotated[str | None, Query(pattern=r"^act_[0-9]{1,20}$")]
EntityQuery = Annotated[str | None, Query(pattern=r"^[0-9]{1,20}$")]


class NoDatabaseError(RuntimeError):
    pass


def _configured_engine() -> Engine:
    from autoscaler.store.engine import configured_url, make_engine

    url = configured_url()
    if url is None:
        raise NoDatabaseError(
            "no audit database configured for the API server: set AUTOSCALER_DB_URL or the "
            "Airflow connection autoscaler_db"
        )
    return make_engine(url)


def _configured_meta() -> MetaClient:
    """The Meta client from the ``meta_ads_default`` connection, as the API server sees it."""
    from airflow.models.connection import Connection as AirflowConnection

    from autoscaler.airflow.connections import META_CONN_ID
    from autoscaler.meta import MetaConfig

    conn = AirflowConnection.get_connection_from_secrets(META_CONN_ID)
    return MetaClient(MetaConfig.from_connection(conn.password, conn.extra_dejson, META_CONN_ID))


class Services:
    """What the routes need from outside: the audit database and Meta (replaceable in tests)."""

    def __init__(
        self,
        engine: Engine | None = None,
        meta: Callable[[], MetaClient] = _configured_meta,
    ) -> None:
        self._engine = engine
        self.meta = meta

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = _configured_engine()
        return self._engine


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@contextmanager
def _read(request: Request) -> Iterator[Connection]:
    with _services(request).engine.connect() as conn:
        yield conn


@contextmanager
def _write(request: Request) -> Iterator[Connection]:
    with _services(request).engine.begin() as conn:
        yield conn


# ---- evaluate ------------------------------------------------------------------------------

router = APIRouter()


def _last_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def _hour(value: datetime | None) -> tuple[datetime, datetime]:
    """(run hour, decision time) for a preview: the hour that last ended unless one is given."""
    if value is None:
        return _last_hour(), datetime.now(UTC)
    hour = value.astimezone(UTC)
    if hour != hour.replace(minute=0, second=0, microsecond=0):
        raise HTTPException(422, "run_hour: must be the start of an hour")
    return hour, hour + timedelta(hours=1)


def _number(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) else number


def _evaluation(row: Any, currency: str) -> s.Evaluation:
    from autoscaler.policy import reasoning

    target = getattr(row, "target", None)
    return s.Evaluation(
        entity_id=row.entity_id,
        rule_id=None if _number(row.rule_id) is None else int(row.rule_id),
        action=str(row.action),
        reason=str(row.reason),
        currency=currency,
        daily_budget=s.major(int(row.held), currency),
        new_daily_budget=s.major(int(row.new_daily_budget), currency),
        requires_approval=bool(row.requires_approval),
        spend=s.major(int(row.spend), currency) or 0,
        revenue=s.major(int(row.revenue), currency) or 0,
        impressions=int(row.impressions),
        clicks=int(row.clicks),
        conversions=int(row.conversions),
        roas=_number(row.roas),
        ctr=float(row.ctr),
        time_action=str(row.time_action) or None,
        budget_this_hour=None if target is None else s.major(int(target), currency),
        reasoning=reasoning(row, currency),
    )


def _owner(conn: Connection, entity_id: str) -> str:
    """The account a budget holder belongs to, or 404."""
    account_id = conn.execute(
        text("SELECT account_id FROM autoscaler.budget_holders WHERE entity_id = :e"), {"e": entity_id}
    ).scalar()
    if account_id is None:
        raise HTTPException(404, f"no budget holder with id {entity_id}")
    return str(account_id)


def _decide(conn: Connection, account_id: str, run_hour: datetime, now: datetime) -> Any:
    from autoscaler.hourly import decisions
    from autoscaler.store.accounts import get_account

    get_account(conn, account_id)  # 404 for an unknown account
    found = decisions(conn, account_id, run_hour, now)
    if found is None:
        raise HTTPException(409, f"{account_id} has no enabled scaling rule: nothing would be decided")
    return found


@router.post("/evaluate", tags=["evaluate"], summary="Preview the decision for one entity (no side effect)")
def evaluate(body: s.EvaluateIn, request: Request, user: Reader) -> s.EvaluateOut:
    run_hour, now = _hour(body.run_hour)
    with _read(request) as conn:
        account_id = _owner(conn, body.entity_id)
        found = _decide(conn, account_id, run_hour, now)
    rows = found.frame[found.frame["entity_id"] == body.entity_id]
    if rows.empty:
        raise HTTPException(409, f"{body.entity_id} has no daily budget (lifetime budgets are not scaled)")
    return s.EvaluateOut(
        account_id=account_id,
        run_hour=run_hour,
        window_start=found.window[0],
        window_end=found.window[1],
        evaluation=_evaluation(next(rows.itertuples()), found.currency),
    )


@router.post(
    "/evaluate-bulk", tags=["evaluate"], summary="Preview the decisions for many entities (no side effect)"
)
def evaluate_bulk(body: s.EvaluateBulkIn, request: Request, user: Reader) -> s.EvaluateBulkOut:
    run_hour, now = _hour(body.run_hour)
    with _read(request) as conn:
        found = _decide(conn, body.account_id, run_hour, now)
    frame = found.frame
    if body.entity_ids is not None:
        unknown = sorted(set(body.entity_ids) - set(frame["entity_id"]))
        if unknown:
            raise HTTPException(
                404, f"not budget holders of {body.account_id} with a daily budget: {', '.join(unknown[:20])}"
            )
        frame = frame[frame["entity_id"].isin(body.entity_ids)]
    evaluations = [_evaluation(row, found.currency) for row in frame.itertuples()]
    return s.EvaluateBulkOut(
        account_id=body.account_id,
        run_hour=run_hour,
        window_start=found.window[0],
        window_end=found.window[1],
        summary=dict(Counter(e.action for e in evaluations)),
        evaluations=evaluations,
    )


# ---- approvals and actions -------------------------------------------------------------------


def _deadline_clock(request: Request) -> datetime | None:
    """The clock approval deadlines are set by: Meta's when the Meta connection follows the
    sandbox's virtual clock (the demo, docker-compose), else None: the database's, the wall."""
    try:
        meta = _services(request).meta()
    except Exception:  # no Meta connection in this API server: deadlines are on the wall clock
        return None
    return meta.now() if meta.config.clock != "wall" else None


@router.post("/approve", tags=["actions"], summary="Approve or reject a pending action")
def approve(body: s.ApproveIn, request: Request, user: Operator) -> s.ActionOut:
    with _write(request) as conn:
        if body.approve:
            now = _deadline_clock(request)
            action = store_actions.approve(conn, body.action_id, by=actor(user), reason=body.reason, now=now)
        else:
            action = store_actions.reject(conn, body.action_id, by=actor(user), reason=body.reason)
    return s.ActionOut.of(action)


@router.get("/actions/pending", tags=["actions"], summary="Actions waiting for approval, oldest first")
def pending(
    request: Request,
    user: Reader,
    account_id: AccountQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[s.ActionOut]:
    with _read(request) as conn:
        found = store_actions.list_actions(
            conn, account_id=account_id, status="pending_approval", limit=limit
        )
    return [s.ActionOut.of(a) for a in sorted(found, key=lambda a: a.action_id)]


_HISTORY_WHERE = """
     WHERE (CAST(:account AS text) IS NULL OR account_id = :account)
       AND (CAST(:entity AS text) IS NULL OR entity_id = :entity)
       AND (CAST(:start AS timestamptz) IS NULL OR created_at >= :start)
       AND (CAST(:end AS timestamptz) IS NULL OR created_at < :end)
       AND (CAST(:action_type AS text) IS NULL OR action_type = :action_type)
       AND (CAST(:status AS text) IS NULL OR status = :status)
"""


@router.get("/actions/history", tags=["actions"], summary="Actions, newest first, filtered and paginated")
def history(
    request: Request,
    user: Reader,
    account_id: AccountQuery = None,
    entity_id: EntityQuery = None,
    start: Annotated[s.Moment | None, Query(description="Created at or after (with a time zone).")] = None,
    end: Annotated[s.Moment | None, Query(description="Created before.")] = None,
    action_type: s.ActionType | None = None,
    status_: Annotated[s.ActionStatus | None, Query(alias="status")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    order: Annotated[
        str,
        Query(
            pattern="^(created|changed)$", description="Newest created first, or last status change first."
        ),
    ] = "created",
) -> s.Page:
    params = {
        "account": account_id,
        "entity": entity_id,
        "start": start,
        "end": end,
        "action_type": action_type,
        "status": status_,
    }
    with _read(request) as conn:
        total = conn.execute(
            text(f"SELECT count(*) FROM autoscaler.scaling_actions {_HISTORY_WHERE}"), params
        ).scalar_one()
        rows = conn.execute(
            text(
                f"SELECT * FROM autoscaler.scaling_actions {_HISTORY_WHERE} "
                f"ORDER BY {'status_changed_at' if order == 'changed' else 'created_at'} DESC, action_id DESC "
                "LIMIT :limit OFFSET :offset"
            ),
            {**params, "limit": page_size, "offset": (page - 1) * page_size},
        ).mappings()
        items = []
        for row in rows:
            data = {name: row[name] for name in s.HistoryRow.model_fields}
            data["budget_before"] = s.major(row["budget_before"], row["currency"])
            data["budget_after"] = s.major(row["budget_after"], row["currency"])
            data["roas"] = None if row["roas"] is None else float(row["roas"])
            data["ctr"] = None if row["ctr"] is None else float(row["ctr"])
            items.append(s.HistoryRow(**data))
    return s.Page(total=total, page=page, page_size=page_size, items=items)


# ---- dashboard -----------------------------------------------------------------------------


@router.get("/dashboard", tags=["dashboard"], summary="Counts, budget impact and performance over a period")
def dashboard(
    request: Request,
    user: Reader,
    account_id: AccountQuery = None,
    start_date: Annotated[
        date | None, Query(description="First UTC day (default: 6 days before end_date).")
    ] = None,
    end_date: Annotated[date | None, Query(description="Last UTC day, included (default: today).")] = None,
    mode: Annotated[str, Query(pattern="^(live|shadow)$")] = "live",
) -> s.DashboardOut:
    for value, name in ((start_date, "start_date"), (end_date, "end_date")):
        try:
            s.check_day(value, name)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
    end = end_date or datetime.now(UTC).date()
    start = start_date or max(end - timedelta(days=6), s.FIRST_DAY)
    if start > end:
        raise HTTPException(422, "start_date: must not be after end_date")
    params = {"start": start, "end": end, "account": account_id, "mode": mode}
    with _read(request) as conn:
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
    total = sum(int(r.actions) for r in actions)
    executed = sum(int(r.executed) for r in actions)
    breakdown: Counter[str] = Counter()
    money: dict[str, list[int]] = {}
    for r in actions:
        breakdown[r.action_type] += int(r.actions)
        totals = money.setdefault(r.currency, [0, 0])
        totals[0] += int(r.inc)
        totals[1] += int(r.dec)
    return s.DashboardOut(
        period_start=datetime.combine(start, datetime.min.time(), UTC),
        period_end=datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC),
        account_id=account_id,
        mode=mode,
        summary=s.Summary(
            total_actions=total,
            executed=executed,
            pending=sum(int(r.pending) for r in actions),
            execution_rate=round(executed / total, 4) if total else 0.0,
        ),
        action_breakdown=dict(sorted(breakdown.items())),
        budget_impact=[
            s.BudgetImpact(
                currency=c,
                total_increase=s.major(inc, c) or 0,
                total_decrease=s.major(dec, c) or 0,
                net_change=s.major(inc - dec, c) or 0,
            )
            for c, (inc, dec) in sorted(money.items())
        ],
        performance=[
            s.Performance(
                currency=r.currency,
                spend=s.major(int(r.spend), r.currency) or 0,
                revenue_tracked=s.major(int(r.revenue), r.currency) or 0,
                avg_roas=round(int(r.revenue) / int(r.spend), 4) if int(r.spend) else None,
            )
            for r in performance
        ],
    )


# ---- rules ---------------------------------------------------------------------------------


def _rule_out(rule: Any, currency: str) -> dict[str, Any]:
    encoded: dict[str, Any] = jsonable_encoder(rule.as_major(currency))
    return encoded


def _currency(conn: Connection, account_id: Any) -> str:
    from autoscaler.store.accounts import get_account

    if not isinstance(account_id, str):
        raise RuleError({"account_id": "is required (act_<digits>)"})
    try:
        return get_account(conn, account_id).currency
    except LookupError:
        raise RuleError(
            {"account_id": f"unknown ad account {account_id}: record the account first"}
        ) from None


@router.post("/rules", tags=["rules"], status_code=201, summary="Create a rule")
def create_rule(body: s.RuleBody, request: Request, user: Operator) -> dict[str, Any]:
    from autoscaler.rules import ScalingRule
    from autoscaler.store import rules

    with _write(request) as conn:
        currency = _currency(conn, body.get("account_id"))
        rule = rules.create_rule(conn, ScalingRule.from_major(body, currency), actor=actor(user))
    return _rule_out(rule, currency)


@router.get("/rules", tags=["rules"], summary="List rules")
def list_rules(request: Request, user: Reader, account_id: AccountQuery = None) -> list[dict[str, Any]]:
    from autoscaler.store import rules

    with _read(request) as conn:
        found = rules.list_rules(conn, account_id)
        return [_rule_out(r, _currency(conn, r.account_id)) for r in found]


@router.get("/rules/{rule_id}", tags=["rules"], summary="One rule")
def get_rule(
    rule_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)], request: Request, user: Reader
) -> dict[str, Any]:
    from autoscaler.store import rules

    with _read(request) as conn:
        rule = rules.get_rule(conn, rule_id)
        return _rule_out(rule, _currency(conn, rule.account_id))


@router.put("/rules/{rule_id}", tags=["rules"], summary="Change a rule (the fields given; a new revision)")
def update_rule(
    rule_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)], body: s.RuleBody, request: Request, user: Operator
) -> dict[str, Any]:
    from autoscaler.rules import money_to_minor
    from autoscaler.store import rules

    with _write(request) as conn:
        current = rules.get_rule(conn, rule_id)
        currency = _currency(conn, current.account_id)
        rule = rules.update_rule(
            conn, rule_id, money_to_minor(body, currency), actor=actor(user), currency=currency, strict=True
        )
    return _rule_out(rule, currency)


@router.delete("/rules/{rule_id}", tags=["rules"], status_code=204, summary="Delete (disable) a rule")
def delete_rule(
    rule_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)], request: Request, user: Operator
) -> None:
    from autoscaler.store import rules

    with _write(request) as conn:
        rules.delete_rule(conn, rule_id, actor=actor(user))


# ---- time optimization ---------------------------------------------------------------------


@router.post(
    "/time-optimization/learn", tags=["time optimization"], summary="Recompute optimal-hour profiles"
)
def learn(body: s.LearnIn, request: Request, user: Operator) -> dict[str, dict[str, int]]:
    from autoscaler.daily import learn_account
    from autoscaler.store.accounts import get_account
    from autoscaler.store.rules import enabled_accounts

    engine = _services(request).engine
    with engine.connect() as conn:
        if body.account_id is not None:
            get_account(conn, body.account_id)
        accounts = [body.account_id] if body.account_id else enabled_accounts(conn)
    now = body.as_of or datetime.now(UTC)
    return {a: learn_account(engine, a, now, body.days) for a in accounts}


@router.get(
    "/time-optimization/report/{entity_id}", tags=["time optimization"], summary="Hour-by-hour profile"
)
def time_report(entity_id: EntityIdPath, request: Request, user: Reader) -> dict[str, Any]:
    from autoscaler import profile_views

    with _read(request) as conn:
        return profile_views.report(profile_views.load(conn, entity_id))


@router.get(
    "/time-optimization/schedule/{entity_id}",
    tags=["time optimization"],
    summary="Recommended 24-hour budgets",
)
def time_schedule(entity_id: EntityIdPath, request: Request, user: Reader) -> dict[str, Any]:
    from autoscaler import profile_views

    with _read(request) as conn:
        return profile_views.recommended_schedule(conn, profile_views.load(conn, entity_id))


@router.get(
    "/entities/{entity_id}/curve",
    tags=["entities"],
    summary="The entity's fitted response curve, its band, current and target budgets (the allocator's)",
)
def entity_curve(
    entity_id: EntityIdPath,
    request: Request,
    user: Reader,
    as_of: Annotated[
        datetime | None,
        Query(description="Fit on the two weeks before this time (default: now); with a time zone."),
    ] = None,
) -> dict[str, Any]:
    from autoscaler.curves import entity_curve as fitted

    with _read(request) as conn:
        return fitted(conn, entity_id, (as_of or datetime.now(UTC)).astimezone(UTC))


# ---- entities (for the page) ---------------------------------------------------------------


@router.get("/accounts", tags=["entities"], summary="Ad accounts, with their kill-switch state")
def accounts(request: Request, user: Reader) -> list[dict[str, Any]]:
    with _read(request) as conn:
        rows = conn.execute(
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
        return [dict(r) for r in rows]


@router.get("/entities", tags=["entities"], summary="Budget holders of an account")
def entities(
    request: Request,
    user: Reader,
    account_id: Annotated[str, Query(pattern=r"^act_[0-9]{1,20}$")],
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    from autoscaler.store.accounts import get_account

    with _read(request) as conn:
        get_account(conn, account_id)  # 404 for an account the autoscaler does not know
        rows = conn.execute(
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
        return [{**dict(r), "daily_budget": s.major(r["daily_budget"], r["currency"])} for r in rows]


@router.get(
    "/entities/{entity_id}/timeline", tags=["entities"], summary="Budget and delivery by hour, with actions"
)
def timeline(
    entity_id: EntityIdPath,
    request: Request,
    user: Reader,
    days: Annotated[int, Query(ge=1, le=90)] = 14,
) -> dict[str, Any]:
    with _read(request) as conn:
        holder = (
            conn.execute(
                text(
                    "SELECT h.entity_id, h.account_id, h.name, a.currency, a.timezone_name FROM autoscaler.budget_holders h "
                    "JOIN autoscaler.ad_accounts a USING (account_id) WHERE h.entity_id = :e"
                ),
                {"e": entity_id},
            )
            .mappings()
            .one_or_none()
        )
        if holder is None:
            raise HTTPException(404, f"no budget holder with id {entity_id}")
        currency = holder["currency"]
        # The last ``days`` of the entity's data: up to its latest snapshot (a backfilled or
        # stopped entity still shows its last fortnight), and now for one never snapshotted.
        latest = conn.execute(
            text(
                "SELECT max(hour_start) FROM autoscaler.campaign_performance_snapshots WHERE entity_id = :e"
            ),
            {"e": entity_id},
        ).scalar()
        since = (latest or datetime.now(UTC)) - timedelta(days=days)
        hours = conn.execute(
            text(
                "SELECT hour_start, daily_budget, spend, revenue, status FROM autoscaler.campaign_performance_snapshots "
                "WHERE entity_id = :e AND hour_start >= :since ORDER BY hour_start"
            ),
            {"e": entity_id, "since": since},
        ).all()
        acts = conn.execute(
            text(
                "SELECT * FROM (SELECT action_id, action_type, status, mode, budget_before, budget_after, "
                "status_after, reasoning, created_at, executed_at, run_hour, "
                # When the change belongs on the time line: a run decides for the hour after its
                # data interval; an operator's change when it was executed (or asked for).
                "coalesce(run_hour + interval '1 hour', executed_at, created_at) AS effective_at "
                "FROM autoscaler.scaling_actions WHERE entity_id = :e) AS a "
                "WHERE effective_at >= :since ORDER BY effective_at, action_id"
            ),
            {"e": entity_id, "since": since},
        ).mappings()
        return {
            **dict(holder),
            "hours": [
                {
                    "hour_start": h.hour_start,
                    "daily_budget": s.major(h.daily_budget, currency),
                    "spend": s.major(h.spend, currency),
                    "revenue": s.major(h.revenue, currency),
                    "status": h.status,
                }
                for h in hours
            ],
            "actions": [
                {
                    **dict(a),
                    "budget_before": s.major(a["budget_before"], currency),
                    "budget_after": s.major(a["budget_after"], currency),
                }
                for a in acts
            ],
        }


# ---- emergency controls --------------------------------------------------------------------


@router.get("/emergency", tags=["emergency"], summary="Kill switches and locked entities")
def emergency_state(request: Request, user: Reader) -> dict[str, Any]:
    from autoscaler.store.controls import switches

    with _read(request) as conn:
        locked = conn.execute(
            text(
                "SELECT entity_id, account_id, locked_by, locked_at, lock_reason FROM autoscaler.budget_holders "
                "WHERE locked ORDER BY locked_at DESC LIMIT 1000"
            )
        ).mappings()
        return {
            "switches": [s.SwitchOut(**sw.__dict__) for sw in switches(conn)],
            "locked": [dict(r) for r in locked],
        }


def _known_scope(conn: Connection, scope: str) -> None:
    from autoscaler.store.accounts import get_account

    if scope != "all":
        get_account(conn, scope)


@router.post("/emergency/pause", tags=["emergency"], summary="Engage the kill switch (all, or one account)")
def pause(body: s.PauseIn, request: Request, user: Operator) -> s.SwitchOut:
    return _switch(request, body.scope, paused=True, by=actor(user), reason=body.reason)


@router.post("/emergency/resume", tags=["emergency"], summary="Release the kill switch")
def resume(body: s.ResumeIn, request: Request, user: Operator) -> s.SwitchOut:
    return _switch(request, body.scope, paused=False, by=actor(user), reason=body.reason)


def _switch(request: Request, scope: str, *, paused: bool, by: str, reason: str | None) -> s.SwitchOut:
    from autoscaler.store.controls import set_pause

    with _write(request) as conn:
        _known_scope(conn, scope)
        switch = set_pause(conn, scope, paused=paused, by=by, reason=reason)
    return s.SwitchOut(**switch.__dict__)


@router.post(
    "/entities/{entity_id}/lock", tags=["emergency"], summary="Lock an entity: the autoscaler leaves it alone"
)
def lock(entity_id: EntityIdPath, body: s.LockIn, request: Request, user: Operator) -> s.LockOut:
    return _lock(request, entity_id, locked=True, by=actor(user), reason=body.reason)


@router.post("/entities/{entity_id}/unlock", tags=["emergency"], summary="Unlock an entity")
def unlock(entity_id: EntityIdPath, body: s.UnlockIn, request: Request, user: Operator) -> s.LockOut:
    return _lock(request, entity_id, locked=False, by=actor(user), reason=body.reason)


def _lock(request: Request, entity_id: str, *, locked: bool, by: str, reason: str | None) -> s.LockOut:
    from autoscaler.store.controls import set_lock

    with _write(request) as conn:
        changed = set_lock(conn, entity_id, locked=locked, by=by, reason=reason)
    return s.LockOut(entity_id=entity_id, locked=locked, changed=changed)


@router.post(
    "/rollback", tags=["emergency"], summary="Undo the changes executed in a window (compensating actions)"
)
def rollback(body: s.RollbackIn, request: Request, user: Operator) -> s.RollbackOut:
    from autoscaler import rollback as planner
    from autoscaler.airflow.tasks import variable_paused
    from autoscaler.execute import execute_account
    from autoscaler.store.controls import is_paused

    if (body.account_id is None) == (body.entity_id is None):
        raise HTTPException(422, "account_id, entity_id: give exactly one")
    until = body.until or datetime.now(UTC)
    if body.since >= until:
        raise HTTPException(422, "since: must be before until")
    services = _services(request)
    with services.engine.begin() as conn:
        account_id = body.account_id or _owner(conn, str(body.entity_id))
        _known_scope(conn, account_id)
        if is_paused(conn, account_id) or variable_paused():
            raise HTTPException(
                409,
                f"{account_id} runs in shadow mode (kill switch engaged): a rollback writes to Meta and is "
                "refused while nothing may be written; resume first, or lock the entities instead",
            )
        planned = planner.plan(
            store_actions.executed_between(
                conn, since=body.since, until=until, account_id=account_id, entity_id=body.entity_id
            )
        )
        earlier = store_actions.rollbacks_of(conn, [p.compensates_action_id for p in planned])
        fresh = [p for p in planned if p.compensates_action_id not in earlier]
        held = services.meta().read_budgets([p.entity_id for p in fresh]) if fresh else {}
        plans, skipped = planner.drop_done(planned, earlier, held)
        ids = (
            []
            if body.dry_run
            else store_actions.record_rollbacks(conn, plans, by=actor(user), reason=body.reason)
        )
    outcomes: dict[str, int] = {}
    statuses: dict[int, str] = {}
    if ids:
        summary = execute_account(services.engine, services.meta(), account_id, only=ids)
        outcomes = dict(summary.outcomes)
        with services.engine.connect() as conn:
            statuses = dict(
                conn.execute(
                    text(
                        "SELECT action_id, status FROM autoscaler.scaling_actions WHERE action_id = ANY(:ids)"
                    ),
                    {"ids": ids},
                ).all()
            )
    return s.RollbackOut(
        dry_run=body.dry_run,
        outcomes=outcomes,
        skipped=[
            s.SkippedCompensation(entity_id=k.entity_id, undoes=list(k.undone), why=k.why) for k in skipped
        ],
        compensations=[
            s.Compensation(
                action_id=ids[i] if ids else None,
                entity_id=p.entity_id,
                currency=p.currency,
                budget_before=s.major(p.budget_before, p.currency),
                budget_after=s.major(p.budget_after, p.currency),
                status_before=p.status_before,
                status_after=p.status_after,
                undoes=list(p.undone),
                reasoning=p.reasoning,
                status=statuses.get(ids[i], "approved") if ids else "planned",
            )
            for i, p in enumerate(plans)
        ],
    )


# ---- the app -------------------------------------------------------------------------------


def _error(code: int, detail: Any) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=code)


def _add_error_handlers(app: FastAPI) -> None:
    from autoscaler.curves import CurveNotFoundError
    from autoscaler.profile_views import ProfileNotFoundError
    from autoscaler.store.accounts import UnknownAccountError
    from autoscaler.store.controls import UnknownEntityError
    from autoscaler.store.rules import RuleNotFoundError

    def not_found(request: Request, exc: Exception) -> JSONResponse:
        return _error(404, str(exc))

    for kind in (
        store_actions.ActionNotFoundError,
        RuleNotFoundError,
        UnknownAccountError,
        UnknownEntityError,
        ProfileNotFoundError,
        CurveNotFoundError,
    ):
        app.add_exception_handler(kind, not_found)

    def conflict(request: Request, exc: Exception) -> JSONResponse:
        return _error(409, str(exc))

    app.add_exception_handler(store_actions.ActionStateError, conflict)

    def invalid_rule(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RuleError)
        return _error(
            422, [{"loc": ["body", field], "msg": why, "type": "rule"} for field, why in exc.problems.items()]
        )

    app.add_exception_handler(RuleError, invalid_rule)

    def no_database(request: Request, exc: Exception) -> JSONResponse:
        return _error(503, str(exc))

    app.add_exception_handler(NoDatabaseError, no_database)

    from sqlalchemy.exc import DataError, IntegrityError

    def refused_by_database(request: Request, exc: Exception) -> JSONResponse:
        # A value the edge let through but a constraint refused: the client's input, so a 422
        # with the database's own one line (never the SQL or its parameters), not a 500.
        orig = getattr(exc, "orig", None)
        return _error(422, f"the database refused it: {str(orig or exc).splitlines()[0]}")

    app.add_exception_handler(DataError, refused_by_database)
    app.add_exception_handler(IntegrityError, refused_by_database)


def create_app(services: Services | None = None) -> FastAPI:
    app = FastAPI(
        title="Ad-budget autoscaler",
        version="1",
        openapi_url=None,
        docs_url=None,
        servers=[{"url": PREFIX}],
        redoc_url=None,
        description=(
            "The autoscaler's REST API inside Airflow's API server. Authenticate as for Airflow's own API "
            "(a JWT from POST /auth/token as `Authorization: Bearer`, or the UI's session cookie). Reading "
            "needs read access to the DAG autoscaler_hourly; changing anything needs edit access. Money is "
            "in major units with the currency beside it."
        ),
    )
    app.state.services = services or Services()
    app.include_router(router)

    # The schema and its documentation answer authenticated users only, like every route.
    @app.get("/openapi.json", include_in_schema=False)
    def openapi(user: Reader) -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", include_in_schema=False)
    def docs(user: Reader) -> HTMLResponse:
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url=f"{PREFIX}/openapi.json", title="Ad-budget autoscaler API")

    _add_error_handlers(app)
    return app


# ---- the page ------------------------------------------------------------------------------

STATIC = Path(__file__).with_name("static")


def create_page_app() -> FastAPI:
    """The page inside the Airflow UI; its data comes from the API with the same session."""
    page = FastAPI(title="Autoscaler page", docs_url=None, redoc_url=None, openapi_url=None)

    @page.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index(request: Request) -> Any:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
        from airflow.api_fastapi.core_api.security import resolve_user_from_token

        try:
            await resolve_user_from_token(request.cookies.get(COOKIE_NAME_JWT_TOKEN))
        except HTTPException:
            login = get_auth_manager().get_url_login(next_url=str(request.url))
            return RedirectResponse(login, status_code=status.HTTP_303_SEE_OTHER)
        html = (STATIC / "index.html").read_text(encoding="utf-8").replace("{{API}}", PREFIX)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    return page
