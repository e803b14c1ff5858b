"""Monthly snapshot partitions: created race-free by concurrent writers, and a month ahead."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from autoscaler.store.snapshots import ensure_partitions

pytestmark = pytest.mark.integration


def _partitions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'autoscaler.campaign_performance_snapshots'::regclass ORDER BY 1"
                )
            ).scalars()
        )


@pytest.mark.parametrize("round_", range(3))
def test_parallel_writers_create_a_new_month_once_and_none_fails(engine: Engine, round_: int) -> None:
    # Every writer enters the function in the same instant (a barrier inside the transaction),
    # as the mapped snapshot tasks of an hourly run do at a month boundary (issue 17, item 16).
    writers = 8
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []
    month = f"20{27 + round_}-03-01"

    def write() -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text("SELECT 1"))
                barrier.wait(10)
                conn.execute(
                    text("SELECT autoscaler.ensure_snapshot_partition(CAST(:m AS date))"), {"m": month}
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert f"campaign_performance_snapshots_{month[:4]}_03" in _partitions(engine)


def test_the_month_after_the_latest_hour_is_created_ahead(engine: Engine) -> None:
    ensure_partitions(engine, [pd.Timestamp("2026-12-31 23:00", tz="UTC")])
    made = _partitions(engine)
    assert "campaign_performance_snapshots_2026_12" in made
    assert "campaign_performance_snapshots_2027_01" in made
