"""Exchange rates the sandbox and the backtest total money with: units of a currency per US dollar.

A fixed, stated table (round mid-market figures of late 2026, close enough to compare policies
across accounts, not to book revenue): a backtest's dollar totals depend on it, so it is one
table, in one place, and a scenario may override any rate (``exchange_rates``).  A currency
missing here is refused when a scenario is read, rather than silently counted 1:1 as dollars.
"""

from __future__ import annotations

USD_RATES: dict[str, float] = {
    "USD": 1.0,
    "EUR": 0.92,
    "GBP": 0.79,
    "CHF": 0.88,
    "SEK": 10.6,
    "NOK": 10.8,
    "DKK": 6.86,
    "PLN": 4.0,
    "CZK": 23.2,
    "HUF": 365.0,
    "JPY": 150.0,
    "KRW": 1350.0,
    "CNY": 7.2,
    "HKD": 7.8,
    "TWD": 32.0,
    "SGD": 1.34,
    "INR": 84.0,
    "IDR": 15800.0,
    "THB": 35.0,
    "PHP": 57.0,
    "VND": 25000.0,
    "AUD": 1.52,
    "NZD": 1.68,
    "CAD": 1.36,
    "MXN": 18.0,
    "BRL": 5.4,
    "CLP": 940.0,
    "COP": 4000.0,
    "ZAR": 18.2,
    "TRY": 34.0,
    "AED": 3.67,
    "SAR": 3.75,
    "ILS": 3.7,
}
