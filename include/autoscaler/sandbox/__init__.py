"""A faithful local stand-in for Meta's Graph API, with a campaign simulator behind it.

Used by the demo, the tests, the benchmarks and the backtest, so everything runs without a
Meta account.  See docs/sandbox.md.
"""
