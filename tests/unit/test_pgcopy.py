"""The binary COPY encoder: the stream PostgreSQL's format describes, built from whole columns."""

from __future__ import annotations

import struct
from datetime import date

import pandas as pd
import pytest

from autoscaler.store import pgcopy


def decode(stream: bytes) -> list[tuple[bytes | None, ...]]:
    """The rows of a binary COPY stream, each field's raw bytes (None for NULL)."""
    assert stream.startswith(pgcopy.HEADER)
    at = len(pgcopy.HEADER)
    rows: list[tuple[bytes | None, ...]] = []
    while True:
        (count,) = struct.unpack_from(">h", stream, at)
        at += 2
        if count == -1:
            assert at == len(stream), "bytes after the trailer"
            return rows
        row: list[bytes | None] = []
        for _ in range(count):
            (length,) = struct.unpack_from(">i", stream, at)
            at += 4
            row.append(None if length == -1 else stream[at : at + length])
            at += max(length, 0)
        rows.append(tuple(row))


def encoded(*columns: tuple[pd.Series, str]) -> list[tuple[bytes | None, ...]]:
    return decode(b"".join(pgcopy.encode(list(columns))))


def test_each_type_is_written_as_postgresql_reads_it() -> None:
    rows = encoded(
        (pd.Series(["1234"]), "text"),
        (pd.Series([-7]), "bigint"),
        (pd.Series([70_000]), "integer"),
        (pd.Series([23], dtype="int16"), "smallint"),
        (pd.Series(pd.to_datetime(["2000-01-01 01:00"], utc=True)), "timestamptz"),
        (pd.Series([date(1999, 12, 31)]), "date"),
    )
    assert rows == [
        (
            b"1234",
            struct.pack(">q", -7),
            struct.pack(">i", 70_000),
            struct.pack(">h", 23),
            struct.pack(">q", 3_600_000_000),  # microseconds after 2000-01-01 00:00 UTC
            struct.pack(">i", -1),  # days after 2000-01-01
        )
    ]


def test_text_keeps_its_own_length_and_encodes_utf8() -> None:
    values = pd.Series(["ACTIVE", "", "Café ☕", "CAMPAIGN_PAUSED"])
    assert [r[0] for r in encoded((values, "text"))] == [v.encode() for v in values]


def test_nulls_are_length_minus_one_with_no_bytes_in_any_type() -> None:
    rows = encoded(
        (pd.Series(["a", None, "c"], dtype=object), "text"),
        (pd.Series(pd.array([1, None, 3], dtype="Int64")), "bigint"),
        (
            pd.Series(pd.to_datetime(pd.Series(["2026-11-02 14:00", None, "2026-11-02 16:00"]), utc=True)),
            "timestamptz",
        ),
    )
    hour = struct.pack(">q", 846_943_200_000_000)  # 2026-11-02 14:00 UTC, in microseconds after 2000-01-01
    assert sorted(rows, key=repr) == sorted(
        [
            (b"a", struct.pack(">q", 1), hour),
            (None, None, None),
            (b"c", struct.pack(">q", 3), struct.pack(">q", 846_943_200_000_000 + 7_200_000_000)),
        ],
        key=repr,
    )


def test_rows_of_every_layout_arrive_once_each() -> None:
    """Rows are grouped by field lengths, so their order may change, never their content."""
    ids = pd.Series([str(10**i) for i in range(12)])  # twelve lengths
    budgets = pd.array([None if i % 3 == 0 else i for i in range(12)], dtype="Int64")
    rows = encoded((ids, "text"), (pd.Series(budgets), "bigint"))
    expected = {(str(10**i).encode(), None if i % 3 == 0 else struct.pack(">q", i)) for i in range(12)}
    assert len(rows) == 12
    assert set(rows) == expected


def test_an_empty_frame_is_a_header_and_a_trailer() -> None:
    assert encoded((pd.Series([], dtype=object), "text")) == []


def test_a_fraction_in_an_integer_column_is_refused_not_rounded() -> None:
    with pytest.raises(ValueError, match="spend: bigint values must be whole numbers"):
        encoded((pd.Series([1.5, None], name="spend"), "bigint"))


def test_an_unknown_type_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="no binary COPY encoding for type 'numeric'"):
        encoded((pd.Series([1], name="x"), "numeric"))
