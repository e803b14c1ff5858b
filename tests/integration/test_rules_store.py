"""Rules in the database: the model and the table agree, and refusals name the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from autoscaler.rules import RuleError, ScalingRule
from autoscaler.store.rules import (
    RuleNotFoundError,
    create_rule,
    delete_rule,
    get_rule,
    list_rules,
    update_rule,
)
from tests import factories

pytestmark = pytest.mark.integration


@pytest.fixture
def conn(engine: Engine) -> Any:
    with engine.begin() as connection:
        factories.account(connection)
        yield connection


def test_model_fields_are_the_tables_rule_columns(conn: Connection) -> None:
    columns = set(
        conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'autoscaler' AND table_name = 'scaling_rules'"
            )
        ).scalars()
    )
    bookkeeping = {"revision", "created_at", "created_by", "updated_at", "updated_by", "deleted_at"}
    assert columns - bookkeeping == set(ScalingRule.model_fields)


def test_model_defaults_are_the_tables_defaults(conn: Connection) -> None:
    defaults: dict[str, str] = dict(
        conn.execute(
            text(
                "SELECT column_name, column_default FROM information_schema.columns "
                "WHERE table_schema = 'autoscaler' AND table_name = 'scaling_rules' AND column_default IS NOT NULL"
            )
        ).all()
    )
    for name, field in ScalingRule.model_fields.items():
        if name in defaults and not defaults[name].startswith(("nextval", "now", "session_user")):
            db_value = defaults[name].split("::")[0].strip("'")
            if isinstance(field.default, bool):
                assert db_value == str(field.default).lower(), name
            elif isinstance(field.default, str):
                assert db_value == field.default, name
            else:
                assert Decimal(db_value) == Decimal(str(field.default)), name


def test_a_rule_round_trips_exactly(conn: Connection) -> None:
    rule = ScalingRule.parse(
        {
            "account_id": factories.ACCOUNT,
            "min_daily_budget": 500,
            "max_daily_budget": 100_000,
            "require_approval_threshold": 50_000,
            "multiplier_down": 0.65,
            "ctr_scale_up_aggressive": 0.025,
        }
    )
    stored = create_rule(conn, rule, actor="tests")
    assert stored.rule_id is not None
    assert get_rule(conn, stored.rule_id) == stored


def test_campaign_rules_override_alongside_the_account_rule(conn: Connection) -> None:
    factories.budget_holder(conn, "2001")
    factories.rule(conn)
    factories.rule(
        conn, scope_level="campaign", scope_entity_id="2001", roas_scale_up=3.5, roas_scale_up_aggressive=5
    )
    assert [r.scope_level for r in list_rules(conn, factories.ACCOUNT)] == ["account", "campaign"]


def test_a_second_enabled_rule_for_the_same_scope_is_refused_naming_the_field(conn: Connection) -> None:
    factories.rule(conn)
    with pytest.raises(RuleError) as caught:
        factories.rule(conn)
    assert "already has an enabled account rule" in caught.value.problems["enabled"]
    assert len(list_rules(conn)) == 1


def test_a_rule_for_an_unknown_account_is_refused(conn: Connection) -> None:
    with pytest.raises(RuleError) as caught:
        factories.rule(conn, account_id="act_999")
    assert caught.value.problems == {"account_id": "unknown ad account act_999: record the account first"}


def test_updates_are_validated_as_a_whole_and_revisioned(conn: Connection) -> None:
    rule = factories.rule(conn)
    assert rule.rule_id is not None
    with pytest.raises(RuleError) as caught:
        update_rule(conn, rule.rule_id, {"roas_scale_up": 1.2}, actor="dana")
    assert "at least roas_scale_down" in caught.value.problems["roas_scale_up"]
    updated = update_rule(conn, rule.rule_id, {"cooldown_hours": 12}, actor="dana")
    assert get_rule(conn, rule.rule_id) == updated
    revision = conn.execute(
        text("SELECT revision FROM autoscaler.scaling_rules WHERE rule_id = :id"), {"id": rule.rule_id}
    )
    assert revision.scalar_one() == 2


def test_deleting_keeps_the_row_for_the_audit_trail(conn: Connection) -> None:
    rule = factories.rule(conn)
    assert rule.rule_id is not None
    delete_rule(conn, rule.rule_id, actor="erin")
    with pytest.raises(RuleNotFoundError):
        get_rule(conn, rule.rule_id)
    assert list_rules(conn) == []
    kept = conn.execute(
        text(
            "SELECT enabled, deleted_at IS NOT NULL, updated_by FROM autoscaler.scaling_rules WHERE rule_id = :id"
        ),
        {"id": rule.rule_id},
    ).one()
    assert tuple(kept) == (False, True, "erin")
    factories.rule(conn)  # the scope is free again


def test_a_scoped_rule_must_name_a_known_budget_holder_at_its_level(conn: Connection) -> None:
    factories.budget_holder(conn, "2001")
    factories.budget_holder(conn, "3001", "adset")
    with pytest.raises(RuleError) as caught:
        factories.rule(conn, scope_level="campaign", scope_entity_id="999999")
    assert caught.value.problems["scope_entity_id"].startswith(
        "999999 is not a known campaign of act_1001 (not yet fetched from Meta"
    )
    with pytest.raises(RuleError) as caught:
        factories.rule(conn, scope_level="adset", scope_entity_id="2001")
    assert "2001 is a campaign of act_1001 (it holds the budget itself), not an ad set" in str(caught.value)
    # The ad set's own campaign (2001, its campaign_id) is a known campaign too.
    assert factories.rule(conn, scope_level="adset", scope_entity_id="3001").rule_id is not None
    assert factories.rule(conn, scope_level="campaign", scope_entity_id="2001").rule_id is not None
