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
