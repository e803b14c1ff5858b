"""The Meta sandbox for docker-compose.yaml: the demo scenario, on the wall clock.

`autoscaler sandbox serve` starts its virtual clock at the scenario's fixed `start` and moves
it only when told (the demo and the tests drive it).  A real scheduler runs on wall time, so
here the scenario starts at the current UTC hour (with its 7 days of history behind it, for
backfills) and the clock is moved to each new hour as it begins: the hourly runs read the
hour that just ended, as they would from Meta.

    python deploy/compose_sandbox.py [--port 8766] [--seed 1]

It serves on 127.0.0.1 only, as the sandbox does: the Airflow services share this service's
network namespace (docker-compose.yaml), so the URLs in its paging links work there too.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import FrameType


def this_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def scenario_file(directory: Path) -> Path:
    """The built-in demo scenario, starting at the current hour."""
    demo = json.loads(resources.files("autoscaler.sandbox.scenarios").joinpath("demo.json").read_text())
    demo["start"] = this_hour().isoformat().replace("+00:00", "Z")
    path = directory / "demo-now.json"
    path.write_text(json.dumps(demo))
    return path


def advance(url: str, to: datetime) -> None:
    """Move the sandbox clock forward to ``to`` (a no-op if it is there already)."""
    with urllib.request.urlopen(f"{url}/__sandbox/state", timeout=30) as answer:
        now = datetime.fromisoformat(json.loads(answer.read())["now"])
    if now < to:
        request = urllib.request.Request(
            f"{url}/__sandbox/clock",
            data=json.dumps({"to": to.isoformat()}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=120).read()
        print(f"sandbox clock moved to {to.isoformat()}", flush=True)


def main(argv: list[str]) -> int:
    from autoscaler.sandbox.scenario import load_scenario
    from autoscaler.sandbox.server import RunningSandbox

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    with tempfile.TemporaryDirectory() as directory:
        scenario = load_scenario(str(scenario_file(Path(directory))))
        with RunningSandbox(scenario, seed=args.seed, port=args.port) as running:
            extra = json.dumps({"graph_url": running.url})
            print(f"Meta Graph API sandbox on {running.url}, clock at {this_hour().isoformat()}", flush=True)
            print(f"  connection meta_ads_default: password = sandbox-token, extra = {extra}", flush=True)
            try:
                while True:
                    advance(running.url, this_hour())
                    time.sleep(5)
            except KeyboardInterrupt:
                print("sandbox stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
