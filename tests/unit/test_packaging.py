"""The package ships everything it needs, whichever way it is installed."""

import tomllib
from pathlib import Path

from autoscaler.migrations.versions import __file__ as versions_init
from autoscaler.resources import read_sql

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_directory_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(path.parent.relative_to(ROOT / "include").parts)
        for path in (ROOT / "include" / "autoscaler").rglob("__init__.py")
    }
    assert found | {"autoscaler.sql"} == listed


def test_every_migration_revision_has_its_sql_file() -> None:
    for script in Path(versions_init).parent.glob("[0-9]*.py"):
        assert read_sql(f"migrations/{script.stem}.sql").strip()


def test_built_in_scenarios_are_shipped_as_package_data() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "autoscaler"
    ]
    assert "sandbox/scenarios/*.json" in data
    from autoscaler.sandbox.scenario import BUILT_IN, load_scenario

    for name in BUILT_IN:
        assert load_scenario(name).accounts
