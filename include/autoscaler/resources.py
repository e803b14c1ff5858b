"""Locate the SQL files shipped with the package.

The SQL lives once, in the repository's ``sql/`` folder.  A regular install ships it inside
the package as ``autoscaler.sql``; an editable install of a checkout maps only the Python
package, so there it is read from the checkout.
"""

from __future__ import annotations

import importlib.resources
from importlib.abc import Traversable
from pathlib import Path


def sql_root() -> Traversable:
    """The folder holding migrations/, views and queries/."""
    try:
        return importlib.resources.files("autoscaler.sql")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "sql"


def read_sql(relative_path: str) -> str:
    """Text of ``sql/<relative_path>``; raises FileNotFoundError naming the path if absent."""
    node = sql_root()
    for part in relative_path.split("/"):
        node = node / part
    if not node.is_file():
        raise FileNotFoundError(f"SQL file sql/{relative_path} is not shipped with this installation")
    return node.read_text(encoding="utf-8")
