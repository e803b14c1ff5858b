"""The hardening cases of issue 17: each is one row of docs/hardening.md (case -> expected error).

Each suite (tests/integration/test_hardening_*.py) lists its cases as ``Case`` values and
runs every one; tests/unit/test_hardening_doc.py checks that the table in the docs and the
suites list the same cases with the same expected errors, so the table grows with the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class Case:
    id: str  # stable, e.g. "db-app-insert-event"; the first column of the docs table
    case: str  # what is tried, as the docs table says it
    expected: str  # a fragment of the one-line error (or "HTTP 422: ..." for the API)
    given: Any = None  # what the suite runs (SQL, argv, a request)


def params(cases: list[Case]) -> list[Any]:
    """The cases as pytest parameters with their ids."""
    return [pytest.param(c, id=c.id) for c in cases]
