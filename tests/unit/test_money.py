from decimal import Decimal

import pytest

from autoscaler.money import MoneyError, currency_offset, format_money, to_major, to_minor


@pytest.mark.parametrize(
    ("currency", "offset"), [("USD", 100), ("EUR", 100), ("JPY", 1), ("KRW", 1), ("vnd", 1)]
)
def test_offsets_follow_metas_currency_table(currency: str, offset: int) -> None:
    assert currency_offset(currency) == offset


def test_major_amounts_become_minor_units() -> None:
    assert to_minor("200.00", "USD") == 20_000
    assert to_minor(Decimal("0.01"), "USD") == 1
    assert to_minor(2000, "JPY") == 2000


def test_sub_minor_precision_is_refused_naming_the_field() -> None:
    with pytest.raises(MoneyError, match=r"min_daily_budget: 10.005 USD has more than 2 decimal places"):
        to_minor("10.005", "USD", field="min_daily_budget")
    with pytest.raises(MoneyError, match="JPY has no minor unit"):
        to_minor("100.5", "JPY")


@pytest.mark.parametrize("bad", ["abc", "nan", "inf"])
def test_non_numbers_are_refused(bad: str) -> None:
    with pytest.raises(MoneyError):
        to_minor(bad, "USD")


def test_unknown_currency_shape_is_refused() -> None:
    with pytest.raises(MoneyError, match="currency: must be a 3-letter ISO 4217 code"):
        currency_offset("US")


def test_minor_units_read_back_in_major_units() -> None:
    assert to_major(30_000, "USD") == Decimal("300.00")
    assert to_major(2000, "JPY") == Decimal(2000)
    assert format_money(30_000, "USD") == "$300.00"
    assert format_money(250_000, "JPY") == "¥250,000"
    assert format_money(123_456, "SEK") == "1,234.56 SEK"


@pytest.mark.parametrize("amount", ["2173.26", 2173.26, "0.29", 0.29, "1.15", 1.15, "4.35", 4.35])
def test_amounts_inexact_in_binary_convert_exactly(amount: object) -> None:
    # 2173.26 * 100 is 217325.99999999997 in binary floating point (issue 17).
    expected = int(str(amount).replace(".", ""))
    assert to_minor(amount, "USD", field="revenue") == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "currency", "says"),
    [
        ("1e20", "USD", "daily_budget: must be at most 10,000,000.00 USD, got 1e20 USD"),
        ("20000000001", "JPY", "daily_budget: must be at most 10,000,000,000 JPY"),
        (True, "USD", "daily_budget: must be an amount (a number or a decimal string), got True"),
        ("-inf", "USD", "daily_budget: '-inf' is not a finite amount"),
    ],
)
def test_amounts_beyond_the_currency_bound_or_not_amounts_are_refused(
    amount: object, currency: str, says: str
) -> None:
    with pytest.raises(MoneyError) as caught:
        to_minor(amount, currency, field="daily_budget")  # type: ignore[arg-type]
    assert str(caught.value) == says or says in str(caught.value)


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("XYZ", "currency: XYZ is not a currency Meta's ad accounts use"),
        ("ÄÖÜ", "currency: must be a 3-letter ISO 4217 code, got 'ÄÖÜ'"),
    ],
)
def test_currencies_meta_does_not_use_are_refused(code: str, says: str) -> None:
    with pytest.raises(MoneyError, match=says):
        currency_offset(code)


def test_every_bound_fits_a_bigint_with_a_week_of_hours_to_spare() -> None:
    from autoscaler.money import MAX_DAILY_BUDGET, max_daily_budget_minor

    assert all(max_daily_budget_minor(code) * 24 * 7 < 2**63 for code in MAX_DAILY_BUDGET)


def test_the_database_accepts_exactly_the_currencies_the_package_does() -> None:
    import re
    from pathlib import Path

    from autoscaler.money import MAX_DAILY_BUDGET

    sql = (Path(__file__).resolve().parents[2] / "sql" / "migrations" / "0010_money_bounds.sql").read_text()
    listed = sql[sql.index("ad_accounts_currency_meta_supports") :]
    assert set(re.findall(r"'([A-Z]{3})'", listed)) == set(MAX_DAILY_BUDGET)


def test_the_databases_money_bound_is_above_every_currencys() -> None:
    from autoscaler.money import MAX_DAILY_BUDGET, max_daily_budget_minor
    from autoscaler.rules import ANY_CURRENCY_MAX

    assert ANY_CURRENCY_MAX == 10**15  # 0010_money_bounds.sql
    assert all(max_daily_budget_minor(code) <= ANY_CURRENCY_MAX for code in MAX_DAILY_BUDGET)
