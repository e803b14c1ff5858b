-- 0006: the application role may add snapshot partitions without owning the schema.
--
-- sql/roles.sql gives the application role (autoscaler_app) only what it needs: it can insert
-- and update, never delete audit rows, and never run DDL.  A new month of snapshots needs a new
-- partition, so the one function that creates them runs with its owner's rights (the role that
-- ran the migrations) and a fixed search_path, so nothing the caller sets can hijack it.

ALTER FUNCTION autoscaler.ensure_snapshot_partition(date)
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
