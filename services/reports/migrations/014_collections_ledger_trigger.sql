-- The commission ledger touches its orders' change marker (migration 007) once per statement rather than once per
-- row: a bulk load of the ledger (the backfill, a benchmark's INSERT ... SELECT) is one join, not one UPDATE per
-- ledger row; an order written in the same transaction already holds the transaction's id and is left alone.
DROP TRIGGER commission_ledger_touches_order ON commission_ledger;
DROP FUNCTION collections_ledger_touches_order();

CREATE FUNCTION collections_ledger_touches_orders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE orders o SET changed_xid = pg_current_xact_id()::text::bigint
      FROM (SELECT DISTINCT org_id, order_id FROM new_rows) n
     WHERE o.org_id = n.org_id AND o.id = n.order_id
       AND o.changed_xid <> pg_current_xact_id()::text::bigint;
    RETURN NULL;
END $$;

CREATE TRIGGER commission_ledger_touches_orders AFTER INSERT ON commission_ledger
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION collections_ledger_touches_orders();
