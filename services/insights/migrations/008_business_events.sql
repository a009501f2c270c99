-- Seed 002's business events (services/insights/domain/business.py): the type's own fields, custom-field
-- values and the customer's account currency on the event, and whether the event counts in insights.
--
-- `counted` is decided when the event is stored: funnel and behaviour events always count; a business event
-- counts when its state is one its type counts (a final state, or any state of a type counted when logged)
-- and its entity has no counted event in that state group yet. `entity_counts` holds that one counted event
-- per (integration, type, entity, state group): concurrent batches reporting the same final state meet on
-- its primary key, so exactly one of them counts. Kept past raw retention: an entity posted long ago and
-- reported again still does not count twice. Rollups hold counted events only.
--
-- Adding columns with constant defaults rewrites no partition (PostgreSQL 11+: catalogue only).

ALTER TABLE events
    ADD COLUMN fields jsonb,
    ADD COLUMN custom_fields jsonb,
    ADD COLUMN account_currency char(3),
    ADD COLUMN counted boolean NOT NULL DEFAULT true;

CREATE TABLE entity_counts (
    org_id          uuid NOT NULL,
    integration_id  uuid NOT NULL,
    type            text NOT NULL,
    entity_id       text NOT NULL,
    -- 'final' for types counted at a final state; the state itself for types counted when logged.
    count_key       text NOT NULL,
    source_key      text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    PRIMARY KEY (org_id, integration_id, type, entity_id, count_key)
);
CALL tenant_table('entity_counts');
