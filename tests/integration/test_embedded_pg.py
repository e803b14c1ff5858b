"""The embedded PostgreSQL: started from nothing, reused, stopped by whoever started it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from autoscaler.embedded_pg import EmbeddedPostgres

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def home() -> Iterator[Path]:
    # Under /tmp and world-traversable: as root the server runs as an unprivileged user.
    path = Path(tempfile.mkdtemp(prefix="autoscaler-home-"))
    path.chmod(0o755)
    yield path
    EmbeddedPostgres(path / "pgdata").destroy()
    shutil.rmtree(path, ignore_errors=True)


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_starts_from_nothing_keeps_data_across_restarts(home: Path) -> None:
    server = EmbeddedPostgres(home / "pgdata", fast_unsafe=True)
    url = server.start("keep")
    with psycopg.connect(plain(url), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    server.stop()
    assert not server.is_running()
    url = EmbeddedPostgres(home / "pgdata").start("keep")
    with psycopg.connect(plain(url)) as conn:
        assert conn.execute("SELECT x FROM kept").fetchone() == (42,)


def test_whoever_starts_it_stops_it(home: Path) -> None:
    owner = EmbeddedPostgres(home / "pgdata", fast_unsafe=True)
    owner.start()
    guest = EmbeddedPostgres(home / "pgdata")
    assert guest.start() == owner.url()
    guest.stop()
    assert owner.is_running(), "a process that found the server running must leave it running"
    owner.stop()
    assert not owner.is_running()


def test_a_port_taken_meanwhile_is_replaced(home: Path) -> None:
    server = EmbeddedPostgres(home / "pgdata", fast_unsafe=True)
    server.start()
    first_port = server.port
    server.stop()
    with socket.socket() as squatter:
        # The stopped server's connections may linger in TIME_WAIT, and on a loaded machine
        # its listener may take a moment to close: take the port as soon as it is free.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(100):
            try:
                squatter.bind(("127.0.0.1", first_port))
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"port {first_port} stayed taken 10 s after the server stopped")
        squatter.listen()
        server.start()
        assert server.port != first_port
    server.stop()


def test_cli_uses_the_embedded_server_by_default_and_stops_it(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOSCALER_", "AIRFLOW"))}
    env.update(AUTOSCALER_HOME=str(home), AIRFLOW_HOME=str(home / "airflow"))
    result = subprocess.run(
        [sys.executable, "-m", "autoscaler.cli", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    from autoscaler.migrations import head_revision

    assert result.stdout.strip() == f"audit schema upgraded from empty to {head_revision()}"
    assert "using the embedded PostgreSQL" in result.stderr
    assert not EmbeddedPostgres(home / "pgdata").is_running()
