-- How many customers were active each organisation-local day under each key of active_customers (migration
-- 003): the series' active customers for a filter of at most one integration and one category is one row per
-- day, not a count over every active customer. Incremented by the rows active_customers actually gains (the
-- ingestion statement, merges), recomputed from it by the rebuild, expired with it. A key a merge emptied
-- keeps a row of 0: the same as no row.

CREATE TABLE active_counts (
    org_id          uuid NOT NULL,
    integration_id  uuid NOT NULL,
    category_id     uuid NOT NULL,
    day             date NOT NULL,
    customers       integer NOT NULL,
    PRIMARY KEY (org_id, integration_id, category_id, day)
);
CALL tenant_table('active_counts');

-- Expiry as in 003, and the counts of the days expired.
CREATE OR REPLACE FUNCTION expire_rollups(p_hourly_before timestamptz, p_daily_before date) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    hourly bigint;
    daily bigint;
    active bigint;
    funnel bigint;
    actives bigint;
    firsts bigint;
    counts bigint;
    all_ uuid := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
BEGIN
    DELETE FROM event_rollups_hourly WHERE hour < p_hourly_before;
    GET DIAGNOSTICS hourly = ROW_COUNT;
    DELETE FROM event_rollups_daily WHERE day < p_daily_before;
    GET DIAGNOSTICS daily = ROW_COUNT;
    DELETE FROM customer_days WHERE day < p_daily_before;
    GET DIAGNOSTICS active = ROW_COUNT;
    DELETE FROM funnel_firsts WHERE day < p_daily_before;
    GET DIAGNOSTICS funnel = ROW_COUNT;
    DELETE FROM active_customers WHERE day < p_daily_before;
    GET DIAGNOSTICS actives = ROW_COUNT;
    DELETE FROM active_counts WHERE day < p_daily_before;
    GET DIAGNOSTICS counts = ROW_COUNT;
    UPDATE customer_firsts f
       SET first_day = (SELECT min(c.day) FROM customer_days c
                         WHERE c.org_id = f.org_id AND c.customer_id = f.customer_id
                           AND (f.integration_id = all_ OR c.integration_id = f.integration_id)
                           AND (f.category_id = all_ OR c.category_id = f.category_id))
     WHERE f.first_day < p_daily_before
       AND EXISTS (SELECT 1 FROM customer_days c
                    WHERE c.org_id = f.org_id AND c.customer_id = f.customer_id
                      AND (f.integration_id = all_ OR c.integration_id = f.integration_id)
                      AND (f.category_id = all_ OR c.category_id = f.category_id));
    DELETE FROM customer_firsts WHERE first_day < p_daily_before;
    GET DIAGNOSTICS firsts = ROW_COUNT;
    RETURN jsonb_build_object('hourly', hourly, 'daily', daily, 'customer_days', active, 'funnel_firsts', funnel,
                              'active_customers', actives, 'customer_firsts', firsts,
                              'active_counts', counts);
END $$;

REVOKE ALL ON FUNCTION expire_rollups(timestamptz, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION expire_rollups(timestamptz, date) TO "{{app_role}}";
