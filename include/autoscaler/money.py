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

# The currencies Meta's Marketing API lets an ad account use ("Currency codes"), each with the
# highest daily budget the autoscaler will set or accept, in major units: about ten million
# US dollars' worth, rounded up to a power of ten of the currency's rate so that neither rates
# moving nor inflation make it bite on a real budget.  Meta refuses far less than that (an
# account's spending limit, its own per-object caps); the bound is here so that nonsense
# (1e20, a "$92 quadrillion" maximum) is refused by name before any arithmetic, and so that
# every amount fits PostgreSQL's bigint with room for sums of a week of hours.
_TEN_MILLION = 10_000_000
MAX_DAILY_BUDGET: dict[str, int] = {
    code: _TEN_MILLION * 10**power
    for power, codes in {
        0: "CHF EUR GBP USD",
        1: "AED AUD BGN BOB BRL CAD CNY DKK GTQ HKD ILS MOP MYR NZD PEN PLN QAR RON SAR SGD",
        2: "CZK EGP HNL INR MAD MXN NIO NOK PHP SEK THB TRY TWD UAH UYU ZAR",
        3: "BDT CLP CRC DZD HUF ISK JPY KES LKR PKR RSD",
        4: "ARS COP KRW NGN PYG VES",
        5: "IDR VND",
    }.items()
    for code in codes.split()
}


class MoneyError(ValueError):
    """An amount that cannot be expressed in the currency's minor units."""


def currency_code(currency: str, *, field: str = "currency") -> str:
    """``currency`` as an upper-case code Meta supports; MoneyError naming ``field`` otherwise."""
    code = currency.strip().upper() if isinstance(currency, str) else ""
    # ASCII only: "ÄÖÜ".isalpha() is true, and the database accepts [A-Z] only.
    if len(code) != 3 or not (code.isascii() and code.isalpha()):
        raise MoneyError(f"{field}: must be a 3-letter ISO 4217 code, got {currency!r}")
    if code not in MAX_DAILY_BUDGET:
        raise MoneyError(f"{field}: {code} is not a currency Meta's ad accounts use")
    return code


def currency_offset(currency: str) -> int:
    """How many minor units make one major unit of ``currency`` in Meta's API."""
    code = currency_code(currency)
    return 1 if code in ZERO_DECIMAL_CURRENCIES else 100


def max_daily_budget_minor(currency: str) -> int:
    """The highest daily budget accepted in ``currency``, in its minor units."""
    code = currency_code(currency)
    return MAX_DAILY_BUDGET[code] * currency_offset(code)


def to_minor(amount: Decimal | int | float | str, currency: str, *, field: str = "amount") -> int:
    """Convert a major-unit amount (20.00 USD) to minor units (2000), exactly, refusing sub-minor
    precision and amounts beyond the currency's daily-budget bound (MAX_DAILY_BUDGET).

    Text is parsed as a decimal; a float is taken by its shortest repr (2173.26, not the
    binary fraction nearest to it), so no amount goes through binary floating point.
    """
    offset = currency_offset(currency)
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int | float | str):
        # JSON true is not one cent.
        raise MoneyError(f"{field}: must be an amount (a number or a decimal string), got {amount!r}")
    try:
        value = Decimal(amount.strip() if isinstance(amount, str) else str(amount))
    except InvalidOperation:
        raise MoneyError(f"{field}: {amount!r} is not a number") from None
    if not value.is_finite():
        raise MoneyError(f"{field}: {amount!r} is not a finite amount")
    code = currency_code(currency)
    if abs(value) > MAX_DAILY_BUDGET[code]:
        raise MoneyError(
            f"{field}: must be at most {money_text(MAX_DAILY_BUDGET[code] * offset, code)}, got {amount} {code}"
        )
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


def money_text(minor: int, currency: str) -> str:
    """An amount in major units with its currency code, for error messages: '10.00 USD', '500 JPY'."""
    major = to_major(minor, currency)
    return (
        f"{major:,.0f} {currency.upper()}"
        if currency_offset(currency) == 1
        else f"{major:,.2f} {currency.upper()}"
    )


def format_money(minor: int, currency: str) -> str:
    """Human form for logs and reasoning lines: '$1,234.50', '¥2,000', '1,234.50 EUR'."""
    major = to_major(minor, currency)
    code = currency.upper()
    text = f"{major:,.0f}" if currency_offset(code) == 1 else f"{major:,.2f}"
    symbol = {"USD": "$", "JPY": "¥", "GBP": "£", "EUR": "€"}.get(code)
    return f"{symbol}{text}" if symbol else f"{text} {code}"
