"""The docs hold: the rule table in docs/database.md says what the model does (every field,
every default); the README stays a front door; examples run as written; links resolve; one
pool size everywhere."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
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


# ---- the docs hold: examples run, links resolve, one pool size --------------------------------

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])


def test_the_readme_is_a_front_door_that_links_getting_started_on_its_first_screen() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines: move narratives to docs/"
    assert any("docs/getting-started.md" in line for line in lines[:25])
    for command in ("make test", "make demo"):
        assert command in "\n".join(lines[:80]), command


def test_the_evaluate_example_in_the_rules_doc_prints_what_it_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from autoscaler.cli import main

    section = (ROOT / "docs" / "rules.md").read_text().split("Runnable as written", 1)[1]
    script, shown = re.findall(r"```(?:bash)?\n(.*?)```", section, re.S)[:2]
    files = re.findall(r"cat > (\S+) <<'EOF'\n(.*?)\nEOF\n", script, re.S)
    assert [name for name, _ in files] == ["rule.json", "metrics.csv"]
    for name, content in files:
        (tmp_path / name).write_text(content + "\n")
    (command,) = re.findall(r"^autoscaler (evaluate .*)$", script, re.M)
    monkeypatch.chdir(tmp_path)
    assert main(shlex.split(command)) == 0
    assert capsys.readouterr().out.strip() == shown.strip()


def test_every_pool_size_in_the_docs_and_the_compose_file_is_the_same() -> None:
    sizes: dict[str, list[str]] = {}
    for path in [*DOCS, ROOT / "docker-compose.yaml"]:
        for size in re.findall(r"pools set meta_api (\d+)", path.read_text()):
            sizes.setdefault(size, []).append(path.name)
    assert len(sizes) == 1, f"the meta_api pool is given different sizes: {sizes}"


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", markdown, flags=re.S), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_relative_link_in_the_readme_and_docs_resolves() -> None:
    broken = []
    for path in DOCS:
        text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists():
                broken.append(f"{path.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked.read_text()):
                broken.append(f"{path.name}: {target} (no such heading)")
    assert broken == []


def test_the_metrics_doc_states_the_default_trailing_window() -> None:
    default = ScalingRule.model_fields["lookback_hours"].default
    text = " ".join((ROOT / "docs" / "metrics.md").read_text().split())
    assert f"The default `lookback_hours` is {default}" in text
    assert f"the {default - 1} before it" in text
