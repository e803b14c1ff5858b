"""docs/hardening.md and the hardening suites list the same cases with the same expected errors."""

from __future__ import annotations

import re
from pathlib import Path

from tests.integration import test_hardening_api, test_hardening_cli, test_hardening_db

DOC = Path(__file__).resolve().parents[2] / "docs" / "hardening.md"
ROW = re.compile(r"^\| `(?P<id>[a-z0-9-]+)` \| (?P<case>.*?) \| (?P<expected>.*) \|$")


def _documented() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if match := ROW.match(line):
            assert match["id"] not in rows, f"{match['id']} is in the table twice"
            rows[match["id"]] = (match["case"].replace("\\|", "|"), match["expected"].replace("\\|", "|"))
    return rows


def test_every_case_of_the_suites_is_a_row_of_the_table_and_no_row_lacks_a_case() -> None:
    cases = [*test_hardening_db.CASES, *test_hardening_api.CASES, *test_hardening_cli.CASES]
    assert len({c.id for c in cases}) == len(cases), "two cases share an id"
    assert _documented() == {c.id: (c.case, c.expected) for c in cases}
