"""Shared benchmark plumbing: a database to measure on, timing, and the report."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url

from autoscaler import migrations
from autoscaler.embedded_pg import EmbeddedPostgres
from autoscaler.store.engine import autoscaler_home, make_engine, normalize_url

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


@contextmanager
def bench_database() -> Iterator[Engine]:
    """A fresh, migrated database: on AUTOSCALER_BENCH_DB_URL's server, else the embedded one.

    The embedded server runs with PostgreSQL's default, durable settings (fsync on).
    """
    external = os.environ.get("AUTOSCALER_BENCH_DB_URL")
    server = None
    if external:
        base: URL = normalize_url(external)
    else:
        server = EmbeddedPostgres(autoscaler_home() / "bench-pgdata")
        base = make_url(server.start("postgres"))
    name = f"autoscaler_bench_{uuid.uuid4().hex[:8]}"
    admin = dict(
        host=base.host, port=base.port, user=base.username, password=base.password, dbname="postgres"
    )
    with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(base.set(database=name))
    try:
        migrations.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if server is not None:
            server.stop()


def timed(fn: Callable[[], Any], repeat: int, setup: Callable[[], Any] | None = None) -> list[float]:
    """Wall-clock seconds of ``fn`` over ``repeat`` runs, ``setup`` run untimed before each."""
    seconds = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return seconds


def peak_rss_mb() -> float:
    """This process's peak resident memory, in MB, since it started its program.

    Linux carries ru_maxrss across exec: a child started by a process holding 1 GB reports
    at least 1 GB whatever it used itself (make bench's runner holds the earlier benchmarks'
    data).  VmHWM belongs to the program's own address space; ru_maxrss where there is none.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: list[float]) -> float:
    return statistics.median(values)


def target_lines(result: dict[str, Any]) -> list[str]:
    return [
        f"  target {name}: {'met' if ok else 'NOT met'}" for name, ok in result.get("targets", {}).items()
    ]


def main(name: str, run: Callable[[], dict[str, Any]], report: Callable[[dict[str, Any]], str]) -> None:
    """Run one benchmark on its own: print its report and save its figures."""
    outcome = run()
    print(report(outcome))
    print(f"saved to {save(name, outcome)}")


def save(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **result}, indent=2, default=str) + "\n")
    return path


def sandbox_call(url: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
    """One request to the sandbox's control routes (``/__sandbox/...``); its JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    return json.loads(urllib.request.urlopen(urllib.request.Request(url, data=data, method=method)).read())
