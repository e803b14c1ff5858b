"""UTC hours and the account's local calendar: the one place that converts between them."""

from __future__ import annotations

import pandas as pd


def local_calendar(hour_start: pd.Series, timezone_name: str) -> pd.DataFrame:
    """Local date, hour (0-23) and weekday (0 = Monday) of each UTC ``hour_start``.

    Daylight-saving changes are handled by the IANA database: on a spring-forward day one
    local hour never occurs; on a fall-back day one local hour occurs twice (two UTC hours
    share it).
    """
    utc = pd.to_datetime(hour_start, utc=True)
    local = utc.dt.tz_convert(timezone_name)
    return pd.DataFrame(
        {
            "local_date": local.dt.date,
            "local_hour": local.dt.hour.astype("int16"),
            "local_weekday": local.dt.day_of_week.astype("int16"),
        },
        index=hour_start.index,
    )
