"""Money: integer minor units inside, decimals only at the edges people see.

Meta expresses every budget in the account currency's minor units with a per-currency
offset: 100 for most currencies, 1 for the zero-decimal ones (Marketing API "Currency
codes" table).  A budget of "2000" is $20.00 but ¥2,000.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

# Offset-1 currencies from Meta's currency table; every other supported currency is 100.
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"CLP", "COP", "CRC", "HUF", "ISK", "IDR", "JPY", "KRW", "PYG", "TWD", "VND"}
)


class MoneyError(ValueError):
    """An amount that cannot be expressed in the currency's minor units."""


def currency_offset(currency: str) -> int:
    """How many minor units make one major unit of ``currency`` in Meta's API."""
    code = currency.upper()
    if len(code) != 3 or not code.isalpha():
        raise MoneyError(f"currency: must be a 3-letter ISO 4217 code, got {currency!r}")
    return 1 if code in ZERO_DECIMAL_CURRENCIES else 100


def to_minor(amount: Decimal | int | float | str, currency: str, *, field: str = "amount") -> int:
    """Convert a major-unit amount (20.00 USD) to minor units (2000), refusing sub-minor precision."""
    offset = currency_offset(currency)
    try:
        value = Decimal(str(amount))
    except InvalidOperation as exc:
        raise MoneyError(f"{field}: {amount!r} is not a number") from exc
    if not value.is_finite():
        raise MoneyError(f"{field}: {amount!r} is not a finite amount")
    minor = value * offset
    if minor != minor.to_integral_value():
        if offset == 1:
            raise MoneyError(
                f"{field}: {currency.upper()} has no minor unit, so {amount} must be a whole amount"
            )
        raise MoneyError(f"{field}: {amount} {currency.upper()} has more than 2 decimal places")
    return int(minor)


def to_major(minor: int, currency: str) -> Decimal:
    """Convert minor units to a major-unit Decimal with the currency's decimal places."""
    offset = currency_offset(currency)
    if offset == 1:
        return Decimal(minor)
    return (Decimal(minor) / offset).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def format_money(minor: int, currency: str) -> str:
    """Human form for logs and reasoning lines: '$1,234.50', '¥2,000', '1,234.50 EUR'."""
    major = to_major(minor, currency)
    code = currency.upper()
    text = f"{major:,.0f}" if currency_offset(code) == 1 else f"{major:,.2f}"
    symbol = {"USD": "$", "JPY": "¥", "GBP": "£", "EUR": "€"}.get(code)
    return f"{symbol}{text}" if symbol else f"{text} {code}"
