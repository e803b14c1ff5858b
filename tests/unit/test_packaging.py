"""The package ships everything it needs, whichever way it is installed."""

import tomllib
from pathlib import Path

from autoscaler.migrations.versions import __file__ as versions_init
from autoscaler.resources import read_sql

ROOT = Path(__file__).resolve().parents[2]


def _directories(root: Path, package: str) -> set[str]:
    """Dotted names of ``root`` and every directory below it that holds files."""
    return {
        ".".join((package, *path.relative_to(root).parts))
        for path in [root, *root.rglob("*")]
        if path.is_dir() and path.name != "__pycache__" and any(p.is_file() for p in path.iterdir())
    }


def test_every_directory_of_the_package_is_listed_in_pyproject() -> None:
    """Code and data alike: setuptools ships a directory's files only if it is a listed package."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = _directories(ROOT / "include" / "autoscaler", "autoscaler") | _directories(
        ROOT / "sql", "autoscaler.sql"
    )
    assert found == listed


def test_every_migration_revision_has_its_sql_file() -> None:
    for script in Path(versions_init).parent.glob("[0-9]*.py"):
        assert read_sql(f"migrations/{script.stem}.sql").strip()


def test_built_in_scenarios_are_shipped_as_package_data() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert data["autoscaler.sandbox.scenarios"] == ["*.json"]
    from autoscaler.sandbox.scenario import BUILT_IN, load_scenario

    for name in BUILT_IN:
        assert load_scenario(name).accounts


def test_every_file_of_the_page_and_its_vendored_assets_is_package_data() -> None:
    """The page, its scripts and the vendored ECharts and Swagger UI ship in the wheel: the
    page and /docs load nothing from a CDN, so a file left out is a blank page offline."""
    from fnmatch import fnmatch

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    static = ROOT / "include" / "autoscaler" / "api" / "static"
    files = [p for p in static.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert {"echarts.min.js", "swagger-ui-bundle.js", "swagger-ui.css", "index.html"} <= {
        p.name for p in files
    }
    for path in files:
        package = ".".join(("autoscaler", "api", "static", *path.parent.relative_to(static).parts))
        assert any(fnmatch(path.name, pattern) for pattern in data.get(package, [])), path
