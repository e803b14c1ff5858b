"""Airflow's real API server with the autoscaler plugin, for the API and browser tests.

SQLite metadata (the API server needs no scheduler for these tests), the simple auth manager
with three users of three roles, the audit database and the Meta sandbox as connections.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.dags.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))

#: user -> (role, password)
USERS = {"admin": ("admin", "admin-pw"), "ops": ("user", "ops-pw"), "viewer": ("viewer", "viewer-pw")}


class ApiServer:
    def __init__(self, home: Path, audit_db_url: str, graph_url: str | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        passwords = home / "passwords.json"
        home.mkdir(parents=True, exist_ok=True)
        passwords.write_text(json.dumps({name: pw for name, (_, pw) in USERS.items()}))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AUTOSCALER_"))}
        self.env.update(
            AIRFLOW_HOME=str(home),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
            AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=",".join(f"{n}:{r}" for n, (r, _) in USERS.items()),
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(16),
            AIRFLOW__API__BASE_URL=self.url,
            AUTOSCALER_DB_URL=audit_db_url,
        )
        if graph_url:
            self.env["AIRFLOW_CONN_META_ADS_DEFAULT"] = json.dumps(
                {"conn_type": "generic", "password": "sandbox-token", "extra": {"graph_url": graph_url}}
            )
        self.process: subprocess.Popen[bytes] | None = None
        self.tokens: dict[str, str] = {}

    @property
    def log(self) -> Path:
        return self.home / "api-server.log"

    def __enter__(self) -> ApiServer:
        subprocess.run(
            [AIRFLOW, "db", "migrate"], env=self.env, check=True, capture_output=True, timeout=600, cwd=ROOT
        )
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [AIRFLOW, "api-server", "--port", str(self.port), "--host", "127.0.0.1"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API server exited early:\n{self.log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5).read()
                return self
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"API server not up after 180 s:\n{self.log.read_text()[-3000:]}")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def token(self, user: str) -> str:
        if user not in self.tokens:
            status, body = self.request(
                "POST", "/auth/token", {"username": user, "password": USERS[user][1]}, user=None
            )
            assert status == 201, body
            self.tokens[user] = body["access_token"]
        return self.tokens[user]

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        user: str | None = "admin",
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """(status, parsed JSON body or text) of one request, as ``user`` (None: no credentials)."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if user is not None:
            request.add_header("Authorization", f"Bearer {self.token(user)}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        try:
            return status, json.loads(payload) if payload else None
        except json.JSONDecodeError:
            return status, payload.decode(errors="replace")
