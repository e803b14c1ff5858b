"""The Dockerfile's steps, run without a Docker engine.

There is no Docker engine here (and no registry to pull apache/airflow from), so the
Dockerfile is interpreted: each COPY, WORKDIR, USER and RUN is replayed in a directory that
stands for the image's file system, with the image's facts: the user `airflow` is uid 50000 in
group 0, AIRFLOW_HOME is /opt/airflow, WORKDIR creates missing directories as root, COPY
--chown owns what it copies (not the directory it copies into), RUN runs `/bin/sh -c` as the
current USER.  The image's Python is a virtual environment whose installed packages are this
project's environment (a path entry to its site-packages): the packages an Airflow image
ships, already installed.

Needs root (to switch to uid 50000) and an interpreter of this Python version that uid 50000
may run; skipped, saying which, otherwise.  The build backend comes from PyPI, as in a build.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_UID, ROOT_GID = 50000, 0
USERS = {"airflow": AIRFLOW_UID, "root": 0, "50000": AIRFLOW_UID, "0": 0}
IMAGE_ENV = {"AIRFLOW_HOME": "/opt/airflow", "HOME": "/home/airflow"}


def instructions(text: str) -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    logical = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") and not logical:
            continue
        if line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            logical += line.rstrip()[:-1] + " "
            continue
        logical += line
        if logical.strip():
            word, _, rest = logical.strip().partition(" ")
            yield word.upper(), rest.strip()
        logical = ""


def _runnable_python(probe_dir: Path) -> str | None:
    """An interpreter of this Python version that uid 50000 can run (this venv's may sit in
    /root), or None."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [
        os.path.realpath(sys.executable),
        f"/usr/bin/python{version}",
        f"/usr/local/bin/python{version}",
    ]
    for candidate in candidates:
        if not os.path.exists(candidate):
            continue
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
                user=AIRFLOW_UID,
                group=ROOT_GID,
                extra_groups=[],
                cwd=probe_dir,
                capture_output=True,
                text=True,
            )
        except PermissionError:  # e.g. under /root, private to root
            continue
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


@dataclass
class Image:
    """A directory standing for the image's file system, and the state of a build in it."""

    root: Path
    python: Path
    uid: int = 0
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def host(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def expand(self, text: str) -> str:
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: self.env.get(m[1] or m[2], m[0]), text)

    def rewrite(self, command: str) -> str:
        """Absolute paths of the image, as they are here."""
        return re.sub(r"(?<![\w./])/(opt|home/airflow)\b", lambda m: f"{self.root}/{m[1]}", command)

    def makedirs(self, path: Path, uid: int) -> None:
        missing = []
        while not path.exists():
            missing.append(path)
            path = path.parent
        for directory in reversed(missing):
            directory.mkdir()
            os.chown(directory, uid, ROOT_GID)

    def copy(self, args: str) -> None:
        words = shlex.split(args)
        owner = 0
        for word in [w for w in words if w.startswith("--")]:
            if word.startswith("--chown="):
                owner = USERS[word.split("=", 1)[1].split(":", 1)[0]]
            words.remove(word)
        *sources, dest = (self.expand(w) for w in words)
        target = self.host(dest if dest.startswith("/") else f"{self.workdir}/{dest}")
        into_dir = dest.endswith("/") or len(sources) > 1
        self.makedirs(target if into_dir else target.parent, owner)
        for source in sources:
            src = ROOT / source.rstrip("/")
            if src.is_dir():
                out = target  # a directory's contents, as Docker copies them
                shutil.copytree(src, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
                for path in [out, *out.rglob("*")]:
                    os.chown(path, owner, ROOT_GID)
            else:
                out = target / src.name if into_dir else target
                shutil.copy2(src, out)
                os.chown(out, owner, ROOT_GID)

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        environment = {
            "PATH": f"{self.python.parent}:/usr/local/bin:/usr/bin:/bin",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            **{k: self.rewrite(v) for k, v in self.env.items()},
        }
        return subprocess.run(
            ["/bin/sh", "-c", self.rewrite(command)],
            cwd=self.host(self.workdir),
            env=environment,
            user=self.uid,
            group=ROOT_GID,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=900,
        )

    def build(self, dockerfile: str) -> None:
        """Replay the Dockerfile after its FROM; a failing RUN fails the test with its output."""
        for instruction, args in instructions(dockerfile):
            self.log.append(f"{instruction} {args}")
            if instruction == "USER":
                self.uid = USERS[self.expand(args).split(":", 1)[0]]
            elif instruction == "WORKDIR":
                path = self.expand(args)
                self.workdir = path if path.startswith("/") else f"{self.workdir}/{path}"
                self.makedirs(self.host(self.workdir), 0)  # created by root, whatever the USER
            elif instruction == "COPY":
                self.copy(args)
            elif instruction == "ENV":
                name, _, value = args.partition("=")
                self.env[name.strip()] = self.expand(value.strip().strip('"'))
            elif instruction == "RUN":
                result = self.run(args)
                assert result.returncode == 0, (
                    f"RUN {args}\nas uid {self.uid} in {self.workdir} failed:\n"
                    f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
                )
            elif instruction not in ("ARG", "FROM"):
                raise AssertionError(
                    f"the test does not know {instruction}: teach it, or keep the Dockerfile simple"
                )

    def installed(self) -> dict[str, str]:
        """name -> version of every distribution the image's Python sees."""
        code = (
            "import importlib.metadata as m, json\n"
            "seen = {}\n"
            "for d in m.distributions():\n"
            "    seen.setdefault(d.metadata['Name'].lower().replace('_', '-'), d.version)\n"
            "print(json.dumps(seen))"
        )
        result = self.run(f"{self.python} -c {shlex.quote(code)}")
        assert result.returncode == 0, result.stderr
        installed: dict[str, str] = json.loads(result.stdout)
        return installed


@pytest.fixture
def image() -> Iterator[Image]:
    if os.geteuid() != 0:
        pytest.skip("needs root to run the Dockerfile's steps as uid 50000 (the image's airflow user)")
    # Not pytest's tmp_path: its parents are private to root, and uid 50000 must reach this.
    top = Path(tempfile.mkdtemp(prefix="dockerfile-"))
    try:
        top.chmod(0o755)
        yield _image(top / "image")
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _image(root: Path) -> Image:
    for path, uid in (("opt", 0), ("opt/airflow", AIRFLOW_UID), ("home", 0), ("home/airflow", AIRFLOW_UID)):
        (root / path).mkdir(parents=True)
        os.chown(root / path, uid, ROOT_GID)
    python = _runnable_python(root / "home" / "airflow")
    if python is None:
        pytest.skip(f"no Python {sys.version_info.major}.{sys.version_info.minor} that uid 50000 may run")
    packages = Path(site.getsitepackages()[0])
    venv = root / "home" / "airflow" / "python"
    subprocess.run(
        [python, "-m", "venv", "--without-pip", str(venv)],
        user=AIRFLOW_UID,
        group=ROOT_GID,
        extra_groups=[],
        check=True,
        cwd=root / "home" / "airflow",
    )
    (own,) = venv.glob("lib/python*/site-packages")
    # The image's packages: this environment's, already installed (pip among them).
    (own / "image-packages.pth").write_text(f"{packages}\n")
    # `pip` on the PATH, as in the image: this environment's pip, run by the image's Python.
    pip = venv / "bin" / "pip"
    pip.write_text('#!/bin/sh\nexec "$(dirname "$0")/python" -m pip "$@"\n')
    pip.chmod(0o755)
    built = Image(root=root, python=venv / "bin" / "python", env=dict(IMAGE_ENV))
    probe = built.run(f"{built.python} -c 'import pip, airflow'")
    if probe.returncode != 0:
        pytest.skip(f"uid 50000 cannot read this environment's packages at {packages}: {probe.stderr[-300:]}")
    return built


def test_the_dockerfile_installs_the_package_as_the_airflow_user_without_moving_what_the_image_ships(
    image: Image,
) -> None:
    before = image.installed()
    image.build((ROOT / "Dockerfile").read_text())

    assert image.uid == AIRFLOW_UID
    assert image.workdir == "/opt/airflow"
    where = image.run(f"{image.python} -c 'import autoscaler; print(autoscaler.__file__)'")
    assert where.returncode == 0, where.stderr
    assert where.stdout.startswith(str(image.python.parents[1])), where.stdout  # a real install, not editable
    assert (image.python.parent / "autoscaler").exists()  # the console script
    assert (image.host("/opt/airflow/dags") / "autoscaler_hourly.py").exists()
    assert (image.host("/opt/airflow/plugins") / "autoscaler_plugin.py").exists()
    assert not image.host("/opt/autoscaler/build").exists()

    after = image.installed()
    moved = {name: (before[name], after[name]) for name in before if after.get(name) != before[name]}
    assert moved == {}, f"the install changed packages the image ships: {moved}"


def test_the_harness_reproduces_the_root_owned_workdir_that_broke_the_build(image: Image) -> None:
    # The Dockerfile before the fix: WORKDIR made /opt/autoscaler as root; COPY --chown owned
    # the files in it but not the directory; pip, as airflow, could not write the egg-info.
    broken = """
USER root
WORKDIR /opt/autoscaler
COPY --chown=airflow:root pyproject.toml README.md constraints.txt ./
COPY --chown=airflow:root include ./include
COPY --chown=airflow:root sql ./sql
USER airflow
RUN pip install --no-cache-dir --no-deps /opt/autoscaler
"""
    with pytest.raises(AssertionError, match=r"egg-info.*Permission denied|Permission denied.*egg-info"):
        image.build(broken)


def test_constraints_txt_as_it_is_would_move_a_package_the_image_ships_and_the_image_constraints_do_not(
    image: Image,
) -> None:
    # The image ships another six than constraints.txt pins (one every dependent accepts).
    (pinned,) = re.findall(r"^six==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M)
    shipped = "1.16.0" if pinned != "1.16.0" else "1.15.0"
    (own,) = image.python.parents[1].glob("lib/python*/site-packages")
    fake = own / f"six-{shipped}.dist-info"
    fake.mkdir()
    (fake / "METADATA").write_text(f"Metadata-Version: 2.1\nName: six\nVersion: {shipped}\n")
    (fake / "RECORD").write_text("")
    os.chown(fake, AIRFLOW_UID, ROOT_GID)
    assert image.installed()["six"] == shipped
    image.build(
        """
USER root
RUN install -d -o 50000 -g 0 /opt/autoscaler
WORKDIR /opt/autoscaler
COPY --chown=airflow:root pyproject.toml README.md constraints.txt ./
COPY --chown=airflow:root deploy/image_constraints.py ./deploy/
COPY --chown=airflow:root include ./include
COPY --chown=airflow:root sql ./sql
USER airflow
RUN pip freeze | python deploy/image_constraints.py constraints.txt > image-constraints.txt
"""
    )

    def would_install(constraints: str) -> dict[str, str]:
        result = image.run(
            f"pip install --dry-run --quiet --report report.json -c {constraints} /opt/autoscaler"
            " && cat report.json"
        )
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads(result.stdout)
        return {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in report["install"]}

    assert would_install("constraints.txt").get("six") == pinned
    assert set(would_install("image-constraints.txt")) == {"airflow-meta-autoscaler"}


def test_image_constraints_keep_the_images_versions_and_pin_only_what_it_lacks(tmp_path: Path) -> None:
    project = tmp_path / "constraints.txt"
    project.write_text("pandas==3.1.1\nfacebook_business==26.0.3\nSQLAlchemy==2.1.9\n# a comment\n")
    freeze = (
        "pandas==2.2.3\nsqlalchemy==2.0.44\n-e git+https://example.invalid/x#egg=x\nfoo @ file:///tmp/foo\n"
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "image_constraints.py"), str(project)],
        input=freeze,
        capture_output=True,
        text=True,
        check=True,
    )
    pinned = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    assert pinned == ["pandas==2.2.3", "sqlalchemy==2.0.44", "facebook_business==26.0.3"]
