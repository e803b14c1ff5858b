"""A real Airflow on this machine for tests: API server and scheduler (LocalExecutor), PostgreSQL metadata.

What dag.test() skips is exactly what a backfill needs: the scheduler creates the runs and
the executor starts each task in its own process, which reports through the API server's
execution API.  Each component is a subprocess with its log under AIRFLOW_HOME/logs/.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class AirflowStack:
    def __init__(self, home: Path, metadata_url: str, extra_env: dict[str, str], meta_pool: int = 4) -> None:
        self.home, self.meta_pool = home, meta_pool
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AUTOSCALER_"))}
        self.env.update(
            AIRFLOW_HOME=str(home),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM="4",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=metadata_url,
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{self.port}/execution/",
            AIRFLOW__API__PORT=str(self.port),
            # Scheduler and API server must sign and check task tokens with the same secret.
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(16),
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
            # Only the runs a test asks for (backfills, triggers): no scheduled run of "now"
            # starts behind its back once the DAG is unpaused.
            AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
            AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL="5",
            PYTHONPATH=str(ROOT),
        )
        self.env.update(extra_env)  # may override the above (the executor, for one)
        self.processes: list[subprocess.Popen[bytes]] = []

    def airflow(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run(
            [AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def _start(self, name: str, *args: str) -> None:
        log = (self.home / "logs").joinpath(f"{name}.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            self.processes.append(
                subprocess.Popen(
                    [AIRFLOW, *args],
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                    start_new_session=True,  # so stopping takes the executor's children too
                )
            )

    def __enter__(self) -> AirflowStack:
        self.airflow("db", "migrate", timeout=600)
        self.airflow("pools", "set", "meta_api", str(self.meta_pool), "Meta Graph API calls")
        self.airflow("dags", "reserialize")
        # A paused DAG's backfill runs stay queued: the scheduler starts runs of active DAGs only.
        self.airflow("dags", "unpause", "autoscaler_hourly")
        self._start("api-server", "api-server", "--port", str(self.port), "--host", "127.0.0.1")
        self._start("scheduler", "scheduler")
        self._wait_healthy()
        return self

    def _wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"an Airflow component exited early; see {self.home / 'logs'}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/api/v2/monitor/health", timeout=5
                ) as r:
                    health: dict[str, Any] = json.loads(r.read())
                if health.get("scheduler", {}).get("status") == "healthy":
                    return
            except OSError:
                pass
            time.sleep(1)
        raise TimeoutError(f"Airflow not healthy after {timeout:.0f} s; see {self.home / 'logs'}")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def backfill_hours(
        self, dag_id: str, first: datetime, hours: int, timeout: float = 420, wait: bool = True
    ) -> list[dict[str, Any]]:
        """`airflow backfill create` for ``hours`` hourly runs from ``first``; their runs once finished."""
        self.airflow(
            "backfill",
            "create",
            "--dag-id",
            dag_id,
            # Dates of a backfill are logical dates: with hourly data intervals, each interval's start.
            "--from-date",
            first.isoformat(),
            "--to-date",
            (first + timedelta(hours=hours - 1)).isoformat(),
        )
        return self.wait_for_runs(dag_id, hours, timeout=timeout) if wait else []

    def _metadata(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        url = self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace(
            "postgresql+psycopg://", "postgresql://"
        )
        with psycopg.connect(url) as conn:
            return conn.execute(sql, params).fetchall()

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        rows = self._metadata(
            "SELECT run_id, run_type, state, logical_date FROM dag_run WHERE dag_id = %s ORDER BY logical_date",
            dag_id,
        )
        return [{"run_id": r[0], "run_type": r[1], "state": r[2], "logical_date": r[3]} for r in rows]

    def wait_for_runs(self, dag_id: str, count: int, timeout: float = 420) -> list[dict[str, Any]]:
        """Wait until ``count`` runs of the DAG have finished (success or failed)."""
        deadline = time.monotonic() + timeout
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            runs = self.dag_runs(dag_id)
            if len(runs) >= count and all(r["state"] in ("success", "failed") for r in runs):
                return runs
            time.sleep(2)
        raise TimeoutError(
            f"{dag_id}: runs not finished after {timeout:.0f} s: {runs}; see {self.home / 'logs'}"
        )
