"""Run the hourly DAG once through dag.test() (in its own process: Airflow reads its config at import).

python -m tests.dags.dagrun LOGICAL_DATE [CONF_JSON]
"""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import datetime
from pathlib import Path

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "autoscaler_hourly.py"


def main() -> int:
    logical_date = datetime.fromisoformat(sys.argv[1])
    conf = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    spec = importlib.util.spec_from_file_location("autoscaler_hourly", DAG_FILE)
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
