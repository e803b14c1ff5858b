"""The command line: what a person types, what they read back, and the exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from autoscaler.cli import main
from autoscaler.migrations import head_revision

pytestmark = pytest.mark.integration


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def url_of(db: URL) -> str:
    return db.render_as_string(hide_password=False)


def test_rules_are_written_in_major_units_and_read_back_the_same(
    db_url: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = url_of(db_url)
    assert (
        run(
            capsys,
            "accounts",
            "add",
            "act_5005",
            "--currency",
            "JPY",
            "--timezone",
            "Asia/Tokyo",
            "--url",
            url,
        )[0]
        == 0
    )
    rule_file = tmp_path / "rule.json"
    rule_file.write_text(
        json.dumps(
            {
                "account_id": "act_5005",
                "min_daily_budget": 1000,
                "max_daily_budget": 500000,
                "require_approval_threshold": 100000,
            }
        )
    )
    code, out, _ = run(capsys, "rules", "add", str(rule_file), "--url", url)
    assert code == 0
    created = json.loads(out)
    assert (created["min_daily_budget"], created["max_daily_budget"], created["currency"]) == (
        "1000",
        "500000",
        "JPY",
    )
    code, out, _ = run(capsys, "rules", "list", "--url", url)
    assert json.loads(out) == [created]


def test_invalid_rule_file_names_every_bad_field(
    db_url: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = url_of(db_url)
    run(capsys, "accounts", "add", "act_5005", "--currency", "USD", "--timezone", "UTC", "--url", url)
    rule_file = tmp_path / "rule.json"
    rule_file.write_text(
        json.dumps(
            {"account_id": "act_5005", "min_daily_budget": 10.001, "max_daily_budget": 5, "roas_pause": 9}
        )
    )
    code, out, err = run(capsys, "rules", "add", str(rule_file), "--url", url)
    assert code == 2
    assert out == ""
    assert err.strip() == (
        "autoscaler: error: invalid scaling rule: min_daily_budget: 10.001 USD has more than 2 decimal places"
    )
    rule_file.write_text(
        json.dumps({"account_id": "act_5005", "min_daily_budget": 10, "max_daily_budget": 5, "roas_pause": 9})
    )
    code, _, err = run(capsys, "rules", "add", str(rule_file), "--url", url)
    assert code == 2
    assert "roas_scale_down: must be at least roas_pause (9.0), got 1.5" in err
    assert "max_daily_budget: must be at least min_daily_budget (10.00 USD), got 5.00 USD" in err
    assert json.loads(run(capsys, "rules", "list", "--url", url)[1]) == []


def test_malformed_json_says_where(db_url: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rule_file = tmp_path / "rule.json"
    rule_file.write_text('{"account_id": "act_1",\n "min_daily_budget": }')
    code, _, err = run(capsys, "rules", "add", str(rule_file), "--url", url_of(db_url))
    assert code == 2
    assert "is not valid JSON: Expecting value at line 2 column 22" in err


def test_commands_on_an_unmigrated_database_say_what_to_run(
    empty_db_url: URL, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "rules", "list", "--url", url_of(empty_db_url))
    assert code == 2
    assert "the audit schema is not installed: run `autoscaler db upgrade`" in err
    code, out, _ = run(capsys, "db", "current", "--url", url_of(empty_db_url))
    assert code == 1
    assert "behind" in out


def test_bad_account_details_are_refused(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys,
        "accounts",
        "add",
        "act_1",
        "--currency",
        "USD",
        "--timezone",
        "Mars/Olympus",
        "--url",
        url_of(db_url),
    )
    assert code == 2
    assert "timezone_name: not an IANA time zone: 'Mars/Olympus'" in err


def test_approving_and_rejecting_from_the_command_line(
    db_url: URL, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlalchemy import text

    from autoscaler.store.engine import make_engine
    from tests import factories

    engine = make_engine(db_url)
    with engine.begin() as conn:
        factories.world(conn)
        first = factories.insert_action(conn, factories.action_row(1))
        second = factories.insert_action(
            conn, factories.action_row(1, entity_id="3001", entity_level="adset")
        )
    url = url_of(db_url)
    code, out, _ = run(
        capsys, "actions", "approve", str(first), "--by", "dana", "--reason", "ok for the sale", "--url", url
    )
    assert code == 0
    assert out.startswith(f"action {first} approved by dana")
    code, _, err = run(capsys, "actions", "approve", str(first), "--by", "dana", "--url", url)
    assert code == 2
    assert f"action {first} is approved; only pending_approval actions can become approved" in err
    assert run(capsys, "actions", "reject", str(second), "--by", "erin", "--url", url)[0] == 0
    code, _, err = run(capsys, "actions", "reject", "424242", "--by", "erin", "--url", url)
    assert (code, err.strip()) == (2, "autoscaler: error: no scaling action with id 424242")
    code, out, _ = run(capsys, "actions", "list", "--status", "approved", "--url", url)
    listed = json.loads(out)
    assert [(a["action_id"], a["budget_before"], a["budget_after"]) for a in listed] == [
        (first, "200.00", "300.00")
    ]
    with engine.connect() as conn:
        actors = (
            conn.execute(text("SELECT actor FROM autoscaler.action_events ORDER BY event_id")).scalars().all()
        )
    assert actors[-2:] == ["dana", "erin"]
    engine.dispose()


def test_doctor_prints_each_check_with_its_fix_and_exits_1_on_a_failure(
    db_url: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from autoscaler.sandbox.faults import FaultPlan
    from autoscaler.sandbox.scenario import load_scenario
    from autoscaler.sandbox.server import RunningSandbox

    url = url_of(db_url)
    run(
        capsys,
        "accounts",
        "add",
        "act_1001",
        "--currency",
        "USD",
        "--timezone",
        "America/New_York",
        "--url",
        url,
    )
    rule = tmp_path / "rule.json"
    rule.write_text(json.dumps({"account_id": "act_1001", "min_daily_budget": 10, "max_daily_budget": 500}))
    assert run(capsys, "rules", "add", str(rule), "--url", url)[0] == 0
    faults = FaultPlan.parse("timezone=act_1001:Europe/Paris,token_expires_in=72")
    with RunningSandbox(load_scenario("demo"), seed=1, faults=faults) as sandbox:
        connection = {
            "conn_type": "generic",
            "password": "sandbox-token",
            "extra": {"graph_url": sandbox.url, "clock": "sandbox"},
        }
        monkeypatch.setenv("AIRFLOW_CONN_META_ADS_DEFAULT", json.dumps(connection))
        monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "no-airflow-here"))
        monkeypatch.delenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", raising=False)
        code, out, _ = run(capsys, "doctor", "--url", url)
    lines = out.splitlines()
    assert code == 1, out
    assert lines[0] == "OK   connection meta_ads_default: resolves"  # Airflow's log lines went to stderr
    assert f"OK   migrations: the audit schema is at {head_revision()}, this version's head" in lines
    assert any(line.startswith("WARN token: valid, but expires at ") for line in lines), out
    assert "FAIL act_1001 time zone: Meta says Europe/Paris, the audit database has America/New_York" in lines
    assert (
        "     fix: record what Meta says: autoscaler accounts add act_1001 --currency USD --timezone Europe/Paris"
        in lines
    )
    assert any(
        line.startswith("WARN pool and DAGs: not checked: Airflow is not configured here") for line in lines
    )
    assert lines[-1] == "NOT ready: 7 ok, 2 warn, 1 fail"


def test_actions_list_says_when_it_stops_at_the_limit_and_how_to_see_more(
    db_url: URL, capsys: pytest.CaptureFixture[str]
) -> None:
    from autoscaler.store.engine import make_engine
    from tests import factories

    engine = make_engine(db_url)
    with engine.begin() as conn:
        factories.world(conn)
        ids = [
            factories.insert_action(conn, factories.action_row(1)),
            factories.insert_action(conn, factories.action_row(1, entity_id="3001", entity_level="adset")),
        ]
    engine.dispose()
    url = url_of(db_url)
    code, out, err = run(capsys, "actions", "list", "--limit", "1", "--url", url)
    assert code == 0
    assert [a["action_id"] for a in json.loads(out)] == [max(ids)]
    assert "showing the newest 1 actions; there are more: --limit N" in err
    code, out, err = run(capsys, "actions", "list", "--limit", "2", "--url", url)
    assert [a["action_id"] for a in json.loads(out)] == sorted(ids, reverse=True)
    assert err == ""  # all of them shown: nothing to say


def test_a_rule_is_disabled_enabled_and_updated_each_change_a_recorded_revision(
    db_url: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = url_of(db_url)
    run(capsys, "accounts", "add", "act_5005", "--currency", "USD", "--timezone", "UTC", "--url", url)
    rule_file = tmp_path / "rule.json"
    rule_file.write_text(
        json.dumps({"account_id": "act_5005", "min_daily_budget": 10, "max_daily_budget": 500})
    )
    rule_id = json.loads(run(capsys, "rules", "add", str(rule_file), "--url", url)[1])["rule_id"]

    code, _, err = run(capsys, "rules", "add", str(rule_file), "--url", url)
    assert code == 2
    assert f"disable rule {rule_id} first (autoscaler rules disable {rule_id}, or change it instead" in err

    assert run(capsys, "rules", "disable", str(rule_id), "--actor", "alice", "--url", url)[1] == (
        f"rule {rule_id} disabled by alice (revision 2)\n"
    )
    assert run(capsys, "rules", "disable", str(rule_id), "--url", url)[1] == (
        f"rule {rule_id} is already disabled; nothing changed\n"
    )
    assert run(capsys, "rules", "enable", str(rule_id), "--actor", "bob", "--url", url)[1] == (
        f"rule {rule_id} enabled by bob (revision 3)\n"
    )
    changes = tmp_path / "changes.json"
    changes.write_text(json.dumps({"max_daily_budget": 300, "require_approval_threshold": 150.5}))
    code, out, _ = run(
        capsys, "rules", "update", str(rule_id), str(changes), "--actor", "carol", "--url", url
    )
    assert code == 0
    updated = json.loads(out)
    assert (updated["max_daily_budget"], updated["require_approval_threshold"], updated["revision"]) == (
        "300.00",
        "150.50",
        4,
    )
    changes.write_text(json.dumps({"max_daily_budget": 5}))  # below the minimum: refused, nothing written
    code, _, err = run(capsys, "rules", "update", str(rule_id), str(changes), "--url", url)
    assert code == 2
    assert "max_daily_budget" in err
    history = json.loads(run(capsys, "rules", "history", str(rule_id), "--url", url)[1])
    assert [(h["revision"], h["changed_by"], h["enabled"], h["max_daily_budget"]) for h in history] == [
        (1, "cli", True, "500.00"),
        (2, "alice", False, "500.00"),
        (3, "bob", True, "500.00"),
        (4, "carol", True, "300.00"),
    ]


def test_profiles_learn_says_why_it_learned_none(db_url: URL, capsys: pytest.CaptureFixture[str]) -> None:
    from sqlalchemy import text

    from autoscaler.store.engine import make_engine
    from tests import factories

    engine = make_engine(db_url)
    with engine.begin() as conn:
        factories.world(conn)
        account = conn.execute(text("SELECT account_id FROM autoscaler.ad_accounts LIMIT 1")).scalar_one()
    engine.dispose()
    code, out, _ = run(
        capsys,
        "profiles",
        "learn",
        "--account",
        account,
        "--now",
        "2026-11-20T00:00:00Z",
        "--url",
        url_of(db_url),
    )
    assert code == 0
    assert out.splitlines()[1] == (
        "  why none: no snapshots are stored for this account yet: the hourly DAG (or a backfill) stores them"
    )


def test_rules_list_imports_neither_pandas_nor_alembic_and_migrations_are_quiet_unless_asked(
    db_url: URL,
) -> None:
    import subprocess
    import sys

    url = url_of(db_url)
    probe = (
        "import sys\nfrom autoscaler.cli import main\n"
        f"assert main(['rules', 'list', '--url', {url!r}]) == 0\n"
        "print(sorted(m for m in ('pandas', 'alembic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    cli = [sys.executable, "-m", "autoscaler.cli"]
    quiet = subprocess.run([*cli, "db", "upgrade", "--url", url], capture_output=True, text=True, check=True)
    assert quiet.stdout == f"audit schema already at revision {head_revision()}\n"
    assert "alembic" not in quiet.stderr
    loud = subprocess.run(
        [*cli, "-v", "db", "upgrade", "--url", url], capture_output=True, text=True, check=True
    )
    assert "alembic.runtime.migration" in loud.stderr
