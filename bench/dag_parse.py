"""DAG parse cost: importing each DAG file beyond importing airflow.sdk, in fresh processes.

Target (hourly-DAG issue): <= 0.5 s per DAG file beyond `import airflow.sdk`, with pandas
and facebook_business not imported at parse time.  Each measurement is a new interpreter
(what a DAG processor pays), median of several.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import target_lines

ROOT = Path(__file__).resolve().parents[1]
REPEAT = 5
PROBE = """
import json, runpy, sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
runpy.run_path(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"sdk": t1 - t0, "dag": t2 - t1, "heavy": sorted(m for m in ("pandas", "facebook_business", "numpy") if m in sys.modules)}))
"""


def run() -> dict[str, Any]:
    files: dict[str, Any] = {}
    for dag_file in sorted((ROOT / "dags").glob("*.py")):
        samples = []
        for _ in range(REPEAT):
            out = subprocess.run(
                [sys.executable, "-c", PROBE, str(dag_file)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            ).stdout
            samples.append(json.loads(out.strip().splitlines()[-1]))
        files[dag_file.name] = {
            "sdk_import_seconds": statistics.median(s["sdk"] for s in samples),
            "dag_file_seconds": statistics.median(s["dag"] for s in samples),
            "heavy_modules_imported": samples[0]["heavy"],
        }
    result: dict[str, Any] = {"repeat": REPEAT, "files": files}
    result["targets"] = {
        f"{name}: <= 0.5 s beyond airflow.sdk, no pandas/facebook_business": f["dag_file_seconds"] <= 0.5
        and not {"pandas", "facebook_business"} & set(f["heavy_modules_imported"])
        for name, f in files.items()
    }
    return result


def report(result: dict[str, Any]) -> str:
    lines = [f"DAG parse, fresh interpreter each time, median of {result['repeat']}:"]
    for name, f in result["files"].items():
        heavy = ", ".join(f["heavy_modules_imported"]) or "none"
        lines.append(
            f"  {name}: {f['dag_file_seconds']:.3f} s beyond airflow.sdk ({f['sdk_import_seconds']:.2f} s); heavy modules at parse: {heavy}"
        )
    return "\n".join([*lines, *target_lines(result)])


if __name__ == "__main__":
    from bench.common import main

    main("dag_parse", run, report)
