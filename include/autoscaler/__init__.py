"""The ad-budget autoscaler: scale Meta ad budgets hour by hour from measured ROAS.

Split by what each part knows about: ``rules`` and ``money`` (pure), ``store`` (SQL, nothing
of Meta), ``embedded_pg`` (a local PostgreSQL for laptops and CI), ``cli``.
"""

__version__ = "0.1.0"
