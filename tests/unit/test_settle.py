"""Settling yesterday: late-attributed purchases reach the day's hours, and the day adds up to Meta."""

from __future__ import annotations

import pandas as pd

from autoscaler.metrics import settle_day

DAY = pd.date_range("2026-11-02T05:00Z", periods=4, freq="h")


def day(
    entity: str, spend: list[int], revenue: list[int], conversions: list[int] | None = None
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity_id": entity,
            "hour_start": DAY[: len(spend)],
            "spend": spend,
            "conversions": conversions or [0] * len(spend),
            "revenue": revenue,
        }
    )


def totals(**by_entity: tuple[int, int]) -> pd.DataFrame:
    return pd.DataFrame(
        [(e, c, r) for e, (c, r) in by_entity.items()], columns=["entity_id", "conversions", "revenue"]
    )


def test_late_revenue_is_shared_by_spend_and_the_day_adds_up_to_meta_exactly() -> None:
    rows = day("2001", spend=[100, 300, 0, 600], revenue=[0, 500, 0, 1_000], conversions=[0, 1, 0, 2])
    settled = settle_day(rows, totals(**{"2001": (4, 2_501)}))
    merged = rows.set_index("hour_start")[["revenue", "conversions"]]
    merged.update(settled.set_index("hour_start")[["revenue", "conversions"]])
    assert merged["revenue"].sum() == 2_501
    assert merged["conversions"].sum() == 4
    # 1,001 late: 10% / 30% / 0% / 60% of it by spend (largest remainder keeps it exact).
    assert merged["revenue"].tolist() == [100, 800, 0, 1_601]
    assert set(settled["revenue_source"]) == {"settled"}
    assert DAY[2] not in set(settled["hour_start"])  # an hour without spend gets nothing late


def test_settling_again_with_the_same_totals_changes_nothing() -> None:
    rows = day("2001", spend=[100, 300], revenue=[0, 500])
    first = settle_day(rows, totals(**{"2001": (0, 900)}))
    after = rows.copy()
    after.loc[after["hour_start"].isin(first["hour_start"]), "revenue"] = first["revenue"].to_numpy()
    assert settle_day(after, totals(**{"2001": (0, 900)})).empty


def test_a_downward_revision_scales_the_hours_down_never_below_zero() -> None:
    rows = day("2001", spend=[100, 100, 100], revenue=[300, 0, 700])
    settled = settle_day(rows, totals(**{"2001": (0, 500)}))
    assert settled.set_index("hour_start")["revenue"].to_dict() == {DAY[0]: 150, DAY[2]: 350}


def test_revenue_with_no_spend_all_day_lands_on_the_last_hour() -> None:
    rows = day("2001", spend=[0, 0, 0], revenue=[0, 0, 0])
    settled = settle_day(rows, totals(**{"2001": (1, 400)}))
    assert settled[["hour_start", "conversions", "revenue"]].values.tolist() == [[DAY[2], 1, 400]]


def test_entities_meta_did_not_answer_for_are_left_alone() -> None:
    rows = pd.concat([day("2001", [100], [100]), day("2002", [100], [100])], ignore_index=True)
    settled = settle_day(rows, totals(**{"2002": (0, 300)}))
    assert settled["entity_id"].tolist() == ["2002"]
    assert settle_day(rows, totals()).empty
