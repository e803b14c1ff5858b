"""How long a person waits for the CLI: `autoscaler --help` and `autoscaler rules list`.

Target (issue 18, item 5): <= 1 s each, wall clock, in a fresh process, as a person types
it.  Each command runs side by side with `python -c pass` in the same rounds (interleaved,
so a busy machine slows all three alike), and the report gives the medians and each
command's ratio to an empty interpreter's start-up.  `rules list` reads a migrated database
holding a few rules on a server that is already up (AUTOSCALER_BENCH_DB_URL's, else the
embedded one): the time measured is the command's, not a server's start.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from bench.common import bench_database, target_lines

ROUNDS = 15
TARGET_SECONDS = 1.0
ROOT = Path(__file__).resolve().parents[1]


def _autoscaler() -> list[str]:
    found = shutil.which("autoscaler", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "autoscaler.cli"]


def _seconds(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds of the process): the CPU time hardly moves with the
    machine's load, the wall clock does (a shared 2-core machine runs other jobs)."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(
        argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[-3:])} failed: {done.stderr.strip()[-500:]}")
    return seconds, _children_cpu() - cpu_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _seed_rules(url: URL) -> None:
    from sqlalchemy import create_engine

    from autoscaler.rules import ScalingRule
    from autoscaler.store.accounts import AdAccount, upsert_account
    from autoscaler.store.rules import create_rule

    engine = create_engine(url)
    with engine.begin() as conn:
        for i, currency in enumerate(("USD", "JPY", "EUR")):
            account = f"act_{9000 + i}"
            upsert_account(conn, AdAccount(account, currency, "UTC"))
            create_rule(
                conn,
                ScalingRule.parse(
                    {"account_id": account, "min_daily_budget": 1_000, "max_daily_budget": 100_000}
                ),
                actor="bench",
            )
    engine.dispose()


def run() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AUTOSCALER_DB"))}
    # As on a person's machine, compiled modules are cached (this project's CI sets
    # PYTHONDONTWRITEBYTECODE, which would compile the package anew in every process).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with bench_database() as engine:
        _seed_rules(engine.url)
        url = engine.url.render_as_string(hide_password=False)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "autoscaler --help": [*_autoscaler(), "--help"],
            "autoscaler rules list": [*_autoscaler(), "rules", "list", "--url", url],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for argv in commands.values():  # one untimed run each: the page cache, not the command
            _seconds(argv, env)
        for _ in range(ROUNDS):
            for name, argv in commands.items():
                wall, used = _seconds(argv, env)
                samples[name].append(wall)
                cpu[name].append(used)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["python -c pass"]
    result: dict[str, Any] = {
        "rounds": ROUNDS,
        "load_average": os.getloadavg(),
        "median_seconds": medians,
        "max_seconds": {name: max(values) for name, values in samples.items()},
        "median_cpu_seconds": {name: statistics.median(values) for name, values in cpu.items()},
        "ratio_to_python": {name: seconds / base for name, seconds in medians.items()},
    }
    result["targets"] = {
        f"{name}: <= {TARGET_SECONDS:.0f} s (median)": medians[name] <= TARGET_SECONDS
        for name in ("autoscaler --help", "autoscaler rules list")
    }
    return result


def report(result: dict[str, Any]) -> str:
    load = ", ".join(f"{x:.1f}" for x in result["load_average"])
    lines = [
        f"CLI wall-clock time, fresh process each time, {result['rounds']} interleaved rounds (load average {load}):"
    ]
    for name, seconds in result["median_seconds"].items():
        lines.append(
            f"  {name:<24} median {seconds:.3f} s (max {result['max_seconds'][name]:.3f} s; "
            f"CPU {result['median_cpu_seconds'][name]:.3f} s), {result['ratio_to_python'][name]:.1f}x python -c pass"
        )
    return "\n".join([*lines, *target_lines(result)])


if __name__ == "__main__":
    from bench.common import main

    main("cli_speed", run, report)
