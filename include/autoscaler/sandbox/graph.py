"""Graph API semantics over the simulator: objects, edges, insights, async reports, writes.

``GraphAPI.handle(method, path, params)`` answers one call (inside a batch or not) with
Meta's shapes: strings for money and counts, budgets in minor units, insights money in major
units, ``paging`` with cursors and ``next``, and Meta's error bodies.  HTTP, tokens, rate
limits and faults are the server's business (server.py).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from autoscaler.money import currency_offset
from autoscaler.sandbox.simulator import Holder, Simulator, SimulatorError

# Largest pages served, whatever `limit` asks: 5,000 insights rows (what public code uses as
# Meta's maximum); 1,000 objects on edges (an assumption on the safe side: Meta serves at
# least several hundred).  A client must follow paging.next either way.
MAX_EDGE_LIMIT = 1000
MAX_INSIGHTS_LIMIT = 5000
DEFAULT_LIMIT = 25
HOURLY_BREAKDOWNS = {
    "hourly_stats_aggregated_by_advertiser_time_zone",
    "hourly_stats_aggregated_by_audience_time_zone",
}
DATE_PRESETS = {
    "today": (0, 0),
    "yesterday": (1, 1),
    "last_3d": (3, 1),
    "last_7d": (7, 1),
    "last_14d": (14, 1),
    "last_28d": (28, 1),
}


class GraphError(Exception):
    """An error answer: HTTP status and Meta's error object."""

    def __reduce__(self) -> tuple[Any, ...]:  # picklable, so a worker process can report one
        body = dict(self.body)
        return (_rebuild_graph_error, (self.status, body))

    def __init__(
        self, status: int, message: str, code: int, subcode: int | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {
            "message": message,
            "type": extra.pop("type", "OAuthException"),
            "code": code,
            "fbtrace_id": extra.pop("fbtrace_id", "AsandboxTrace"),
        }
        if subcode is not None:
            self.body["error_subcode"] = subcode
        self.body.update(extra)


def _rebuild_graph_error(status: int, body: dict[str, Any]) -> GraphError:
    error = GraphError(status, str(body.get("message", "")), int(body.get("code", 0)))
    error.body = body
    return error


def invalid(message: str, subcode: int | None = None, **extra: Any) -> GraphError:
    return GraphError(400, f"(#100) {message}", 100, subcode, type="OAuthException", **extra)


def parse_fields(spec: str) -> dict[str, dict[str, Any]]:
    """'id,name,campaign{id,daily_budget}' -> {'id': {}, 'name': {}, 'campaign': {'id': {}, ...}}."""
    fields: dict[str, dict[str, Any]] = {}
    depth, token, nested_start, name = 0, "", 0, ""
    for i, char in enumerate(spec + ","):
        if char == "{":
            if depth == 0:
                name, nested_start = token.strip(), i + 1
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                fields[name] = parse_fields(spec[nested_start:i])
                token = ""
                continue
        elif char == "," and depth == 0:
            if token.strip():
                fields[token.strip()] = {}
            token = ""
            continue
        if depth == 0 and char not in "{}":
            token += char
    return fields


def list_param(value: str | None) -> list[str]:
    """A list parameter as Meta accepts it: a JSON array (as the SDK sends) or comma-separated."""
    if not value:
        return []
    text = value.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise invalid(f"Cannot parse list parameter {value!r}") from exc
        return [str(i) for i in items]
    return [part.strip() for part in text.split(",") if part.strip()]


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)[1])
    except (ValueError, IndexError) as exc:
        raise invalid("Invalid cursor") from exc


@dataclass
class Report:
    """An async insights job (AdReportRun)."""

    report_id: str
    account_id: str
    rows: list[dict[str, Any]]
    date_start: str
    date_stop: str
    polls_needed: int
    failed: bool
    polls: int = 0


@dataclass
class GraphAPI:
    sim: Simulator
    base_url: str = ""  # for paging.next
    reports: dict[str, Report] = field(default_factory=dict)
    _report_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(6_000_000_000_001))

    def __post_init__(self) -> None:
        # ABO campaigns hold no budget: map their ids to their first ad set's holder.
        self._abo_campaigns: dict[str, list[Holder]] = {}
        for h in self.sim.holders:
            if h.level == "adset":
                self._abo_campaigns.setdefault(h.campaign_id, []).append(h)

    # ---- dispatch -------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, params: dict[str, str], *, version: str
    ) -> dict[str, Any] | list[Any]:
        parts = [p for p in path.split("/") if p]
        if method == "GET" and not parts and "ids" in params:
            return self._multi_get(params)
        if not parts:
            raise invalid("Unsupported request: no object given")
        node, edge = parts[0], "/".join(parts[1:])
        if node == "debug_token" and method == "GET" and not edge:
            return self._debug_token(params)
        if node == "me":
            if edge == "adaccounts" and method == "GET":
                return self._page(
                    [self._account_obj(a, params) for a in self.sim.accounts if a.platform == "meta"],
                    params,
                    path,
                    version,
                )
            raise invalid(f"Unsupported request on /me/{edge}")
        if node.startswith("act_"):
            return self._account_call(method, node, edge, params, path, version)
        if node in self.reports:
            return self._report_call(method, self.reports[node], edge, params, path, version)
        return self._object_call(method, node, edge, params)

    # ---- accounts -----------------------------------------------------------------------

    def _account(self, account_id: str) -> Any:
        account = self.sim.account_by_id.get(account_id)
        if account is None or account_id in self.unreachable:
            raise GraphError(
                400,
                f"Unsupported get request. Object with ID '{account_id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.",
                100,
                33,
                type="GraphMethodException",
            )
        return account

    def _account_obj(self, account: Any, params: dict[str, str]) -> dict[str, Any]:
        full = {
            "id": account.account_id,
            "account_id": account.account_id[4:],
            "name": account.name,
            "currency": account.currency,
            "timezone_name": account.timezone,
            "account_status": 1,
            # The token's tasks on the account: a read-only account allows reading only.
            "user_tasks": ["ANALYZE"] if self._read_only(account) else ["MANAGE", "ADVERTISE", "ANALYZE"],
            **self.account_overrides.get(account.account_id, {}),
        }
        wanted = parse_fields(params.get("fields", "id"))
        return {k: v for k, v in full.items() if k in wanted or k == "id"}

    def _account_call(
        self, method: str, node: str, edge: str, params: dict[str, str], path: str, version: str
    ) -> dict[str, Any] | list[Any]:
        account = self._account(node)
        if edge == "" and method == "GET":
            return self._account_obj(account, params)
        if edge in ("campaigns", "adsets") and method == "GET":
            objects = self._campaigns(account) if edge == "campaigns" else self._adsets(account)
            fields = parse_fields(params.get("fields", "id"))
            return self._page([self._project(o, fields) for o in objects], params, path, version)
        if edge == "insights" and method == "GET":
            rows = self.insights(account, params)
            if self.sync_rows_limit is not None and len(rows) > self.sync_rows_limit:
                raise GraphError(
                    400,
                    "(#100) Your request timed out. Try a smaller date range, fetch less data, or use async jobs.",
                    100,
                    1504018,
                    is_transient=False,
                    error_user_title="Request Timed Out",
                )
            return self._page(rows, params, path, version, cap=MAX_INSIGHTS_LIMIT)
        if edge == "insights" and method == "POST":
            rows = self.insights(account, params)
            report_id = str(next(self._report_ids))
            start, stop = self._date_range(account, params)
            self.reports[report_id] = Report(
                report_id,
                account.account_id,
                rows,
                start.isoformat(),
                stop.isoformat(),
                polls_needed=self.async_polls,
                failed=self.async_fail_next(),
            )
            return {"report_run_id": report_id}
        raise invalid(f"Unsupported {method} request on {node}/{edge}")

    # Set by the server from its fault plan.
    async_polls: int = 1
    sync_rows_limit: int | None = None

    def async_fail_next(self) -> bool:
        return False

    # Set by the server from its fault plan: what autoscaler doctor must be able to see fail.
    access_token: str = ""
    token_expires_in_hours: float | None = None  # None: never expires (a system-user token)
    scopes: tuple[str, ...] = ("ads_read", "ads_management", "business_management")
    unreachable: frozenset[str] = frozenset()
    read_only_accounts: frozenset[str] = frozenset()
    account_overrides: dict[str, dict[str, str]] = field(default_factory=dict)

    def _read_only(self, account: Any) -> bool:
        return bool(account.read_only) or account.account_id in self.read_only_accounts

    def _debug_token(self, params: dict[str, str]) -> dict[str, Any]:
        """GET /debug_token?input_token=...: Meta's answer for a system-user token."""
        token = params.get("input_token")
        if not token:
            raise invalid("The parameter input_token is required")
        if token != self.access_token:
            return {
                "data": {
                    "is_valid": False,
                    "scopes": [],
                    "error": {
                        "code": 190,
                        "message": "Invalid OAuth access token - Cannot parse access token",
                    },
                }
            }
        expires = (
            0
            if self.token_expires_in_hours is None
            else int((self.sim.now + timedelta(hours=self.token_expires_in_hours)).timestamp())
        )
        return {
            "data": {
                "app_id": "1234567890",
                "type": "SYSTEM_USER",
                "application": "Autoscaler sandbox",
                "data_access_expires_at": 0,
                "expires_at": expires,
                "is_valid": True,
                "scopes": list(self.scopes),
                "user_id": "100000000000001",
            }
        }

    # ---- objects ------------------------------------------------------------------------

    def _holder_for(self, object_id: str) -> tuple[str, Holder, int | None]:
        """('campaign'|'adset', holder, adset position or None) for an id."""
        found: tuple[str, Holder, int | None] | None = None
        holder = self.sim.holder_by_id.get(object_id)
        if holder is not None and holder.level == "campaign":
            found = "campaign", holder, None
        elif object_id in self.sim.adset_owner:
            owner, position = self.sim.adset_owner[object_id]
            found = "adset", owner, position
        elif object_id in self._abo_campaigns:
            # An ABO campaign exists once any of its ad sets has launched.
            launched = [h for h in self._abo_campaigns[object_id] if self._launched(h)]
            found = "campaign", (launched or self._abo_campaigns[object_id])[0], None
        if found is not None and self._launched(found[1]):  # not launched yet: no such object
            return found
        raise GraphError(
            400,
            f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.",
            100,
            33,
            type="GraphMethodException",
        )

    def _campaign_obj(self, campaign_id: str) -> dict[str, Any]:
        _, holder, _ = self._holder_for(campaign_id)
        account = self.sim.accounts[holder.account_index]
        cbo = holder.level == "campaign"
        status = self.sim.status_of(holder) if cbo else "ACTIVE"
        obj: dict[str, Any] = {
            "id": campaign_id,
            "name": holder.name if cbo else holder.name.rsplit(".", 1)[0],
            "account_id": account.account_id[4:],
            "status": status,
            "configured_status": status,
            "effective_status": status,
            "objective": "OUTCOME_SALES",
            "bid_strategy": "LOWEST_COST_WITHOUT_CAP",
        }
        if cbo:
            obj["daily_budget"] = str(int(self.sim.budget[holder.index]))
            obj["budget_remaining"] = str(
                max(int(self.sim.budget[holder.index] - self.sim._day_spend[holder.index]), 0)
            )
        return obj

    def _adset_obj(self, adset_id: str) -> dict[str, Any]:
        _, holder, position = self._holder_for(adset_id)
        account = self.sim.accounts[holder.account_index]
        abo = holder.level == "adset"
        holder_status = self.sim.status_of(holder)
        status = holder_status if abo else "ACTIVE"
        effective = status if abo else ("ACTIVE" if holder_status == "ACTIVE" else "CAMPAIGN_PAUSED")
        learning = self.sim.is_learning(holder)
        edit = self.sim.last_significant_edit[holder.index]
        obj: dict[str, Any] = {
            "id": adset_id,
            "name": holder.name if abo else f"{holder.name} / ad set {(position or 0) + 1}",
            "account_id": account.account_id[4:],
            "campaign_id": holder.campaign_id,
            "status": status,
            "configured_status": status,
            "effective_status": effective,
            "learning_stage_info": {
                "status": "LEARNING" if learning else "SUCCESS",
                "conversions": 0 if learning else 50,
                **({"last_sig_edit_ts": int(edit)} if not np.isnan(edit) else {}),
            },
            "campaign": self._campaign_obj(holder.campaign_id),
        }
        if abo:
            obj["daily_budget"] = str(int(self.sim.budget[holder.index]))
            obj["budget_remaining"] = str(
                max(int(self.sim.budget[holder.index] - self.sim._day_spend[holder.index]), 0)
            )
        return obj

    def _launched(self, holder: Holder) -> bool:
        return bool(self.sim.launch_hour[holder.index] <= self.sim.hour_index(self.sim.now))

    def _campaigns(self, account: Any) -> list[dict[str, Any]]:
        seen: dict[str, None] = {}
        for h in self.sim.holders:
            if h.account_index == account.index and self._launched(h):
                seen.setdefault(h.campaign_id, None)
        return [self._campaign_obj(c) for c in seen]

    def _adsets(self, account: Any) -> list[dict[str, Any]]:
        return [
            self._adset_obj(adset)
            for h in self.sim.holders
            if h.account_index == account.index and self._launched(h)
            for adset in h.adset_ids
        ]

    @staticmethod
    def _project(obj: dict[str, Any], fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": obj["id"]}
        for name, nested in fields.items():
            if name not in obj:
                continue
            value = obj[name]
            if nested and isinstance(value, dict):
                value = (
                    GraphAPI._project(value, nested)
                    if "id" in value
                    else {k: v for k, v in value.items() if k in nested}
                )
            out[name] = value
        return out

    def _object(self, object_id: str) -> dict[str, Any]:
        kind, _, _ = self._holder_for(object_id)
        return self._campaign_obj(object_id) if kind == "campaign" else self._adset_obj(object_id)

    def _multi_get(self, params: dict[str, str]) -> dict[str, Any]:
        ids = list_param(params["ids"])
        if len(ids) > 50:
            raise invalid("Too many IDs. Maximum: 50.")
        fields = parse_fields(params.get("fields", "id"))
        return {i: self._project(self._object(i), fields) for i in ids}

    def _object_call(self, method: str, node: str, edge: str, params: dict[str, str]) -> dict[str, Any]:
        if edge == "insights" and method == "GET":
            return self._object_insights(node, params)
        if edge:
            raise invalid(f"Unsupported request on {node}/{edge}")
        if method == "GET":
            return self._project(self._object(node), parse_fields(params.get("fields", "id")))
        if method == "POST":
            return self._update(node, params)
        raise invalid(f"Unsupported method {method}")

    def _object_insights(self, object_id: str, params: dict[str, str]) -> dict[str, Any]:
        """GET /{campaign or ad set id}/insights: the object's own rows."""
        kind, holder, _ = self._holder_for(object_id)
        account = self.sim.accounts[holder.account_index]
        only = {h.index for h in self.sim.holders if object_id in (h.entity_id, h.campaign_id, *h.adset_ids)}
        key = "campaign_id" if kind == "campaign" else "adset_id"
        fields = ",".join([*parse_fields(params.get("fields", "spend,impressions")), key])
        rows = self.insights(account, {**params, "fields": fields, "level": kind}, only=only)
        return {"data": [r for r in rows if r.get(key) == object_id]}

    def _update(self, object_id: str, params: dict[str, str]) -> dict[str, Any]:
        kind, holder, _ = self._holder_for(object_id)
        holds_budget = (kind == "campaign" and holder.level == "campaign") or (
            kind == "adset" and holder.level == "adset"
        )
        changes = {k: params[k] for k in ("daily_budget", "status") if k in params}
        unknown = set(params) - {"daily_budget", "status", "access_token", "appsecret_proof", "fields"}
        if unknown:
            raise invalid(f"Param {sorted(unknown)[0]} is not supported by the sandbox on {kind} updates")
        if not changes:
            raise invalid("No fields to update")
        if self._read_only(self.sim.accounts[holder.account_index]):
            raise GraphError(400, "(#200) Requires ads_management permission to manage the object", 200)
        if not holds_budget:
            where = "its ad sets" if kind == "campaign" else "its campaign"
            raise invalid(
                f"Cannot change the {'budget' if 'daily_budget' in changes else 'status'} of this {kind}: the budget is set on {where}",
                1885621,
                error_user_title="Budget is set elsewhere",
                error_user_msg=f"This {kind} does not hold a budget; change {where} instead.",
            )
        try:
            if "daily_budget" in changes:
                raw = changes["daily_budget"]
                if not re.fullmatch(r"[0-9]{1,15}", raw):
                    raise invalid(f"Param daily_budget must be a whole number of minor units, got {raw!r}")
                self.sim.set_budget(holder, int(raw))
            if "status" in changes:
                self.sim.set_status(holder, changes["status"])
        except SimulatorError as exc:
            status = 400
            raise GraphError(
                status,
                str(exc) if exc.code != 100 else f"(#100) {exc}",
                exc.code,
                exc.subcode,
                error_user_title=exc.user_title,
                error_user_msg=exc.user_msg,
                is_transient=False,
            ) from None
        return {"success": True}

    # ---- async reports ------------------------------------------------------------------

    def _report_call(
        self, method: str, report: Report, edge: str, params: dict[str, str], path: str, version: str
    ) -> dict[str, Any]:
        if edge == "" and method == "GET":
            report.polls += 1
            done = report.polls >= report.polls_needed
            status = ("Job Failed" if report.failed else "Job Completed") if done else "Job Running"
            return {
                "id": report.report_id,
                "account_id": report.account_id[4:],
                "async_status": status,
                "async_percent_completion": 100 if done else int(100 * report.polls / report.polls_needed),
                "date_start": report.date_start,
                "date_stop": report.date_stop,
            }
        if edge == "insights" and method == "GET":
            if report.failed or report.polls < report.polls_needed:
                raise invalid("The report is not ready: poll its async_status until Job Completed")
            return self._page(report.rows, params, path, version, cap=MAX_INSIGHTS_LIMIT)
        raise invalid(f"Unsupported {method} request on report {report.report_id}/{edge}")

    # ---- insights -----------------------------------------------------------------------

    def _date_range(self, account: Any, params: dict[str, str]) -> tuple[date, date]:
        today = self.sim.local_today(account.index)
        if "time_range" in params:
            try:
                window = json.loads(params["time_range"])
                since, until = date.fromisoformat(window["since"]), date.fromisoformat(window["until"])
            except (ValueError, KeyError, TypeError) as exc:
                raise invalid("Param time_range must be {'since':'YYYY-MM-DD','until':'YYYY-MM-DD'}") from exc
            if since > until:
                raise invalid("Param time_range: since must not be after until")
            return since, until
        preset = params.get("date_preset", "last_28d" if "time_range" not in params else "")
        if preset not in DATE_PRESETS:
            raise invalid(f"Param date_preset must be one of {', '.join(DATE_PRESETS)}, got {preset!r}")
        back, end_back = DATE_PRESETS[preset]
        return today - timedelta(days=back), today - timedelta(days=end_back if back else 0)

    def insights(
        self, account: Any, params: dict[str, str], only: set[int] | None = None
    ) -> list[dict[str, Any]]:
        level = params.get("level", "account")
        if level not in ("account", "campaign", "adset"):
            raise invalid(
                f"Param level must be account, campaign or adset (the sandbox has no ads), got {level!r}"
            )
        breakdowns = set(list_param(params.get("breakdowns")))
        unknown = breakdowns - HOURLY_BREAKDOWNS
        if unknown:
            raise invalid(f"Breakdown {sorted(unknown)[0]} is not supported by the sandbox")
        hourly = bool(breakdowns)
        increment = params.get("time_increment", "all_days")
        if increment not in ("1", "all_days"):
            raise invalid("The sandbox supports time_increment=1 or all_days")
        fields = set(parse_fields(params.get("fields", "spend,impressions")))
        holders = np.asarray(
            [
                h.index
                for h in self.sim.holders
                if h.account_index == account.index and (only is None or h.index in only)
            ],
            dtype=np.int64,
        )
        offset = currency_offset(account.currency)
        buckets = self._buckets(
            account, self._date_range(account, params), per_day=increment == "1", hourly=hourly
        )
        rows: list[dict[str, Any]] = []
        for (start, stop, label), hours in sorted(
            buckets.items(), key=lambda item: (item[0][0], item[0][2] or "")
        ):
            totals = self.sim.delivery(hours, holders)
            for row in self._level_rows(level, account, holders, totals, max(hours)):
                if int(row["impressions"]) == 0 and float(row["spend"]) == 0:
                    continue  # Meta omits rows without delivery
                row.update(date_start=start, date_stop=stop)
                if label is not None:
                    row[next(iter(breakdowns))] = label
                rows.append(self._format(row, fields, offset, hourly, account))
        return rows

    def _buckets(
        self, account: Any, window: tuple[date, date], *, per_day: bool, hourly: bool
    ) -> dict[tuple[str, str, str | None], list[int]]:
        """Completed hour indices grouped into rows: per day or the whole range, and per local hour."""
        since, until = window
        buckets: dict[tuple[str, str, str | None], list[int]] = {}
        for offset_days in range((until - since).days + 1):
            day = since + timedelta(days=offset_days)
            start, stop = (day, day) if per_day else (since, until)
            for k in self.sim.local_day_hours(account.index, day):
                if k >= self.sim.completed_hours:
                    continue
                label = None
                if hourly:
                    local_hour = self.sim._local(account.index, k)[1]
                    label = f"{local_hour:02d}:00:00 - {local_hour:02d}:59:59"
                buckets.setdefault((start.isoformat(), stop.isoformat(), label), []).append(k)
        return buckets

    def _level_rows(
        self, level: str, account: Any, holders: Any, totals: dict[str, Any], hour: int
    ) -> list[dict[str, Any]]:
        per_adset: list[dict[str, Any]] = []
        for i, index in enumerate(holders):
            holder = self.sim.holders[int(index)]
            values = {k: totals[k][i] for k in totals}
            shares = self.sim.adset_shares(holder, hour)
            for j, adset in enumerate(holder.adset_ids):
                part = {
                    k: (float(v) * shares[j] if k == "revenue" else int(int(v) * shares[j]))
                    for k, v in values.items()
                }
                per_adset.append(
                    {"campaign_id": holder.campaign_id, "adset_id": adset, "holder": holder, **part}
                )
            if len(holder.adset_ids) > 1:  # whole units left by the split go to the first ad set
                first = per_adset[-len(holder.adset_ids)]
                for k in ("spend", "impressions", "clicks", "conversions"):
                    first[k] += int(values[k]) - sum(r[k] for r in per_adset[-len(holder.adset_ids) :])
        if level == "adset":
            return per_adset
        key = "campaign_id" if level == "campaign" else None
        grouped: dict[str, dict[str, Any]] = {}
        for row in per_adset:
            group = row[key] if key else account.account_id
            target = grouped.setdefault(
                group,
                {
                    "campaign_id": row["campaign_id"],
                    "holder": row["holder"],
                    "spend": 0,
                    "impressions": 0,
                    "clicks": 0,
                    "conversions": 0,
                    "revenue": 0.0,
                },
            )
            for k in ("spend", "impressions", "clicks", "conversions", "revenue"):
                target[k] += row[k]
        if level == "account":
            for row in grouped.values():
                row.pop("campaign_id")
        return list(grouped.values())

    def _format(
        self, row: dict[str, Any], fields: set[str], offset: int, hourly: bool, account: Any
    ) -> dict[str, Any]:
        holder: Holder = row.pop("holder")
        places = 0 if offset == 1 else 2
        spend = row["spend"] / offset
        value = row["revenue"] / offset
        out: dict[str, Any] = {"account_id": account.account_id[4:]}
        names = {
            "campaign_id": row.get("campaign_id"),
            "campaign_name": holder.name.rsplit(".", 1)[0] if holder.level == "adset" else holder.name,
            "adset_id": row.get("adset_id"),
            "adset_name": holder.name,
        }
        metrics: dict[str, Any] = {
            "spend": f"{spend:.{places}f}",
            "impressions": str(int(row["impressions"])),
            "clicks": str(int(row["clicks"])),
            "ctr": f"{(100.0 * row['clicks'] / row['impressions']) if row['impressions'] else 0:.6f}",
            "account_currency": account.currency,
        }
        if not hourly:  # the hourly breakdowns carry no off-Meta (pixel purchase) metrics
            conversions = int(row["conversions"])
            metrics["actions"] = (
                [
                    {"action_type": "offsite_conversion.fb_pixel_purchase", "value": str(conversions)},
                    {"action_type": "purchase", "value": str(conversions)},
                ]
                if conversions
                else []
            )
            metrics["action_values"] = (
                [
                    {"action_type": "offsite_conversion.fb_pixel_purchase", "value": f"{value:.{places}f}"},
                    {"action_type": "purchase", "value": f"{value:.{places}f}"},
                ]
                if conversions
                else []
            )
            metrics["purchase_roas"] = (
                [{"action_type": "omni_purchase", "value": f"{value / spend:.6f}"}]
                if spend and conversions
                else []
            )
        for name in fields:
            if name in metrics and (
                metrics[name] != [] or name not in ("actions", "action_values", "purchase_roas")
            ):
                out[name] = metrics[name]
            elif name in names and names[name] is not None:
                out[name] = names[name]
        for name in ("date_start", "date_stop", *HOURLY_BREAKDOWNS):
            if name in row:
                out[name] = row[name]
        return out

    # ---- paging -------------------------------------------------------------------------

    def _page(
        self, items: list[Any], params: dict[str, str], path: str, version: str, *, cap: int = MAX_EDGE_LIMIT
    ) -> dict[str, Any]:
        try:
            limit = int(params.get("limit", DEFAULT_LIMIT))
        except ValueError as exc:
            raise invalid("Param limit must be an integer") from exc
        limit = max(1, min(limit, cap))
        start = _offset(params.get("after"))
        page = items[start : start + limit]
        body: dict[str, Any] = {"data": page}
        if items:
            end = start + len(page)
            body["paging"] = {"cursors": {"before": _cursor(start), "after": _cursor(end)}}
            if end < len(items):
                query = {
                    k: v for k, v in params.items() if k not in ("after", "access_token", "appsecret_proof")
                }
                query["after"] = _cursor(end)
                query["limit"] = str(limit)
                from urllib.parse import urlencode

                body["paging"]["next"] = f"{self.base_url}/{version}/{path.strip('/')}?{urlencode(query)}"
        if params.get("summary") in ("true", "True", "1"):
            body["summary"] = {"total_count": len(items)}
        return body
