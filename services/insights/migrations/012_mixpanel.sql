-- Mixpanel connections (services/insights/service/mixpanel.py): an organisation's Mixpanel projects, what is
-- forwarded to each, where forwarding stands, the events Mixpanel refused, and cohorts imported as segments.
--
-- The store's ingestion order. Forwarding reads the events stored after its position, whenever they happened
-- (a late event with an old occurred_at must still go), so it needs an order of storing, and one that never
-- lets a row appear behind a position already passed: `ingest_xid`, the storing transaction's id (xid8, never
-- wraps), read only below the oldest transaction still running (pg_snapshot_xmin), where no row can appear any
-- more. (received_at or a sequence would not do: a transaction that started first can commit last.) Rows stored
-- before this migration keep NULL (adding the column with a volatile default would rewrite every partition):
-- they are older than any connection and reached by its backfill, which reads by occurred_at.
ALTER TABLE events ADD COLUMN ingest_xid xid8;
ALTER TABLE events ALTER COLUMN ingest_xid SET DEFAULT pg_current_xact_id();
CREATE INDEX events_ingest_order ON events (org_id, ingest_xid, id);

-- Credentials (project token, service-account username and secret) are SecretBox tokens (shared/secrets.py),
-- never plaintext, and never returned by the API. `boundary_xid`: the events stored from this transaction id on
-- are the live cursor's (`live_xid`, `live_id`: the last one forwarded); those stored before it and
-- that happened in the 90 days before the connection are the backfill's (`backfill_at`, `backfill_id`, by
-- occurred_at; NULL once done). `next_attempt_at` / `attempts`: the back-off after a 429, a 5xx or the peer
-- unreachable. `scheduled_at`: when a forwarding job was last queued (the ticker queues one per connection).
CREATE TABLE mixpanel_connections (
    org_id            uuid NOT NULL,
    id                uuid NOT NULL DEFAULT gen_random_uuid(),
    project_id        text NOT NULL CHECK (project_id ~ '^[0-9]{1,20}$'),
    region            text NOT NULL CHECK (region IN ('EU', 'US')),
    token_enc         text NOT NULL,
    username_enc      text NOT NULL,
    secret_enc        text NOT NULL,
    forward_contacts  boolean NOT NULL,
    event_types       text[] NOT NULL,
    paused            boolean NOT NULL DEFAULT false,
    boundary_xid      xid8 NOT NULL,
    live_xid          xid8,
    live_id           uuid,
    backfill_from     timestamptz NOT NULL,
    backfill_at       timestamptz,
    backfill_id       uuid,
    backfill_done     boolean NOT NULL DEFAULT false,
    forwarded         bigint NOT NULL DEFAULT 0,
    failed            bigint NOT NULL DEFAULT 0,
    profiles          bigint NOT NULL DEFAULT 0,
    last_success_at   timestamptz,
    last_error        text,
    last_error_at     timestamptz,
    next_attempt_at   timestamptz,
    attempts          integer NOT NULL DEFAULT 0,
    scheduled_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, region, project_id)
);
CALL tenant_table('mixpanel_connections');

-- Events Mixpanel refused (a 400 with failed_records): shown to admins, never retried (the same event would
-- fail the same way). Once per event and connection.
CREATE TABLE mixpanel_failures (
    org_id         uuid NOT NULL,
    connection_id  uuid NOT NULL,
    event_id       uuid NOT NULL,
    event_type     text NOT NULL,
    occurred_at    timestamptz NOT NULL,
    field          text,
    reason         text NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, connection_id, event_id),
    FOREIGN KEY (org_id, connection_id) REFERENCES mixpanel_connections (org_id, id) ON DELETE CASCADE
);
CALL tenant_table('mixpanel_failures');
CREATE INDEX mixpanel_failures_recent ON mixpanel_failures (org_id, connection_id, recorded_at DESC);

-- Cohorts imported as static segments (segments: migration 011): one row per (connection, cohort), re-imported
-- on demand and every `every_minutes` (NULL: on demand only). `unmatched` lists the cohort's distinct ids no
-- customer answers to (the first 1,000; `unmatched_count` counts them all).
CREATE TABLE mixpanel_cohort_imports (
    org_id            uuid NOT NULL,
    connection_id     uuid NOT NULL,
    cohort_id         bigint NOT NULL,
    segment_id        uuid NOT NULL,
    every_minutes     integer CHECK (every_minutes IS NULL OR every_minutes >= 15),
    imported_at       timestamptz,
    members           integer NOT NULL DEFAULT 0,
    added             integer NOT NULL DEFAULT 0,
    removed           integer NOT NULL DEFAULT 0,
    unmatched_count   integer NOT NULL DEFAULT 0,
    unmatched         text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (org_id, connection_id, cohort_id),
    FOREIGN KEY (org_id, connection_id) REFERENCES mixpanel_connections (org_id, id) ON DELETE CASCADE
);
CALL tenant_table('mixpanel_cohort_imports');

-- The connections due a forwarding job, across organisations (the application role sees one organisation per
-- transaction): active, not backing off, and not queued in the last minute. Marks them queued.
CREATE FUNCTION mixpanel_connections_due(p_limit integer) RETURNS TABLE (org_id uuid, connection_id uuid)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    UPDATE mixpanel_connections c SET scheduled_at = now()
      FROM (SELECT m.org_id, m.id FROM mixpanel_connections m
             WHERE NOT m.paused AND (m.next_attempt_at IS NULL OR m.next_attempt_at <= now())
               AND (m.scheduled_at IS NULL OR m.scheduled_at < now() - interval '1 minute')
             ORDER BY m.scheduled_at NULLS FIRST LIMIT p_limit
               FOR UPDATE SKIP LOCKED) d
     WHERE c.org_id = d.org_id AND c.id = d.id
    RETURNING c.org_id, c.id
$$;
REVOKE ALL ON FUNCTION mixpanel_connections_due(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mixpanel_connections_due(integer) TO "{{app_role}}";

-- The cohort imports due a scheduled re-import, across organisations.
CREATE FUNCTION mixpanel_cohort_imports_due(p_limit integer)
RETURNS TABLE (org_id uuid, connection_id uuid, cohort_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT i.org_id, i.connection_id, i.cohort_id FROM mixpanel_cohort_imports i
      JOIN mixpanel_connections c ON c.org_id = i.org_id AND c.id = i.connection_id AND NOT c.paused
     WHERE i.every_minutes IS NOT NULL
       AND (i.imported_at IS NULL OR i.imported_at < now() - make_interval(mins => i.every_minutes))
     ORDER BY i.imported_at NULLS FIRST LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION mixpanel_cohort_imports_due(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mixpanel_cohort_imports_due(integer) TO "{{app_role}}";
