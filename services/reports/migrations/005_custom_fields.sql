-- Custom fields (issue 10): the organisation's definitions (the orders service's, from its custom_field.* events)
-- and the values of orders (order events carry them) and contacts (customer.updated, with the account currency:
-- its newest event wins, `custom_fields_at`), which itemised reports can add as columns.

ALTER TABLE orders ADD COLUMN custom_fields jsonb;
ALTER TABLE contacts ADD COLUMN custom_fields_at timestamptz;

CREATE TABLE custom_field_definitions (
    org_id      uuid NOT NULL,
    id          uuid NOT NULL,
    entity      text NOT NULL,
    key         text NOT NULL,
    name        text NOT NULL,
    type        text NOT NULL,
    choices     jsonb NOT NULL DEFAULT '[]',
    position    integer NOT NULL DEFAULT 0,
    deleted     boolean NOT NULL DEFAULT false,
    as_of       timestamptz NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX custom_field_definitions_entity ON custom_field_definitions (org_id, entity, position);
CALL tenant_table('custom_field_definitions');
