"""Edge values for schemathesis (loaded through SCHEMATHESIS_HOOKS by test_schemathesis.py).

Its own generation keeps to what a schema allows, and rarely reaches the ends of it: with 40
examples per operation it never sent a year-9999 date (GET /dashboard answered 500) nor a
money field of 1e30 in a rule body, which is free-form JSON to the schema (PUT /rules/{id}
answered 500: bigint out of range) (issue 17, item 10).  These hooks make the ends common:
far dates and times, huge, negative, non-finite and wrongly typed numbers, and boundary
strings, in every body and date parameter.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import strategies as st

FAR_DATES = ["0001-01-01", "1969-12-31", "1999-12-31", "2100-12-31", "2101-01-01", "9999-12-31"]
FAR_TIMES = [
    "0001-01-01T00:00:00Z",
    "1970-01-01T00:00:00+14:00",
    "2101-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
]
EDGE_VALUES: list[Any] = [
    0,
    -1,
    -10,
    1e30,
    -1e30,
    1e20,
    2**63,
    2**63 - 1,
    -(2**63) - 1,
    92233720368547758.08,
    0.001,
    True,
    False,
    None,
    "1e30",
    "inf",
    "-inf",
    "NaN",
    "2173.26",
    "",
    " ",
    "yes",
    "\x1b[31mred",
    "ÄÖÜ",
    "act_١٢٣",
    "9" * 25,
    "x" * 5000,
    [],
    {},
]
# Fields of rule bodies (free-form to the schema) and of the typed bodies, so edges land on
# names the handlers read rather than on unknown keys (which are refused early).
FIELDS = [
    "account_id",
    "min_daily_budget",
    "max_daily_budget",
    "require_approval_threshold",
    "account_daily_budget_cap",
    "scope_level",
    "scope_entity_id",
    "enabled",
    "rule_id",
    "lookback_hours",
    "cooldown_hours",
    "min_impressions",
    "evidence_z",
    "roas_pause",
    "action_id",
    "approve",
    "reason",
    "since",
    "until",
    "run_hour",
    "days",
    "dry_run",
    "entity_id",
]

schemathesis.openapi.format("date", st.one_of(st.sampled_from(FAR_DATES), st.dates().map(str)))
schemathesis.openapi.format(
    "date-time", st.one_of(st.sampled_from(FAR_TIMES), st.datetimes().map(lambda d: d.isoformat() + "Z"))
)


# Rule bodies are free-form to the schema, so schemathesis fills them with random keys (or
# no object at all) that are refused before any value is looked at: edges go onto a valid
# rule instead, mostly onto its money.
VALID_RULE = {"account_id": "act_1001", "min_daily_budget": "1", "max_daily_budget": "2"}
MONEY = ["min_daily_budget", "max_daily_budget", "require_approval_threshold", "account_daily_budget_cap"]


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> Any:
    """Some bodies keep what schemathesis made; the rest get one to three fields set to an edge
    value (on a valid rule, for the rule routes)."""
    operation = getattr(context, "operation", None)
    path, method = getattr(operation, "path", ""), str(getattr(operation, "method", "")).upper()
    fields = FIELDS
    if path.startswith("/rules"):
        body = dict(VALID_RULE) if method == "POST" else {}
        fields = MONEY * 4 + FIELDS
    if not isinstance(body, dict):
        return st.just(body)
    edits = st.lists(st.tuples(st.sampled_from(fields), st.sampled_from(EDGE_VALUES)), min_size=1, max_size=3)
    return st.one_of(st.just(body), edits.map(lambda pairs: {**body, **dict(pairs)}))


@schemathesis.hook
def flatmap_path_parameters(context: Any, parameters: Any) -> Any:
    """Rule ids that exist (the world has a few rules), half the time: a random id is a 404
    before the handler reaches the code that an edge value could break."""
    if not isinstance(parameters, dict) or "rule_id" not in parameters:
        return st.just(parameters)
    return st.one_of(st.just(parameters), st.integers(1, 4).map(lambda i: {**parameters, "rule_id": i}))
