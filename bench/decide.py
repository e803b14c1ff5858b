"""Decision throughput: the vectorised rule over 1,000,000 entities vs the same rule row by row.

Targets (hourly-DAG issue): >= 1,000,000 entity-evaluations/s vectorised, >= 50x the
row-at-a-time implementation (policy.decide_row), measured side by side in one run on the
same synthetic frame (rules already attached, as the DAG's decide step has them).
"""

from __future__ import annotations

import time
from typing import Any, cast

import numpy as np
import pandas as pd

from autoscaler.policy import decide, decide_row, with_rules
from autoscaler.rules import ScalingRule
from bench.common import median, target_lines

ENTITIES = 1_000_000
ROW_SAMPLE = 50_000
REPEAT = 5
NOW = pd.Timestamp("2026-11-02T15:00:00Z")


def synthetic(n: int, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "entity_id": np.arange(n).astype(str),
            "daily_budget": rng.integers(1_000, 200_000, n),
            "spend": rng.integers(0, 300_000, n),
            "revenue": rng.integers(0, 1_500_000, n),
            "impressions": rng.integers(0, 60_000, n),
            "clicks": rng.integers(0, 2_500, n),
            "conversions": rng.integers(0, 40, n),
            "order_value": rng.integers(2_000, 12_000, n),  # the account's, as decisions() attaches it
            "status": np.where(rng.random(n) < 0.9, "ACTIVE", "PAUSED"),
            "learning": rng.random(n) < 0.1,
            "locked": rng.random(n) < 0.02,
            "last_budget_change_at": NOW - pd.to_timedelta(rng.integers(0, 96, n), unit="h"),
        }
    )
    rule = ScalingRule.parse(
        {
            "account_id": "act_1",
            "min_daily_budget": 1_000,
            "max_daily_budget": 150_000,
            "require_approval_threshold": 100_000,
        }
    ).model_copy(update={"rule_id": 1})
    return with_rules(frame, [rule])


def run() -> dict[str, Any]:
    frame = synthetic(ENTITIES)
    sample = frame.head(ROW_SAMPLE)
    vector_s: list[float] = []
    row_s: list[float] = []
    # Interleaved repeats, medians: drift on a shared machine hits both sides alike.
    for _ in range(REPEAT):
        started = time.perf_counter()
        decided = decide(frame, NOW)
        vector_s.append(time.perf_counter() - started)
        # Both sides start from the same DataFrame, so turning it into rows is the row side's cost.
        started = time.perf_counter()
        rowwise = [decide_row(cast(dict[str, Any], r), NOW) for r in sample.to_dict(orient="records")]
        row_s.append(time.perf_counter() - started)
    # Same answers, or the comparison would mean nothing.
    head = decided.head(ROW_SAMPLE)
    assert list(zip(head["action"], head["reason"], head["new_daily_budget"], strict=True)) == rowwise
    vector_rate = ENTITIES / median(vector_s)
    row_rate = ROW_SAMPLE / median(row_s)
    actions = decided["action"].value_counts().to_dict()
    result: dict[str, Any] = {
        "entities": ENTITIES,
        "row_sample": ROW_SAMPLE,
        "vectorised_seconds_median": median(vector_s),
        "vectorised_per_second": vector_rate,
        "row_at_a_time_per_second": row_rate,
        "speedup": vector_rate / row_rate,
        "actions": {k: int(v) for k, v in actions.items()},
    }
    result["targets"] = {
        ">= 1,000,000 evaluations/s": vector_rate >= 1_000_000,
        ">= 50x row at a time": result["speedup"] >= 50,
    }
    return result


def report(result: dict[str, Any]) -> str:
    lines = [
        f"Decision over {result['entities']:,} entities (median of {REPEAT}):",
        f"  vectorised      {result['vectorised_per_second']:>12,.0f} evaluations/s ({result['vectorised_seconds_median']:.2f} s)",
        f"  row at a time   {result['row_at_a_time_per_second']:>12,.0f} evaluations/s (on {result['row_sample']:,} of them, same answers; median of {REPEAT})",
        f"  speed-up        {result['speedup']:.0f}x",
    ]
    return "\n".join([*lines, *target_lines(result)])


if __name__ == "__main__":
    from bench.common import main

    main("decide", run, report)
