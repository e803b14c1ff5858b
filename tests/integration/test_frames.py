"""Query results as frames: column by column, in the order asked for, empty when nothing matches."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from autoscaler.store.frames import query_frame

pytestmark = pytest.mark.integration

ROWS = """
    SELECT * FROM (VALUES ('b', 2, 1.5::float8, true), ('a', 3, 0.25, false), ('a', 1, NULL, NULL))
        AS v(entity_id, hour, x, flag)
     WHERE entity_id >= :least
"""


def test_columns_arrive_row_aligned_in_the_order_asked_for(engine: Engine) -> None:
    with engine.connect() as conn:
        frame = query_frame(
            conn, ROWS, {"least": "a"}, ["entity_id", "x", "flag"], order_by="entity_id, hour"
        )
    assert frame["entity_id"].tolist() == ["a", "a", "b"]
    assert frame["x"].tolist()[1:] == [0.25, 1.5]  # hour 1 (NULL), hour 3, then b
    assert frame["x"].isna().tolist() == [True, False, False]
    assert frame["flag"].tolist() == [None, False, True]


def test_numbers_come_typed_not_as_objects(engine: Engine) -> None:
    with engine.connect() as conn:
        frame = query_frame(conn, ROWS, {"least": "b"}, ["hour", "x"])
    assert frame["hour"].dtype == "int64"
    assert frame["x"].dtype == "float64"


def test_nothing_matching_is_an_empty_frame_with_the_columns(engine: Engine) -> None:
    with engine.connect() as conn:
        frame = query_frame(conn, ROWS, {"least": "z"}, ["entity_id", "hour"])
    assert frame.empty
    assert list(frame.columns) == ["entity_id", "hour"]


def test_whole_number_columns_load_exactly_beyond_32_bits(engine: Engine) -> None:
    # Loaded from PostgreSQL's binary arrays straight into numpy: big-endian, any width.
    sql = """
        SELECT g::smallint AS small, g::int AS whole, g::bigint * 4000000000 AS big,
               g::float4 / 4 AS ratio, g % 2 = 0 AS even
          FROM generate_series(1, :n) AS g
    """
    with engine.connect() as conn:
        frame = query_frame(
            conn, sql, {"n": 5000}, ["small", "whole", "big", "ratio", "even"], order_by="whole"
        )
    assert frame["big"].tolist()[-1] == 5000 * 4_000_000_000
    assert frame["small"].sum() == frame["whole"].sum() == 5000 * 5001 // 2
    assert frame["ratio"].dtype == "float64"
    assert frame["ratio"].tolist()[:2] == [0.25, 0.5]
    assert frame["even"].tolist()[:4] == [False, True, False, True]
