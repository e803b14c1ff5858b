"""The campaign simulator: deterministic, paced like Meta, late to report, honest about pauses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from autoscaler.sandbox.graph import GraphAPI
from autoscaler.sandbox.scenario import load_scenario, parse_scenario
from autoscaler.sandbox.simulator import MAX_DAILY_OVERDELIVERY, Simulator, SimulatorError


@pytest.fixture(scope="module")
def demo() -> Simulator:
    return Simulator(load_scenario("demo"), seed=3)


def all_holders(sim: Simulator) -> np.ndarray:
    return np.arange(len(sim.holders))


def test_same_seed_same_data_and_another_seed_other_data() -> None:
    a, b, c = (Simulator(load_scenario("demo"), seed=s) for s in (5, 5, 6))
    for k in range(a.completed_hours):
        assert np.array_equal(a.spend[k], b.spend[k])
        assert np.array_equal(a.reported(k)[0], b.reported(k)[0])
    assert any(not np.array_equal(a.spend[k], c.spend[k]) for k in range(a.completed_hours))


def test_spend_never_exceeds_125_percent_of_the_daily_budget_on_a_local_day(demo: Simulator) -> None:
    for holder in demo.holders:
        budget = demo.budget[holder.index]
        first = demo.hour_start(0).astimezone(demo.accounts[holder.account_index].zone).date()
        for offset in range(demo.scenario.history_days + 1):
            hours = demo.local_day_hours(holder.account_index, first + timedelta(days=offset))
            spent = sum(
                int(demo.spend[k][holder.index]) for k in hours if k < demo.completed_hours and k >= 0
            )
            assert spent <= MAX_DAILY_OVERDELIVERY * budget, holder.entity_id


def test_daily_spend_is_close_to_the_budget() -> None:
    sim = Simulator(load_scenario("demo"), seed=3)
    holder = sim.holders[0]
    day = sim.hour_start(30).astimezone(sim.accounts[holder.account_index].zone).date()
    spent = sum(int(sim.spend[k][holder.index]) for k in sim.local_day_hours(holder.account_index, day))
    assert 0.7 * sim.budget[holder.index] <= spent <= 1.25 * sim.budget[holder.index]


def test_paused_entities_spend_nothing() -> None:
    sim = Simulator(load_scenario("demo"), seed=3)
    holder = sim.holders[2]
    sim.set_status(holder, "PAUSED")
    start = sim.completed_hours
    sim.advance_to(sim.now + timedelta(hours=30))
    assert all(sim.spend[k][holder.index] == 0 for k in range(start, sim.completed_hours))
    assert sim.delivery(range(start, sim.completed_hours), np.array([holder.index]))["revenue"][0] == 0


def test_a_budget_change_takes_effect_from_the_hour_it_is_made() -> None:
    changed, untouched = (Simulator(load_scenario("demo"), seed=3) for _ in range(2))
    for sim in (changed, untouched):
        sim.advance_to(sim.now + timedelta(hours=14))  # mid-morning in New York
    holder = changed.holders[0]
    hour = changed.completed_hours
    changed.set_budget(holder, int(changed.budget[holder.index] * 2))
    for sim in (changed, untouched):
        sim.advance_to(sim.now + timedelta(hours=1))
    assert changed.spend[hour - 1][0] == untouched.spend[hour - 1][0]
    assert changed.spend[hour][0] > untouched.spend[hour][0]


def test_purchases_are_reported_late_and_settle() -> None:
    sim = Simulator(load_scenario("demo"), seed=3)
    k = sim.completed_hours - 1
    seen = [int(sim.reported(k)[0].sum())]
    for _ in range(len(sim.delay_weights) + 1):
        sim.advance_to(sim.now + timedelta(hours=1))
        seen.append(int(sim.reported(k)[0].sum()))
    assert seen == sorted(seen), "reported purchases of an hour never go down"
    assert seen[0] < seen[-1], "some purchases arrive after the hour"
    assert seen[-1] == seen[-2], "and then the hour settles"


def test_diminishing_returns_raising_budget_lowers_roas() -> None:
    low, high = (Simulator(load_scenario("planted"), seed=1) for _ in range(2))
    for h in high.holders:
        high.set_budget(h, int(high.budget[h.index] * 3))
    for sim in (low, high):
        sim.advance_to(sim.now + timedelta(days=3))
    hours = range(low.completed_hours - 72, low.completed_hours)
    roas = [
        s.delivery(hours, all_holders(s))["revenue"].sum() / s.delivery(hours, all_holders(s))["spend"].sum()
        for s in (low, high)
    ]
    assert roas[1] < roas[0]


def test_significant_edits_start_a_learning_phase_and_small_ones_do_not() -> None:
    sim = Simulator(load_scenario("demo"), seed=3)
    small, big = sim.holders[0], sim.holders[1]
    sim.set_budget(small, int(sim.budget[small.index] * 1.1))
    sim.set_budget(big, int(sim.budget[big.index] * 1.5))
    assert not sim.is_learning(small)
    assert sim.is_learning(big)


def test_meta_limits_on_budget_writes() -> None:
    sim = Simulator(load_scenario("demo"), seed=3)
    holder = sim.holders[0]
    with pytest.raises(SimulatorError) as low:
        sim.set_budget(holder, 50)
    assert (low.value.code, low.value.subcode) == (100, 1885272)
    with pytest.raises(SimulatorError) as cap:
        sim.set_budget(holder, 200_000_000)
    assert (cap.value.code, cap.value.subcode) == (100, 1885261)
    for step in range(4):
        sim.set_budget(holder, 10_000 + step * 100)
    with pytest.raises(SimulatorError) as limit:
        sim.set_budget(holder, 20_000)
    assert (limit.value.code, limit.value.subcode) == (17, 1487632)
    sim.advance_to(sim.now + timedelta(hours=1, minutes=1))
    sim.set_budget(holder, 20_000)  # an hour later it may change again


def test_the_clock_only_moves_forward(demo: Simulator) -> None:
    with pytest.raises(SimulatorError, match="cannot go back"):
        demo.advance_to(demo.now - timedelta(hours=1))


def test_local_days_follow_daylight_saving(demo: Simulator) -> None:
    new_york, tokyo = demo.account_by_id["act_1001"].index, demo.account_by_id["act_1002"].index
    assert len(demo.local_day_hours(new_york, date(2026, 11, 1))) == 25  # clocks fall back
    assert len(demo.local_day_hours(new_york, date(2026, 11, 2))) == 24
    assert len(demo.local_day_hours(tokyo, date(2026, 11, 1))) == 24


def test_planted_scenarios_plant_peaks_and_flat_ones_do_not() -> None:
    planted = Simulator(load_scenario("planted"), seed=2)
    flat = Simulator(load_scenario("flat"), seed=2)
    assert len(planted.planted_peaks) == len(planted.holders)
    assert flat.planted_peaks == {}
    assert np.allclose(flat.hour_effect, 1.0)


def test_scenarios_are_validated_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"accounts\[0\].groups\[0\].kind: input should be 'cbo' or 'abo'"):
        parse_scenario({"accounts": [{"account_id": "act_1", "groups": [{"kind": "dpa", "count": 1}]}]})
    with pytest.raises(ValueError, match="start: must be on the hour"):
        parse_scenario({"start": "2026-11-02T05:30:00Z", "accounts": [{"account_id": "act_1"}]})
    with pytest.raises(ValueError, match=r"roas: range \[5.0, 1.0\] is reversed"):
        parse_scenario(
            {"accounts": [{"account_id": "act_1", "groups": [{"kind": "abo", "count": 1, "roas": [5, 1]}]}]}
        )


# ---- a world that changes ---------------------------------------------------------------------


def _world(**extra: object) -> Simulator:
    group = {"kind": "abo", "count": 2, "daily_budget": [100, 100], "roas": 3.0, "hour_effects": "flat"}
    group.update({k: v for k, v in extra.items() if k in ("fatigue", "audience_ceiling", "launch_day")})
    scenario = {
        "start": "2026-11-30T05:00:00Z",
        "history_days": 1,
        "weekday_amplitude": 0,
        "accounts": [{"account_id": "act_1", "timezone": "UTC", "groups": [group]}],
        **{k: v for k, v in extra.items() if k not in ("fatigue", "audience_ceiling", "launch_day")},
    }
    return Simulator(parse_scenario(scenario), seed=5)


def test_fatigue_wears_return_down_with_age_and_a_refresh_restores_it() -> None:
    sim = _world(fatigue={"half_life_days": 2, "floor": 0.4, "refresh_days": 6})
    start = sim.completed_hours
    young, old = sim.fatigue(0), sim.fatigue(48)
    assert np.allclose(young, 1.0)
    assert np.allclose(old, 0.7)  # half way from 1 to the floor after one half-life
    later = [sim.fatigue(start + h) for h in range(0, 24 * 12)]
    assert min(f.min() for f in later) >= 0.4
    jumps = [h for h in range(1, len(later)) if (later[h] > later[h - 1] + 0.05).any()]
    assert jumps, "a refresh brings return back up"


def test_a_pixel_outage_hides_purchases_that_still_happen() -> None:
    sim = _world(shocks=[{"from": "2026-11-30T05:00:00Z", "to": "2026-12-01T05:00:00Z", "reported": 0}])
    sim.advance_to(sim.now + timedelta(days=1, hours=14))  # past the outage and every delay
    outage = range(
        sim.hour_index(datetime(2026, 11, 30, 5, tzinfo=UTC)),
        sim.hour_index(datetime(2026, 12, 1, 5, tzinfo=UTC)),
    )
    assert sum(float(sim.expected_revenue[k].sum()) for k in outage) > 0
    assert sum(int(sim.reported(k)[0].sum()) for k in outage) == 0
    after = range(outage.stop, outage.stop + 12)
    assert sum(int(sim.reported(k)[0].sum()) for k in after) > 0


def test_an_auction_where_cpm_doubles_halves_return_and_impressions() -> None:
    calm = _world()
    dear = _world(shocks=[{"from": "2026-11-29T00:00:00Z", "to": "2026-12-02T00:00:00Z", "cpm": 2}])
    k = calm.completed_hours - 1
    assert np.allclose(dear.efficiency[k], calm.efficiency[k] / 2)
    assert dear.impressions[k].sum() < 0.7 * calm.impressions[k].sum()


def test_a_season_raises_return_on_its_local_dates_only() -> None:
    sim = _world(seasons=[{"from": "2026-11-30", "to": "2026-11-30", "roas": 1.5}])
    base = _world()
    sim.advance_to(sim.now + timedelta(days=2))
    base.advance_to(base.now + timedelta(days=2))
    on = sim.hour_index(datetime(2026, 11, 30, 12, tzinfo=UTC))
    off = sim.hour_index(datetime(2026, 12, 1, 12, tzinfo=UTC))
    assert np.allclose(sim.efficiency[on], 1.5 * base.efficiency[on])
    assert np.allclose(sim.efficiency[off], base.efficiency[off])


def test_past_the_audience_ceiling_a_bigger_budget_buys_nothing_more() -> None:
    capped, open_ = _world(audience_ceiling=1.5), _world()
    for sim in (capped, open_):
        for holder in sim.holders:
            sim.set_budget(holder, int(sim.budget[holder.index]) * 4)
        sim.advance_to(sim.now + timedelta(days=1))
    day = range(open_.completed_hours - 24, open_.completed_hours)
    assert sum(capped.spend[k].sum() for k in day) < 0.45 * sum(open_.spend[k].sum() for k in day)


def test_an_entity_launched_mid_run_does_not_exist_before_and_starts_learning() -> None:
    sim = _world(launch_day=[2, 2])
    graph = GraphAPI(sim)
    listed = graph.handle("GET", "act_1/adsets", {"fields": "id"}, version="v0")
    assert isinstance(listed, dict)
    assert listed["data"] == []
    sim.advance_to(sim.now + timedelta(days=2, hours=1))
    assert all(sim.spend[k].sum() == 0 for k in range(sim.completed_hours - 2))
    listed = graph.handle("GET", "act_1/adsets", {"fields": "id"}, version="v0")
    assert isinstance(listed, dict)
    assert len(listed["data"]) == 2
    assert all(sim.is_learning(h) for h in sim.holders)


def test_learning_ends_after_fifty_purchases_before_its_hours_run_out() -> None:
    sim = _world(learning_hours=720, learning_conversions=50)
    holder = sim.holders[0]
    sim.set_budget(holder, int(sim.budget[0]) * 20)  # big enough to buy 50 purchases in days
    assert sim.is_learning(holder)
    sim.advance_to(sim.now + timedelta(days=10))
    assert not sim.is_learning(holder)
    patient = _world(learning_hours=720, learning_conversions=0)
    patient.set_budget(patient.holders[0], int(patient.budget[0]) * 20)
    patient.advance_to(patient.now + timedelta(days=10))
    assert patient.is_learning(patient.holders[0])


def test_the_learning_reset_size_is_the_scenarios() -> None:
    sim = _world(learning_reset=0.5)
    holder = sim.holders[0]
    sim.set_budget(holder, int(sim.budget[0] * 1.4))
    assert not sim.is_learning(holder)
    sim.set_budget(holder, int(sim.budget[0] * 2))
    assert sim.is_learning(holder)


def test_cbo_ad_set_shares_drift_day_by_day_and_still_add_up() -> None:
    scenario = parse_scenario(
        {
            "accounts": [
                {
                    "account_id": "act_1",
                    "groups": [{"kind": "cbo", "count": 1, "adsets_per_campaign": 3, "share_drift": 0.3}],
                }
            ]
        }
    )
    sim = Simulator(scenario, seed=2)
    holder = sim.holders[0]
    days = [sim.adset_shares(holder, 24 * d) for d in range(5)]
    assert all(abs(sum(s) - 1.0) < 1e-9 for s in days)
    assert len(set(days)) == 5
    assert sim.adset_shares(holder, 24 * 3) == days[3]  # the same day, the same shares
