"""What the command line and the README say about themselves holds (issue 18, item 4)."""

from __future__ import annotations

import json
import re
import shlex
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autoscaler.cli import build_parser, main
from autoscaler.daily import why_no_profiles
from autoscaler.sandbox.scenario import BUILT_IN, load_scenario
from autoscaler.sandbox.server import RunningSandbox, connection_json

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_shows_evaluate_s_input_beside_its_output_and_both_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    section = (ROOT / "README.md").read_text().split("What a rule decides from a metrics CSV", 1)[1]
    script, shown = re.findall(r"```(?:bash)?\n(.*?)```", section, re.S)[:2]
    files = re.findall(r"cat > (\S+) <<'EOF'\n(.*?)\nEOF\n", script, re.S)
    assert [name for name, _ in files] == ["rule.json", "metrics.csv"]
    for name, content in files:
        (tmp_path / name).write_text(content + "\n")
    (command,) = re.findall(r"^autoscaler (evaluate .*)$", script, re.M)
    monkeypatch.chdir(tmp_path)
    assert main(shlex.split(command)) == 0
    out, err = capsys.readouterr()
    assert out.strip() == shown.strip()
    assert err == ""  # the rule names its strategy: no note


def _help(*command: str) -> None:
    """Print a command's --help (argparse exits after printing it)."""
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--help"])


def test_every_help_text_lists_the_same_built_in_scenarios_as_the_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    listed = []
    for command in (("sandbox", "serve"), ("backtest",)):
        _help(*command)
        text = " ".join(capsys.readouterr().out.split())
        (names,) = re.findall(r"a built-in scenario \(([^)]*)\)", text)
        listed.append({n.strip() for n in names.replace("- ", "-").split(",")})
    assert listed == [set(BUILT_IN), set(BUILT_IN)]


def test_backtest_help_states_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    _help("backtest")
    text = " ".join(capsys.readouterr().out.split())
    for default in ("(default 14)", "(default 1)", "(default all)", "(default table)"):
        assert default in text


def test_the_sandbox_s_connection_is_the_exact_line_to_export_and_its_state_carries_it() -> None:
    scenario = load_scenario("demo")
    with RunningSandbox(scenario, seed=1) as running:
        state = json.loads(urllib.request.urlopen(f"{running.url}/__sandbox/state").read())
    expected = {
        "conn_type": "generic",
        "password": "sandbox-token",
        "extra": {"graph_url": running.url, "clock": "sandbox"},
    }
    assert json.loads(connection_json(scenario, running.url)) == expected
    assert state["connection"] == expected
    assert state["access_token"] == "sandbox-token"
    with_secret = scenario.model_copy(update={"app_secret": "s3cret"})
    assert json.loads(connection_json(with_secret, "http://x"))["extra"]["app_secret"] == "s3cret"


@pytest.mark.parametrize(
    ("argv", "printed"),
    [
        ((), "postgresql://alice:***@db.example:5432/audit"),
        (("--sqlalchemy",), "postgresql+psycopg://alice:***@db.example:5432/audit"),
        (("--show-password",), "postgresql://alice:pw@db.example:5432/audit"),
    ],
)
def test_db_url_prints_what_psql_accepts_and_sqlalchemy_s_form_on_request(
    argv: tuple[str, ...], printed: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTOSCALER_DB_URL", "postgresql://alice:pw@db.example:5432/audit")
    assert main(["db", "url", *argv]) == 0
    assert capsys.readouterr().out.strip() == printed


START, END = datetime(2026, 11, 22, 5, tzinfo=UTC), datetime(2026, 12, 20, 5, tzinfo=UTC)


def test_no_profiles_says_why_and_what_to_pass() -> None:
    assert why_no_profiles(None, None, START, END, 28, "--now").startswith("no snapshots are stored")
    old = why_no_profiles(
        datetime(2026, 10, 26, 5, tzinfo=UTC), datetime(2026, 11, 2, 4, tzinfo=UTC), START, END, 28, "--now"
    )
    assert old == (
        "no snapshots in the 28 local days before 2026-12-20 05:00 UTC: the newest is of 2026-11-02 04:00 UTC "
        "(a sandbox's data lives on its own clock); pass --now 2026-11-02T05:00Z to learn from the days before it"
    )
    thin = why_no_profiles(START, END, START, END, 28, "as_of")
    assert "hold no complete local day with delivery" in thin


def test_sandbox_serve_prints_the_export_line_and_follows_the_wall_clock_when_asked() -> None:
    import subprocess
    import sys

    serve = subprocess.Popen(
        [sys.executable, "-m", "autoscaler.cli", "sandbox", "serve", "--start", "now"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert serve.stdout is not None
        lines = [serve.stdout.readline() for _ in range(5)]
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    url = lines[0].removeprefix("Meta Graph API sandbox on ").strip()
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    started = {f"its clock started at {h:%Y-%m-%d %H}:00 UTC" for h in (hour, hour - timedelta(hours=1))}
    assert lines[2].split(" and ")[0].strip() in started  # this hour (or the last, across its end)
    assert lines[2].strip().endswith("and follows the wall clock")
    export = lines[4].strip()
    assert export.startswith("export AIRFLOW_CONN_META_ADS_DEFAULT='")
    connection = json.loads(export.split("=", 1)[1].strip("'"))
    assert connection["extra"] == {"graph_url": url, "clock": "sandbox"}
