-- Kit: the transactional outbox (publishing) and the consumer-side record of applied events.
-- Included by a service's first migration (`-- include: outbox`, after `-- include: tenancy`).
-- The relay reaches unsent rows of every organisation only through the two SECURITY DEFINER
-- functions below, executable by the service's app role alone.
CREATE TABLE outbox (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL,
    type         text NOT NULL,
    version      integer NOT NULL DEFAULT 1,
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    payload      jsonb NOT NULL,
    sent_at      timestamptz
);
CREATE INDEX outbox_pending ON outbox (occurred_at) WHERE sent_at IS NULL;

CREATE TABLE processed_events (
    consumer      text NOT NULL,
    event_id      uuid NOT NULL,
    org_id        uuid NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CALL tenant_table('outbox');
CALL tenant_table('processed_events');

CREATE FUNCTION outbox_claim(p_limit integer) RETURNS SETOF outbox
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    SELECT * FROM outbox WHERE sent_at IS NULL ORDER BY occurred_at LIMIT p_limit FOR UPDATE SKIP LOCKED
$$;

CREATE FUNCTION outbox_mark_sent(p_ids uuid[]) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    UPDATE outbox SET sent_at = now() WHERE id = ANY(p_ids)
$$;

CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

REVOKE ALL ON FUNCTION outbox_claim(integer), outbox_mark_sent(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_claim(integer), outbox_mark_sent(uuid[]) TO "{{app_role}}";
