-- Customer merges as the orders service announced them (customer.merged), and rollup expiry for the
-- maintenance slots.

-- An anonymous customer merged into a generic one: order events that still name the anonymous id (emitted
-- before the merge, applied after it) are recorded under the surviving customer, whatever order they come in.
CREATE TABLE customer_merges (
    org_id            uuid NOT NULL,
    from_customer_id  uuid NOT NULL,
    into_customer_id  uuid NOT NULL,
    merged_at         timestamptz NOT NULL,
    PRIMARY KEY (org_id, from_customer_id)
);
CALL tenant_table('customer_merges');

-- Rollups past their retention (hourly: 48 hours; the day-bucketed read models: 25 months), every
-- organisation at once. order_rollups_daily is left whole: it mirrors the orders copy, which is kept whole. The
-- application role sees one organisation per transaction and cannot list them, so the maintenance slot
-- deletes through this owner's function only (as partitions are dropped through drop_event_partitions).
CREATE FUNCTION expire_rollups(p_hourly_before timestamptz, p_daily_before date) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    hourly bigint;
    daily bigint;
    active bigint;
    funnel bigint;
BEGIN
    DELETE FROM event_rollups_hourly WHERE hour < p_hourly_before;
    GET DIAGNOSTICS hourly = ROW_COUNT;
    DELETE FROM event_rollups_daily WHERE day < p_daily_before;
    GET DIAGNOSTICS daily = ROW_COUNT;
    DELETE FROM customer_days WHERE day < p_daily_before;
    GET DIAGNOSTICS active = ROW_COUNT;
    DELETE FROM funnel_firsts WHERE day < p_daily_before;
    GET DIAGNOSTICS funnel = ROW_COUNT;
    RETURN jsonb_build_object('hourly', hourly, 'daily', daily, 'customer_days', active, 'funnel_firsts', funnel);
END $$;

REVOKE ALL ON FUNCTION expire_rollups(timestamptz, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION expire_rollups(timestamptz, date) TO "{{app_role}}";
