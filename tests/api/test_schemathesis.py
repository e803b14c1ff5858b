"""schemathesis against the served OpenAPI schema: no input, valid or not, makes a server error.

Its command line (the pytest plugin of schemathesis 4.32 does not load under pytest 9) takes
the schema the API server serves, fetched with a token like every route, and sends requests
generated from it, valid and invalid, as an admin, so every route's handler runs, the
changing ones too.  Its own world: the generated requests approve, delete, pause and roll
back at random.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.api.conftest import World, built_world

pytestmark = [pytest.mark.integration, pytest.mark.sandbox, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fuzzed_world(
    pg_server_url: URL, migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with built_world(pg_server_url, migrated_template, tmp_path_factory.mktemp("fuzzed-airflow")) as built:
        yield built


def test_no_request_makes_a_server_error(fuzzed_world: World, tmp_path: Path) -> None:
    server = fuzzed_world.server
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{server.url}/api/auto-scaler/openapi.json",
            "--header",
            f"Authorization: Bearer {server.token('admin')}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "40",
            "--seed",
            "20261125",
            # One worker: with two, schemathesis 4.32's coverage phase sometimes dies in
            # CPython's ast module ("AST constructor recursion depth mismatch"), its own bug.
            "--workers",
            "1",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,  # its cache of past crashes stays with this run, out of the work tree
        # Edge values in every body and date (tests/api/schemathesis_hooks.py).
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        },
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    summary = result.stdout
    # It did exercise the API: every operation, every phase, and well over a thousand requests.
    assert re.search(r"Selected: (\d+)/\1\s+Tested: \1", summary), summary[-3000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert generated, summary[-3000:]
    assert int(generated[1]) == int(generated[2]) > 1000
    assert "sandbox-token" not in summary
    assert "Traceback" not in server.log.read_text()
