"""The CLI stays fast: what a command needs is all it imports (bench/cli_speed.py times it)."""

from __future__ import annotations

import subprocess
import sys

from autoscaler import migrations


def test_the_head_read_from_the_revision_files_is_alembic_s() -> None:
    assert migrations.declared_head() == migrations.head_revision()


def test_help_imports_neither_the_database_stack_nor_pandas() -> None:
    probe = (
        "import sys\n"
        "from autoscaler.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('pandas', 'sqlalchemy', 'alembic', 'pydantic', 'airflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
