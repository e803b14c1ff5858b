"""`autoscaler evaluate`: the decision from files, with no side effects, and clear refusals."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from autoscaler.cli import main

# The seed's rule (evidence_z 0): these metrics have no conversions column to weigh evidence by.
RULE = {"min_daily_budget": 10, "max_daily_budget": 1000, "require_approval_threshold": 500, "evidence_z": 0}
METRICS = """entity_id,daily_budget,spend,revenue,impressions,clicks
123,200,1000,4200,15000,525
124,450,800,2800,20000,300
125,100,500,600,9000,90
126,100,500,400,9000,90
127,100,10,100,500,5
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    rule, metrics = tmp_path / "rule.json", tmp_path / "metrics.csv"
    rule.write_text(json.dumps(RULE))
    metrics.write_text(METRICS)
    return rule, metrics


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["evaluate", *argv, "--now", "2026-11-02T15:00:00Z"])
    out, err = capsys.readouterr()
    return code, out, err


def test_one_decision_per_row_in_major_units(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--rule", str(files[0]), "--metrics", str(files[1]))
    assert code == 0
    rows = json.loads(out)
    assert [
        (
            r["entity_id"],
            r["action"],
            r["current_daily_budget"],
            r["new_daily_budget"],
            r["requires_approval"],
        )
        for r in rows
    ] == [
        ("123", "scale_up_aggressive", "200.00", "300.00", False),
        ("124", "scale_up", "450.00", "540.00", True),
        ("125", "scale_down", "100.00", "70.00", False),
        ("126", "pause", "100.00", "100.00", False),
        ("127", "no_change", "100.00", "100.00", False),
    ]
    assert rows[0]["reason"] == "Exceptional performance: ROAS 4.20x (>4.0x) and CTR 3.50% (>3%)"


def test_csv_output_has_a_header_and_a_row_per_entity(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--rule", str(files[0]), "--metrics", str(files[1]), "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == [
        "entity_id",
        "action",
        "current_daily_budget",
        "new_daily_budget",
        "requires_approval",
        "reason",
        "reason_code",
    ]
    assert len(rows) == 5


def test_a_currency_column_sets_the_minor_unit(
    tmp_path: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = tmp_path / "jpy.csv"
    metrics.write_text(
        "entity_id,daily_budget,spend,revenue,impressions,clicks,currency\n9,1999,1000,3500,5000,50,JPY\n"
    )
    rule = tmp_path / "rule.json"
    rule.write_text(json.dumps({"min_daily_budget": 100, "max_daily_budget": 100000, "evidence_z": 0}))
    code, out, _ = run(capsys, "--rule", str(rule), "--metrics", str(metrics))
    assert code == 0
    assert json.loads(out)[0]["new_daily_budget"] == "2399"


@pytest.mark.parametrize(
    ("metrics", "says"),
    [
        ("entity_id,daily_budget,spend\n1,2,3\n", "missing column(s): revenue, impressions, clicks"),
        (
            "entity_id,daily_budget,spend,revenue,impressions,clicks\n1,200,abc,1,1,1\n",
            "spend: must be a non-negative decimal amount in USD, such as 12.50 (row 2, entity '1', got 'abc')",
        ),
        (
            "entity_id,daily_budget,spend,revenue,impressions,clicks\n1,200,-3,1,1,1\n",
            "spend: must be a non-negative decimal amount in USD",
        ),
        (
            "entity_id,daily_budget,spend,revenue,impressions,clicks\n1,200.001,3,1,1,1\n",
            "daily_budget: finer than USD's minor unit (row 2, entity '1', got '200.001')",
        ),
        (
            "entity_id,daily_budget,spend,revenue,impressions,clicks,colour\n1,2,3,1,1,1,red\n",
            "unknown column(s): colour",
        ),
        (
            "entity_id,daily_budget,spend,revenue,impressions,clicks\n1,200,3,1,1,1\n1,200,3,1,1,1\n",
            "each entity appears once",
        ),
        ("", "not a readable CSV"),
    ],
)
def test_malformed_metrics_are_refused_naming_the_column(
    tmp_path: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], metrics: str, says: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(metrics)
    code, out, err = run(capsys, "--rule", str(files[0]), "--metrics", str(bad))
    assert code == 2
    assert out == ""
    assert says in err


def test_an_invalid_rule_is_refused_naming_each_field(
    tmp_path: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rule = tmp_path / "rule.json"
    rule.write_text(json.dumps({"min_daily_budget": 10, "max_daily_budget": 5, "multiplier_up": 0.9}))
    code, _, err = run(capsys, "--rule", str(rule), "--metrics", str(files[1]))
    assert code == 2
    assert "max_daily_budget: must be at least min_daily_budget" in err
    assert "multiplier_up: Input should be greater than 1" in err


def test_money_in_metrics_is_parsed_exactly_from_its_digits() -> None:
    # 2173.26 * 100 is 217325.99999999997 in binary floating point: the old check refused such
    # amounts as "finer than USD's minor unit" (issue 17, item 8: a 1M-row file failed at row 29).
    from autoscaler.evaluate import read_metrics

    cents = [(i * 7919) % 10_000_000 + 1 for i in range(20_000)]
    text = "entity_id,daily_budget,spend,revenue,impressions,clicks\n" + "".join(
        f"{i},100.00,{c // 100}.{c % 100:02d},2173.26,1000,10\n" for i, c in enumerate(cents, start=1)
    )
    frame, currency = read_metrics(text, "USD")
    assert currency == "USD"
    assert frame["spend"].tolist() == cents
    assert set(frame["revenue"]) == {217_326}
    assert read_metrics(text.replace("2173.26", "2173.2600"), "USD")[0]["revenue"].iloc[0] == 217_326


def test_an_allocator_rule_is_told_that_it_sees_the_thresholds_decisions(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule, metrics = files
    code, _, err = run(capsys, "--rule", str(rule), "--metrics", str(metrics))  # strategy: the default
    assert code == 0
    assert "note: the rule's strategy is the allocator" in err
    assert len(err.strip().splitlines()) == 1
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text(json.dumps({**RULE, "strategy": "thresholds"}))
    code, _, err = run(capsys, "--rule", str(thresholds), "--metrics", str(metrics))
    assert code == 0
    assert err == ""


def test_money_in_a_rule_file_is_read_from_its_digits_not_through_a_float(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # As a float 19.999999999999999 is 20.0, which would pass as $20.00.
    files[0].write_text('{"min_daily_budget": 10, "max_daily_budget": 19.999999999999999, "evidence_z": 0.5}')
    code, _, err = run(capsys, "--rule", str(files[0]), "--metrics", str(files[1]))
    assert code != 0
    assert "max_daily_budget" in err
    assert "Traceback" not in err
    # Ratios stay JSON numbers for the rule's float fields.
    files[0].write_text('{"min_daily_budget": 10.50, "max_daily_budget": 1000, "evidence_z": 0.5}')
    assert run(capsys, "--rule", str(files[0]), "--metrics", str(files[1]))[0] == 0
