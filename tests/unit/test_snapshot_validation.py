"""The snapshot frame's checks at the edge: each names the column, the rule and a first bad row."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from autoscaler.store.snapshots import SnapshotError, validate_frame, with_optional_columns
from tests.factories import snapshot_frame


def with_value(row: int, column: str, value: Any, **shape: Any) -> pd.DataFrame:
    frame = with_optional_columns(snapshot_frame(**shape))
    frame[column] = frame[column].astype(object)
    frame.loc[row, column] = value
    return frame


def test_a_valid_frame_passes() -> None:
    validate_frame(with_optional_columns(snapshot_frame(entities=50, hours=24)))


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        ("entity_id", None, "entity_id: must not be empty"),
        ("account_id", None, "account_id: must not be empty"),
        ("hour_start", None, "hour_start: must not be empty"),
        ("entity_id", "12a", "entity_id: must be a Meta id"),
        ("entity_id", "", "entity_id: must be a Meta id"),
        ("account_id", "1001", "account_id: must be act_<digits>"),
        (
            "hour_start",
            pd.Timestamp("2026-11-02 14:30", tz="UTC"),
            "hour_start: must be the start of a UTC hour",
        ),
        ("observed_at", pd.Timestamp("2026-11-02 13:59", tz="UTC"), "observed_at: cannot be before the hour"),
        ("local_weekday", 7, "local_weekday: must be between 0"),
        ("conversions", None, "conversions: must be a whole number"),
        ("day_revenue_to_date", -1, "day_revenue_to_date: must not be negative"),
    ],
)
def test_one_bad_value_is_refused_naming_column_rule_and_row(column: str, value: Any, says: str) -> None:
    frame = with_value(3, column, value)
    with pytest.raises(SnapshotError, match=says) as refused:
        validate_frame(frame)
    assert "(1 of 6 rows; first: entity_id=" in str(refused.value)


def test_every_bad_row_is_counted_not_just_distinct_values() -> None:
    """Ids are checked once per distinct value; the count is still of rows."""
    frame = with_optional_columns(snapshot_frame(entities=4, hours=5))
    frame.loc[frame["entity_id"] == "2003", "entity_id"] = "x3"
    with pytest.raises(SnapshotError, match=r"entity_id: must be a Meta id \(digits\) \(5 of 20 rows"):
        validate_frame(frame)


def test_the_same_entity_and_hour_twice_is_refused() -> None:
    frame = with_optional_columns(snapshot_frame(entities=3, hours=4))
    twice = pd.concat([frame, frame.iloc[[5]]], ignore_index=True)
    with pytest.raises(
        SnapshotError, match=r"entity_id: appears twice for the same hour_start \(2 of 13 rows"
    ):
        validate_frame(twice)


def test_the_same_hour_for_different_entities_and_the_same_entity_at_other_hours_are_fine() -> None:
    """The key is the pair: neither id nor hour alone may be taken for it."""
    frame = with_optional_columns(snapshot_frame(entities=3, hours=4))
    validate_frame(frame.iloc[::-1].set_index(pd.Index(range(100, 112))))


def test_a_frame_missing_columns_names_them() -> None:
    with pytest.raises(SnapshotError, match="missing columns: revenue_source, status"):
        validate_frame(with_optional_columns(snapshot_frame()).drop(columns=["status", "revenue_source"]))
