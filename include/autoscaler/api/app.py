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
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Connection, Engine

from autoscaler.api import schemas as s
from autoscaler.api.auth import Operator, Reader, actor
from autoscaler.meta import MetaClient
from autoscaler.rules import ACCOUNT_ID_PATTERN, RuleError
from autoscaler.store import actions as store_actions
from autoscaler.store import dashboard as store_dashboard

if TYPE_CHECKING:  # the google-ads library takes seconds to import: only where it is used
    from autoscaler.google.client import GoogleClient

PREFIX = "/api/auto-scaler"
PAGE_PREFIX = "/auto-scaler"
EntityIdPath = Annotated[str, PathParam(pattern=r"^[0-9]{1,20}$", description="Campaign or ad set id.")]
AccountQuery = Annotated[str | None, Query(pattern=ACCOUNT_ID_PATTERN)]
EntityQuery = Annotated[str | None, Query(pattern=r"^[0-9]{1,20}$")]
STATIC = Path(__file__).with_name("static")
VENDOR = STATIC / "vendor"


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


def _configured_google() -> GoogleClient:
    """The Google Ads client from the ``google_ads_default`` connection, as the API server sees it."""
    from airflow.models.connection import Connection as AirflowConnection

    from autoscaler.airflow.connections import GOOGLE_CONN_ID
    from autoscaler.google.client import GoogleClient, GoogleConfig

    conn = AirflowConnection.get_connection_from_secrets(GOOGLE_CONN_ID)
    return GoogleClient(GoogleConfig.from_connection(conn.extra_dejson, GOOGLE_CONN_ID))


class Services:
    """What the routes need from outside: the audit database, Meta and Google Ads (replaceable in tests)."""

    def __init__(
        self,
        engine: Engine | None = None,
        meta: Callable[[], MetaClient] = _configured_meta,
        google: Callable[[], GoogleClient] = _configured_google,
    ) -> None:
        self._engine = engine
        self.meta = meta
        self.google = google

    def client_for(self, platform: str) -> MetaClient | GoogleClient:
        """The client of an account's platform (ad_accounts.platform)."""
        return self.google() if platform == "google_ads" else self.meta()

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
    account_id = store_dashboard.holder_account(conn, entity_id)
    if account_id is None:
        raise HTTPException(404, f"no budget holder with id {entity_id}")
    return account_id


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


ActionMode = Literal["live", "shadow"]


def _action_filter(
    account_id: AccountQuery = None,
    entity_id: EntityQuery = None,
    start: Annotated[s.Moment | None, Query(description="Recorded at or after (with a time zone).")] = None,
    end: Annotated[s.Moment | None, Query(description="Recorded before.")] = None,
    action_type: s.ActionType | None = None,
    status_: Annotated[s.ActionStatus | None, Query(alias="status")] = None,
    mode: Annotated[
        ActionMode | None, Query(description="live, or shadow (backfill, dry run, kill switch).")
    ] = None,
) -> store_dashboard.ActionFilter:
    return store_dashboard.ActionFilter(account_id, entity_id, start, end, action_type, status_, mode)


ActionFilterQuery = Annotated[store_dashboard.ActionFilter, Depends(_action_filter)]
PageQuery = Annotated[int, Query(ge=1, le=1_000_000)]
PageSizeQuery = Annotated[int, Query(ge=1, le=500)]
OrderQuery = Annotated[
    Literal["created", "changed"],
    Query(description="Newest created first, or last status change first."),
]


def _history_rows(rows: list[Any]) -> list[s.HistoryRow]:
    items = []
    for row in rows:
        data = {name: row[name] for name in s.HistoryRow.model_fields}
        data["budget_before"] = s.major(row["budget_before"], row["currency"])
        data["budget_after"] = s.major(row["budget_after"], row["currency"])
        data["roas"] = None if row["roas"] is None else float(row["roas"])
        data["ctr"] = None if row["ctr"] is None else float(row["ctr"])
        items.append(s.HistoryRow(**data))
    return items


@router.get("/actions/history", tags=["actions"], summary="Actions, newest first, filtered and paginated")
def history(
    request: Request,
    user: Reader,
    where: ActionFilterQuery,
    page: PageQuery = 1,
    page_size: PageSizeQuery = 50,
    order: OrderQuery = "created",
) -> s.Page:
    with _read(request) as conn:
        total = store_dashboard.count_actions(conn, where)
        rows = store_dashboard.list_actions(
            conn, where, order=order, limit=page_size, offset=(page - 1) * page_size
        )
    return s.Page(total=total, page=page, page_size=page_size, items=_history_rows(rows))


#: The CSV's columns: what the page's actions table shows, ids beside names, money in major units.
CSV_COLUMNS = (
    "action_id",
    "created_at",
    "status_changed_at",
    "account_id",
    "campaign_id",
    "campaign_name",
    "entity_id",
    "entity_name",
    "action_type",
    "mode",
    "status",
    "currency",
    "budget_before",
    "budget_after",
    "status_after",
    "roas",
    "decided_by",
    "decision_reason",
    "reasoning",
    "error_message",
)


@router.get(
    "/actions/history.csv",
    tags=["actions"],
    summary="The same page of actions as /actions/history, as CSV",
    response_class=PlainTextResponse,
)
def history_csv(
    request: Request,
    user: Reader,
    where: ActionFilterQuery,
    page: PageQuery = 1,
    page_size: PageSizeQuery = 50,
    order: OrderQuery = "created",
) -> PlainTextResponse:
    import csv
    import io

    result = history(request, user, where, page, page_size, order)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item in result.items:
        data = item.model_dump()
        writer.writerow(["" if data[c] is None else _csv_cell(data[c]) for c in CSV_COLUMNS])
    return PlainTextResponse(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="autoscaler-actions-page-{page}.csv"'},
    )


def _csv_cell(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    text_value = str(value)
    # A cell a spreadsheet would run as a formula is quoted as text (CSV injection).
    return (
        "'" + text_value
        if text_value[:1] in ("=", "+", "-", "@") and not _is_number(text_value)
        else text_value
    )


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


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
    with _read(request) as conn:
        actions, performance = store_dashboard.seed_dashboard(conn, start, end, account_id, mode)
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
        raise RuleError({"account_id": "is required (act_<digits>, or a Google Ads customer id)"})
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
def learn(body: s.LearnIn, request: Request, user: Operator) -> dict[str, dict[str, Any]]:
    from autoscaler.daily import learn_account, no_profiles_reason
    from autoscaler.store.accounts import get_account
    from autoscaler.store.rules import enabled_accounts

    engine = _services(request).engine
    with engine.connect() as conn:
        if body.account_id is not None:
            get_account(conn, body.account_id)
        accounts = [body.account_id] if body.account_id else enabled_accounts(conn)
    now = body.as_of or datetime.now(UTC)
    learned: dict[str, dict[str, Any]] = {}
    for account_id in accounts:
        counts: dict[str, Any] = dict(learn_account(engine, account_id, now, body.days))
        # profiles: 0 says why, and what to send instead (reason is null when there are some).
        counts["reason"] = (
            no_profiles_reason(engine, account_id, now, body.days, "as_of")
            if counts["profiles"] == 0
            else None
        )
        learned[account_id] = counts
    return learned


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
        rows = store_dashboard.accounts_with_switches(conn)
        return [dict(r) for r in rows]


@router.get("/entities", tags=["entities"], summary="Budget holders of an account")
def entities(
    request: Request,
    user: Reader,
    account_id: Annotated[str, Query(pattern=ACCOUNT_ID_PATTERN)],
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    from autoscaler.store.accounts import get_account

    with _read(request) as conn:
        get_account(conn, account_id)  # 404 for an account the autoscaler does not know
        rows = store_dashboard.holders_of(conn, account_id, limit)
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
    """The first page's shape of an entity's history (kept for API users); the page itself
    uses /entities/{id}/history, which adds the budgets' sources and delivery by day."""
    found = entity_history(entity_id, request, user, days)
    keep = ("action_id", "action_type", "status", "mode", "budget_before", "budget_after", "status_after")
    return {
        "entity_id": found.entity_id,
        "account_id": found.account_id,
        "name": found.name,
        "currency": found.currency,
        "timezone_name": found.timezone_name,
        "hours": [
            h.model_dump(include={"hour_start", "daily_budget", "spend", "revenue", "status"})
            for h in found.hours
        ],
        "actions": [
            a.model_dump(
                include={*keep, "reasoning", "created_at", "executed_at", "run_hour", "effective_at"}
            )
            for a in found.actions
        ],
    }


# ---- the page: overview, entity table, entity history, approvals ----------------------------

StartDay = Annotated[date | None, Query(description="First UTC day (default: 6 days before end_date).")]
EndDay = Annotated[
    date | None, Query(description="Last UTC day, included (default: the day of the account's latest hour).")
]
AccountRequired = Annotated[str, Query(pattern=ACCOUNT_ID_PATTERN)]


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _period(
    conn: Connection, account_id: str, start: date | None, end: date | None
) -> tuple[datetime, datetime]:
    """[start, end) in UTC for UTC days start..end; by default the week up to the account's
    latest snapshot hour (a backfilled or stopped account shows its last data, not an empty now)."""
    for value, name in ((start, "start_date"), (end, "end_date")):
        try:
            s.check_day(value, name)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
    if end is None:
        latest = store_dashboard.latest_hour(conn, account_id)
        end = (latest - timedelta(seconds=1)).date() if latest else datetime.now(UTC).date()
    start = start or max(end - timedelta(days=6), s.FIRST_DAY)
    if start > end:
        raise HTTPException(422, "start_date: must not be after end_date")
    midnight = datetime.min.time()
    return datetime.combine(start, midnight, UTC), datetime.combine(end + timedelta(days=1), midnight, UTC)


def _account(conn: Connection, account_id: str) -> s.AccountOut:
    row = store_dashboard.account_row(conn, account_id)
    if row is None:
        raise HTTPException(404, f"unknown ad account {account_id}")
    return s.AccountOut(**{name: row.get(name) for name in s.AccountOut.model_fields})


def _figures(kind: str, mode: str, rows: list[Any], currency: str) -> s.ModeFigures:
    total = sum(int(r["actions"]) for r in rows)
    executed = sum(int(r["executed"]) for r in rows)
    increase = sum(int(r["increase"]) for r in rows)
    decrease = sum(int(r["decrease"]) for r in rows)
    breakdown: Counter[str] = Counter()
    for r in rows:
        breakdown[r["action_type"]] += int(r["actions"])
    return s.ModeFigures(
        kind=kind,
        mode=mode,
        total_actions=total,
        executed=executed,
        pending=sum(int(r["pending"]) for r in rows),
        execution_rate=round(executed / total, 4) if total else 0.0,
        action_breakdown=dict(sorted(breakdown.items())),
        budget_increase=s.major(increase, currency) or 0,
        budget_decrease=s.major(decrease, currency) or 0,
        budget_net=s.major(increase - decrease, currency) or 0,
    )


@router.get(
    "/overview", tags=["page"], summary="An account at a glance: figures, days, live and shadow, kill switch"
)
def overview(
    request: Request,
    user: Reader,
    account_id: AccountRequired,
    start_date: StartDay = None,
    end_date: EndDay = None,
) -> s.OverviewOut:
    with _read(request) as conn:
        account = _account(conn, account_id)
        start, end = _period(conn, account_id, start_date, end_date)
        found = store_dashboard.overview(conn, account_id, start, end)
        switches = store_dashboard.switches_for(conn, account_id)
    from autoscaler.airflow.tasks import variable_paused

    # The Airflow Variable kill switch puts every account in shadow mode, beside the table's.
    variable = variable_paused()
    currency = account.currency
    kinds: dict[str, list[Any]] = {}
    for row in found.actions:
        kinds.setdefault(row["kind"], []).append(row)
    spend = sum(int(d["spend"]) for d in found.days)
    revenue = sum(int(d["revenue"]) for d in found.days)
    return s.OverviewOut(
        account=account,
        period_start=start,
        period_end=end,
        live=_figures("live", "live", kinds.pop("live", []), currency),
        shadow=[_figures(kind, "shadow", rows, currency) for kind, rows in sorted(kinds.items())],
        spend=s.major(spend, currency) or 0,
        revenue_tracked=s.major(revenue, currency) or 0,
        profit=s.major(revenue - spend, currency) or 0,
        avg_roas=_ratio(revenue, spend),
        days=[
            s.OverviewDay(
                day=d["day"],
                spend=s.major(int(d["spend"]), currency) or 0,
                revenue=s.major(int(d["revenue"]), currency) or 0,
                profit=s.major(int(d["revenue"]) - int(d["spend"]), currency) or 0,
                roas=_ratio(int(d["revenue"]), int(d["spend"])),
                actions={str(k): int(v) for k, v in sorted(dict(d["live"]).items())},
                shadow_actions=int(d["shadow"]),
            )
            for d in found.days
        ],
        switches=[s.SwitchOut(**dict(sw)) for sw in switches],
        paused=variable or any(bool(sw["paused"]) for sw in switches),
        variable_paused=variable,
    )


@router.get(
    "/entities/table", tags=["page"], summary="Budget holders with their window, curve and last action"
)
def entity_table(
    request: Request,
    user: Reader,
    account_id: AccountRequired,
    start_date: StartDay = None,
    end_date: EndDay = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="Part of a name, or a campaign or ad set id."),
    ] = None,
    status_: Annotated[
        Literal["ACTIVE", "PAUSED", "CAMPAIGN_PAUSED", "ARCHIVED", "DELETED"] | None, Query(alias="status")
    ] = None,
    sort: store_dashboard.SortKey = "spend",
    order: Literal["asc", "desc"] = "desc",
    page: PageQuery = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> s.EntityTableOut:
    with _read(request) as conn:
        account = _account(conn, account_id)
        start, end = _period(conn, account_id, start_date, end_date)
        found = store_dashboard.entity_table(
            conn,
            account_id,
            start,
            end,
            q=q,
            status=status_,
            sort=sort,
            descending=order == "desc",
            limit=page_size,
            offset=(page - 1) * page_size,
        )
    currency = account.currency

    def money(minor: Any) -> Any:
        return s.major(None if minor is None else int(minor), currency)

    def number(value: Any) -> float | None:
        return None if value is None else float(value)

    items = [
        s.EntityRow(
            entity_id=r["entity_id"],
            level=r["level"],
            campaign_id=r["campaign_id"],
            campaign_name=r["campaign_name"],
            name=r["name"],
            daily_budget=money(r["daily_budget"]),
            status=r["status"],
            locked=r["locked"],
            spend=money(r["spend"]) or 0,
            revenue=money(r["revenue"]) or 0,
            roas=_ratio(int(r["revenue"]), int(r["spend"])),
            purchases=int(r["purchases"]),
            marginal_roas=number(r["marginal_roas"]),
            target_marginal_roas=number(r["target_marginal_roas"]),
            target_budget=money(r["curve_target_budget"]),
            curve_at=r["curve_at"],
            last_action_id=r["last_action_id"],
            last_action_type=r["last_action_type"],
            last_action_status=r["last_action_status"],
            last_action_mode=r["last_action_mode"],
            last_action_at=r["last_action_at"],
            spark=[
                s.SparkPoint(
                    day=p["day"],
                    budget=money(p["budget"]),
                    roas=_ratio(int(p["revenue"]), int(p["spend"])),
                )
                for p in found.sparks[str(r["entity_id"])]
            ],
        )
        for r in found.rows
    ]
    return s.EntityTableOut(
        account_id=account_id,
        currency=currency,
        window_start=start,
        window_end=end,
        total=found.total,
        page=page,
        page_size=page_size,
        items=items,
    )


@router.get(
    "/entities/{entity_id}/history",
    tags=["page"],
    summary="An entity's budget by hour (backfilled hours included), delivery by hour and day, actions",
)
def entity_history(
    entity_id: EntityIdPath,
    request: Request,
    user: Reader,
    days: Annotated[int, Query(ge=1, le=400, description="Days up to the entity's latest hour.")] = 30,
) -> s.EntityHistoryOut:
    with _read(request) as conn:
        holder = store_dashboard.entity_holder(conn, entity_id)
        if holder is None:
            raise HTTPException(404, f"no budget holder with id {entity_id}")
        end = store_dashboard.entity_latest_hour(conn, entity_id) or datetime.now(UTC).replace(
            minute=0, second=0, microsecond=0
        )
        start = end - timedelta(days=days)
        found = store_dashboard.entity_history(conn, holder, start, end)
    currency = str(holder["currency"])
    by_day: dict[date, list[int]] = {}
    for h in found.hours:
        totals = by_day.setdefault(h["hour_start"].astimezone(UTC).date(), [0, 0])
        totals[0] += int(h["spend"])
        totals[1] += int(h["revenue"])
    return s.EntityHistoryOut(
        **{
            k: holder[k] for k in ("entity_id", "account_id", "level", "campaign_id", "campaign_name", "name")
        },
        daily_budget=s.major(holder["daily_budget"], currency),
        status=holder["status"],
        locked=holder["locked"],
        currency=currency,
        timezone_name=holder["timezone_name"],
        profile_computed_at=holder["profile_computed_at"],
        window_start=start,
        window_end=end,
        hours=[
            s.HourPoint(
                hour_start=h["hour_start"],
                daily_budget=s.major(h["daily_budget"], currency),
                budget_source=h["budget_source"],
                spend=s.major(int(h["spend"]), currency) or 0,
                revenue=s.major(int(h["revenue"]), currency) or 0,
                purchases=int(h["purchases"]),
                status=h["status"],
            )
            for h in found.hours
        ],
        days=[
            s.DayPoint(
                day=day,
                spend=s.major(spend, currency) or 0,
                revenue=s.major(revenue, currency) or 0,
                roas=_ratio(revenue, spend),
            )
            for day, (spend, revenue) in sorted(by_day.items())
        ],
        actions=[
            s.EntityAction(
                **{name: a[name] for name in s.EntityAction.model_fields if name in a and name not in _MONEY},
                budget_before=s.major(a["budget_before"], currency),
                budget_after=s.major(a["budget_after"], currency),
                target_budget=s.major(a["curve_target_budget"], currency),
            )
            for a in found.actions
        ],
    )


# Money columns the page's rows convert to major units (never passed through as minor).
_MONEY = {"budget_before", "budget_after", "target_budget"}
_MONEY_ROAS = {*_MONEY, "base_before", "base_after", "roas"}


@router.get(
    "/approvals", tags=["actions"], summary="Actions waiting for an answer, with names and the change"
)
def approvals(
    request: Request,
    user: Reader,
    account_id: AccountQuery = None,
    entity_id: EntityQuery = None,
    action_type: s.ActionType | None = None,
) -> s.ApprovalsOut:
    now = _deadline_clock(request) or datetime.now(UTC)
    with _read(request) as conn:
        rows = store_dashboard.pending_approvals(conn, account_id, entity_id, action_type)
    items = []
    for r in rows:
        currency = str(r["currency"])
        # Under time optimisation the hour's write is one step of the change; the base is what
        # the answer commits to, and what the later hours walk toward without asking again.
        based = r["base_before"] is not None and r["base_after"] is not None
        before, after = (
            (r["base_before"], r["base_after"]) if based else (r["budget_before"], r["budget_after"])
        )
        changed = before is not None and after is not None
        deadline = r["approval_deadline"]
        items.append(
            s.Approval(
                **{
                    name: r[name] for name in s.Approval.model_fields if name in r and name not in _MONEY_ROAS
                },
                budget_before=s.major(r["budget_before"], currency),
                budget_after=s.major(r["budget_after"], currency),
                base_before=s.major(r["base_before"], currency),
                base_after=s.major(r["base_after"], currency),
                roas=None if r["roas"] is None else float(r["roas"]),
                change=s.major(after - before, currency) if changed else None,
                change_percent=round(100 * (after - before) / before, 2) if changed else None,
                seconds_left=None if deadline is None else max(0, int((deadline - now).total_seconds())),
            )
        )
    return s.ApprovalsOut(now=now, items=items)


@router.post(
    "/approve-bulk",
    tags=["actions"],
    summary="Approve or reject several pending actions at once (all or none)",
)
def approve_bulk(body: s.BulkApproveIn, request: Request, user: Operator) -> s.BulkApproveOut:
    by = actor(user)
    now = _deadline_clock(request) if body.approve else None
    answered = []
    # One transaction: if any of them cannot be answered (already answered, expired), none is,
    # and the 409 names it; the operator confirmed a set, not a part of it.
    with _write(request) as conn:
        # In id order: two overlapping bulk answers lock their rows in the same order (no deadlock).
        for action_id in sorted(set(body.action_ids)):
            if body.approve:
                action = store_actions.approve(conn, action_id, by=by, reason=body.reason, now=now)
            else:
                action = store_actions.reject(conn, action_id, by=by, reason=body.reason)
            answered.append(s.ActionOut.of(action))
    return s.BulkApproveOut(answered=answered)


# ---- emergency controls --------------------------------------------------------------------


@router.get("/emergency", tags=["emergency"], summary="Kill switches and locked entities")
def emergency_state(request: Request, user: Reader) -> dict[str, Any]:
    from autoscaler.store.controls import switches

    with _read(request) as conn:
        locked = store_dashboard.locked_holders(conn)
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
    from autoscaler.execute import execute_account, read_held
    from autoscaler.store.accounts import get_account
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
        platform = get_account(conn, account_id).platform
        held = (
            read_held(services.client_for(platform), account_id, [p.entity_id for p in fresh])
            if fresh
            else {}
        )
        plans, skipped = planner.drop_done(planned, earlier, held)
        ids = (
            []
            if body.dry_run
            else store_actions.record_rollbacks(conn, plans, by=actor(user), reason=body.reason)
        )
    outcomes: dict[str, int] = {}
    statuses: dict[int, str] = {}
    if ids:
        summary = execute_account(services.engine, services.client_for(platform), account_id, only=ids)
        outcomes = dict(summary.outcomes)
        with services.engine.connect() as conn:
            statuses = store_dashboard.statuses_of(conn, ids)
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

        # Swagger UI's assets come from the package (static/vendor), not a CDN: the docs work
        # offline and behind a firewall (issue 18).
        return get_swagger_ui_html(
            openapi_url=f"{PREFIX}/openapi.json",
            title="Ad-budget autoscaler API",
            swagger_js_url=f"{PREFIX}/static/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/static/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/static/favicon-32x32.png",
        )

    # Third-party files only (Swagger UI, ECharts and their licences): public, like any library.
    app.mount("/static", StaticFiles(directory=VENDOR), name="vendor")
    _add_error_handlers(app)
    return app


# ---- the page ------------------------------------------------------------------------------


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

    # The page's script and styles, and the vendored ECharts (no secrets: the data comes from
    # the API, which checks the user on every request).
    page.mount("/static", StaticFiles(directory=STATIC), name="static")
    return page
