"""The rule table in docs/database.md says what the model does: every field, every default."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic_core import PydanticUndefined

from autoscaler.rules import ScalingRule

DOC = Path(__file__).resolve().parents[2] / "docs" / "database.md"


def documented_defaults() -> dict[str, str]:
    section = DOC.read_text().split("| field | default | rule |", 1)[1].split("\n\n", 1)[0]
    out: dict[str, str] = {}
    for line in section.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = re.findall(r"`(\w+)`", cells[0])
        values = [v.strip() for v in cells[1].split(",")] if len(names) > 1 else [cells[1]]
        if len(values) == 1:  # one default for every name in the row ("required", "none")
            values *= len(names)
        out.update(zip(names, values, strict=True))
    return out


def as_documented(value: Any) -> str:
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def test_the_rule_table_lists_every_setting_with_its_default() -> None:
    documented = documented_defaults()
    settings = {
        name: field.default
        for name, field in ScalingRule.model_fields.items()
        if name not in ("rule_id", "rule_name", "account_id", "scope_level", "scope_entity_id", "enabled")
    }
    assert set(documented) == set(settings)
    for name, default in settings.items():
        doc = documented[name]
        expected = as_documented(default)
        assert doc == expected or (doc.replace(".0", "") == expected), (
            f"{name}: docs say {doc}, the model {expected}"
        )
