"""Hardening cases of the command line (issue 17, items 5, 8, 9, 11, 12, 13).

Each case runs ``autoscaler`` as a person would type it.  It must exit with status 2, print
exactly one line naming the field or option and the rule broken (money in major units with
its currency), print no traceback and nothing on standard output, and write nothing.
docs/hardening.md lists the cases.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from autoscaler.cli import main
from tests import factories
from tests.hardening import Case, params

pytestmark = pytest.mark.integration

RULE = {"account_id": "act_1001", "min_daily_budget": 10, "max_daily_budget": 1000}
HEADER = "entity_id,daily_budget,spend,revenue,impressions,clicks\n"


def _rule(**changes: Any) -> dict[str, Any]:
    return {"rule": json.dumps({**RULE, **changes})}


def _metrics(*rows: str) -> dict[str, str]:
    return {
        "rule": json.dumps({"min_daily_budget": 10, "max_daily_budget": 1000}),
        "metrics": HEADER + "".join(rows),
    }


EVALUATE = ("evaluate", "--rule", "{rule}", "--metrics", "{metrics}", "--now", "2026-11-02T15:00:00Z")

# given: (argv, files); {name} in argv is the path of the file written from files[name],
# {stale} the id of a pending action whose approval deadline has passed.
CASES = [
    Case(
        "cli-accounts-currency-umlaut",
        "accounts add act_7 --currency ÄÖÜ",
        "currency: must be a 3-letter ISO 4217 code, got 'ÄÖÜ'",
        (("accounts", "add", "act_7", "--currency", "ÄÖÜ", "--timezone", "UTC"), {}),
    ),
    Case(
        "cli-accounts-currency-unknown",
        "accounts add act_7 --currency XYZ",
        "currency: XYZ is not a currency Meta's ad accounts use",
        (("accounts", "add", "act_7", "--currency", "XYZ", "--timezone", "UTC"), {}),
    ),
    Case(
        "cli-accounts-arabic-digits",
        "accounts add act_١٢٣ (Arabic-Indic digits)",
        "account_id: must be act_ followed by 1 to 20 digits 0-9 (got 'act_١٢٣')",
        (("accounts", "add", "act_١٢٣", "--currency", "USD", "--timezone", "UTC"), {}),
    ),
    Case(
        "cli-accounts-21-digits",
        "accounts add act_ + 21 digits",
        "account_id: must be act_ followed by 1 to 20 digits 0-9",
        (("accounts", "add", "act_" + "1" * 21, "--currency", "USD", "--timezone", "UTC"), {}),
    ),
    Case(
        "cli-accounts-long-name",
        "accounts add with a 100,000-character --name",
        "name: must be at most 200 characters, got 100,000",
        (("accounts", "add", "act_7", "--currency", "USD", "--timezone", "UTC", "--name", "x" * 100_000), {}),
    ),
    Case(
        "cli-accounts-ansi-name",
        "accounts add with an ANSI escape in --name",
        "name: must not contain control characters",
        (
            ("accounts", "add", "act_7", "--currency", "USD", "--timezone", "UTC", "--name", "\x1b[31mshop"),
            {},
        ),
    ),
    Case(
        "cli-rules-add-1e30",
        'rules add {"max_daily_budget": 1e30}',
        "max_daily_budget: must be at most 10,000,000.00 USD, got 1E+30 USD",
        (("rules", "add", "{rule}"), _rule(max_daily_budget=1e30)),
    ),
    Case(
        "cli-rules-add-money-true",
        'rules add {"min_daily_budget": true}',
        "min_daily_budget: must be an amount (a number or a decimal string), got True",
        (("rules", "add", "{rule}"), _rule(min_daily_budget=True)),
    ),
    Case(
        "cli-rules-add-negative-in-major-units",
        'rules add {"min_daily_budget": -10} (USD)',
        "min_daily_budget: must be more than 0.00 USD, got -10.00 USD",
        (("rules", "add", "{rule}"), _rule(min_daily_budget=-10)),
    ),
    Case(
        "cli-rules-add-eur-max-below-min",
        'rules add {"min_daily_budget": 500, "max_daily_budget": 100} on a EUR account',
        "max_daily_budget: must be at least min_daily_budget (500.00 EUR), got 100.00 EUR",
        (
            ("rules", "add", "{rule}"),
            _rule(account_id="act_2002", min_daily_budget=500, max_daily_budget=100),
        ),
    ),
    Case(
        "cli-rules-add-unknown-campaign",
        "rules add scoped to campaign 999999",
        "scope_entity_id: 999999 is not a known campaign of act_1001",
        (("rules", "add", "{rule}"), _rule(scope_level="campaign", scope_entity_id="999999")),
    ),
    Case(
        "cli-rules-add-rule-id",
        'rules add {"rule_id": 999, ...}',
        "rule_id: is assigned by the database; leave it out",
        (("rules", "add", "{rule}"), _rule(rule_id=999)),
    ),
    Case(
        "cli-rules-add-ansi-actor",
        "rules add --actor with an ANSI escape",
        "argument --actor: must not contain control characters",
        (("rules", "add", "{rule}", "--actor", "\x1b[2Jadmin"), _rule()),
    ),
    Case(
        "cli-profiles-learn-negative-days",
        "profiles learn --days -3",
        "argument --days: must be between 1 and 90, got -3",
        (("profiles", "learn", "--days", "-3"), {}),
    ),
    Case(
        "cli-actions-list-negative-limit",
        "actions list --limit -5",
        "argument --limit: must be between 1 and 10000, got -5",
        (("actions", "list", "--limit", "-5"), {}),
    ),
    Case(
        "cli-actions-list-bogus-status",
        "actions list --status bogus",
        "argument --status: invalid choice: 'bogus'",
        (("actions", "list", "--status", "bogus"), {}),
    ),
    Case(
        "cli-approve-empty-by",
        'actions approve ID --by ""',
        "argument --by: must name who it is, not be blank",
        (("actions", "approve", "{stale}", "--by", ""), {}),
    ),
    Case(
        "cli-approve-ansi-by",
        "actions approve ID --by with an ANSI escape",
        "argument --by: must not contain control characters",
        (("actions", "approve", "{stale}", "--by", "\x1b[32mroot\x1b[0m"), {}),
    ),
    Case(
        "cli-approve-after-deadline",
        "actions approve ID after its approval deadline",
        "cannot be approved: its approval deadline passed at 2026-01-01T00:00:00+00:00",
        (("actions", "approve", "{stale}", "--by", "dana"), {}),
    ),
    Case(
        "cli-evaluate-now-notatime",
        "evaluate --now notatime",
        "--now: not an ISO time, e.g. 2026-11-02T15:00:00Z (got 'notatime')",
        (
            ("evaluate", "--rule", "{rule}", "--metrics", "{metrics}", "--now", "notatime"),
            _metrics("1,100,1,1,10,1\n"),
        ),
    ),
    Case(
        "cli-evaluate-budget-1e20",
        "evaluate with daily_budget 1e20",
        "daily_budget: must be a non-negative decimal amount in USD, such as 12.50 (row 2, entity '1', got '1e20')",
        (EVALUATE, _metrics("1,1e20,1,1,10,1\n")),
    ),
    Case(
        "cli-evaluate-budget-too-big",
        "evaluate with daily_budget 20000000 (USD)",
        "daily_budget: must be at most 10,000,000.00 USD a day (row 2, entity '1'",
        (EVALUATE, _metrics("1,20000000,1,1,10,1\n")),
    ),
    Case(
        "cli-evaluate-revenue-inf",
        "evaluate with revenue inf",
        "revenue: must be a non-negative decimal amount in USD, such as 12.50 (row 2, entity '1', got 'inf')",
        (EVALUATE, _metrics("1,100,1,inf,10,1\n")),
    ),
    Case(
        "cli-evaluate-clicks-above-impressions",
        "evaluate with more clicks than impressions",
        "clicks: must not exceed impressions (row 3, entity '2', got '25')",
        (EVALUATE, _metrics("1,100,10,40,1000,10\n", "2,100,10,40,10,25\n")),
    ),
    Case(
        "cli-evaluate-extra-field",
        "evaluate with a CSV row holding an extra field",
        "line 3 (entity '2') has 7 fields, the header 6",
        (EVALUATE, _metrics("1,100,10,40,1000,10\n", "2,100,10,40,1000,10,9\n")),
    ),
    Case(
        "cli-evaluate-currency-unknown",
        "evaluate --currency XYZ",
        "currency: XYZ is not a currency Meta's ad accounts use",
        ((*EVALUATE, "--currency", "XYZ"), _metrics("1,100,10,40,1000,10\n")),
    ),
]


@pytest.fixture
def setup(engine: Engine, db_url: URL) -> dict[str, Any]:
    with engine.begin() as conn:
        factories.world(conn)
        factories.account(conn, "act_2002", "EUR")
        stale = factories.insert_action(
            conn, factories.action_row(1, approval_deadline="2026-01-01 00:00+00")
        )
    return {"url": db_url.render_as_string(hide_password=False), "stale": stale}


def _state(engine: Engine) -> tuple[Any, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM autoscaler.ad_accounts), "
                    "(SELECT count(*) FROM autoscaler.scaling_rules), "
                    "(SELECT count(*) FROM autoscaler.action_events), "
                    "(SELECT string_agg(status, ',') FROM autoscaler.scaling_actions)"
                )
            ).one()
        )


def _run(args: list[str]) -> int | str | None:
    try:
        return main(args)
    except SystemExit as exc:  # argparse refuses an option before any command runs
        return exc.code


@pytest.mark.parametrize("case", params(CASES))
def test_bad_input_is_one_line_naming_the_field_and_writes_nothing(
    engine: Engine,
    setup: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: Case,
) -> None:
    argv, files = case.given
    paths = {}
    for name, content in files.items():
        paths[name] = tmp_path / name
        paths[name].write_text(content, encoding="utf-8")
    args = [
        a.format(stale=setup["stale"], **{k: str(v) for k, v in paths.items()}) if "{" in a else a
        for a in argv
    ]
    if args[0] != "evaluate":
        args += ["--url", setup["url"]]
    before = _state(engine)
    code = _run(args)
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert case.expected in err
    assert _state(engine) == before
