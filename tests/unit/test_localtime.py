import pandas as pd

from autoscaler.localtime import local_calendar


def hours(start: str, count: int) -> pd.Series:
    return pd.Series(pd.date_range(start, periods=count, freq="h", tz="UTC"))


def test_local_hour_and_monday_based_weekday() -> None:
    cal = local_calendar(hours("2026-11-02 15:00", 1), "America/New_York")  # Monday 10:00 EST
    assert cal.iloc[0].to_dict() == {
        "local_date": pd.Timestamp("2026-11-02").date(),
        "local_hour": 10,
        "local_weekday": 0,
    }


def test_spring_forward_skips_a_local_hour() -> None:
    # 2026-03-08 02:00 EST does not exist in New York: 06:00 UTC is 01:00 EST, 07:00 UTC is 03:00 EDT.
    cal = local_calendar(hours("2026-03-08 05:00", 4), "America/New_York")
    assert cal["local_hour"].tolist() == [0, 1, 3, 4]


def test_fall_back_repeats_a_local_hour() -> None:
    # 2026-11-01: 05:00 UTC is 01:00 EDT and 06:00 UTC is 01:00 EST.
    cal = local_calendar(hours("2026-11-01 04:00", 4), "America/New_York")
    assert cal["local_hour"].tolist() == [0, 1, 1, 2]


def test_half_hour_zones_keep_utc_hours_whole() -> None:
    cal = local_calendar(hours("2026-11-02 00:00", 1), "Asia/Kolkata")  # 05:30 local
    assert cal["local_hour"].tolist() == [5]
