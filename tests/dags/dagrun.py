"""Run the hourly DAG once through dag.test() (in its own process: Airflow reads its config at import).

python -m tests.dags.dagrun LOGICAL_DATE [CONF_JSON]

AUTOSCALER_TEST_DAG names the DAG file under dags/ (default autoscaler_hourly).

With AUTOSCALER_TEST_CRASH_AFTER_WRITE=1 the first execute that has written to Meta dies
before it records anything (dag.test runs tasks in this process, so a patch here reaches them).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

DAGS = Path(__file__).resolve().parents[2] / "dags"


def _crash_once_after_the_meta_write() -> None:
    from autoscaler import execute

    real_record = execute._Outcomes.record
    crashed = False

    def record(self: execute._Outcomes, engine: Any) -> None:
        nonlocal crashed
        if not crashed and ("executed", "written to Meta") in self.groups:
            crashed = True
            raise RuntimeError("worker died between the Meta write and the database commit")
        real_record(self, engine)

    execute._Outcomes.record = record  # type: ignore[method-assign]


def main() -> int:
    if os.environ.get("AUTOSCALER_TEST_CRASH_AFTER_WRITE") == "1":
        _crash_once_after_the_meta_write()
    logical_date = datetime.fromisoformat(sys.argv[1])
    conf = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    dag_file = DAGS / f"{os.environ.get('AUTOSCALER_TEST_DAG', 'autoscaler_hourly')}.py"
    spec = importlib.util.spec_from_file_location(dag_file.stem, dag_file)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from airflow.sdk import DAG

    dag = next(v for v in vars(module).values() if isinstance(v, DAG))
    run = dag.test(logical_date=logical_date, run_conf=conf)
    print(f"DAG_RUN_STATE={run.state}")
    return 0 if str(run.state).endswith("success") else 1


if __name__ == "__main__":
    sys.exit(main())
