"""Query results as pandas frames."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Result


def to_frame(result: Result[Any], columns: Sequence[str]) -> pd.DataFrame:
    """The result's rows as a frame with these column names.

    Rows become plain tuples first: pandas reads SQLAlchemy's Row objects value by value,
    which on an account's 24,000 hour sums cost 0.2-0.3 s against 0.04-0.06 s for tuples.
    """
    return pd.DataFrame([tuple(row) for row in result], columns=list(columns))
