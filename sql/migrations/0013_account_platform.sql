-- 0013: each ad account belongs to a platform (issue 20: Google Ads beside Meta).
--
-- 'meta' for every account recorded so far (the default); 'google_ads' for a Google Ads
-- customer, whose id is 10 digits without dashes (Meta's is act_<digits>). The account id's
-- format is checked per platform, and a budget holder may be a Google campaign budget
-- (level campaign_budget, shared by any number of campaigns). The Python validators and the
-- hourly steps still admit Meta accounts only (docs/google-ads.md, "What is not built yet").

ALTER TABLE autoscaler.ad_accounts
    ADD COLUMN platform text NOT NULL DEFAULT 'meta',
    ADD CONSTRAINT ad_accounts_platform_known CHECK (platform IN ('meta', 'google_ads')),
    DROP CONSTRAINT ad_accounts_account_id_format,
    ADD CONSTRAINT ad_accounts_account_id_format CHECK (
        (platform <> 'meta' OR account_id ~ '^act_[0-9]{1,20}$')
        AND (platform <> 'google_ads' OR account_id ~ '^[0-9]{10}$')
    );

COMMENT ON COLUMN autoscaler.ad_accounts.platform IS
    'Which platform the account is on: meta (account_id act_<digits>) or google_ads (a 10-digit customer id).';
COMMENT ON COLUMN autoscaler.ad_accounts.account_id IS
    'Meta ad account id (act_<digits>) or Google Ads customer id (10 digits, no dashes).';

ALTER TABLE autoscaler.budget_holders
    DROP CONSTRAINT budget_holders_level_known,
    ADD CONSTRAINT budget_holders_level_known CHECK (level IN ('campaign', 'adset', 'campaign_budget'));

COMMENT ON COLUMN autoscaler.budget_holders.level IS
    'campaign (Meta CBO: the campaign holds the budget), adset (the ad set holds it) or campaign_budget (a Google Ads budget, possibly shared by several campaigns).';
