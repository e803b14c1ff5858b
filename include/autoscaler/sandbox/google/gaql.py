"""The subset of the Google Ads Query Language the sandbox answers.

``SELECT field, ... FROM resource [WHERE condition AND ...] [ORDER BY ...] [LIMIT n]`` with
conditions ``field op value`` (``= != > >= < <=``), ``field [NOT] IN (v, ...)``,
``field BETWEEN 'a' AND 'b'`` and ``field DURING TODAY|YESTERDAY|LAST_7_DAYS|...``.
Values are quoted strings, numbers or enum names.  Anything else is refused the way Google
refuses it: a QueryError naming what it could not read (the server turns it into
INVALID_ARGUMENT with a GoogleAdsFailure).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Fields the sandbox serves, by the resource in FROM (Google's "selectable with" lists, cut
# to what the autoscaler reads).
CUSTOMER_FIELDS = frozenset(
    {
        "customer.id",
        "customer.resource_name",
        "customer.descriptive_name",
        "customer.currency_code",
        "customer.time_zone",
    }
)
BUDGET_FIELDS = frozenset(
    {
        "campaign_budget.id",
        "campaign_budget.resource_name",
        "campaign_budget.name",
        "campaign_budget.amount_micros",
        "campaign_budget.total_amount_micros",
        "campaign_budget.explicitly_shared",
        "campaign_budget.reference_count",
        "campaign_budget.status",
        "campaign_budget.period",
    }
)
CAMPAIGN_FIELDS = frozenset(
    {
        "campaign.id",
        "campaign.resource_name",
        "campaign.name",
        "campaign.status",
        "campaign.campaign_budget",
        "campaign.bidding_strategy_system_status",
    }
)
METRICS = frozenset(
    {
        "metrics.cost_micros",
        "metrics.impressions",
        "metrics.clicks",
        "metrics.conversions",
        "metrics.conversions_value",
    }
)
SEGMENTS = frozenset({"segments.date", "segments.hour"})
SELECTABLE: dict[str, frozenset[str]] = {
    "customer": CUSTOMER_FIELDS,
    "campaign_budget": BUDGET_FIELDS | CUSTOMER_FIELDS,
    "campaign": CAMPAIGN_FIELDS | BUDGET_FIELDS | CUSTOMER_FIELDS | METRICS | SEGMENTS,
}
DURING = ("TODAY", "YESTERDAY", "LAST_7_DAYS", "LAST_14_DAYS", "LAST_30_DAYS")

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'[^']*'|\"[^\"]*\")|(?P<number>-?[0-9]+(?:\.[0-9]+)?)"
    r"|(?P<op>!=|>=|<=|=|>|<)|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)


class QueryError(ValueError):
    """A query the sandbox (like Google) cannot run; ``reason`` is a QueryErrorEnum name."""

    def __init__(self, message: str, reason: str = "UNEXPECTED_INPUT") -> None:
        super().__init__(message)
        self.reason = reason


Value = str | int | float


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # = != > >= < <= IN NOT_IN BETWEEN DURING
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Query:
    fields: tuple[str, ...]
    resource: str
    conditions: tuple[Condition, ...]
    limit: int | None

    @property
    def has_metrics(self) -> bool:
        return any(f.startswith("metrics.") for f in self.fields)

    def segments(self) -> tuple[str, ...]:
        return tuple(f for f in self.fields if f.startswith("segments."))


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise QueryError(f"Error in query: unexpected input {text[position : position + 20]!r}.")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        position = match.end()
    return out


class _Reader:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def next(self, what: str) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise QueryError(f"Error in query: expected {what}, got the end of the query.")
        self.at += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].upper() in words:
            self.at += 1
            return True
        return False

    def value(self) -> Value:
        kind, text = self.next("a value")
        if kind == "string":
            return text[1:-1]
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "word":
            return text  # an enum name (ENABLED, REMOVED, ...)
        raise QueryError(f"Error in query: expected a value, got {text!r}.")


def parse(text: str) -> Query:
    """Parse a query, checking its fields against its resource."""
    reader = _Reader(_tokens(text))
    if not reader.keyword("SELECT"):
        raise QueryError("Error in query: a query starts with SELECT.", "EXPECTED_SELECT")
    fields = _field_list(reader)
    if not reader.keyword("FROM"):
        raise QueryError("Error in query: expected FROM after the fields.", "EXPECTED_FROM")
    resource = reader.next("a resource")[1]
    if resource not in SELECTABLE:
        raise QueryError(
            f"Error in query: {resource!r} is not a resource the sandbox serves.", "INVALID_RESOURCE_NAME"
        )
    for name in fields:
        if name not in SELECTABLE[resource]:
            raise QueryError(f"Unrecognized field in the query: '{name}'.", "UNRECOGNIZED_FIELD")
    conditions: list[Condition] = []
    if reader.keyword("WHERE"):
        conditions.append(_condition(reader, resource))
        while reader.keyword("AND"):
            conditions.append(_condition(reader, resource))
    _order_by(reader)
    limit = _limit(reader)
    left = reader.peek()
    if left is not None:
        raise QueryError(f"Error in query: unexpected input {left[1]!r}.")
    query = Query(tuple(fields), resource, tuple(conditions), limit)
    _check_dates(query)
    return query


def _field_list(reader: _Reader) -> list[str]:
    fields: list[str] = []
    while True:
        kind, name = reader.next("a field")
        if kind != "word":
            raise QueryError(f"Error in query: expected a field, got {name!r}.")
        fields.append(name)
        if reader.peek() != ("punct", ","):
            return fields
        reader.at += 1


def _order_by(reader: _Reader) -> None:
    """ORDER BY is read and ignored: rows come in the sandbox's own stable order."""
    if not reader.keyword("ORDER"):
        return
    if not reader.keyword("BY"):
        raise QueryError("Error in query: expected BY after ORDER.")
    while True:
        reader.next("a field to order by")
        reader.keyword("ASC", "DESC")
        if reader.peek() != ("punct", ","):
            return
        reader.at += 1


def _limit(reader: _Reader) -> int | None:
    if not reader.keyword("LIMIT"):
        return None
    value = reader.value()
    if not isinstance(value, int) or value <= 0:
        raise QueryError("Error in query: LIMIT takes a positive whole number.", "LIMIT_VALUE_TOO_LOW")
    return value


def _condition(reader: _Reader, resource: str) -> Condition:
    kind, name = reader.next("a field")
    if kind != "word" or name not in SELECTABLE[resource]:
        raise QueryError(f"Unrecognized field in the query: '{name}'.", "UNRECOGNIZED_FIELD")
    if reader.keyword("BETWEEN"):
        low = reader.value()
        if not reader.keyword("AND"):
            raise QueryError("Error in query: BETWEEN takes two values joined by AND.")
        return Condition(name, "BETWEEN", (low, reader.value()))
    if reader.keyword("DURING"):
        period = reader.next("a date range")[1].upper()
        if period not in DURING:
            raise QueryError(
                f"Error in query: {period} is not a date range the sandbox knows.",
                "INVALID_VALUE_WITH_DURING_OPERATOR",
            )
        return Condition(name, "DURING", (period,))
    negate = reader.keyword("NOT")
    if reader.keyword("IN"):
        return Condition(name, "NOT_IN" if negate else "IN", _in_list(reader))
    if negate:
        raise QueryError("Error in query: NOT is only understood before IN.")
    op_kind, op = reader.next("an operator")
    if op_kind != "op":
        raise QueryError(f"Error in query: expected an operator after {name}, got {op!r}.")
    return Condition(name, op, (reader.value(),))


def _in_list(reader: _Reader) -> tuple[Value, ...]:
    if reader.next("(") != ("punct", "("):
        raise QueryError("Error in query: IN takes a list in parentheses.")
    values = [reader.value()]
    while reader.peek() == ("punct", ","):
        reader.at += 1
        values.append(reader.value())
    if reader.next(")") != ("punct", ")"):
        raise QueryError("Error in query: IN takes a list in parentheses.")
    return tuple(values)


def _check_dates(query: Query) -> None:
    """Segmenting by date or hour needs a finite date range, as Google requires."""
    if not query.segments():
        return
    ops = {c.op for c in query.conditions if c.field == "segments.date"}
    finite = "BETWEEN" in ops or "DURING" in ops or "=" in ops or "IN" in ops or {">=", "<="} <= ops
    if not finite:
        raise QueryError(
            "Error in query: segments.date or segments.hour needs a finite date range on segments.date "
            "(BETWEEN, DURING, = or IN).",
            "EXPECTED_FILTERS_ON_DATE_RANGE",
        )
