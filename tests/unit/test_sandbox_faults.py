import json
from pathlib import Path

import pytest

from autoscaler.sandbox.faults import FaultPlan, FaultSpecError


def test_a_spec_sets_rates_bursts_and_expiry() -> None:
    plan = FaultPlan.parse("5xx=0.1,timeout=0.05,burst=3:2,expire_after=9,seed=4,sync_rows=100")
    assert (plan.rate_5xx, plan.rate_timeout, plan.burst, plan.expire_after, plan.sync_rows) == (
        0.1,
        0.05,
        (3, 2),
        9,
        100,
    )


def test_the_same_seed_draws_the_same_faults() -> None:
    plans = [FaultPlan.parse("5xx=0.3,throttle=0.2,seed=7") for _ in range(2)]
    draws = [[plan.draw(n) for n in range(1, 200)] for plan in plans]
    assert draws[0] == draws[1]
    assert {"5xx", "throttle", None} == set(draws[0])


def test_bursts_and_scripts_hit_exactly_their_requests(tmp_path: Path) -> None:
    script = tmp_path / "faults.json"
    script.write_text(json.dumps([{"request": 2, "fault": "malformed"}]))
    plan = FaultPlan.parse(f"burst=4:2,script={script}")
    assert [plan.draw(n) for n in range(1, 8)] == [
        None,
        "malformed",
        None,
        "throttle",
        "throttle",
        None,
        None,
    ]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("5xx=2", "5xx: a rate between 0 and 1"),
        ("nope=1", "nope: unknown fault"),
        ("burst=x", "burst: cannot read"),
        ("5xx", "expected key=value"),
    ],
)
def test_bad_specs_name_the_key(spec: str, says: str) -> None:
    with pytest.raises(FaultSpecError, match=says):
        FaultPlan.parse(spec)
