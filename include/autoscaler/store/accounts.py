"""Writes to ``ad_accounts`` (and reads of them)."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, text

from autoscaler.money import currency_offset


class UnknownAccountError(LookupError):
    """An ad account the autoscaler has never recorded."""

    def __init__(self, account_id: str) -> None:
        super().__init__(
            f"unknown ad account {account_id}: record it first (autoscaler accounts add, or a fetch from Meta)"
        )
        self.account_id = account_id


@dataclass(frozen=True)
class AdAccount:
    account_id: str
    currency: str
    timezone_name: str
    name: str | None = None


def validate_account(account: AdAccount) -> None:
    """Raise ValueError naming the field when an account cannot be stored."""
    if not account.account_id.startswith("act_") or not account.account_id[4:].isdigit():
        raise ValueError(f"account_id: must be act_<digits>, got {account.account_id!r}")
    currency_offset(account.currency)  # raises MoneyError (a ValueError) naming the problem
    try:
        ZoneInfo(account.timezone_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"timezone_name: not an IANA time zone: {account.timezone_name!r}") from exc


def upsert_account(conn: Connection, account: AdAccount) -> None:
    """Record or refresh an ad account (keyed by account_id)."""
    validate_account(account)
    conn.execute(
        text(
            """
            INSERT INTO autoscaler.ad_accounts (account_id, name, currency, timezone_name)
            VALUES (:account_id, :name, :currency, :timezone_name)
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
        },
    )


def get_account(conn: Connection, account_id: str) -> AdAccount:
    """The recorded account; UnknownAccountError if there is none."""
    row = conn.execute(
        text(
            "SELECT account_id, currency, timezone_name, name FROM autoscaler.ad_accounts "
            "WHERE account_id = :account_id"
        ),
        {"account_id": account_id},
    ).one_or_none()
    if row is None:
        raise UnknownAccountError(account_id)
    return AdAccount(
        account_id=row.account_id, currency=row.currency, timezone_name=row.timezone_name, name=row.name
    )
