"""Writes to ``ad_accounts`` (and reads of them)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, text

from autoscaler.money import currency_code
from autoscaler.rules import PLATFORM_ACCOUNT_IDS, AccountId, Platform, storable


class UnknownAccountError(LookupError):
    """An ad account the autoscaler has never recorded."""

    def __init__(self, account_id: str) -> None:
        super().__init__(
            f"unknown ad account {account_id}: record it first (autoscaler accounts add, or a fetch from its platform)"
        )
        self.account_id = account_id


@dataclass(frozen=True)
class AdAccount:
    account_id: str
    currency: str
    timezone_name: str
    name: str | None = None
    platform: str = "meta"  # or google_ads: which client reads and writes it


class AccountError(ValueError):
    """An account that cannot be recorded: one line naming the first bad field."""


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"not an IANA time zone: {value!r}") from None
    return value


class _AccountIn(BaseModel):
    """The one schema an account is checked against, from Meta, Google Ads, the CLI or a test."""

    model_config = ConfigDict(strict=True)

    platform: Platform
    account_id: AccountId
    currency: Annotated[str, AfterValidator(currency_code)]
    timezone_name: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_zone)]
    # Meta caps an ad account's name well below this; the bound keeps a 100,000-character
    # "name" out of the audit tables and everyone's terminal.
    name: Annotated[str, Field(max_length=200), AfterValidator(storable)] | None = None


def _id_rule(platform: str) -> str:
    return PLATFORM_ACCOUNT_IDS.get(platform, PLATFORM_ACCOUNT_IDS["meta"])[1]


def validate_account(account: AdAccount) -> None:
    """Raise AccountError (a ValueError) naming the field when an account cannot be stored.

    The account id is checked against its own platform's form (a Meta id on a Google Ads
    account is refused), as the database's ad_accounts_account_id_format does again.
    """
    try:
        _AccountIn.model_validate(account.__dict__)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])
        why = error["msg"].removeprefix("Value error, ").removeprefix("currency: ")
        if error["type"] == "value_error":  # our own validators say what they got
            raise AccountError(f"{field}: {why}") from None
        if error["type"] == "string_pattern_mismatch" and field == "account_id":
            why = _id_rule(account.platform)
        elif error["type"] == "string_too_long":
            why = f"must be at most {error['ctx']['max_length']} characters, got {len(error['input']):,}"
            raise AccountError(f"{field}: {why}") from None
        shown = repr(error["input"]) if len(repr(error["input"])) <= 60 else repr(error["input"])[:57] + "..."
        raise AccountError(f"{field}: {why} (got {shown})") from None
    pattern, rule = PLATFORM_ACCOUNT_IDS[account.platform]
    if not re.fullmatch(pattern, account.account_id):
        raise AccountError(f"account_id: {rule} on a {account.platform} account (got {account.account_id!r})")


def upsert_account(conn: Connection, account: AdAccount) -> None:
    """Record or refresh an ad account (keyed by account_id)."""
    validate_account(account)
    conn.execute(
        text(
            """
            INSERT INTO autoscaler.ad_accounts (account_id, name, currency, timezone_name, platform)
            VALUES (:account_id, :name, :currency, :timezone_name, :platform)
            ON CONFLICT (account_id) DO UPDATE
               SET name = coalesce(EXCLUDED.name, ad_accounts.name),
                   currency = EXCLUDED.currency,
                   timezone_name = EXCLUDED.timezone_name,
                   updated_at = now()
             WHERE (ad_accounts.name, ad_accounts.currency, ad_accounts.timezone_name)
                   IS DISTINCT FROM (coalesce(EXCLUDED.name, ad_accounts.name), EXCLUDED.currency,
                                     EXCLUDED.timezone_name)
            """
        ),
        {
            "account_id": account.account_id,
            "name": account.name,
            "currency": account.currency.upper(),
            "timezone_name": account.timezone_name,
            "platform": account.platform,
        },
    )


def get_account(conn: Connection, account_id: str) -> AdAccount:
    """The recorded account; UnknownAccountError if there is none."""
    row = conn.execute(
        text(
            "SELECT account_id, currency, timezone_name, name, platform FROM autoscaler.ad_accounts "
            "WHERE account_id = :account_id"
        ),
        {"account_id": account_id},
    ).one_or_none()
    if row is None:
        raise UnknownAccountError(account_id)
    return AdAccount(
        account_id=row.account_id,
        currency=row.currency,
        timezone_name=row.timezone_name,
        name=row.name,
        platform=row.platform,
    )
