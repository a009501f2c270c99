-- The documented collections (issue 10, shared/collections.py): what their streams and "changed since" cursors
-- read by.
--
-- Change marker: every row a collection document is made of carries `changed_xid`, the id of the transaction
-- that last wrote it (pg_current_xact_id, 64 bits: never wraps), set by a trigger so that no writer can forget
-- it. A reader asks for rows changed after a position (xid, key) and is only handed rows whose xid is below
-- the oldest transaction still running (pg_snapshot_xmin): any change committed later has a larger xid, so a
-- position never skips a change, whatever order concurrent writers commit in. A time column (`as_of`,
-- `updated_at`) cannot promise that: a transaction that started earlier may commit after a later one was read.
-- Rows written before this migration hold 0 (they are "changed" after any position below 0).
--
-- The commission ledger is part of an order's document (its history): a ledger row touches its order.

CREATE FUNCTION collections_mark_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_xid := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END $$;

CREATE FUNCTION collections_ledger_touches_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE orders SET changed_xid = pg_current_xact_id()::text::bigint
     WHERE org_id = NEW.org_id AND id = NEW.order_id
       AND changed_xid IS DISTINCT FROM pg_current_xact_id()::text::bigint;
    RETURN NULL;
END $$;

ALTER TABLE contacts ADD COLUMN changed_xid bigint NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN changed_xid bigint NOT NULL DEFAULT 0;
ALTER TABLE business_entities ADD COLUMN changed_xid bigint NOT NULL DEFAULT 0;
ALTER TABLE business_events ADD COLUMN changed_xid bigint NOT NULL DEFAULT 0;

CREATE TRIGGER contacts_changed BEFORE INSERT OR UPDATE ON contacts
    FOR EACH ROW EXECUTE FUNCTION collections_mark_changed();
CREATE TRIGGER orders_changed BEFORE INSERT OR UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION collections_mark_changed();
CREATE TRIGGER business_entities_changed BEFORE INSERT OR UPDATE ON business_entities
    FOR EACH ROW EXECUTE FUNCTION collections_mark_changed();
CREATE TRIGGER business_events_changed BEFORE INSERT OR UPDATE ON business_events
    FOR EACH ROW EXECUTE FUNCTION collections_mark_changed();
CREATE TRIGGER commission_ledger_touches_order AFTER INSERT ON commission_ledger
    FOR EACH ROW EXECUTE FUNCTION collections_ledger_touches_order();

-- "Changed since" reads: (org, xid, key), each the collection's keyset order.
CREATE INDEX contacts_changed_idx ON contacts (org_id, changed_xid, id);
CREATE INDEX orders_changed_idx ON orders (org_id, changed_xid, id);
CREATE INDEX business_entities_changed_idx ON business_entities (org_id, type, changed_xid, integration_id, entity_id);
CREATE INDEX business_events_changed_idx ON business_events (org_id, changed_xid, event_id);

-- Date-range reads, keyset on (time, key) in the collection's order: contacts by first seen (created_at is
-- unknown for a contact seen before its customer.created arrived), business events by time then id (the
-- existing time index has no id to break ties), orders per provider (organisation profiles).
CREATE INDEX contacts_first_seen ON contacts (org_id, first_seen, id);
CREATE INDEX business_events_time_id ON business_events (org_id, type, occurred_at, event_id);
CREATE INDEX orders_provider ON orders (org_id, provider_id, created_at) WHERE provider_id IS NOT NULL;
