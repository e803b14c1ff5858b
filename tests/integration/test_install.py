"""What the Dockerfile does, checked without a Docker engine.

The image runs `pip install -c image-constraints.txt /opt/autoscaler`: a regular (not
editable) install of a wheel built from this project, into an environment that has Airflow
(tests/integration/test_dockerfile.py replays the Dockerfile itself).  Here: the same wheel,
installed into a directory of its own and put first on the path of a process started outside
the source tree, must migrate a database, answer on its console script's
entry point and load the Airflow plugin; and every dependency range in pyproject.toml must
admit the version constraints.txt pins, or an install with them (make install, or an image
lacking the package) would fail to resolve.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from sqlalchemy.engine import URL

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def test_every_dependency_range_admits_the_pinned_version() -> None:
    pins = _pins()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    requirements += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    for requirement in requirements:
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name}: in pyproject.toml but not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}: constraints.txt pins {pins[name]}, outside pyproject's {requirement.specifier}"
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project built as a wheel and installed, without dependencies, into its own directory."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = out.glob("airflow_meta_autoscaler-*.whl")
    site = out / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return site


def _run(site: Path, code: str, tmp_path: Path, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AUTOSCALER_"))}
    environment.update(PYTHONPATH=str(site), AIRFLOW_HOME=str(tmp_path / "airflow"), **env)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,  # not the source tree: nothing may come from include/ or sql/
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    # Airflow may log to stdout: the snippets mark their own lines.
    return "\n".join(line[3:] for line in result.stdout.splitlines() if line.startswith("=> "))


def test_the_installed_wheel_migrates_a_database_and_its_entry_point_resolves(
    installed: Path, empty_db_url: URL, tmp_path: Path
) -> None:
    code = """
import importlib.metadata, autoscaler
from autoscaler import migrations
from autoscaler.sandbox.scenario import load_scenario
from autoscaler.store.engine import make_engine
import os
print("=>", autoscaler.__file__)
(script,) = importlib.metadata.entry_points(group="console_scripts", name="autoscaler")
print("=>", script.load().__module__)
print("=>", len(load_scenario("demo").accounts))
engine = make_engine(os.environ["AUTOSCALER_DB_URL"])
print("=>", migrations.upgrade(engine)[1], migrations.current_revision(engine) == migrations.head_revision())
"""
    url = empty_db_url.render_as_string(hide_password=False)
    lines = _run(installed, code, tmp_path, AUTOSCALER_DB_URL=url).split()
    assert lines[0].startswith(str(installed))  # the wheel's copy, not the editable one
    assert lines[1:] == ["autoscaler.cli", "3", lines[3], "True"]
    from autoscaler import migrations

    assert lines[3] == migrations.head_revision()


def test_the_installed_wheel_serves_the_airflow_plugin(installed: Path, tmp_path: Path) -> None:
    code = f"""
import runpy, autoscaler
namespace = runpy.run_path({str(ROOT / "plugins" / "autoscaler_plugin.py")!r})
plugin = namespace["AutoscalerPlugin"]
print("=>", autoscaler.__file__)
print("=>", sorted(app["url_prefix"] for app in plugin.fastapi_apps))
"""
    lines = _run(installed, code, tmp_path).splitlines()
    assert lines[0].startswith(str(installed))
    assert lines[1] == "['/api/auto-scaler', '/auto-scaler']"
