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
