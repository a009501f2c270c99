-- The insights store: raw events (90 days, partitioned by UTC day), the read models the Analytics tab
-- reads (rollups per organisation-local day and per hour, distinct-customer days, funnel firsts), a copy
-- of the orders service's orders (fed by its domain events) and the customers' devices.
--
-- Every key starts with org_id (Citus-ready: distributable and co-located by organisation). The
-- application role owns nothing and sees one organisation per transaction (row-level security, forced).
-- "None" in a rollup dimension is the nil uuid or the empty string: a primary key holds no NULL.
-- include: tenancy
-- include: outbox
-- include: outbox_housekeeping
-- include: organisation_settings

CREATE TABLE events (
    org_id          uuid NOT NULL,
    occurred_at     timestamptz NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    integration_id  uuid NOT NULL,
    -- The client's idempotency key (unique per integration with its occurredAt), or the domain event id
    -- for events recorded from the orders service: a replay finds it and stores nothing.
    source_key      text NOT NULL,
    type            text NOT NULL,
    class           text NOT NULL CHECK (class IN ('funnel', 'behaviour', 'business')),
    customer_id     uuid,
    anonymous_id    text,
    device_id       text,
    product_id      uuid,
    category_id     uuid,
    channel         text,
    amount          numeric(14, 2),
    currency        char(3),
    entity_id       text,
    state           text,
    items           jsonb,
    properties      jsonb NOT NULL DEFAULT '{}',
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, occurred_at, id),
    CHECK ((amount IS NULL) = (currency IS NULL))
) PARTITION BY RANGE (occurred_at);
CREATE UNIQUE INDEX events_source_key ON events (org_id, integration_id, source_key, occurred_at);
-- Timelines and funnels: one customer's events, newest first.
CREATE INDEX events_customer ON events (org_id, customer_id, occurred_at DESC);
-- Activity feed filtered by type, and series of one type.
CREATE INDEX events_type ON events (org_id, type, occurred_at DESC);
CALL tenant_table('events');

-- Partitions are made ahead and dropped whole (retention) by the owner, through these two functions only.
CREATE FUNCTION ensure_event_partitions(p_from date, p_to date) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    d date := p_from;
    made integer := 0;
    name text;
BEGIN
    -- One maker at a time: two batches landing on a new day at once must not race on the catalogue.
    PERFORM pg_advisory_xact_lock(hashtext('insights.event_partitions'));
    WHILE d <= p_to LOOP
        name := 'events_' || to_char(d, 'YYYYMMDD');
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE IF NOT EXISTS %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                name, d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
            made := made + 1;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN made;
END $$;

CREATE FUNCTION drop_event_partitions(p_before date) RETURNS text[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    part record;
    dropped text[] := '{}';
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_[0-9]{8}$'
           AND to_date(substr(c.relname, 8), 'YYYYMMDD') < p_before
         ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
        dropped := dropped || part.relname::text;
    END LOOP;
    RETURN dropped;
END $$;

-- What each scheduled task has run: one row per (task, slot), inserted by the one worker that runs it.
CREATE TABLE maintenance_slots (
    task     text NOT NULL,
    slot     text NOT NULL,
    ran_at   timestamptz NOT NULL DEFAULT now(),
    outcome  jsonb,
    PRIMARY KEY (task, slot)
);

-- Counts and amounts per organisation-local day (kept 25 months) and per UTC hour (kept 48 hours).
CREATE TABLE event_rollups_daily (
    org_id          uuid NOT NULL,
    day             date NOT NULL,
    type            text NOT NULL,
    integration_id  uuid NOT NULL,
    category_id     uuid NOT NULL,
    product_id      uuid NOT NULL,
    channel         text NOT NULL,
    currency        text NOT NULL,
    events          bigint NOT NULL,
    amount          numeric(18, 2) NOT NULL,
    PRIMARY KEY (org_id, day, type, integration_id, category_id, product_id, channel, currency)
);
CALL tenant_table('event_rollups_daily');

CREATE TABLE event_rollups_hourly (
    org_id          uuid NOT NULL,
    hour            timestamptz NOT NULL,
    type            text NOT NULL,
    integration_id  uuid NOT NULL,
    category_id     uuid NOT NULL,
    product_id      uuid NOT NULL,
    channel         text NOT NULL,
    currency        text NOT NULL,
    events          bigint NOT NULL,
    amount          numeric(18, 2) NOT NULL,
    PRIMARY KEY (org_id, hour, type, integration_id, category_id, product_id, channel, currency)
);
CALL tenant_table('event_rollups_hourly');

-- Distinct customers: one row per customer per organisation-local day per (integration, category) they were
-- active in. New and returning customers, and the customers behind a point, are read from here.
CREATE TABLE customer_days (
    org_id          uuid NOT NULL,
    day             date NOT NULL,
    integration_id  uuid NOT NULL,
    category_id     uuid NOT NULL,
    customer_id     uuid NOT NULL,
    events          integer NOT NULL,
    visits          integer NOT NULL,
    PRIMARY KEY (org_id, day, integration_id, category_id, customer_id)
);
CREATE INDEX customer_days_customer ON customer_days (org_id, customer_id, day);
CALL tenant_table('customer_days');

-- The funnel: each customer's first occurrence of each step, per organisation-local day and (integration,
-- category); steps without a product (a visit) have the nil category and count under any category filter.
-- step: 1 visit, 2 journey_started, 3 product_viewed, 4 order_started, 5 order_placed, 6 order_successful.
CREATE TABLE funnel_firsts (
    org_id          uuid NOT NULL,
    day             date NOT NULL,
    integration_id  uuid NOT NULL,
    category_id     uuid NOT NULL,
    customer_id     uuid NOT NULL,
    step            smallint NOT NULL CHECK (step BETWEEN 1 AND 6),
    first_at        timestamptz NOT NULL,
    PRIMARY KEY (org_id, day, integration_id, category_id, customer_id, step)
);
CREATE INDEX funnel_firsts_customer ON funnel_firsts (org_id, customer_id, step, first_at);
CALL tenant_table('funnel_firsts');

-- The orders service's orders as of its latest domain event (`as_of`: an older event arriving late changes
-- nothing), and their daily rollup in the organisation's time zone, as the orders service keeps its own.
CREATE TABLE orders (
    org_id          uuid NOT NULL,
    id              uuid NOT NULL,
    integration_id  uuid NOT NULL,
    category_id     uuid NOT NULL,
    product_id      uuid NOT NULL,
    customer_id     uuid NOT NULL,
    status          text NOT NULL,
    comm_status     text NOT NULL,
    amount          numeric(14, 2) NOT NULL,
    currency        char(3) NOT NULL,
    kind            text NOT NULL,
    created_at      timestamptz NOT NULL,
    as_of           timestamptz NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX orders_created ON orders (org_id, created_at DESC, id DESC);
CREATE INDEX orders_customer ON orders (org_id, customer_id, created_at DESC);
CALL tenant_table('orders');

CREATE TABLE order_rollups_daily (
    org_id          uuid NOT NULL,
    day             date NOT NULL,
    integration_id  uuid NOT NULL,
    category_id     uuid NOT NULL,
    status          text NOT NULL,
    comm_status     text NOT NULL,
    currency        char(3) NOT NULL,
    orders          bigint NOT NULL,
    commission      numeric(18, 2) NOT NULL,
    PRIMARY KEY (org_id, day, integration_id, category_id, status, comm_status, currency)
);
CALL tenant_table('order_rollups_daily');

CREATE FUNCTION orders_rollup_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tz text;
BEGIN
    SELECT coalesce((SELECT time_zone FROM organisation_settings WHERE org_id = coalesce(NEW.org_id, OLD.org_id)), 'UTC')
      INTO tz;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE order_rollups_daily SET orders = orders - 1, commission = commission - OLD.amount
         WHERE org_id = OLD.org_id AND day = (OLD.created_at AT TIME ZONE tz)::date
           AND integration_id = OLD.integration_id AND category_id = OLD.category_id
           AND status = OLD.status AND comm_status = OLD.comm_status AND currency = OLD.currency;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO order_rollups_daily AS r
               (org_id, day, integration_id, category_id, status, comm_status, currency, orders, commission)
        VALUES (NEW.org_id, (NEW.created_at AT TIME ZONE tz)::date, NEW.integration_id, NEW.category_id,
                NEW.status, NEW.comm_status, NEW.currency, 1, NEW.amount)
        ON CONFLICT (org_id, day, integration_id, category_id, status, comm_status, currency)
        DO UPDATE SET orders = r.orders + 1, commission = r.commission + EXCLUDED.commission;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER orders_rollup AFTER INSERT OR UPDATE OR DELETE ON orders
    FOR EACH ROW EXECUTE FUNCTION orders_rollup_apply();

-- A customer's devices, with first and last seen.
CREATE TABLE devices (
    org_id       uuid NOT NULL,
    customer_id  uuid NOT NULL,
    device_id    text NOT NULL,
    platform     text,
    user_agent   text,
    first_seen   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL,
    PRIMARY KEY (org_id, customer_id, device_id)
);
CALL tenant_table('devices');

REVOKE ALL ON FUNCTION ensure_event_partitions(date, date), drop_event_partitions(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ensure_event_partitions(date, date), drop_event_partitions(date) TO "{{app_role}}";
