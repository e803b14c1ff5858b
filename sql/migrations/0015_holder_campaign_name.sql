-- 0015: the name of the campaign a budget holder belongs to (issue 19).
--
-- An ad set budget's campaign (ABO) holds no budget, so it is not a budget holder and its
-- name was nowhere in the store: the page showed "campaign <id> > ad set". The fetch reads
-- the campaign's name with every ad set (Meta) and campaign (Google Ads) already; it is now
-- kept beside campaign_id. NULL for holders recorded before this revision until their next
-- fetch. For a Google Ads budget shared by several campaigns it names the campaign whose id
-- is campaign_id (the lowest).

ALTER TABLE autoscaler.budget_holders
    ADD COLUMN campaign_name text,
    ADD CONSTRAINT budget_holders_campaign_name_length CHECK (campaign_name IS NULL OR length(campaign_name) <= 1000);

COMMENT ON COLUMN autoscaler.budget_holders.campaign_name IS
    'Name of the campaign campaign_id names, as the platform reports it (NULL until the first fetch after revision 0015).';
