"""docker-compose.yaml, checked without Docker: its shape, the files it names, and its init.

There is no Docker engine here.  What can be known without one: the file parses; the Airflow
services are the four components Airflow 3 needs, share one environment (the JWT secret and
the execution API URL above all) and the sandbox's network namespace; every file it mounts
or builds from exists; and the one-off init, run by bash with this project's real
`autoscaler` against a real PostgreSQL (and `airflow` stubbed), succeeds twice in a row.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.engine import URL

from autoscaler.cli import build_parser
from autoscaler.store.engine import make_engine

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    return loaded


def init_script(compose: dict[str, Any]) -> str:
    command = compose["services"]["airflow-init"]["command"]
    assert command[0] == "-c"
    # Compose turns $$ into $ before the shell sees it.
    script: str = command[1].replace("$$", "$")
    return script


def test_the_airflow_services_are_the_four_components_sharing_one_environment_and_the_sandbox_network(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "sandbox", *AIRFLOW_SERVICES}
    commands = {services[name].get("command") for name in AIRFLOW_SERVICES[1:]}
    assert commands == {"api-server", "scheduler", "dag-processor", "triggerer"}
    environments = [services[name]["environment"] for name in AIRFLOW_SERVICES]
    assert all(env == environments[0] for env in environments)
    env = environments[0]
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"]
    # Set, even if empty: else each container generates its own key and cannot read the others'
    # Variables (the kill switch among them).
    assert "AIRFLOW__CORE__FERNET_KEY" in env
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8080/execution/"
    for name in AIRFLOW_SERVICES:
        assert services[name]["network_mode"] == "service:sandbox"
        assert services[name]["image"] == services["sandbox"]["image"]
        assert "ports" not in services[name]  # published by the namespace's owner
    assert "8080:8080" in [str(p).split("#")[0].strip() for p in services["sandbox"]["ports"]]
    assert "127.0.0.1:8766" in env["AIRFLOW_CONN_META_ADS_DEFAULT"].replace("%3A", ":").replace("%2F", "/")


def test_every_file_it_builds_from_or_mounts_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            assert (ROOT / service["build"] / "Dockerfile").is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source}"
            else:
                assert source in compose["volumes"], f"{name}: named volume {source} not declared"
    sandbox = compose["services"]["sandbox"]
    script = sandbox["entrypoint"][-1]
    assert any(v.split(":")[1] == script for v in sandbox["volumes"]), "the sandbox's script is mounted"


def test_every_autoscaler_command_of_the_init_parses(compose: dict[str, Any]) -> None:
    script = init_script(compose).replace('"$1"', "act_1").replace("$1", "act_1")
    commands = [shlex.split(c) for c in re.findall(r"\bautoscaler ([a-z][^|)\n]*)", script)]
    assert {tuple(c[:2]) for c in commands} >= {("db", "upgrade"), ("accounts", "add"), ("rules", "add")}
    parser = build_parser()
    for argv in commands:
        parser.parse_args(argv)  # exits (fails the test) on an unknown command or option


@pytest.mark.long  # minutes on a busy machine: each autoscaler call starts Airflow's configuration
def test_the_init_runs_twice_against_a_real_database(
    compose: dict[str, Any], empty_db_url: URL, tmp_path: Path
) -> None:
    stub = tmp_path / "bin"
    stub.mkdir()
    calls = tmp_path / "airflow-calls"
    (stub / "airflow").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (stub / "airflow").chmod(0o755)
    auth = tmp_path / "auth"
    auth.mkdir()
    script = init_script(compose).replace("/opt/airflow/auth", str(auth))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AUTOSCALER_"))}
    env.update(
        PATH=f"{stub}:{Path(sys.executable).parent}:{env.get('PATH', '')}",
        AIRFLOW_HOME=str(tmp_path / "airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW_CONN_AUTOSCALER_DB=empty_db_url.render_as_string(hide_password=False).replace(
            "postgresql+psycopg://", "postgresql://"
        ),
    )
    for _ in range(2):
        result = subprocess.run(
            ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]

    assert calls.read_text().splitlines() == ["db migrate", "pools set meta_api 8 Meta Graph API calls"] * 2
    assert (auth / "passwords.json").is_file()
    engine = make_engine(empty_db_url)
    try:
        with engine.connect() as conn:
            rules = conn.execute(
                text(
                    "SELECT account_id, require_approval_threshold FROM autoscaler.scaling_rules "
                    "WHERE enabled ORDER BY account_id"
                )
            ).all()
    finally:
        engine.dispose()
    # One rule per sandbox account (not two: the second run adds none), each with an approval threshold.
    assert [r.account_id for r in rules] == ["act_1001", "act_1002", "act_1003"]
    assert all(r.require_approval_threshold for r in rules)
