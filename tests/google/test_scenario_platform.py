"""A scenario may hold Google Ads customers beside Meta ad accounts, each validated by its platform."""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.sandbox.scenario import ScenarioError, parse_scenario
from autoscaler.sandbox.simulator import GOOGLE_MAX_DAILY_OVERDELIVERY, MAX_DAILY_OVERDELIVERY, Simulator


def accounts(*specs: dict[str, Any]) -> dict[str, Any]:
    return {"accounts": list(specs), "history_days": 2}


GOOGLE = {"account_id": "1234567890", "platform": "google", "groups": [{"kind": "cbo", "count": 2}]}
META = {"account_id": "act_1001", "groups": [{"kind": "cbo", "count": 2}]}


@pytest.mark.parametrize(
    ("account", "message"),
    [
        (
            {**GOOGLE, "account_id": "act_1234567890"},
            "accounts[0]: account_id: a Google Ads customer id is 10 digits",
        ),
        ({**META, "account_id": "1234567890"}, "accounts[0]: account_id: a Meta ad account id is act_"),
        ({**GOOGLE, "account_id": "123-456-7890"}, "accounts[0].account_id: string should match pattern"),
        (
            {**GOOGLE, "groups": [{"kind": "abo", "count": 1}]},
            "accounts[0]: groups: a Google Ads account holds campaign budgets",
        ),
        ({**GOOGLE, "platform": "tiktok"}, "accounts[0].platform: input should be 'meta' or 'google'"),
    ],
)
def test_an_account_is_refused_in_one_line_when_its_id_does_not_fit_its_platform(
    account: dict[str, Any], message: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(accounts(account))
    assert str(caught.value).startswith(message), str(caught.value)


def test_meta_accounts_stay_meta_by_default_and_google_ones_are_marked() -> None:
    sim = Simulator(parse_scenario(accounts(META, GOOGLE)), seed=1)
    assert [(a.account_id, a.platform) for a in sim.accounts] == [
        ("act_1001", "meta"),
        ("1234567890", "google"),
    ]
    google = [h for h in sim.holders if sim.accounts[h.account_index].platform == "google"]
    assert google
    assert all(h.entity_id.isdigit() for h in google)
    assert set(sim.overdelivery[[h.index for h in google]]) == {GOOGLE_MAX_DAILY_OVERDELIVERY}
    assert set(sim.overdelivery) == {MAX_DAILY_OVERDELIVERY, GOOGLE_MAX_DAILY_OVERDELIVERY}


def test_google_budgets_are_not_held_to_metas_four_changes_an_hour() -> None:
    sim = Simulator(parse_scenario(accounts(META, GOOGLE)), seed=1)
    google = next(h for h in sim.holders if sim.accounts[h.account_index].platform == "google")
    for amount in (5_000, 6_000, 7_000, 8_000, 9_000, 10_000):
        sim.set_budget(google, amount)
    assert int(sim.budget[google.index]) == 10_000
