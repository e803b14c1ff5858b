-- 0009: snapshot partitions are created race-free (issue 17, item 16).
--
-- Concurrent snapshot tasks at a month boundary hit "relation ... already exists" despite the
-- advisory lock: the second writer waits for the first, then checks to_regclass() again, but
-- taking an advisory lock does not make a backend read the catalogue changes committed
-- meanwhile, so the check can still say "missing".  Creation now treats "it exists already"
-- as the success it is.  The store also creates the month after the latest one it writes
-- (autoscaler.store.snapshots.ensure_partitions), so the boundary is crossed before it is
-- reached.

CREATE OR REPLACE FUNCTION autoscaler.ensure_snapshot_partition(month_start date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    first_day date := date_trunc('month', month_start)::date;
    part_name text := format('campaign_performance_snapshots_%s', to_char(first_day, 'YYYY_MM'));
BEGIN
    IF to_regclass(format('autoscaler.%I', part_name)) IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('autoscaler.snapshot_partitions'));
        BEGIN
            EXECUTE format(
                'CREATE TABLE autoscaler.%I PARTITION OF autoscaler.campaign_performance_snapshots '
                'FOR VALUES FROM (%L) TO (%L)',
                part_name,
                (first_day::timestamp AT TIME ZONE 'UTC'),
                ((first_day + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
            EXECUTE format('COMMENT ON TABLE autoscaler.%I IS %L', part_name,
                format('Snapshots whose hour_start falls in %s (UTC).', to_char(first_day, 'YYYY-MM')));
        EXCEPTION
            -- Another writer created it between our check and our lock: that is what we wanted.
            WHEN duplicate_table OR unique_violation THEN NULL;
        END;
    END IF;
    RETURN part_name;
END $$;
COMMENT ON FUNCTION autoscaler.ensure_snapshot_partition(date) IS
    'Creates the monthly partition of campaign_performance_snapshots containing month_start, if missing (safe to call concurrently); returns its name.';
