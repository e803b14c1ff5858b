-- 0010: the database bounds money and currencies too (issue 17, items 9 and 12).
--
-- The package refuses amounts above a per-currency daily-budget bound (money.MAX_DAILY_BUDGET:
-- about ten million US dollars' worth) and currencies Meta's ad accounts do not use, with a
-- message naming the field.  Behind it, for whatever is written by SQL, the database refuses
-- what no currency allows: money above 10^15 minor units (autoscaler.rules.ANY_CURRENCY_MAX;
-- a per-currency bound would need the account's currency, which these rows do not hold), and
-- currency codes outside Meta's list (the same list as money.MAX_DAILY_BUDGET; a test keeps
-- the two equal).  NOT VALID: rows already stored are not re-checked, so an upgrade never
-- fails on history; every new or changed row is.

ALTER TABLE autoscaler.scaling_rules
    ADD CONSTRAINT scaling_rules_money_bounded CHECK (
        min_daily_budget <= 1000000000000000 AND max_daily_budget <= 1000000000000000
        AND coalesce(require_approval_threshold, 0) <= 1000000000000000
        AND coalesce(account_daily_budget_cap, 0) <= 1000000000000000) NOT VALID;

ALTER TABLE autoscaler.scaling_actions
    ADD CONSTRAINT scaling_actions_budgets_bounded CHECK (
        coalesce(budget_before, 0) <= 1000000000000000 AND coalesce(budget_after, 0) <= 1000000000000000
        AND coalesce(base_before, 0) <= 1000000000000000 AND coalesce(base_after, 0) <= 1000000000000000) NOT VALID;

ALTER TABLE autoscaler.ad_accounts
    ADD CONSTRAINT ad_accounts_currency_meta_supports CHECK (currency IN (
        'AED', 'ARS', 'AUD', 'BDT', 'BGN', 'BOB', 'BRL', 'CAD', 'CHF', 'CLP', 'CNY', 'COP', 'CRC',
        'CZK', 'DKK', 'DZD', 'EGP', 'EUR', 'GBP', 'GTQ', 'HKD', 'HNL', 'HUF', 'IDR', 'ILS', 'INR',
        'ISK', 'JPY', 'KES', 'KRW', 'LKR', 'MAD', 'MOP', 'MXN', 'MYR', 'NGN', 'NIO', 'NOK', 'NZD',
        'PEN', 'PHP', 'PKR', 'PLN', 'PYG', 'QAR', 'RON', 'RSD', 'SAR', 'SEK', 'SGD', 'THB', 'TRY',
        'TWD', 'UAH', 'USD', 'UYU', 'VES', 'VND', 'ZAR')) NOT VALID;
