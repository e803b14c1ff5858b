"""The scaling decision, rule by rule: the seed's thresholds, then the safety around them."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd
import pytest

from autoscaler import policy
from autoscaler.policy import decide, decide_row, reasoning, with_rules
from autoscaler.rules import ScalingRule

NOW = pd.Timestamp("2026-11-02T15:00:00Z")


def rule(rule_id: int = 1, **settings: Any) -> ScalingRule:
    # The seed's thresholds acting on any ROAS (evidence_z 0), with a 24 h cooldown and the
    # learning-phase hold, so each mechanism is tested on its own; the evidence tests below
    # set their own, and tests/unit/test_rules.py pins the defaults.
    base = {
        "account_id": "act_1",
        "min_daily_budget": 1_000,
        "max_daily_budget": 100_000,
        "evidence_z": 0,
        "cooldown_hours": 24,
        "allow_changes_during_learning": False,
        **settings,
    }
    return ScalingRule.parse(base).model_copy(update={"rule_id": rule_id})


def entity(
    roas: float, ctr: float = 0.01, budget: int = 20_000, impressions: int = 15_000, **extra: Any
) -> dict[str, Any]:
    spend = 100_000
    return {
        "entity_id": extra.pop("entity_id", "1"),
        "daily_budget": budget,
        "spend": spend,
        "revenue": round(roas * spend),
        "impressions": impressions,
        "clicks": round(ctr * impressions),
        **extra,
    }


def run(*entities: dict[str, Any], rules: list[ScalingRule] | None = None) -> pd.DataFrame:
    return decide(with_rules(pd.DataFrame(list(entities)), rules or [rule()]), NOW)


def one(**kwargs: Any) -> Any:
    rules = kwargs.pop("rules", None)
    return next(run(entity(**kwargs), rules=rules).itertuples())


def test_the_seeds_worked_example() -> None:
    decision = one(
        roas=4.2,
        ctr=0.035,
        budget=20_000,
        impressions=15_000,
        rules=[rule(min_daily_budget=1_000, max_daily_budget=100_000, require_approval_threshold=50_000)],
    )
    assert decision.action == "scale_up_aggressive"
    assert decision.new_daily_budget == 30_000
    assert not decision.requires_approval
    assert reasoning(decision, "USD") == "Exceptional performance: ROAS 4.20x (>4.0x) and CTR 3.50% (>3%)"


@pytest.mark.parametrize(
    ("roas", "ctr", "action", "new_budget"),
    [
        (4.01, 0.031, "scale_up_aggressive", 30_000),
        (4.0, 0.05, "scale_up", 24_000),  # not above 4.0: the aggressive branch is strict
        (4.5, 0.03, "scale_up", 24_000),  # CTR exactly 3% is not above it
        (3.01, 0.0, "scale_up", 24_000),
        (3.0, 0.05, "maintain", 20_000),  # exactly 3.0 does not scale up
        (1.5, 0.05, "maintain", 20_000),  # exactly 1.5 is not below scale_down
        (1.49, 0.05, "scale_down", 14_000),
        (1.0, 0.05, "scale_down", 14_000),  # exactly the pause threshold scales down
        (0.99, 0.05, "pause", 20_000),
        (0.0, 0.05, "pause", 20_000),
    ],
)
def test_thresholds_and_their_boundaries(roas: float, ctr: float, action: str, new_budget: int) -> None:
    decision = one(roas=roas, ctr=ctr)
    assert (decision.action, decision.new_daily_budget) == (action, new_budget)


def test_a_pause_pauses_and_keeps_the_budget() -> None:
    decision = one(roas=0.5)
    assert (decision.new_status, decision.new_daily_budget) == ("PAUSED", 20_000)
    assert reasoning(decision, "USD") == "Losing money: ROAS 0.50x (<1.0x), pausing"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"impressions": 999}, "low_impressions"),
        ({"spend": 0, "revenue": 0}, "no_spend"),
        ({"status": "PAUSED"}, "not_active"),
        ({"locked": True}, "locked"),
    ],
)
def test_no_change_without_enough_evidence_or_when_not_ours_to_change(
    change: dict[str, Any], reason: str
) -> None:
    row = {**entity(roas=5, ctr=0.05), **change}
    decision = next(run(row).itertuples())
    assert (decision.action, decision.reason, decision.new_daily_budget) == ("no_change", reason, 20_000)


def test_exactly_min_impressions_is_enough() -> None:
    assert one(roas=5, ctr=0.05, impressions=1_000).action == "scale_up_aggressive"


def test_min_conversions_holds_back_decisions_on_thin_evidence() -> None:
    decision = next(run({**entity(roas=0.2), "conversions": 2}, rules=[rule(min_conversions=5)]).itertuples())
    assert (decision.action, decision.reason) == ("no_change", "low_conversions")


def test_new_budgets_clamp_to_the_rules_limits() -> None:
    assert one(roas=3.5, budget=90_000).new_daily_budget == 100_000  # 108,000 clamped to the max
    assert one(roas=1.2, budget=1_200).new_daily_budget == 1_000  # 840 clamped to the min


def test_a_change_the_clamp_cancels_is_no_change() -> None:
    decision = one(roas=3.5, budget=100_000)
    assert (decision.action, decision.reason) == ("no_change", "clamped_to_limits")
    assert one(roas=1.2, budget=1_000).reason == "clamped_to_limits"


@pytest.mark.parametrize(
    ("roas", "budget"),
    [(3.5, 150_000), (5.0, 100_001), (1.2, 600), (1.2, 999)],
)
def test_a_budget_beyond_the_limits_is_not_moved_against_the_decision(roas: float, budget: int) -> None:
    """Above max_daily_budget (set by hand, or the limit lowered) a scale-up would clamp the
    budget down, below the minimum a scale-down would clamp it up: no change, both ways."""
    decision = one(roas=roas, ctr=0.05, budget=budget)
    assert (decision.action, decision.reason, decision.new_daily_budget) == (
        "no_change",
        "clamped_to_limits",
        budget,
    )
    assert "at or beyond the rule's limit" in reasoning(decision, "USD")


@pytest.mark.parametrize(
    ("budget", "action", "expected"), [(1_999, 3.5, 2_399), (1_234, 1.2, 864), (1_001, 3.5, 1_201)]
)
def test_new_budgets_round_to_the_minor_unit_in_a_zero_decimal_currency(
    budget: int, action: float, expected: int
) -> None:
    jpy = rule(min_daily_budget=100, max_daily_budget=1_000_000)
    assert (
        one(roas=action, budget=budget, rules=[jpy]).new_daily_budget == expected
    )  # yen: whole yen, half up


def test_cooldown_holds_a_recently_changed_entity() -> None:
    recent = one(roas=5, ctr=0.05, last_budget_change_at=NOW - pd.Timedelta(hours=23))
    assert (recent.action, recent.reason) == ("no_change", "cooldown")
    assert (
        one(roas=5, ctr=0.05, last_budget_change_at=NOW - pd.Timedelta(hours=24)).action
        == "scale_up_aggressive"
    )
    assert one(roas=0.5, last_budget_change_at=NOW - pd.Timedelta(hours=1)).reason == "cooldown"  # pauses too
    no_cooldown = rule(cooldown_hours=0)
    assert (
        one(roas=5, ctr=0.05, last_budget_change_at=NOW, rules=[no_cooldown]).action == "scale_up_aggressive"
    )


def test_maintain_is_not_a_change_so_cooldown_does_not_apply() -> None:
    assert one(roas=2, last_budget_change_at=NOW).action == "maintain"


def test_learning_phase_holds_changes_unless_the_rule_allows() -> None:
    assert one(roas=5, ctr=0.05, learning=True).reason == "learning_phase"
    assert (
        one(roas=5, ctr=0.05, learning=True, rules=[rule(allow_changes_during_learning=True)]).action
        == "scale_up_aggressive"
    )


def test_approval_is_required_above_the_threshold_and_for_pauses_when_configured() -> None:
    strict = rule(require_approval_threshold=25_000, pause_requires_approval=True)
    assert one(roas=5, ctr=0.05, rules=[strict]).requires_approval  # 30,000 > 25,000
    assert not one(roas=3.5, rules=[strict]).requires_approval  # 24,000
    assert one(roas=0.5, rules=[strict]).requires_approval
    assert not one(roas=0.5).requires_approval  # the default: pauses need no approval
    assert not one(roas=2, rules=[strict]).requires_approval  # maintain never does


def test_the_account_cap_gives_room_to_the_highest_roas_first() -> None:
    capped = rule(account_daily_budget_cap=100_000 + 10_000 + 10_000 + 10_000 + 6_000)
    frame = run(
        entity(entity_id="big", roas=2.0, budget=100_000),  # maintain: stays committed
        entity(entity_id="a", roas=3.5, budget=10_000),  # wants +2,000
        entity(entity_id="b", roas=5.0, ctr=0.05, budget=10_000),  # wants +5,000, highest ROAS
        entity(entity_id="c", roas=3.2, budget=10_000),  # wants +2,000, lowest ROAS
        rules=[capped],
    ).set_index("entity_id")
    # Room is 6,000: b takes 5,000, a gets the last 1,000, c nothing.
    assert frame.loc["b", "new_daily_budget"] == 15_000
    assert (frame.loc["a", "new_daily_budget"], frame.loc["a", "reason"]) == (11_000, "account_cap_partial")
    assert (frame.loc["c", "action"], frame.loc["c", "reason"], frame.loc["c", "new_daily_budget"]) == (
        "no_change",
        "account_cap",
        10_000,
    )


def test_campaign_and_ad_set_rules_override_the_account_rule() -> None:
    rules = [
        rule(1),
        rule(2, scope_level="campaign", scope_entity_id="900", roas_scale_up=4.5, roas_scale_up_aggressive=6),
        rule(
            3,
            scope_level="adset",
            scope_entity_id="3",
            roas_scale_up=2.5,
            roas_scale_up_aggressive=2.6,
            ctr_scale_up_aggressive=0.5,
        ),
    ]
    frame = run(
        entity(entity_id="1", roas=3.5, campaign_id="800"),
        entity(entity_id="2", roas=3.5, campaign_id="900"),
        entity(entity_id="3", roas=2.8, campaign_id="900"),
        rules=rules,
    ).set_index("entity_id")
    assert frame["rule_id"].astype(int).to_dict() == {"1": 1, "2": 2, "3": 3}
    assert frame["action"].to_dict() == {"1": "scale_up", "2": "maintain", "3": "scale_up"}


def test_disabled_rules_do_not_apply_and_uncovered_entities_are_left_alone() -> None:
    off = rule(1).model_copy(update={"enabled": False})
    decision = next(run(entity(roas=5, ctr=0.05), rules=[off]).itertuples())
    assert (decision.action, decision.reason) == ("no_change", "no_rule")


def test_every_reason_has_a_sentence() -> None:
    rows = run(
        entity(entity_id="1", roas=5, ctr=0.05),
        entity(entity_id="2", roas=0.5, locked=True),
        entity(entity_id="3", roas=2, impressions=10),
        rules=[rule()],
    )
    assert all(reasoning(r, "EUR") for r in rows.itertuples())


def random_entities(n: int, seed: int) -> pd.DataFrame:
    """``n`` entities of every kind the rule meets: no spend, paused, locked, learning, recent changes."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "entity_id": [str(i) for i in range(n)],
            "daily_budget": rng.integers(500, 200_000, n),
            "spend": rng.choice([0, *rng.integers(1, 500_000, 20)], n),
            "revenue": rng.integers(0, 2_000_000, n),
            "impressions": rng.integers(0, 50_000, n),
            "clicks": rng.integers(0, 2_000, n),
            "conversions": rng.integers(0, 30, n),
            "status": rng.choice(["ACTIVE", "ACTIVE", "PAUSED"], n),
            "learning": rng.random(n) < 0.1,
            "locked": rng.random(n) < 0.05,
            "last_budget_change_at": NOW - pd.to_timedelta(rng.integers(0, 72, n), unit="h"),
        }
    )


def test_the_vectorised_decision_equals_the_row_at_a_time_one() -> None:
    attached = with_rules(random_entities(3_000, seed=11), [rule(min_conversions=3)])
    vectorised = decide(attached, NOW)
    rowwise = [decide_row(cast(dict[str, Any], row), NOW) for row in attached.to_dict(orient="records")]
    assert (
        list(zip(vectorised["action"], vectorised["reason"], vectorised["new_daily_budget"], strict=True))
        == rowwise
    )


def test_the_decision_does_not_depend_on_how_rows_are_split_into_blocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Large frames are decided a block of rows at a time; the account cap still sees them all."""
    # Room for about half of what the 94 scale-ups ask (34.1M committed, 3.6M more asked): the
    # cap binds, and the scale-ups it weighs against each other lie in many blocks.
    capped = rule(evidence_z=1.0, max_daily_budget=1_000_000, account_daily_budget_cap=35_900_000)
    attached = with_rules(random_entities(500, seed=3), [capped])
    whole = decide(attached, NOW)
    assert (whole["reason"] == "account_cap").any()
    assert (whole["reason"] == "account_cap_partial").sum() == 1
    monkeypatch.setattr(policy, "BLOCK_ROWS", 7)
    pd.testing.assert_frame_equal(decide(attached, NOW), whole)


def test_missing_or_negative_inputs_are_refused_naming_the_column() -> None:
    with pytest.raises(ValueError, match="missing columns: clicks"):
        decide(with_rules(pd.DataFrame([entity(roas=2)]).drop(columns="clicks"), [rule()]), NOW)
    with pytest.raises(ValueError, match="spend: must not be negative"):
        decide(with_rules(pd.DataFrame([{**entity(roas=2), "spend": -1}]), [rule()]), NOW)


# ---- evidence --------------------------------------------------------------------------------


def evidence(conversions: int, roas: float, **extra: Any) -> dict[str, Any]:
    """An entity whose ROAS on $1,000 of spend rests on ``conversions`` purchases (of the
    order value that makes it so; $25 when that is not given)."""
    revenue = round(roas * 100_000)
    value = revenue / conversions if conversions else 2_500
    return entity(roas, conversions=conversions, order_value=value, **extra)


@pytest.mark.parametrize(
    ("conversions", "roas", "action", "reason"),
    [
        # 2 purchases worth $50 against $1,000: ROAS 0.05, but one more purchase would move it
        # by 0.025 and z=2 standard errors by ~0.09: still far below 1x -> pause.
        (2, 0.05, "pause", "roas_below_pause"),
        # ROAS 0.8 on 32 purchases: +-2 SE is 0.8 +- 0.29 -> may be above 1x, is below 1.5x.
        (32, 0.8, "scale_down", "roas_below_pause"),
        # ROAS 1.2 on 48 purchases: 1.2 +- 0.35 may be 1.5x or more -> held.
        (48, 1.2, "no_change", "insufficient_evidence"),
        # ROAS 3.5 on 140 purchases: 3.5 - 0.59 = 2.9, not surely above 3x -> held.
        (140, 3.5, "no_change", "insufficient_evidence"),
        # ROAS 4.0 on 160 purchases: 4.0 - 0.63 = 3.37 > 3x -> a normal scale-up.
        (160, 4.0, "scale_up", "roas_above_scale_up"),
    ],
)
def test_a_change_needs_the_roas_to_clear_its_threshold_by_the_evidence(
    conversions: int, roas: float, action: str, reason: str
) -> None:
    decided = run(evidence(conversions, roas), rules=[rule(evidence_z=2)])
    row = next(decided.itertuples())
    assert (row.action, row.reason) == (action, reason)
    seed = next(run(evidence(conversions, roas), rules=[rule(evidence_z=0)]).itertuples())
    assert seed.action != "no_change"  # the seed's rule acts on every one of these


def test_aggressive_scaling_needs_more_evidence_than_scaling() -> None:
    # ROAS 5 and CTR 4% on 200 purchases of $25: 5 - 2*sqrt(201)*25/1000 = 4.29 > 4x -> aggressive.
    strong = next(run(evidence(200, 5.0, ctr=0.04), rules=[rule(evidence_z=2)]).itertuples())
    assert (strong.action, strong.new_daily_budget) == ("scale_up_aggressive", 30_000)
    # The same ROAS on 50 purchases of $100: 5 - 2*sqrt(51)*100/1000 = 3.57: surely above 3x,
    # not surely above 4x -> a normal scale-up.
    thin = next(run(evidence(50, 5.0, ctr=0.04), rules=[rule(evidence_z=2)]).itertuples())
    assert (thin.action, thin.new_daily_budget) == ("scale_up", 24_000)
    assert "too few conversions (50) for more than a normal scale-up" in reasoning(thin, "USD")


def test_without_any_purchase_in_the_account_nothing_is_known_to_act_on() -> None:
    frame = pd.DataFrame(
        [entity(0.0, conversions=0, entity_id="1"), entity(0.0, conversions=0, entity_id="2")]
    )
    decided = decide(with_rules(frame, [rule(evidence_z=2)]), NOW)
    assert set(decided["reason"].astype(str)) == {"insufficient_evidence"}
    # The order value is pooled over the frame (the account) when not given.
    frame.loc[0, ["revenue", "conversions"]] = [85_000, 20]
    decided = decide(with_rules(frame, [rule(evidence_z=2)]), NOW)
    assert list(decided["action"].astype(str)) == ["scale_down", "pause"]


def test_the_evidence_rule_is_the_same_row_at_a_time() -> None:
    rng = np.random.default_rng(7)
    rows = [
        evidence(int(c), float(r), ctr=float(t), entity_id=str(i))
        for i, (c, r, t) in enumerate(
            zip(rng.integers(0, 200, 300), rng.uniform(0, 6, 300), rng.uniform(0, 0.06, 300), strict=True)
        )
    ]
    attached = with_rules(pd.DataFrame(rows), [rule(evidence_z=1.5)])
    vectorised = decide(attached, NOW)
    rowwise = [decide_row(cast(dict[str, Any], row), NOW) for row in attached.to_dict(orient="records")]
    assert list(zip(vectorised["action"].astype(str), vectorised["reason"].astype(str), strict=True)) == [
        (a, r) for a, r, _ in rowwise
    ]
    assert list(vectorised["new_daily_budget"]) == [b for _, _, b in rowwise]


def test_a_rule_acts_only_once_the_window_holds_enough_hours_of_data() -> None:
    # A new account's first live hour: one hour in a 72 h window, no purchase reported yet.
    first = one(roas=0.0, hours=1)
    assert (str(first.action), str(first.reason)) == ("no_change", "short_window")
    assert "holds 1 hours of data, fewer than the 72" in reasoning(first, "USD")
    assert "backfill" in reasoning(first, "USD")
    full = one(roas=0.0, hours=72)
    assert str(full.action) == "pause"
    # A stated minimum instead of the whole window.
    assert str(one(roas=0.0, hours=24, rules=[rule(min_window_hours=24)]).action) == "pause"
    assert str(one(roas=0.0, hours=23, rules=[rule(min_window_hours=24)]).reason) == "short_window"
    # A metrics frame that does not say how many hours it holds is taken as a full window.
    assert str(one(roas=0.0).action) == "pause"
    # The row-at-a-time rule agrees.
    row = {
        str(k): v for k, v in with_rules(pd.DataFrame([entity(roas=0.0, hours=1)]), [rule()]).iloc[0].items()
    }
    assert decide_row(row, NOW)[:2] == ("no_change", "short_window")


def test_min_window_hours_cannot_exceed_the_window() -> None:
    with pytest.raises(ValueError, match=r"min_window_hours: must be at most lookback_hours \(24\), got 48"):
        rule(lookback_hours=24, min_window_hours=48)
