"""POST /time-optimization/learn says why it learned no profile, and what to send instead."""

from __future__ import annotations

from tests.api.conftest import World


def test_learning_from_days_without_snapshots_answers_zero_profiles_with_the_reason(world: World) -> None:
    status, learned = world.post(
        "/time-optimization/learn", {"account_id": "act_1001", "days": 2, "as_of": "2027-06-01T00:00:00Z"}
    )
    assert status == 200, learned
    answer = learned["act_1001"]
    assert answer["profiles"] == 0
    assert answer["reason"].startswith("no snapshots in the 2 local days before ")
    assert "pass as_of " in answer["reason"]


def test_a_learn_that_found_profiles_gives_no_reason(world: World) -> None:
    status, learned = world.post(
        "/time-optimization/learn", {"account_id": "act_1001", "days": 2, "as_of": "2026-11-04T12:00:00Z"}
    )
    assert status == 200, learned
    assert learned["act_1001"]["profiles"] > 0
    assert learned["act_1001"]["reason"] is None
