-- Orders & customers service schema.
-- Every organisation-scoped table has row-level security enabled AND forced; the
-- application role ({{app_role}}) owns nothing, so it sees only rows of the organisation
-- set for the current transaction (set_config('app.org_id', ..., true)).

CREATE FUNCTION app_org() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT nullif(current_setting('app.org_id', true), '')::uuid $$;

CREATE TABLE organisations (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    marketplace_url text CHECK (marketplace_url IS NULL OR marketplace_url ~ '^https?://'),
    primary_colour  text NOT NULL DEFAULT '#1E5EFF' CHECK (primary_colour ~ '^#[0-9A-Fa-f]{6}$'),
    base_currency   char(3) NOT NULL DEFAULT 'GBP' CHECK (base_currency ~ '^[A-Z]{3}$'),
    time_zone       text NOT NULL DEFAULT 'Europe/London',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE members (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES organisations(id),
    subject     text,
    email       text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'member')),
    status      text NOT NULL DEFAULT 'invited' CHECK (status IN ('invited', 'active')),
    invited_by  uuid REFERENCES members(id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX members_org_email ON members (org_id, lower(email));
CREATE UNIQUE INDEX members_org_subject ON members (org_id, subject) WHERE subject IS NOT NULL;
CREATE INDEX members_subject ON members (subject);
CREATE INDEX members_email ON members (lower(email));

CREATE TABLE categories (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES organisations(id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX categories_org_name ON categories (org_id, lower(name));

CREATE TABLE providers (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES organisations(id),
    public_id       text NOT NULL UNIQUE,
    name            text NOT NULL,
    webhook_secret  text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX providers_org ON providers (org_id);

CREATE TABLE integrations (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES organisations(id),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    channel         text NOT NULL CHECK (channel IN ('web', 'mobile', 'api', 'partner')),
    api_key_hash    bytea NOT NULL UNIQUE,
    api_key_prefix  text NOT NULL,
    key_rotated_at  timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX integrations_org_name ON integrations (org_id, lower(name));

CREATE TABLE integration_categories (
    org_id          uuid NOT NULL REFERENCES organisations(id),
    integration_id  uuid NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    category_id     uuid NOT NULL REFERENCES categories(id),
    PRIMARY KEY (integration_id, category_id)
);

CREATE TABLE products (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES organisations(id),
    integration_id  uuid NOT NULL REFERENCES integrations(id),
    category_id     uuid NOT NULL REFERENCES categories(id),
    provider_id     uuid NOT NULL REFERENCES providers(id),
    name            text NOT NULL,
    commission_rate numeric(14, 2) NOT NULL DEFAULT 0 CHECK (commission_rate >= 0),
    currency        char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_org ON products (org_id, integration_id);

CREATE TABLE customers (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid NOT NULL REFERENCES organisations(id),
    kind          text NOT NULL CHECK (kind IN ('generic', 'anonymous')),
    email         text,
    anonymous_id  text,
    display_name  text NOT NULL,
    channel       text,
    first_seen    timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz NOT NULL DEFAULT now(),
    merged_into   uuid REFERENCES customers(id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'generic') = (email IS NOT NULL))
);
CREATE UNIQUE INDEX customers_org_email ON customers (org_id, lower(email)) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX customers_org_anon ON customers (org_id, anonymous_id) WHERE anonymous_id IS NOT NULL;
CREATE INDEX customers_list ON customers (org_id, last_seen DESC, id DESC) WHERE merged_into IS NULL;
CREATE INDEX customers_search ON customers (org_id, lower(display_name) text_pattern_ops) WHERE merged_into IS NULL;

CREATE TABLE customer_visits (
    org_id          uuid NOT NULL REFERENCES organisations(id),
    customer_id     uuid NOT NULL REFERENCES customers(id),
    integration_id  uuid NOT NULL REFERENCES integrations(id),
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    visits          integer NOT NULL DEFAULT 1,
    PRIMARY KEY (customer_id, integration_id)
);
CREATE INDEX customer_visits_integration ON customer_visits (org_id, integration_id, customer_id);

CREATE TABLE orders (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id             uuid NOT NULL REFERENCES organisations(id),
    integration_id     uuid NOT NULL REFERENCES integrations(id),
    product_id         uuid NOT NULL REFERENCES products(id),
    category_id        uuid NOT NULL REFERENCES categories(id),
    provider_id        uuid NOT NULL REFERENCES providers(id),
    customer_id        uuid NOT NULL REFERENCES customers(id),
    external_ref       text NOT NULL CHECK (length(external_ref) BETWEEN 1 AND 200),
    status             text NOT NULL CHECK (status IN ('PENDING', 'SUCCESSFUL', 'FAILED')),
    comm_status        text NOT NULL CHECK (comm_status IN ('N/A', 'PENDING', 'SUCCESSFUL')),
    commission_amount  numeric(14, 2) NOT NULL DEFAULT 0 CHECK (commission_amount >= 0),
    currency           char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    provider_seq       bigint NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- The seeds' rule: commission status is N/A exactly when the order is not SUCCESSFUL.
    CONSTRAINT orders_comm_status_rule CHECK ((status = 'SUCCESSFUL') = (comm_status <> 'N/A')),
    UNIQUE (integration_id, external_ref)
);
CREATE INDEX orders_list ON orders (org_id, created_at DESC, id DESC);
CREATE INDEX orders_by_integration ON orders (org_id, integration_id, created_at DESC, id DESC);
CREATE INDEX orders_by_category ON orders (org_id, category_id, created_at DESC, id DESC);
CREATE INDEX orders_by_status ON orders (org_id, status, comm_status, created_at DESC, id DESC);
CREATE INDEX orders_by_customer ON orders (org_id, customer_id, created_at DESC, id DESC);

CREATE TABLE commission_ledger (
    id           bigserial PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES organisations(id),
    order_id     uuid NOT NULL REFERENCES orders(id),
    from_status  text,
    to_status    text NOT NULL,
    from_comm    text,
    to_comm      text NOT NULL,
    amount       numeric(14, 2) NOT NULL,
    currency     char(3) NOT NULL,
    source       text NOT NULL CHECK (source IN ('integration', 'provider', 'manual', 'demo')),
    reference    text,
    actor        text,
    occurred_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX commission_ledger_order ON commission_ledger (org_id, order_id, id);

-- Provider webhook deduplication: checked in the same transaction as the update it guards.
CREATE TABLE webhook_receipts (
    org_id       uuid NOT NULL REFERENCES organisations(id),
    provider_id  uuid NOT NULL REFERENCES providers(id),
    webhook_id   text NOT NULL,
    order_id     uuid,
    outcome      text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider_id, webhook_id)
);

CREATE TABLE outbox (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL REFERENCES organisations(id),
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

-- Daily rollup (in the organisation's time zone) behind ordersSummary and charts.
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

CREATE FUNCTION orders_rollup_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tz text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT time_zone INTO tz FROM organisations WHERE id = OLD.org_id;
        UPDATE order_rollups_daily
           SET orders = orders - 1, commission = commission - OLD.commission_amount
         WHERE org_id = OLD.org_id AND day = (OLD.created_at AT TIME ZONE tz)::date
           AND integration_id = OLD.integration_id AND category_id = OLD.category_id
           AND status = OLD.status AND comm_status = OLD.comm_status AND currency = OLD.currency;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT time_zone INTO tz FROM organisations WHERE id = NEW.org_id;
        INSERT INTO order_rollups_daily AS r
               (org_id, day, integration_id, category_id, status, comm_status, currency, orders, commission)
        VALUES (NEW.org_id, (NEW.created_at AT TIME ZONE tz)::date, NEW.integration_id, NEW.category_id,
                NEW.status, NEW.comm_status, NEW.currency, 1, NEW.commission_amount)
        ON CONFLICT (org_id, day, integration_id, category_id, status, comm_status, currency)
        DO UPDATE SET orders = r.orders + 1, commission = r.commission + EXCLUDED.commission;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER orders_rollup_insert AFTER INSERT ON orders
    FOR EACH ROW EXECUTE FUNCTION orders_rollup_apply();
CREATE TRIGGER orders_rollup_update AFTER UPDATE OF status, comm_status, commission_amount, currency,
    integration_id, category_id, created_at ON orders
    FOR EACH ROW EXECUTE FUNCTION orders_rollup_apply();
CREATE TRIGGER orders_rollup_delete AFTER DELETE ON orders
    FOR EACH ROW EXECUTE FUNCTION orders_rollup_apply();

-- Set-based rebuild: after bulk loads and when the organisation's time zone changes.
CREATE FUNCTION rebuild_order_rollups(p_org uuid) RETURNS void LANGUAGE sql AS $$
    DELETE FROM order_rollups_daily WHERE org_id = p_org;
    INSERT INTO order_rollups_daily (org_id, day, integration_id, category_id, status, comm_status, currency, orders, commission)
    SELECT o.org_id, (o.created_at AT TIME ZONE g.time_zone)::date, o.integration_id, o.category_id,
           o.status, o.comm_status, o.currency, count(*), sum(o.commission_amount)
      FROM orders o JOIN organisations g ON g.id = o.org_id
     WHERE o.org_id = p_org
     GROUP BY 1, 2, 3, 4, 5, 6, 7;
$$;

-- Row-level security: enabled and forced on every organisation-scoped table.
ALTER TABLE organisations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organisations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON organisations USING (id = app_org()) WITH CHECK (id = app_org());

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['members', 'categories', 'providers', 'integrations', 'integration_categories',
                             'products', 'customers', 'customer_visits', 'orders', 'commission_ledger',
                             'webhook_receipts', 'outbox', 'processed_events', 'order_rollups_daily']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON %I USING (org_id = app_org()) WITH CHECK (org_id = app_org())', t);
    END LOOP;
END $$;

-- The only cross-tenant doors, each answering one narrow question. They run as the
-- owner (BYPASSRLS) and are executable by the application role only.
CREATE FUNCTION resolve_api_key(p_hash bytea) RETURNS TABLE (org_id uuid, integration_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT i.org_id, i.id FROM integrations i WHERE i.api_key_hash = p_hash
$$;

CREATE FUNCTION resolve_provider(p_public_id text) RETURNS TABLE (org_id uuid, provider_id uuid, webhook_secret text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT p.org_id, p.id, p.webhook_secret FROM providers p WHERE p.public_id = p_public_id
$$;

CREATE FUNCTION resolve_memberships(p_subject text, p_email text)
RETURNS TABLE (org_id uuid, member_id uuid, role text, status text, org_name text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT m.org_id, m.id, m.role, m.status, o.name
      FROM members m JOIN organisations o ON o.id = m.org_id
     WHERE m.subject = p_subject
        OR (m.subject IS NULL AND p_email IS NOT NULL AND lower(m.email) = lower(p_email))
     ORDER BY m.created_at
$$;

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

REVOKE ALL ON FUNCTION resolve_api_key(bytea), resolve_provider(text), resolve_memberships(text, text),
    outbox_claim(integer), outbox_mark_sent(uuid[]), rebuild_order_rollups(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION resolve_api_key(bytea), resolve_provider(text), resolve_memberships(text, text),
    outbox_claim(integer), outbox_mark_sent(uuid[]), rebuild_order_rollups(uuid) TO "{{app_role}}";

CREATE STATISTICS orders_dims (ndistinct) ON integration_id, category_id, status FROM orders;
