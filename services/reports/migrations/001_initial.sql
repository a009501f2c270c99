-- The reports store: the reporting read model the catalogue, exports, runs and schedules read (issue 10), fed
-- by domain events only, each applied once per event id (the kit's `processed_events`):
--
-- - from the orders service (REPORTS_FROM_ORDERS): contacts (its customers), orders with their commission
--   ledger, organisation settings and the FX reference rates;
-- - from the insights service (REPORTS_FROM_INSIGHTS): every business event it stored, and per entity the
--   state the itemised reports list.
--
-- Every key starts with org_id (Citus-ready, like the insights store). The application role owns nothing and
-- sees one organisation per transaction (row-level security, forced). `as_of` columns hold the source time of
-- the newest event a row reflects: an older event arriving late changes nothing.
-- include: tenancy
-- include: outbox
-- include: outbox_housekeeping
-- include: organisation_settings

-- The FX reference rates, as the insights service keeps them (its migration 009 says why this is no tenant
-- table): the ECB's euro rates, units of the currency per 1 EUR; analytical reports convert to the base currency.
CREATE TABLE fx_rates (
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$' AND currency <> 'EUR'),
    day         date NOT NULL,
    per_euro    numeric NOT NULL CHECK (per_euro > 0),
    as_of       timestamptz NOT NULL,
    PRIMARY KEY (currency, day)
);

-- Contacts: the orders service's customers. Its events carry only the id and kind (customer.created), merges and
-- erasures; first/last seen widen with every order and business event of the contact. The personal and
-- account columns are here for when the orders service publishes them (email, display name, custom fields);
-- account_currency is the newest one a business event carried (`accountCurrency`), NULL meaning the
-- organisation's base currency. An erasure empties every personal column and sets erased_at.
CREATE TABLE contacts (
    org_id            uuid NOT NULL,
    id                uuid NOT NULL,
    kind              text CHECK (kind IN ('generic', 'anonymous')),
    channel           text,
    email             text,
    display_name      text,
    account_currency  char(3),
    account_currency_at timestamptz,
    custom_fields     jsonb,
    first_seen        timestamptz,
    last_seen         timestamptz,
    merged_into       uuid,
    erased_at         timestamptz,
    created_at        timestamptz,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX contacts_created ON contacts (org_id, created_at DESC, id);
CREATE INDEX contacts_last_seen ON contacts (org_id, last_seen DESC, id) WHERE merged_into IS NULL;
CALL tenant_table('contacts');

-- Orders, as of the newest order event (`as_of`, also `updated_at`). `amount` is the order's commission
-- amount (the only amount the orders service's events carry). provider_id and journey_type stay NULL until
-- the orders service's events carry them. successful_at: when the order became SUCCESSFUL, when known.
CREATE TABLE orders (
    org_id          uuid NOT NULL,
    id              uuid NOT NULL,
    integration_id  uuid NOT NULL,
    category_id     uuid NOT NULL,
    product_id      uuid NOT NULL,
    customer_id     uuid NOT NULL,
    provider_id     uuid,
    kind            text NOT NULL,
    journey_type    text,
    status          text NOT NULL,
    comm_status     text NOT NULL,
    failure_reason  text,
    amount          numeric(14, 2) NOT NULL,
    currency        char(3) NOT NULL,
    created_at      timestamptz NOT NULL,
    successful_at   timestamptz,
    updated_at      timestamptz NOT NULL,
    as_of           timestamptz NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX orders_created ON orders (org_id, created_at DESC, id);
CREATE INDEX orders_status ON orders (org_id, status, comm_status, created_at DESC);
CREATE INDEX orders_customer ON orders (org_id, customer_id, created_at DESC);
CALL tenant_table('orders');

-- Every status or commission change of an order (order.status_changed / order.commission_changed), keyed by
-- the event that carried it; history, so a late event still adds its row. `source` (provider, manual,
-- integration) is not in the events yet: NULL until the orders service publishes it.
CREATE TABLE commission_ledger (
    org_id        uuid NOT NULL,
    event_id      uuid NOT NULL,
    order_id      uuid NOT NULL,
    from_status   text,
    to_status     text NOT NULL,
    from_comm     text,
    to_comm       text NOT NULL,
    amount        numeric(14, 2) NOT NULL,
    currency      char(3) NOT NULL,
    source        text,
    occurred_at   timestamptz NOT NULL,
    PRIMARY KEY (org_id, event_id)
);
CREATE INDEX commission_ledger_order ON commission_ledger (org_id, order_id, occurred_at);
CREATE INDEX commission_ledger_time ON commission_ledger (org_id, occurred_at DESC);
CALL tenant_table('commission_ledger');

-- Every business event the insights service stored, keyed by its own id (the payload's `event_id`, which a
-- republished copy keeps while its envelope id is new). `recorded_at`: when the insights service stored it.
CREATE TABLE business_events (
    org_id            uuid NOT NULL,
    event_id          uuid NOT NULL,
    occurred_at       timestamptz NOT NULL,
    recorded_at       timestamptz NOT NULL,
    integration_id    uuid NOT NULL,
    source_key        text NOT NULL,
    type              text NOT NULL,
    entity_id         text NOT NULL,
    state             text NOT NULL,
    customer_id       uuid,
    product_id        uuid,
    category_id       uuid,
    channel           text,
    amount            numeric(14, 2),
    currency          char(3),
    account_currency  char(3),
    fields            jsonb,
    custom_fields     jsonb,
    items             jsonb,
    counted           boolean NOT NULL,
    PRIMARY KEY (org_id, event_id),
    CHECK ((amount IS NULL) = (currency IS NULL))
);
CREATE INDEX business_events_time ON business_events (org_id, occurred_at DESC);
CREATE INDEX business_events_type ON business_events (org_id, type, occurred_at DESC);
CREATE INDEX business_events_entity ON business_events (org_id, integration_id, type, entity_id, occurred_at);
CREATE INDEX business_events_customer ON business_events (org_id, customer_id, occurred_at DESC);
CALL tenant_table('business_events');

-- Per entity (integration, type, entity id): what the itemised reports list, recomputed from its business
-- events whenever one arrives (so arrival order never matters): the latest state and when, the contact of the
-- latest event, the first and last event, and the latest counted event's time and amount.
CREATE TABLE business_entities (
    org_id            uuid NOT NULL,
    integration_id    uuid NOT NULL,
    type              text NOT NULL,
    entity_id         text NOT NULL,
    customer_id       uuid,
    state             text NOT NULL,
    state_at          timestamptz NOT NULL,
    first_event_at    timestamptz NOT NULL,
    last_event_at     timestamptz NOT NULL,
    events            integer NOT NULL,
    counted_at        timestamptz,
    amount            numeric(14, 2),
    currency          char(3),
    account_currency  char(3),
    fields            jsonb,
    custom_fields     jsonb,
    PRIMARY KEY (org_id, integration_id, type, entity_id)
);
CREATE INDEX business_entities_state ON business_entities (org_id, type, state, state_at DESC);
CREATE INDEX business_entities_recent ON business_entities (org_id, type, last_event_at DESC);
CREATE INDEX business_entities_customer ON business_entities (org_id, customer_id);
CALL tenant_table('business_entities');

-- The data watermark per organisation and source ('orders', 'insights'): the newest source time (the event
-- envelope's occurred_at) applied, which event it was and when it was applied. Only moves forward.
CREATE TABLE watermarks (
    org_id       uuid NOT NULL,
    source       text NOT NULL CHECK (source IN ('orders', 'insights')),
    occurred_at  timestamptz NOT NULL,
    event_id     uuid NOT NULL,
    applied_at   timestamptz NOT NULL,
    PRIMARY KEY (org_id, source)
);
CALL tenant_table('watermarks');
