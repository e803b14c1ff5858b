"""Constraints for installing the autoscaler into an existing Airflow image.

    pip freeze | python deploy/image_constraints.py constraints.txt > image-constraints.txt
    pip install -c image-constraints.txt .

The project's constraints.txt locks every transitive version of the environment the tests
ran in.  Applied as it is inside the official apache/airflow image, pip would move any package
the image already ships (for Airflow itself or its other providers) to the version this
project locked, whenever the two differ: a `-c` pin is a hard requirement, and pip only warns
that another provider now has a broken dependency.  So the image's own versions win: the
output pins every package the image has (read from `pip freeze` on standard input) to the
version it has, and takes this project's pin only for what the image lacks.  If a dependency
range of the autoscaler cannot be met by what the image ships, pip then refuses to install,
naming both, instead of quietly replacing the image's copy.

Standard library only: it runs with the image's python before anything is installed.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: Iterable[str]) -> dict[str, str]:
    """name -> the whole `name==version` line, for each pinned line; others are skipped
    (comments, `-e` installs, `name @ url` direct references, which pip freeze prints for
    packages installed from a path and which cannot be constraints)."""
    out: dict[str, str] = {}
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if "==" not in line or line.startswith("-") or " @ " in line:
            continue
        name = line.split("==", 1)[0].split("[", 1)[0].strip()
        out[canonical(name)] = line
    return out


def merged(project: Iterable[str], image: Iterable[str]) -> list[str]:
    """The image's pins, plus the project's for the packages the image does not have."""
    shipped = pins(image)
    ours = {name: line for name, line in pins(project).items() if name not in shipped}
    return [
        "# What the image ships, kept as it is:",
        *(shipped[name] for name in sorted(shipped)),
        "# What the autoscaler adds, at the versions its tests ran with:",
        *(ours[name] for name in sorted(ours)),
    ]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: pip freeze | python image_constraints.py constraints.txt", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as project:
        lines = merged(project, sys.stdin)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
