"""Screenshots of each view of the autoscaler page, for docs/page.md (the README names this script):

    .venv/bin/python -m tests.api.screenshots [--out docs/img]

Builds the same world as the page's browser test (the demo scenario's accounts run through
the real hourly steps for 30 hours, against the Meta sandbox, in a throwaway PostgreSQL),
learns the optimal-hour profiles, starts Airflow's API server with the plugin, logs in as the
operator and photographs the page inside the Airflow UI, light and dark.  About two minutes.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from autoscaler import migrations
from autoscaler.embedded_pg import EmbeddedPostgres
from autoscaler.hourly import RunHour, decide_account, snapshot
from autoscaler.store.engine import make_engine
from autoscaler.store.rules import list_rules, update_rule
from autoscaler.store.runs import record_step
from tests.api import browser
from tests.api.conftest import ACCOUNTS, HOURS, START, World, built_world, set_clock

ROOT = Path(__file__).resolve().parents[2]


def _template(server: URL) -> str:
    import psycopg

    name = f"autoscaler_shots_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(
        host=server.host, port=server.port, user=server.username, dbname="postgres", autocommit=True
    ) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(server.set(database=name))
    migrations.upgrade(engine)
    engine.dispose()
    return name


def backfill_gap(world: World, hours: int) -> None:
    """The hours after the live ones, run later as an Airflow backfill would: read from the
    hourly breakdown (no budget in the snapshot), decided in shadow mode by the allocator,
    recorded as a backfill run, so the page shows the dashed backfilled budget, the backfill
    split and the allocator's marginal ROAS and target in the table."""
    first = START + timedelta(hours=HOURS)
    with world.engine.begin() as conn:  # act_1001 on the allocator: its curve reaches the table
        (rule,) = list_rules(conn, "act_1001", enabled_only=True)
        update_rule(conn, rule.rule_id or 0, {"strategy": "allocator"}, actor="screenshots")
    set_clock(world.sandbox, first + timedelta(hours=hours + 1))
    now = first + timedelta(hours=hours + 1, minutes=5)
    for i in range(hours):
        for account_id in ACCOUNTS:
            run = RunHour(account_id, first + timedelta(hours=i), mode="shadow", backfill=True)
            snapshot(world.engine, world.meta, run, now)
            decide_account(world.engine, run, now, approval_deadline=None)
            with world.engine.begin() as conn:
                record_step(
                    conn,
                    airflow_run_id=f"backfill__{run.run_hour.isoformat()}",
                    dag_id="autoscaler_hourly",
                    account_id=account_id,
                    run_hour=run.run_hour,
                    run_type="backfill",
                    mode="shadow",
                    shadow_reason="backfill",
                    step="decide",
                    seconds=0.0,
                    counts={},
                    summary="backfill for the screenshots",
                    finished=True,
                )


def shoot(world: World, out: Path) -> list[Path]:
    """One PNG per view (and the overview in dark mode); returns their paths."""
    backfill_gap(world, 12)
    status, _ = world.post(
        "/time-optimization/learn", {"account_id": "act_1001", "days": 2, "as_of": "2026-11-04T12:00:00Z"}
    )
    assert status == 200
    with world.engine.connect() as conn:
        entity = conn.execute(
            text(
                "SELECT entity_id FROM autoscaler.scaling_actions WHERE account_id = 'act_1001' "
                "GROUP BY entity_id ORDER BY count(*) DESC, entity_id LIMIT 1"
            )
        ).scalar_one()
    written = []
    for dark in (False, True):
        with browser.chromium(1440, 1100, dark=dark) as driver:
            browser.log_in(driver, world.server.url, "ops")
            browser.open_page_in_airflow(driver, world.server.url)
            views = (
                ["overview"] if dark else ["overview", "entities", f"entity/{entity}", "actions", "approvals"]
            )
            for view in views:
                driver.switch_to.default_content()
                driver.set_window_size(1440, {"entity": 1900, "entities": 1350}.get(view.split("/")[0], 1100))
                browser.enter_page_frame(driver)
                browser.show(driver, view)
                time.sleep(1.5)  # the charts' entry animation
                driver.switch_to.default_content()
                path = out / f"page-{view.split('/')[0]}{'-dark' if dark else ''}.png"
                driver.save_screenshot(str(path))
                written.append(path)
                browser.enter_page_frame(driver)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    if not browser.available():
        raise SystemExit("Debian's chromium and chromium-driver are needed: make browser")
    args.out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="autoscaler-shots-"))
    root.chmod(0o755)
    server = EmbeddedPostgres(root / "pgdata", fast_unsafe=True)
    try:
        url = make_url(server.start("postgres"))
        with built_world(url, _template(url), root / "airflow") as world:
            for path in shoot(world, args.out):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    finally:
        server.destroy()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
