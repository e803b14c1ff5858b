"""Snapshot upserts: one row per entity and hour, idempotent, all or nothing."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from autoscaler.store import snapshots
from autoscaler.store.snapshots import SnapshotError, upsert_snapshots
from tests.factories import snapshot_frame as frame

pytestmark = pytest.mark.integration


def stored(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(
            text("SELECT * FROM autoscaler.campaign_performance_snapshots ORDER BY entity_id, hour_start"),
            conn,
        )


def test_first_upsert_inserts_one_row_per_entity_and_hour(engine: Engine) -> None:
    assert upsert_snapshots(engine, frame()) == 6
    rows = stored(engine)
    assert len(rows) == 6
    assert rows["spend"].tolist() == list(range(1000, 1006))
    assert rows["local_hour"].tolist() == [9, 10] * 3


def test_rerunning_the_same_hours_changes_nothing(engine: Engine) -> None:
    upsert_snapshots(engine, frame())
    before = stored(engine)
    assert upsert_snapshots(engine, frame()) == 0
    pd.testing.assert_frame_equal(stored(engine), before)


def test_a_newer_observation_replaces_the_row(engine: Engine) -> None:
    upsert_snapshots(engine, frame())
    later = frame(revenue=5000, revenue_source="settled")
    later["observed_at"] += pd.Timedelta(hours=12)
    assert upsert_snapshots(engine, later) == 6
    rows = stored(engine)
    assert set(rows["revenue"]) == {5000}
    assert set(rows["revenue_source"]) == {"settled"}


def test_an_older_observation_never_overwrites_a_newer_one(engine: Engine) -> None:
    newer = frame(revenue=5000)
    newer["observed_at"] += pd.Timedelta(hours=12)
    upsert_snapshots(engine, newer)
    assert upsert_snapshots(engine, frame(revenue=1)) == 0
    assert set(stored(engine)["revenue"]) == {5000}


def test_rows_land_in_monthly_partitions_created_on_demand(engine: Engine) -> None:
    upsert_snapshots(engine, frame(hours=3, start="2026-11-30 23:00"))
    with engine.connect() as conn:
        parts = conn.execute(
            text(
                "SELECT tableoid::regclass::text, count(*) FROM autoscaler.campaign_performance_snapshots "
                "GROUP BY 1 ORDER BY 1"
            )
        ).all()
    assert [tuple(p) for p in parts] == [
        ("autoscaler.campaign_performance_snapshots_2026_11", 3),
        ("autoscaler.campaign_performance_snapshots_2026_12", 6),
    ]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"spend": -5}, "spend: must not be negative"),
        ({"clicks": 1.5}, "clicks: must be a whole number"),
        ({"entity_id": "abc"}, "entity_id: must be a Meta id"),
        ({"revenue_source": "guessed"}, "revenue_source: must be one of allocated, observed, settled"),
        ({"local_hour": 24}, "local_hour: must be between 0 and 23"),
        ({"daily_budget": 0}, "daily_budget: must be positive"),
    ],
)
def test_bad_frames_are_refused_naming_column_and_rule_and_nothing_is_written(
    engine: Engine, change: dict[str, Any], says: str
) -> None:
    bad = frame()
    column, value = next(iter(change.items()))
    bad[column] = bad[column].astype(object)
    bad.loc[4, column] = value
    with pytest.raises(SnapshotError, match=says):
        upsert_snapshots(engine, bad)
    assert stored(engine).empty


def test_duplicate_keys_in_one_frame_are_refused(engine: Engine) -> None:
    twice = pd.concat([frame(entities=1, hours=1)] * 2, ignore_index=True)
    with pytest.raises(SnapshotError, match="entity_id: appears twice for the same hour_start"):
        upsert_snapshots(engine, twice)


def test_a_row_the_database_refuses_rolls_back_the_whole_upsert(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even past the Python checks (a caller skipping them), the database keeps it all-or-nothing."""
    upsert_snapshots(engine, frame(entities=1))
    monkeypatch.setattr(snapshots, "validate_frame", lambda _frame: None)
    bad = frame(spend=7)
    bad.loc[5, "local_weekday"] = 9
    with pytest.raises(Exception, match="snapshots_local_weekday_range"):
        upsert_snapshots(engine, bad)
    assert stored(engine)["spend"].tolist() == [1000, 1001]


def test_the_copy_stream_holds_what_postgresql_itself_writes_for_the_same_rows(engine: Engine) -> None:
    """Our encoder's rows, field for field, equal PostgreSQL's own COPY ... TO (FORMAT binary)."""
    from tests.unit.test_pgcopy import decode

    rows = frame(entities=4, hours=3)
    rows.loc[1, "status"] = None
    rows.loc[2, "effective_status"] = "CAMPAIGN_PAUSED"
    rows.loc[3, "daily_budget"] = None
    rows["day_spend_to_date"] = pd.array([None, 5, 0, *range(9)], dtype="Int64")
    rows = snapshots.with_optional_columns(rows)
    columns = ", ".join(snapshots.COLUMNS)
    ours = decode(b"".join(snapshots.copy_stream(rows)))
    assert upsert_snapshots(engine, rows) == 12
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cursor,
            cursor.copy(
                f"COPY (SELECT {columns} FROM autoscaler.campaign_performance_snapshots) TO STDOUT (FORMAT binary)"
            ) as copy,
        ):
            theirs = decode(b"".join(bytes(chunk) for chunk in copy))
    assert sorted(ours, key=repr) == sorted(theirs, key=repr)


def test_hours_stored_by_another_writer_meanwhile_are_merged_not_refused(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New hours go straight in by COPY; if someone stored one since we looked, the merge runs."""
    upsert_snapshots(engine, frame(entities=1))
    monkeypatch.setattr(snapshots, "_any_stored", lambda _conn, _frame: False)  # the race
    later = frame(revenue=5000)
    later["observed_at"] += pd.Timedelta(hours=1)
    assert upsert_snapshots(engine, later) == 6  # 2 rows refreshed, 4 inserted
    rows = stored(engine)
    assert len(rows) == 6
    assert set(rows["revenue"]) == {5000}


def test_a_new_hour_is_copied_straight_in_and_a_rerun_merges(engine: Engine) -> None:
    statements: list[str] = []
    original = snapshots.copy_frame

    def spy(conn: Any, table: str, data: pd.DataFrame) -> None:
        statements.append(table)
        original(conn, table, data)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(snapshots, "copy_frame", spy)
        upsert_snapshots(engine, frame())
        upsert_snapshots(engine, frame())
        upsert_snapshots(engine, frame(start="2026-11-02 16:00"))
    assert statements == [
        "autoscaler.campaign_performance_snapshots",
        "snapshot_staging",
        "autoscaler.campaign_performance_snapshots",
    ]
