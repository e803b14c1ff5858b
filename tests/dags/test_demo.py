"""`make demo` stays true: the demo runs the real DAG on the embedded defaults and reports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_runs_live_and_shadow_hours_and_reports() -> None:
    home = Path(tempfile.mkdtemp(prefix="autoscaler-demo-"))
    home.chmod(0o755)  # as root, the embedded PostgreSQL runs as another user
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AUTOSCALER_"))}
    env["AUTOSCALER_HOME"] = str(home)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "autoscaler.cli", "demo", "--hours", "3", "--shadow-hours", "1"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    assert "shadow" in out
    assert " live " in out
    assert "Actions by type and outcome:" in out
    assert "every one is an executed action in the audit trail" in out
    assert "[" not in out.split("Running autoscaler_hourly")[1].split("Actions by type")[0], (
        "a run did not succeed"
    )
