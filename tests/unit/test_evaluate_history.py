"""`autoscaler evaluate --history`: an allocator rule decides on each holder's hours, as the hourly run does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autoscaler.cli import main
from autoscaler.evaluate import MetricsFileError, evaluate, read_history

NOW = pd.Timestamp("2026-11-30T15:10:00Z")
RULE = {"strategy": "allocator", "min_daily_budget": 10, "max_daily_budget": 5000}
METRICS = """entity_id,daily_budget,spend,revenue,impressions,clicks,conversions
winner,240,720,3600,90000,2700,72
loser,240,720,360,90000,2700,36
"""


def history_csv(days: int = 14, seed: int = 7) -> str:
    """Two holders at $240.00 a day for ``days`` days: one returns 5x, one 0.5x, each hour drawn."""
    rng = np.random.default_rng(seed)
    lines = ["entity_id,hour_start,spend,revenue,conversions,daily_budget"]
    end = NOW.floor("h")
    for entity, roas, order in (("winner", 5.0, 50.0), ("loser", 0.5, 10.0)):
        for age in range(days * 24):
            start = end - pd.Timedelta(hours=age + 1)
            spend = round(10.0 * rng.uniform(0.8, 1.2), 2)
            purchases = int(rng.poisson(spend * roas / order))
            lines.append(
                f"{entity},{start.isoformat()},{spend:.2f},{purchases * order:.2f},{purchases},240.00"
            )
    return "\n".join(lines) + "\n"


def test_an_allocator_rule_scales_the_winner_up_and_the_loser_down_from_their_hours() -> None:
    out = {
        r["entity_id"]: r
        for r in evaluate(RULE, METRICS, now=NOW, history_csv=history_csv()).to_dict("records")
    }
    winner, loser = out["winner"], out["loser"]
    assert winner["action"] in ("scale_up", "scale_up_aggressive")
    assert float(winner["new_daily_budget"]) > 240
    assert loser["action"] in ("scale_down", "pause")
    # The curve's view travels with the decision: marginal return against the goal.
    assert winner["marginal_roas"] > winner["target_marginal_roas"]
    assert loser["marginal_roas"] < loser["target_marginal_roas"]
    assert "marginal" in winner["reason"]


def test_without_history_an_allocator_rule_is_decided_by_the_thresholds_and_the_output_says_which() -> None:
    out = evaluate(RULE, METRICS, now=NOW)
    assert "marginal_roas" not in out.columns
    assert not out["reason"].str.contains("marginal").any()


def test_history_rows_become_the_allocators_hours_in_minor_units() -> None:
    text = "entity_id,hour_start,spend,revenue,conversions,daily_budget\nw,2026-11-30T14:00:00Z,12.34,50,1,\nw,2026-11-30T13:00:00+00:00,1,0,0,240.5\n"
    rows = read_history(text, "USD", NOW)
    assert rows.to_dict("list") == {
        "entity_id": ["w", "w"],
        "age_hours": [0, 1],  # 0: the hour that ended last
        "spend": [1234, 100],
        "revenue": [5000, 0],
        "conversions": [1, 0],
        "daily_budget": [pytest.approx(np.nan, nan_ok=True), 24050.0],
    }
    old = "entity_id,hour_start,spend,revenue,conversions\nw,2026-11-01T14:00:00Z,1,1,0\n"
    assert read_history(old, "USD", NOW).empty  # older than the allocator's two weeks


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("w,yesterday,1,1,0", "hour_start: must be an ISO timestamp"),
        ("w,2026-11-30T14:30:00Z,1,1,0", "hour_start: must be the start of an hour"),
        ("w,2026-11-30T14:00:00,1,1,0", "hour_start: must be an ISO timestamp with its UTC offset"),
        ("w,2026-11-30T15:00:00Z,1,1,0", "hour_start: must be before the hour of --now"),
        ("w,2026-11-30T14:00:00Z,1.001,1,0", "spend: finer than USD's minor unit"),
        ("w,2026-11-30T14:00:00Z,1,-1,0", "revenue: must be a non-negative decimal amount"),
        ("w,2026-11-30T14:00:00Z,1,1,0.5", "conversions: must be a whole non-negative number"),
        (
            "w,2026-11-30T14:00:00Z,1,1,0\nw,2026-11-30T14:00:00+00:00,1,1,0",
            "hour_start: each entity's hour appears once",
        ),
    ],
)
def test_a_bad_history_row_is_refused_naming_the_column_and_row(body: str, message: str) -> None:
    with pytest.raises(MetricsFileError, match="^history: " + message.replace("(", r"\(")):
        evaluate(
            RULE, METRICS, now=NOW, history_csv=f"entity_id,hour_start,spend,revenue,conversions\n{body}\n"
        )


def test_the_cli_reads_the_history_file_and_drops_its_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule, metrics, history = tmp_path / "rule.json", tmp_path / "metrics.csv", tmp_path / "history.csv"
    rule.write_text(json.dumps(RULE))
    metrics.write_text(METRICS)
    history.write_text(history_csv())
    argv = ["evaluate", "--rule", str(rule), "--metrics", str(metrics), "--now", NOW.isoformat()]
    assert main([*argv, "--history", str(history), "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].endswith("reason_code,marginal_roas,target_marginal_roas,curve_target_budget")
    assert "note" not in err
    assert main(argv) == 0
    assert "pass --history HISTORY.csv" in capsys.readouterr().err
    history.write_text("entity_id,hour_start,spend,revenue,conversions\nw,noon,1,1,0\n")
    assert main([*argv, "--history", str(history)]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "history: hour_start" in err
    assert "Traceback" not in err


def test_the_two_files_must_describe_the_same_holders() -> None:
    only_winner = (
        "\n".join(line for line in history_csv().splitlines() if not line.startswith("loser")) + "\n"
    )
    with pytest.raises(MetricsFileError, match=r"^history: no hours for entity 'loser' of the metrics file"):
        evaluate(RULE, METRICS, now=NOW, history_csv=only_winner)
    stranger = history_csv() + f"stranger,{(NOW.floor('h') - pd.Timedelta(hours=1)).isoformat()},1,1,0,240\n"
    with pytest.raises(MetricsFileError, match=r"^history: entity 'stranger' is not in the metrics file"):
        evaluate(RULE, METRICS, now=NOW, history_csv=stranger)
    # A paused holder needs no hours: the allocator does not decide it.
    paused = (
        METRICS.replace("conversions\n", "conversions,status\n")
        .replace("72\n", "72,ACTIVE\n")
        .replace("36\n", "36,PAUSED\n")
    )
    out = evaluate(RULE, paused, now=NOW, history_csv=only_winner).to_dict("records")
    assert [r["entity_id"] for r in out] == ["winner", "loser"]
    assert out[1]["marginal_roas"] is None  # no curve: null in JSON, never NaN
