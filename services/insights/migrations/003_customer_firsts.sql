-- Read models that make the Analytics tab's customer series a count over an index range instead of a
-- per-customer search. "Any integration" / "any category" is the all-ones uuid (ALL): a row under it holds for
-- the customer across every value of that dimension (the nil uuid is the real "no category").
--
-- active_customers: the customers active per organisation-local day under each of the four keys a filter of
-- at most one integration and one category names: (integration, category), (integration, ALL),
-- (ALL, category), (ALL, ALL). Its rows are customer_days' keys, those three projections added.
-- customer_firsts: each customer's first active day under the same keys (the earliest customer_days day
-- matching the key): "new customers in a range" are the rows whose first_day falls in it.
-- Both are maintained by the ingestion statement, merges, the rebuild (from customer_days) and expiry.

CREATE TABLE active_customers (
    org_id          uuid NOT NULL,
    integration_id  uuid NOT NULL,
    category_id     uuid NOT NULL,
    day             date NOT NULL,
    customer_id     uuid NOT NULL,
    PRIMARY KEY (org_id, integration_id, category_id, day, customer_id)
);
CALL tenant_table('active_customers');

CREATE TABLE customer_firsts (
    org_id          uuid NOT NULL,
    customer_id     uuid NOT NULL,
    integration_id  uuid NOT NULL,
    category_id     uuid NOT NULL,
    first_day       date NOT NULL,
    PRIMARY KEY (org_id, customer_id, integration_id, category_id)
);
CREATE INDEX customer_firsts_day ON customer_firsts (org_id, integration_id, category_id, first_day);
CALL tenant_table('customer_firsts');

-- Expiry as in 002, and: active days past retention go, and a first day that went with them moves to the
-- customer's earliest day still kept under its key (or the row goes when none is left).
CREATE OR REPLACE FUNCTION expire_rollups(p_hourly_before timestamptz, p_daily_before date) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    hourly bigint;
    daily bigint;
    active bigint;
    funnel bigint;
    actives bigint;
    firsts bigint;
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
                              'active_customers', actives, 'customer_firsts', firsts);
END $$;

REVOKE ALL ON FUNCTION expire_rollups(timestamptz, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION expire_rollups(timestamptz, date) TO "{{app_role}}";
