-- The funnel's read model for the unfiltered and integration-filtered funnels (repository/analytics.py): one row
-- per organisation, key (an integration, or ALL for any), organisation-local day and customer with a funnel step
-- that day under the key, holding `prev_day` (the customer's previous funnel day under the key; NULL when none is
-- kept) and s1..s6: the customer's first time of each step on or after that day under the key (microseconds
-- since the epoch; over every category). A range [F, L] reads one row per customer, no grouping: the row with
-- day in [F, L] and prev_day < F (or NULL), its first funnel day in the range; a step time at or past the end
-- of day L is not in the range. Kept by the ingestion statement (a customer's rows recomputed from funnel_firsts,
-- under a per-customer advisory lock), merges, the rebuild and time-zone rebuild (derived from funnel_firsts),
-- the bulk loader; expired with funnel_firsts (below).

CREATE TABLE funnel_paths (
    org_id          uuid NOT NULL,
    integration_id  uuid NOT NULL,
    day             date NOT NULL,
    customer_id     uuid NOT NULL,
    prev_day        date,
    s1              bigint,
    s2              bigint,
    s3              bigint,
    s4              bigint,
    s5              bigint,
    s6              bigint,
    PRIMARY KEY (org_id, integration_id, day, customer_id)
);
CREATE INDEX funnel_paths_customer ON funnel_paths (org_id, customer_id);
CALL tenant_table('funnel_paths');

INSERT INTO funnel_paths (org_id, integration_id, day, customer_id, prev_day, s1, s2, s3, s4, s5, s6)
SELECT p.org_id, p.integration_id, p.day, p.customer_id, lag(p.day) OVER earlier,
       min(t1) OVER later, min(t2) OVER later, min(t3) OVER later, min(t4) OVER later, min(t5) OVER later,
       min(t6) OVER later
  FROM (SELECT c.org_id, k.integration_id, c.day, c.customer_id,
               min((extract(epoch FROM c.first_at) * 1000000)::bigint) FILTER (WHERE c.step = 1) AS t1,
               min((extract(epoch FROM c.first_at) * 1000000)::bigint) FILTER (WHERE c.step = 2) AS t2,
               min((extract(epoch FROM c.first_at) * 1000000)::bigint) FILTER (WHERE c.step = 3) AS t3,
               min((extract(epoch FROM c.first_at) * 1000000)::bigint) FILTER (WHERE c.step = 4) AS t4,
               min((extract(epoch FROM c.first_at) * 1000000)::bigint) FILTER (WHERE c.step = 5) AS t5,
               min((extract(epoch FROM c.first_at) * 1000000)::bigint) FILTER (WHERE c.step = 6) AS t6
          FROM funnel_firsts c,
               LATERAL (VALUES (c.integration_id), ('ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)) AS k(integration_id)
         GROUP BY 1, 2, 3, 4) p
WINDOW earlier AS (PARTITION BY p.org_id, p.integration_id, p.customer_id ORDER BY p.day),
       later AS (PARTITION BY p.org_id, p.integration_id, p.customer_id ORDER BY p.day DESC);

-- Expiry as in 004, and funnel_paths with funnel_firsts: the expired days' rows go, and a kept row whose previous
-- day expired has none (NULL), so a range starting before the cut still finds the customer's first kept day.
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
    paths bigint;
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
    DELETE FROM funnel_paths WHERE day < p_daily_before;
    GET DIAGNOSTICS paths = ROW_COUNT;
    UPDATE funnel_paths SET prev_day = NULL WHERE prev_day < p_daily_before;
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
                              'active_counts', counts, 'funnel_paths', paths);
END $$;

REVOKE ALL ON FUNCTION expire_rollups(timestamptz, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION expire_rollups(timestamptz, date) TO "{{app_role}}";
