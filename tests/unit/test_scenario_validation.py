"""Scenario files: every bad one is refused in one line that names the field, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from autoscaler.cli import main
from autoscaler.sandbox.scenario import BUILT_IN, load_scenario


def account(**fields: Any) -> dict[str, Any]:
    return {"account_id": "act_1", **fields}


def group(**fields: Any) -> dict[str, Any]:
    return {"accounts": [account(groups=[{"kind": "abo", "count": 1, **fields}])]}


BAD: list[tuple[str, Any, str]] = [
    ("top-level typo", {"curency": "EUR", "accounts": [account()]}, "curency: unknown field"),
    ("account typo", {"accounts": [account(curency="EUR")]}, "accounts[0].curency: unknown field"),
    ("group typo", group(roass=[1, 2]), "accounts[0].groups[0].roass: unknown field"),
    (
        "unknown time zone",
        {"accounts": [account(timezone="Mars/Olympus")]},
        "accounts[0].timezone: unknown time zone",
    ),
    (
        "penalty as text",
        {"learning_penalty": "0.6", "accounts": [account()]},
        "learning_penalty: input should be a valid number",
    ),
    (
        "penalty above 1",
        {"learning_penalty": 1.7, "accounts": [account()]},
        "learning_penalty: input should be less than or equal to 1",
    ),
    (
        "negative learning hours",
        {"learning_hours": -24, "accounts": [account()]},
        "learning_hours: input should be greater than or equal to 0",
    ),
    (
        "negative budget",
        group(daily_budget=[-10, 50]),
        "accounts[0].groups[0].daily_budget: each end must lie in (0, 1e+09]",
    ),
    (
        "paused share 2",
        group(paused_share=2),
        "accounts[0].groups[0].paused_share: input should be less than or equal to 1",
    ),
    (
        "CBO without ad sets",
        group(kind="cbo", adsets_per_campaign=0),
        "accounts[0].groups[0].adsets_per_campaign",
    ),
    ("elasticity 1", group(elasticity=1.0), "accounts[0].groups[0].elasticity: each end must lie in (0, 1)"),
    ("elasticity above 1", group(elasticity=[0.5, 1.2]), "accounts[0].groups[0].elasticity"),
    ("reversed range", group(roas=[5, 1]), "accounts[0].groups[0].roas: range [5.0, 1.0] is reversed"),
    ("range of three", group(roas=[1, 2, 3]), "accounts[0].groups[0].roas: input should be a valid array"),
    (
        "unknown currency",
        {"accounts": [account(currency="XYZ")]},
        "accounts[0].currency: 'XYZ' is not a currency the sandbox has a rate for",
    ),
    (
        "bad account id",
        {"accounts": [{"account_id": "123"}]},
        "accounts[0].account_id: string should match pattern",
    ),
    ("no accounts", {"accounts": []}, "accounts: tuple should have at least 1 item"),
    (
        "duplicate accounts",
        {"accounts": [account(), account()]},
        "accounts: account_id act_1 appears more than once",
    ),
    (
        "start off the hour",
        {"start": "2026-11-02T05:30:00Z", "accounts": [account()]},
        "start: must be on the hour",
    ),
    (
        "start without zone",
        {"start": "2026-11-02T05:00:00", "accounts": [account()]},
        "start: must carry a time zone",
    ),
    (
        "weights not summing",
        {"attribution_delay": [0.5, 0.2], "accounts": [account()]},
        "attribution_delay: weights must sum to 1",
    ),
    (
        "shock backwards",
        {"shocks": [{"from": "2026-11-03T00:00:00Z", "to": "2026-11-02T00:00:00Z"}], "accounts": [account()]},
        "shocks[0]: to: must be after from",
    ),
    (
        "shock on a stranger",
        {
            "shocks": [{"from": "2026-11-02T00:00:00Z", "to": "2026-11-03T00:00:00Z", "account_id": "act_9"}],
            "accounts": [account()],
        },
        "shocks[0].account_id: act_9 is not an account of the scenario",
    ),
    (
        "reported share above 1",
        {
            "shocks": [{"from": "2026-11-02T00:00:00Z", "to": "2026-11-03T00:00:00Z", "reported": 1.5}],
            "accounts": [account()],
        },
        "shocks[0].reported",
    ),
    (
        "season not a date",
        {"seasons": [{"from": "Black Friday", "to": "2026-11-30"}], "accounts": [account()]},
        "seasons[0].from: not an ISO date",
    ),
    (
        "fatigue without half-life",
        group(fatigue={"floor": 0.3}),
        "accounts[0].groups[0].fatigue.half_life_days: required",
    ),
    ("a boolean count", group(count=True), "accounts[0].groups[0].count: input should be a valid integer"),
    (
        "hour effects unknown",
        group(hour_effects="spiky"),
        "accounts[0].groups[0].hour_effects: input should be 'flat', 'mild' or 'planted'",
    ),
    ("NaN as a number", {"learning_penalty": "NaN", "accounts": [account()]}, "learning_penalty"),
    (
        "exchange rate zero",
        {"exchange_rates": {"EUR": 0}, "accounts": [account()]},
        "exchange_rates.EUR: input should be greater than 0",
    ),
    ("not an object", [1, 2, 3], "scenario: must be a JSON object"),
]


@pytest.mark.parametrize(("case", "data", "message"), BAD, ids=[case for case, _, _ in BAD])
def test_a_bad_scenario_file_is_one_line_naming_the_field(
    case: str, data: Any, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    assert main(["backtest", "--scenario", str(path), "--days", "1", "--policy", "static"]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_files_that_are_not_json_or_not_text_are_refused_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, content in (
        ("broken.json", b'{"accounts": ['),
        ("binary.json", b"\xff\xfe\x00\x01"),
        ("deep.json", b"[" * 100_000),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        assert main(["backtest", "--scenario", str(path), "--days", "1"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1, err


def test_every_built_in_scenario_is_valid() -> None:
    for name in BUILT_IN:
        assert load_scenario(name).accounts
