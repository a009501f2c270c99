-- Forwarding the documented collections to an organisation's own MongoDB (issue 11).
--
-- A connection: where to write (the URI, which carries credentials, is stored only as a SecretBox token under a key
-- the database never holds; `display_uri` is the same URI with its credentials masked, what the API shows), which
-- collections, and whether it runs. The reports worker forwards each active connection (service/mongo_forwarding.py).

CREATE TABLE mongo_connections (
    org_id            uuid NOT NULL,
    id                uuid NOT NULL,
    uri_secret        text NOT NULL CHECK (uri_secret LIKE 'enc:%'),   -- never plaintext
    display_uri       text NOT NULL,                                    -- credentials masked
    database          text NOT NULL,
    collections       text[] NOT NULL,
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    indexes_at        timestamptz,           -- when the declared indexes were created in the target
    last_success_at   timestamptz,           -- the newest pass that forwarded everything it found
    last_attempt_at   timestamptz,
    failing_since     timestamptz,           -- NULL while healthy
    created_by        text NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (org_id, id)
);
CALL tenant_table('mongo_connections');

-- Per connection and collection, what has been forwarded: the collection's "changed since" position (the reports
-- read model's changes cursor), the time an append-only insights collection was read through, or the digest of a
-- snapshot collection. It moves only after the target acknowledged the bulk write of what came before it, so a
-- worker killed mid-bulk replays (idempotent upserts by `_id`), never skips.
CREATE TABLE mongo_positions (
    org_id         uuid NOT NULL,
    connection_id  uuid NOT NULL,
    collection     text NOT NULL,
    position       text,
    forwarded      bigint NOT NULL DEFAULT 0,   -- documents written so far (replays counted again)
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (org_id, connection_id, collection),
    FOREIGN KEY (org_id, connection_id) REFERENCES mongo_connections (org_id, id) ON DELETE CASCADE
);
CALL tenant_table('mongo_positions');

-- Why passes failed (the newest kept; older ones pruned as new ones arrive): shown to admins.
CREATE TABLE mongo_failures (
    org_id         uuid NOT NULL,
    connection_id  uuid NOT NULL,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    at             timestamptz NOT NULL,
    collection     text,
    reason         text NOT NULL,
    PRIMARY KEY (org_id, connection_id, id),
    FOREIGN KEY (org_id, connection_id) REFERENCES mongo_connections (org_id, id) ON DELETE CASCADE
);
CALL tenant_table('mongo_failures');

-- The sweep's view across organisations (like report_schedules_due): the active connections, ids only; each is
-- then forwarded in its own organisation's tenant transactions.
CREATE FUNCTION mongo_connections_active(p_limit integer) RETURNS TABLE (org_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT c.org_id, c.id FROM mongo_connections c
     WHERE c.status = 'active'
     ORDER BY c.last_attempt_at NULLS FIRST
     LIMIT p_limit
$$;

REVOKE ALL ON FUNCTION mongo_connections_active(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mongo_connections_active(integer) TO "{{app_role}}";
