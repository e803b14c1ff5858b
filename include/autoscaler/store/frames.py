"""Query results as pandas frames."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Result, text


def to_frame(result: Result[Any], columns: Sequence[str]) -> pd.DataFrame:
    """The result's rows as a frame with these column names.

    Fetched all at once (iterating a result fetches row by row, ~4 us a row), then made
    plain tuples: pandas reads SQLAlchemy's Row objects value by value, which on an
    account's 24,000 hour sums cost 0.2-0.3 s against 0.04-0.06 s for tuples.
    """
    return pd.DataFrame([tuple(row) for row in result.all()], columns=list(columns))


def query_frame(
    conn: Connection,
    sql: str,
    params: Mapping[str, Any],
    columns: Sequence[str],
    order_by: str | None = None,
) -> pd.DataFrame:
    """The rows of ``sql`` (which selects ``columns``) as a frame, fetched a column at a time.

    PostgreSQL folds each column into one array (``array_agg`` in a single pass, so the
    arrays line up row for row) and sends them in binary: for tens of thousands of rows
    this is ~20x cheaper than rows, which SQLAlchemy and pandas each handle one at a time
    (~0.3 s against ~0.02 s for an account's 24,000 hour sums).  Rows come in ``order_by``
    (columns of ``sql``, fetched or not); without it, in no promised order.  PostgreSQL 16+
    sorts once for all the aggregates.
    """
    order = f" ORDER BY {', '.join(f'q.{c.strip()}' for c in order_by.split(','))}" if order_by else ""
    wrapped = "SELECT " + ", ".join(f"array_agg(q.{c}{order})" for c in columns) + f" FROM ({sql}) AS q"
    compiled = text(wrapped).bindparams(**params).compile(dialect=conn.dialect)
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor(binary=True) as cursor:
        cursor.execute(compiled.string, compiled.params)
        arrays = cursor.fetchone()
    assert arrays is not None
    if arrays[0] is None:  # no rows: array_agg of nothing is NULL
        return pd.DataFrame({c: [] for c in columns})
    return pd.DataFrame({c: np.asarray(values) for c, values in zip(columns, arrays, strict=True)})
