"""`make bench`: run every benchmark, print the figures, save JSON under bench/results/."""

from __future__ import annotations

import logging
import sys

from bench import (
    allocator,
    backtest,
    cli_speed,
    dag_e2e,
    dag_parse,
    decide,
    google_requests,
    graph_requests,
    hourly_run,
    page_api,
    profiles_learn,
    snapshot_upsert,
)
from bench.common import save


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    ok = True
    for name, module in [
        ("dag_parse", dag_parse),
        ("cli_speed", cli_speed),
        ("decide", decide),
        ("graph_requests", graph_requests),
        ("google_requests", google_requests),
        ("snapshot_upsert", snapshot_upsert),
        ("hourly_run", hourly_run),
        ("dag_e2e", dag_e2e),
        ("profiles_learn", profiles_learn),
        ("allocator", allocator),
        ("page_api", page_api),
        ("backtest", backtest),
    ]:
        print(f"== {name}", flush=True)
        result = module.run()
        print(module.report(result))
        print(f"   saved to {save(name, result)}\n", flush=True)
        ok = ok and all(result.get("targets", {}).values())
    print("all targets met" if ok else "some targets NOT met (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
