"""PostgreSQL's binary COPY format, built from whole columns with numpy.

psycopg's ``Copy.write_row`` encodes one Python value at a time: for a 200,000-row snapshot
frame that is four million Python objects and most of a second before the database sees a
byte.  Here each column is converted once into a (rows x width) byte block, big-endian,
and a byte count per row (a text value's own length; -1 for NULL, which sends no bytes).
Rows whose counts agree share a layout, and each layout's rows are laid out side by side
as one array: its bytes, row by row, are the COPY stream.

Types: text, bigint, integer, smallint, timestamptz, date (what the snapshot table holds).
The format: https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)

_INTEGERS = {"bigint": ">i8", "integer": ">i4", "smallint": ">i2"}
# PostgreSQL counts time from 2000-01-01 (UTC for timestamptz).
_PG_EPOCH_US = 946_684_800_000_000
_PG_EPOCH_DAY = pd.Timestamp("2000-01-01")
KNOWN_TYPES = frozenset({*_INTEGERS, "text", "timestamptz", "date"})


def _fixed(values: np.ndarray, null: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """A fixed-width column: its bytes (rows x width) and each field's byte count (-1: NULL)."""
    width = np.dtype(dtype).itemsize
    data = np.where(null, 0, values).astype(dtype).view(np.uint8).reshape(-1, width)
    lengths = np.where(null, -1, width).astype(np.int32)
    return data, lengths


def _text(values: pd.Series, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Encode each distinct value once: ids repeat across hours, status words everywhere.
    codes, uniques = pd.factorize(values.where(~null, "") if null.any() else values, use_na_sentinel=False)
    words = [str(u).encode() for u in uniques.tolist()]
    width = max(max((len(w) for w in words), default=0), 1)
    table = np.array(words, dtype=f"S{width}").view(np.uint8).reshape(-1, width)
    sizes = np.array([len(w) for w in words], dtype=np.int32)
    return table[codes], np.where(null, -1, sizes[codes]).astype(np.int32)


def _column(values: pd.Series, kind: str) -> tuple[np.ndarray, np.ndarray]:
    null = values.isna().to_numpy()
    if kind == "text":
        return _text(values, null)
    if kind == "timestamptz":
        us = pd.to_datetime(values, utc=True).astype("datetime64[us, UTC]")
        raw = us.to_numpy(dtype="datetime64[us]").astype(np.int64) - _PG_EPOCH_US
        return _fixed(raw, null, ">i8")
    if kind == "date":
        # Dates often arrive as Python date objects: convert each distinct one once.
        codes, uniques = pd.factorize(values)
        days = (pd.to_datetime(pd.Series(uniques)) - _PG_EPOCH_DAY).dt.days.to_numpy(dtype=np.int64)
        return _fixed(np.where(codes < 0, 0, days[codes] if len(days) else 0), null, ">i4")
    if kind in _INTEGERS:
        numbers = pd.to_numeric(values)
        if not null.any() and numbers.dtype.kind in "iu":
            return _fixed(numbers.to_numpy(), null, _INTEGERS[kind])
        filled = numbers.where(~null, 0)
        if bool((filled != filled.round()).any()):
            raise ValueError(f"{values.name}: {kind} values must be whole numbers")
        return _fixed(filled.to_numpy(dtype=np.float64).astype(np.int64), null, _INTEGERS[kind])
    raise ValueError(f"{values.name}: no binary COPY encoding for type {kind!r} (know {sorted(KNOWN_TYPES)})")


def encode(columns: Sequence[tuple[pd.Series, str]]) -> Iterator[bytes]:
    """The COPY ... (FORMAT binary) stream of the columns (values, PostgreSQL type), in pieces.

    Rows whose fields have the same byte lengths (the same text lengths, NULLs in the same
    columns) share one layout, so each such group is one (rows x row-width) array filled a
    column at a time.  COPY does not care in which order rows arrive; real frames have a
    handful of layouts (status words and ids of a few lengths).
    """
    yield HEADER
    rows = len(columns[0][0]) if columns else 0
    if not rows:
        yield TRAILER
        return
    fields = [_column(values.reset_index(drop=True), kind) for values, kind in columns]
    count = len(columns).to_bytes(2, "big")
    varying = [j for j, (_, lengths) in enumerate(fields) if (lengths != lengths[0]).any()]
    if varying:
        shapes = pd.DataFrame({j: fields[j][1] for j in varying}).groupby(varying, sort=False).indices
        groups = [
            (dict(zip(varying, key if isinstance(key, tuple) else (key,), strict=True)), members)
            for key, members in shapes.items()
        ]
    else:
        groups = [({}, np.arange(rows))]
    for shape, index in groups:
        lengths = [int(shape.get(j, field[1][0])) for j, field in enumerate(fields)]
        width = 2 + sum(4 + max(length, 0) for length in lengths)
        words = [np.frombuffer(n.to_bytes(4, "big", signed=True), np.uint8) for n in lengths]
        # A few thousand rows at a time: filling a row-wide block column by column stays
        # in the CPU cache.
        step = max(1, (1 << 20) // width)
        whole = len(index) == rows
        for start in range(0, len(index), step):
            # A slice, not an index array, when the group is every row: no gather.
            part = slice(start, start + step) if whole else index[start : start + step]
            out = np.empty((min(step, len(index) - start), width), dtype=np.uint8)
            out[:, :2] = np.frombuffer(count, np.uint8)
            at = 2
            for (data, _), length, word in zip(fields, lengths, words, strict=True):
                out[:, at : at + 4] = word
                at += 4
                if length > 0:
                    out[:, at : at + length] = data[part, :length]
                    at += length
            yield out.tobytes()
    yield TRAILER
