-- The toy service's whole schema: the kit's parts by inclusion, then one table of its own.
-- include: tenancy
-- include: outbox
-- include: outbox_housekeeping
-- include: organisation_settings

CREATE TABLE notes (
    org_id      uuid NOT NULL,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);
CALL tenant_table('notes');

-- Fed by the orders service's order.created events.
CREATE TABLE order_counts (
    org_id  uuid PRIMARY KEY,
    orders  bigint NOT NULL
);
CALL tenant_table('order_counts');
