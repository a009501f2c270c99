-- Kit: housekeeping of the outbox, for the relay (shared/messaging/relay.py): how far behind
-- publishing runs, and deleting published events once their retention (OUTBOX_RETENTION_HOURS)
-- has passed, in batches. Included by a migration after `-- include: outbox`: a new service's
-- first one, or a later one of a service that predates it (orders: 004). A file of its own, not
-- part of outbox.sql, so that first migrations already applied keep their checksum.
-- Like the outbox's other doors, both functions are SECURITY DEFINER, for the app role only.

-- Published rows by publication time, for pruning (unpublished ones have `outbox_pending`).
CREATE INDEX IF NOT EXISTS outbox_published ON outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Seconds since the oldest unpublished event occurred; 0 when none waits.
CREATE OR REPLACE FUNCTION outbox_lag_seconds() RETURNS double precision
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT coalesce(extract(epoch FROM clock_timestamp() - min(occurred_at))::double precision, 0)
    FROM outbox WHERE sent_at IS NULL
$$;

-- Deletes up to p_limit events published more than p_retention ago; returns how many it deleted.
CREATE OR REPLACE FUNCTION outbox_prune(p_retention interval, p_limit integer) RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    WITH doomed AS (
        SELECT id FROM outbox
        WHERE sent_at IS NOT NULL AND sent_at < now() - p_retention
        ORDER BY sent_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM outbox WHERE id IN (SELECT id FROM doomed) RETURNING 1
    )
    SELECT count(*)::integer FROM gone
$$;

REVOKE ALL ON FUNCTION outbox_lag_seconds(), outbox_prune(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_lag_seconds(), outbox_prune(interval, integer) TO "{{app_role}}";
