"""Run a resolved docker-compose file with plain podman, for deploy/compose-check.sh.

    docker-compose config > resolved.yaml        # interpolated, as `docker compose up` sees it
    python deploy/compose_podman.py up resolved.yaml
    python deploy/compose_podman.py down resolved.yaml

Debian's podman-compose (1.0.3) runs `network_mode: service:X` as a second network and
ignores `depends_on` conditions, so this does those two by hand: `--network container:X`, and
each service starts after its dependencies are started, healthy (their healthcheck run with
`podman exec`) or completed successfully, in dependency order.  Nothing else of compose is
implemented: only what docker-compose.yaml uses.  A check, not a tool.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

PROJECT = "autoscaler"


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check)


def container(service: str) -> str:
    return f"{PROJECT}_{service}"


def in_order(services: dict[str, Any]) -> list[str]:
    ordered: list[str] = []

    def visit(name: str) -> None:
        for dependency in services[name].get("depends_on") or {}:
            visit(dependency)
        if name not in ordered:
            ordered.append(name)

    for name in services:
        visit(name)
    return ordered


def wait_for(services: dict[str, Any], service: str, condition: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = json.loads(podman("inspect", container(service)).stdout)[0]["State"]
        if condition == "service_started" and state["Running"]:
            return
        if condition == "service_completed_successfully" and not state["Running"]:
            if state["ExitCode"] != 0:
                logs = podman("logs", container(service), check=False)
                raise RuntimeError(
                    f"{service} exited {state['ExitCode']}:\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}"
                )
            return
        if condition == "service_healthy":
            test = services[service]["healthcheck"]["test"]
            if podman("exec", container(service), *test[1:], check=False).returncode == 0:
                return
        time.sleep(2)
    raise TimeoutError(f"{service}: not {condition} after {timeout:.0f} s")


def run_args(name: str, spec: dict[str, Any], base: Path) -> list[str]:
    args = ["run", "-d", "--name", container(name)]
    mode = spec.get("network_mode", "")
    if mode.startswith("service:"):
        args += ["--network", f"container:{container(mode.split(':', 1)[1])}"]
    else:
        args += ["--network", f"{PROJECT}_default", "--network-alias", name]
    for port in spec.get("ports", []):
        args += ["-p", f"{port['published']}:{port['target']}" if isinstance(port, dict) else str(port)]
    if "user" in spec:
        args += ["--user", str(spec["user"])]
    for key, value in (spec.get("environment") or {}).items():
        args += ["-e", f"{key}={value}"]
    for volume in spec.get("volumes", []):
        source, rest = volume.split(":", 1)
        source = str((base / source).resolve()) if source.startswith((".", "/")) else f"{PROJECT}_{source}"
        args += ["-v", f"{source}:{rest}"]
    if "entrypoint" in spec:
        entrypoint = spec["entrypoint"]
        args += ["--entrypoint", json.dumps(entrypoint if isinstance(entrypoint, list) else [entrypoint])]
    command = spec.get("command") or []
    command = [command] if isinstance(command, str) else command
    # Compose passes $$ on as $ (docker-compose config keeps the escape).
    return [*args, spec["image"], *(part.replace("$$", "$") for part in command)]


def up(path: Path) -> None:
    services: dict[str, Any] = yaml.safe_load(path.read_text())["services"]
    if podman("network", "exists", f"{PROJECT}_default", check=False).returncode != 0:
        podman("network", "create", f"{PROJECT}_default")
    for name in in_order(services):
        for dependency, condition in (services[name].get("depends_on") or {}).items():
            wait_for(services, dependency, condition["condition"])
        podman(*run_args(name, services[name], path.parent))
        print(f"started {name}", flush=True)


def down(path: Path) -> None:
    compose = yaml.safe_load(path.read_text())
    for name in reversed(in_order(compose["services"])):  # dependents first: they hold the namespace
        podman("rm", "-f", "-t", "5", container(name), check=False)
    for volume in compose.get("volumes") or {}:
        podman("volume", "rm", "-f", f"{PROJECT}_{volume}", check=False)
    podman("network", "rm", "-f", f"{PROJECT}_default", check=False)
    print("removed the containers, volumes and network", flush=True)


if __name__ == "__main__":
    {"up": up, "down": down}[sys.argv[1]](Path(sys.argv[2]))
